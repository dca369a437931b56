/**
 * A self-contained SVG line plot (no dependencies, no fonts or scripts fetched): one
 * polyline per series with point markers, a legend, axes with ticks and labels, and an
 * optional dashed horizontal reference line (the float model's accuracy).
 *
 * The output is deterministic: the same input gives the same bytes (coordinates are
 * printed with fixed decimals, nothing depends on time, locale or object identity).
 */
import { fail, ErrorCodes } from '../errors.js';
import { sweepSeries, type SweepResult } from './sweep.js';

export interface LineSeries {
  name: string;
  /** [x, y] pairs; drawn in the order given. */
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title?: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  /** A dashed horizontal line across the plot, e.g. the float model's accuracy. */
  reference?: { label: string; y: number };
  /** Print y tick labels as percentages (y in [0, 1]). */
  yPercent?: boolean;
  /** Pixel size (default 760 × 460). */
  width?: number;
  height?: number;
}

/** Okabe–Ito colours (readable with colour-vision deficiencies), yellow left out. */
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 760;
  const height = chart.height ?? 460;
  const series = chart.series.map((s) => ({ name: s.name, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (chart.reference) {
    if (!Number.isFinite(chart.reference.y)) fail(ErrorCodes.INVALID_OPTION, 'the reference line needs a finite y', { option: 'reference' });
    ys.push(chart.reference.y);
  }
  if (xs.length === 0) fail(ErrorCodes.INVALID_OPTION, 'nothing to plot: no series has a finite point', { option: 'series' });

  const xAxis = niceAxis(Math.min(...xs), Math.max(...xs), 6, false);
  const yAxis = niceAxis(Math.min(...ys), Math.max(...ys), 6, true);

  const legendWidth = 170;
  const m = { left: 72, right: legendWidth + 24, top: chart.title ? 44 : 20, bottom: 56 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number): number => m.left + ((x - xAxis.min) / (xAxis.max - xAxis.min)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - yAxis.min) / (yAxis.max - yAxis.min)) * ph;

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  out.push(`<title>${esc(chart.title ?? `${chart.yLabel} vs ${chart.xLabel}`)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (chart.title) out.push(`<text x="${f(m.left + pw / 2)}" y="26" text-anchor="middle" font-size="16" ${FONT}>${esc(chart.title)}</text>`);

  // Grid and ticks.
  out.push('<g class="grid" stroke="#e0e0e0" stroke-width="1">');
  for (const t of yAxis.ticks) out.push(`<line x1="${f(m.left)}" y1="${f(sy(t))}" x2="${f(m.left + pw)}" y2="${f(sy(t))}"/>`);
  for (const t of xAxis.ticks) out.push(`<line x1="${f(sx(t))}" y1="${f(m.top)}" x2="${f(sx(t))}" y2="${f(m.top + ph)}"/>`);
  out.push('</g>');
  out.push('<g class="axes" stroke="#333333" stroke-width="1">');
  out.push(`<line x1="${f(m.left)}" y1="${f(m.top + ph)}" x2="${f(m.left + pw)}" y2="${f(m.top + ph)}"/>`);
  out.push(`<line x1="${f(m.left)}" y1="${f(m.top)}" x2="${f(m.left)}" y2="${f(m.top + ph)}"/>`);
  for (const t of xAxis.ticks) out.push(`<line x1="${f(sx(t))}" y1="${f(m.top + ph)}" x2="${f(sx(t))}" y2="${f(m.top + ph + 5)}"/>`);
  for (const t of yAxis.ticks) out.push(`<line x1="${f(m.left - 5)}" y1="${f(sy(t))}" x2="${f(m.left)}" y2="${f(sy(t))}"/>`);
  out.push('</g>');
  out.push(`<g class="tick-labels" font-size="12" fill="#333333" ${FONT}>`);
  for (const t of xAxis.ticks) out.push(`<text x="${f(sx(t))}" y="${f(m.top + ph + 20)}" text-anchor="middle">${esc(tickLabel(t, xAxis.decimals, false))}</text>`);
  for (const t of yAxis.ticks) {
    out.push(`<text x="${f(m.left - 8)}" y="${f(sy(t) + 4)}" text-anchor="end">${esc(tickLabel(t, yAxis.decimals, !!chart.yPercent))}</text>`);
  }
  out.push('</g>');
  out.push(`<text class="x-label" x="${f(m.left + pw / 2)}" y="${f(height - 14)}" text-anchor="middle" font-size="13" ${FONT}>${esc(chart.xLabel)}</text>`);
  const yl = { x: 18, y: m.top + ph / 2 };
  out.push(
    `<text class="y-label" x="${f(yl.x)}" y="${f(yl.y)}" text-anchor="middle" font-size="13" transform="rotate(-90 ${f(yl.x)} ${f(yl.y)})" ${FONT}>${esc(chart.yLabel)}</text>`,
  );

  // Reference line.
  if (chart.reference) {
    const y = sy(chart.reference.y);
    out.push(`<line class="reference" x1="${f(m.left)}" y1="${f(y)}" x2="${f(m.left + pw)}" y2="${f(y)}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  }

  // Series: one polyline each, then markers.
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
    out.push(`<g class="series" data-name="${esc(s.name)}">`);
    out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${color}"/>`);
    out.push('</g>');
  });

  // Legend (right of the plot).
  const lx = m.left + pw + 20;
  let ly = m.top + 8;
  out.push(`<g class="legend" font-size="12" fill="#333333" ${FONT}>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    out.push(`<line x1="${f(lx)}" y1="${f(ly)}" x2="${f(lx + 24)}" y2="${f(ly)}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<circle cx="${f(lx + 12)}" cy="${f(ly)}" r="3" fill="${color}"/>`);
    out.push(`<text x="${f(lx + 32)}" y="${f(ly + 4)}">${esc(s.name)}</text>`);
    ly += 20;
  });
  if (chart.reference) {
    out.push(`<line x1="${f(lx)}" y1="${f(ly)}" x2="${f(lx + 24)}" y2="${f(ly)}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${f(lx + 32)}" y="${f(ly + 4)}">${esc(chart.reference.label)}</text>`);
  }
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * Top-1 accuracy against average weight bits (achieved, or as requested with x: 'requested'),
 * one curve per heuristic in `result.heuristics` order, the float model as a dashed line.
 */
