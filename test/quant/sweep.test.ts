import { describe, expect, it } from 'vitest';
import { sweep, sweepSeries, type SweepResult } from '../../src/drivers/sweep.js';
import { lineChartSvg, niceAxis, sweepSvg } from '../../src/drivers/svg.js';
import { loadModel } from '../../src/onnx/io.js';
import { loadDataset, FMNIST_NORMALIZATION } from '../../src/data/index.js';
import { FMNIST_CNN, expectHbnnError } from '../helpers/build.js';

/**
 * A strict well-formedness check for the XML the plotter writes: one root element, every
 * tag closed in order, attributes quoted and unique, only the five predefined entities or
 * numeric references, nothing but whitespace outside the root. Returns the element names
 * in document order.
 */
function parseXml(xml: string): string[] {
  let s = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const names: string[] = [];
  const stack: string[] = [];
  let rootClosed = false;
  const checkText = (t: string): void => {
    if (/[<>]/.test(t)) throw new Error(`stray < or > in text: ${t.slice(0, 40)}`);
    for (const m of t.matchAll(/&([^;\s]*);?/g)) {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) throw new Error(`bad entity ${m[0]}`);
    }
  };
  while (s.length) {
    const lt = s.indexOf('<');
    const text = lt < 0 ? s : s.slice(0, lt);
    if ((stack.length === 0 || rootClosed) && text.trim() !== '') throw new Error(`text outside the root: ${text.slice(0, 40)}`);
    checkText(text);
    if (lt < 0) break;
    s = s.slice(lt);
    const m = /^<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>/.exec(s);
    if (!m) throw new Error(`malformed tag at: ${s.slice(0, 60)}`);
    const [all, close, name, attrs, selfClose] = m as unknown as [string, string, string, string, string];
    const keys = [...attrs!.matchAll(/([A-Za-z_][\w.:-]*)="([^"]*)"/g)].map((a) => {
      checkText(a[2]!);
      return a[1]!;
    });
    if (new Set(keys).size !== keys.length) throw new Error(`duplicate attribute in <${name}>`);
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
      if (stack.length === 0) rootClosed = true;
    } else {
      if (rootClosed) throw new Error('a second root element');
      names.push(name!);
      if (!selfClose) stack.push(name!);
      else if (stack.length === 0) rootClosed = true;
    }
    s = s.slice(all.length);
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('><')}>`);
  return names;
}

describe('parseXml (the checker itself)', () => {
  it('rejects what is not well-formed', () => {
    expect(parseXml('<a x="1"><b/></a>')).toEqual(['a', 'b']);
    expect(() => parseXml('<a><b></a></b>')).toThrow();
    expect(() => parseXml('<a>x & y</a>')).toThrow();
    expect(() => parseXml('<a x=1/>')).toThrow();
    expect(() => parseXml('<a/><b/>')).toThrow();
    expect(() => parseXml('<a>')).toThrow();
  });
});

describe('sweep on fmnist-mini:test (2000 images)', () => {
  const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });
  let result: SweepResult;
  const seen: number[] = [];

  it('returns the heuristic × bits grid with accuracies in [0, 1]', async () => {
    result = await sweep(FMNIST_CNN(), ds, { bits: [1.3, 1], heuristics: ['middle-out', 'layer'], seed: 0, onResult: (_p, i) => seen.push(i) });
    expect(result.format).toBe('hbnn-sweep/1');
    expect(result.samples).toBe(2000);
    expect(result.bits).toEqual([1, 1.3]);
    expect(result.points.map((p) => [p.heuristic, p.bits])).toEqual([
      ['middle-out', 1],
      ['middle-out', 1.3],
      ['layer', 1],
      ['layer', 1.3],
    ]);
    expect(seen).toEqual([0, 1, 2, 3]);
    for (const p of result.points) {
      for (const a of [p.top1, p.top5]) {
        expect(a).toBeGreaterThanOrEqual(0);
        expect(a).toBeLessThanOrEqual(1);
      }
      expect(p.top5).toBeGreaterThanOrEqual(p.top1);
      expect(p.samples).toBe(2000);
      expect(p.homogeneous).toBe(p.bits === 1);
      expect(p.actBits).toBeNull();
      expect(p.pipeline).toContain(`heuristic=${p.heuristic}`);
    }
    // The float model on the slice is far better than chance, and binarization costs accuracy.
    expect(result.float!.top1).toBeGreaterThan(0.85);
    // Achieved bits: 1 exactly at 1 bit; close to 1.3 for the per-entry heuristic; the
    // layer-level mix only gets as close as whole layers allow.
    const at = (h: string, b: number) => result.points.find((p) => p.heuristic === h && p.bits === b)!;
    expect(at('middle-out', 1).avgWeightBits).toBe(1);
    expect(at('middle-out', 1.3).avgWeightBits).toBeCloseTo(1.3, 3);
    expect(at('layer', 1.3).avgWeightBits).toBeGreaterThan(1);
    // JSON round trip keeps everything (no typed arrays, no Infinity).
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('the integer-bit point is the same model for every heuristic', () => {
    const ones = result.points.filter((p) => p.bits === 1);
    expect(ones).toHaveLength(2);
    expect(ones[1]!.top1).toBe(ones[0]!.top1);
    expect(ones[1]!.top5).toBe(ones[0]!.top5);
    expect(ones[1]!.avgWeightBits).toBe(1);
    // ... and the fractional points differ from it (the grid is not one model repeated).
    expect(sweepSeries(result, 'middle-out')[1]!.top1).not.toBe(ones[0]!.top1);
  });

  it('plots well-formed, deterministic SVG with one polyline per heuristic', () => {
    const a = sweepSvg(result);
    const names = parseXml(a);
    expect(names[0]).toBe('svg');
    expect(names.filter((n) => n === 'polyline')).toHaveLength(2);
    expect(names.filter((n) => n === 'path')).toHaveLength(0);
    expect(a.match(/<g class="series" data-name="([^"]+)"/g)).toEqual(['<g class="series" data-name="middle-out"', '<g class="series" data-name="layer"']);
    expect(a).toMatch(/class="reference"[^>]*stroke-dasharray/);
    expect(a).toContain('>average weight bits<');
    expect(a).toContain('>top-1 accuracy<');
    // Each polyline has one vertex per bit value.
    for (const m of a.matchAll(/<polyline points="([^"]+)"/g)) expect(m[1]!.split(' ')).toHaveLength(2);
    // Same data, same bytes — also after a JSON round trip and with other timings.
    const copy = JSON.parse(JSON.stringify(result)) as SweepResult;
    copy.totalMs += 1234;
    for (const p of copy.points) p.evalMs += 1;
    expect(sweepSvg(copy)).toBe(a);
    // ... and other data, other bytes.
    copy.points[1]!.top1 -= 0.05;
    expect(sweepSvg(copy)).not.toBe(a);
  });

  it('a second sweep run gives the same accuracies and the same SVG', async () => {
    const again = await sweep(() => loadModel(FMNIST_CNN()), ds, { bits: [1, 1.3], heuristics: ['middle-out', 'layer'], seed: 0 });
    expect(again.model).toBe('<function>');
    expect(again.points.map((p) => [p.top1, p.top5, p.avgWeightBits])).toEqual(result.points.map((p) => [p.top1, p.top5, p.avgWeightBits]));
    expect(sweepSvg(again)).toBe(sweepSvg(result));
  });

  it('rejects a bad grid before doing any work', async () => {
    let loads = 0;
    const factory = () => {
      loads++;
      return loadModel(FMNIST_CNN());
    };
    await expectHbnnError(() => sweep(factory, ds, { bits: [1, 3.5], heuristics: ['middle-out'] }), 'invalid-option');
    await expectHbnnError(() => sweep(factory, ds, { bits: [0.5], heuristics: ['middle-out'] }), 'invalid-option');
    await expectHbnnError(() => sweep(factory, ds, { bits: [], heuristics: ['middle-out'] }), 'invalid-option');
    await expectHbnnError(() => sweep(factory, ds, { bits: [1.2], heuristics: ['sideways'] }), 'invalid-option');
    expect(loads).toBe(0);
  });
});

describe('lineChartSvg', () => {
  it('draws axes with ticks covering the data, escapes text, and handles a flat series', () => {
    const svg = lineChartSvg({
      title: 'a < b & "c"',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        { name: 'flat', points: [[1, 0.5], [2, 0.5]] },
        { name: 'one point', points: [[1.5, 0.25]] },
      ],
    });
    const names = parseXml(svg);
    expect(names.filter((n) => n === 'polyline')).toHaveLength(2);
    expect(svg).toContain('a &lt; b &amp; &quot;c&quot;');
    expect(svg).not.toContain('class="reference"');
    expect(() => lineChartSvg({ xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [[Number.NaN, 1]] }] })).toThrow(/nothing to plot/);
  });

  it('nice axes: round steps that cover the range', () => {
    const x = niceAxis(1, 2, 6, false);
    expect(x.ticks).toEqual([1, 1.2, 1.4, 1.6, 1.8, 2]);
    expect(x.decimals).toBe(1);
    const y = niceAxis(0.1034, 0.9112, 6, true);
    expect(y.min).toBeLessThanOrEqual(0.1034);
    expect(y.max).toBeGreaterThanOrEqual(0.9112);
    const step = y.ticks[1]! - y.ticks[0]!;
    expect(step).toBeCloseTo(0.2, 9);
  });
});
