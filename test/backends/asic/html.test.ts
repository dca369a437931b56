/**
 * report.html in headless Chromium (Debian package `chromium`): the inline script runs
 * without console messages, draws every chart, and the screenshot's chart regions hold
 * more than background. Offline: file:// pages, no network.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lowerAsic, UNIT_KINDS, type AsicReport } from '../../../src/backends/asic/index.js';
import { quantizedCnv, randomCalibration, tempDir } from './fixtures.js';
import { bodyAttribute, chromiumAvailable, CHROMIUM, consoleMessages, dumpDom, screenshot } from './chromium.js';
import { decodePng, encodePng, saturatedPixels } from './png.js';

type Rect = { id: string; x: number; y: number; w: number; h: number };

const SWEEP = {
  results: [
    { heuristic: 'middle-out', avgBits: 1, top1: 0.42 },
    { heuristic: 'middle-out', avgBits: 1.4, top1: 0.71 },
    { heuristic: 'middle-out', avgBits: 2, top1: 0.8 },
    { heuristic: 'layer', avgBits: 1, top1: 0.42 },
    { heuristic: 'layer', avgBits: 1.4, top1: 0.55 },
    { heuristic: 'layer', avgBits: 2, top1: 0.8 },
  ],
};

/** Bars the page should draw: one per non-zero value of every bar series. */
function expectedBars(r: AsicReport): number {
  const nz = (xs: number[]): number => xs.filter((x) => x > 0).length;
  return (
    r.units.layers.reduce((s, l) => s + nz(UNIT_KINDS.map((k) => l.areaMm2[k])) + nz([l.dynamicPowerW, l.leakagePowerW]), 0) +
    nz(r.bits.weightHistogram) +
    nz(r.variants.flatMap((v) => [v.units.areaMm2, v.paper.areaMm2])) +
    nz(r.variants.flatMap((v) => [v.units.powerW, v.paper.powerW]))
  );
}