/** ", BatchNorm not re-estimated" / ", BatchNorm re-estimated" for models with BatchNorm. */
function bnNote(result: SweepResult): string {
  if (!(result.batchNorms > 0)) return '';
  return result.bnRecalibrated ? ', BatchNorm re-estimated' : ', BatchNorm not re-estimated';
}

export function sweepSvg(result: SweepResult, opts: { title?: string; width?: number; height?: number; x?: 'requested' | 'achieved' } = {}): string {
  // Achieved by default: the layer-level baseline only gets as close to a target as whole layers allow.
  const achieved = opts.x !== 'requested';
  const floatRef = result.float ? { label: `float (${pct(result.float.top1)})`, y: result.float.top1 } : undefined;
  return lineChartSvg({
    title: opts.title ?? `Post-training top-1 accuracy, ${result.dataset} (${result.samples} images)${bnNote(result)}`,
    xLabel: achieved ? 'average weight bits' : 'average weight bits (requested)',
    yLabel: 'top-1 accuracy',
    yPercent: true,
    series: result.heuristics.map((h) => ({ name: h, points: sweepSeries(result, h).map((p) => [achieved ? p.avgWeightBits : p.bits, p.top1] as const) })),
    ...(floatRef ? { reference: floatRef } : {}),
    ...(opts.width ? { width: opts.width } : {}),
    ...(opts.height ? { height: opts.height } : {}),
  });
}

interface Axis {
  min: number;
  max: number;
  ticks: number[];
  decimals: number;
}

/**
 * A "nice" axis covering [lo, hi] with about `count` ticks at 1, 2, 2.5 or 5 × 10^k steps.
 * `pad` widens a range by 5% on each side before rounding (for data, not for bits).
 */
export function niceAxis(lo: number, hi: number, count: number, pad: boolean): Axis {
  if (hi - lo < 1e-12) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.05 : 0.5;
    lo -= d;
    hi += d;
  } else if (pad) {
    const d = (hi - lo) * 0.05;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw * (1 - 1e-9))!;
  const k0 = Math.floor(lo / step + 1e-9);
  const k1 = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = k0; k <= k1; k++) ticks.push(Number((k * step).toPrecision(12)));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (String(step / mag).includes('.') ? 1 : 0));
  return { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, decimals };
}

function tickLabel(v: number, decimals: number, percent: boolean): string {
  if (percent) return `${fixed(v * 100, Math.max(0, decimals - 2))}%`;
  return fixed(v, decimals);
}

function pct(v: number): string {
  return `${fixed(v * 100, 2)}%`;
}

function fixed(v: number, decimals: number): string {
  const s = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** Coordinates with two decimals; never "-0.00". */
function f(v: number): string {
  return fixed(v, 2);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