describe('report.html in headless Chromium', () => {
  let dir = '';
  let page = '';
  let html = '';
  let report: AsicReport;
  let rects: Rect[] = [];
  /** The DOM dumped by the first test (one Chromium run shared by the layout checks). */
  let dom = '';

  beforeAll(async () => {
    expect(chromiumAvailable(), `${CHROMIUM} is missing: install the Debian package chromium (apt-get install -y chromium)`).toBe(true);
    dir = tempDir('hbnn-asic-html-');
    const model = await quantizedCnv(1.4, randomCalibration(dir));
    const out = lowerAsic(model, { sweep: SWEEP });
    report = out.report;
    html = out.files.get('report.html')!;
    page = path.join(dir, 'report.html');
    fs.writeFileSync(page, html);
  });

  it('is self-contained: inline style and script, no external resources', () => {
    expect(html).toMatch(/<style>[\s\S]+<\/style>/);
    expect(html).not.toMatch(/<link\b|<img\b|\ssrc=|@import|url\(/i);
    const urls = html.match(/https?:\/\/[^\s"'<)]+/g) ?? [];
    expect(urls.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
  });

  it('runs its script without console messages and draws every bar and sweep point', () => {
    const r = dumpDom(page, dir);
    dom = r.stdout;
    expect(consoleMessages(r.stderr)).toEqual([]);
    expect(bodyAttribute(r.stdout, 'data-rendered')).toBe('true');
    const bars = Number(bodyAttribute(r.stdout, 'data-bars'));
    expect(bars).toBe(expectedBars(report));
    expect((r.stdout.match(/<rect class="bar"/g) ?? []).length).toBe(bars);
    expect(Number(bodyAttribute(r.stdout, 'data-points'))).toBe(SWEEP.results.length);
    expect((r.stdout.match(/<polyline class="line"/g) ?? []).length).toBe(2);
    rects = JSON.parse(bodyAttribute(r.stdout, 'data-chart-rects') ?? '[]') as Rect[];
    expect(rects.map((c) => c.id)).toEqual(['chart-area', 'chart-power', 'chart-bits', 'chart-variants-area', 'chart-variants-power', 'chart-sweep']);
    for (const c of rects) {
      expect(c.w).toBeGreaterThan(300);
      expect(c.h).toBeGreaterThan(200);
      expect(c.y + c.h).toBeLessThanOrEqual(1600);
    }
  });

  it('fits a 1200 px window: no horizontal scroll, every table (the layer table too) ends inside it', () => {
    expect(dom).not.toBe('');
    const layout = JSON.parse(bodyAttribute(dom, 'data-layout') ?? '{}') as { viewport: number; scrollWidth: number; tables: { index: number; cls: string; right: number }[] };
    expect(layout.viewport).toBe(1200);
    expect(layout.scrollWidth).toBeLessThanOrEqual(1200);
    expect(layout.tables.length).toBeGreaterThanOrEqual(5);
    expect(layout.tables.some((t) => t.cls === 'layers')).toBe(true);
    for (const t of layout.tables) expect(t.right, `table ${t.index} (${t.cls})`).toBeLessThanOrEqual(1200);
  });

  it('axis tick labels are round numbers (a 1, 2 or 5 step: at most 2 significant digits)', () => {
    expect(dom).not.toBe('');
    const ticks = JSON.parse(bodyAttribute(dom, 'data-ticks') ?? '[]') as string[];
    expect(ticks.length).toBeGreaterThan(20);
    for (const t of ticks) {
      expect(t).toMatch(/^\d+(\.\d+)?[kM]?$/);
      const digits = t.replace(/[kM]$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      expect(digits.length, `tick ${t}`).toBeLessThanOrEqual(2);
    }
  });

  it('the screenshot shows every chart drawn (coloured marks, not just background and axes)', () => {
    expect(rects.length).toBe(6);
    const png = path.join(dir, 'shot.png');
    const r = screenshot(page, png, dir);
    expect(consoleMessages(r.stderr)).toEqual([]);
    const img = decodePng(fs.readFileSync(png));
    expect([img.width, img.height]).toEqual([1200, 1600]);
    for (const c of rects) {
      const share = saturatedPixels(img, c) / (c.w * c.h);
      expect(share, `${c.id}: coloured share ${share}`).toBeGreaterThan(0.005);
    }
    // Whole page: the background is white.
    expect(Array.from(img.rgba.subarray(0, 4))).toEqual([255, 255, 255, 255]);
  });

  it('the same checks fail on a broken page and on a page whose charts were not drawn', () => {
    expect(rects.length).toBe(6);
    // A script error: reported on the console, and the page never says it rendered.
    const broken = path.join(dir, 'broken.html');
    fs.writeFileSync(broken, html.replace("var data = JSON.parse(", 'var data = JSON.parse(undefinedName + '));
    const b = dumpDom(broken, dir);
    expect(consoleMessages(b.stderr).join('\n')).toMatch(/undefinedName/);
    expect(bodyAttribute(b.stdout, 'data-rendered')).toBe('false');
    // No script: the chart regions hold no coloured pixel.
    const blank = path.join(dir, 'blank.html');
    fs.writeFileSync(blank, html.replace(/<script>[\s\S]*?<\/script>/, ''));
    const png = path.join(dir, 'blank.png');
    screenshot(blank, png, dir);
    const img = decodePng(fs.readFileSync(png));
    for (const c of rects) expect(saturatedPixels(img, c)).toBe(0);
  });
});

describe('test PNG reader', () => {
  it('decodes RGB and RGBA images written with each of the five row filters', () => {
    for (const channels of [3, 4] as const) {
      const w = 7;
      const h = 10;
      const px = new Uint8Array(w * h * channels);
      for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 3) * 11) & 0xff;
      const img = decodePng(encodePng(w, h, px, channels));
      expect([img.width, img.height]).toEqual([w, h]);
      for (let p = 0; p < w * h; p++) {
        for (let c = 0; c < 3; c++) expect(img.rgba[p * 4 + c]).toBe(px[p * channels + c]);
        expect(img.rgba[p * 4 + 3]).toBe(channels === 4 ? px[p * 4 + 3] : 255);
      }
    }
  });

  it('counts saturated pixels only', () => {
    const px = new Uint8Array([255, 255, 255, 200, 200, 210, 47, 109, 181, 10, 10, 10]);
    const img = decodePng(encodePng(2, 2, px, 3));
    expect(saturatedPixels(img, { x: 0, y: 0, w: 2, h: 2 })).toBe(1);
  });
});
