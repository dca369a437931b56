/**
 * `report.html`: a self-contained page (inline CSS, inline script, no network, no other
 * files). Tables are static HTML; the charts are SVG drawn by the inline script from the
 * report JSON embedded in the page. When drawing is done the script sets, on <body>,
 * `data-rendered="true"`, `data-bars` (bars drawn), `data-points` (line points drawn) and
 * `data-chart-rects` (each chart's page rectangle, JSON), so headless tests can check it.
 */
import type { AsicReport } from './report.js';
import { UNIT_KINDS } from './tech.js';
import { UNIT_LABELS, outputLabel } from './render-md.js';
import { bitCount, bits, bitsLabel, fixed, int, kfps, millions, mm2, pctDiff, VARIANTS_NOTE, watts } from './format.js';

export const UNIT_COLORS: Readonly<Record<(typeof UNIT_KINDS)[number], string>> = {
  xnorPopcountLane: '#2f6db5',
  adderTreeBit: '#e08a1e',
  accumulatorBit: '#3a9a4d',
  comparatorBit: '#c23b3b',
  sramBit: '#7a5bb5',
};

/** Short legend names for the charts. */
export const UNIT_SHORT: Readonly<Record<(typeof UNIT_KINDS)[number], string>> = {
  xnorPopcountLane: 'lanes',
  adderTreeBit: 'adder trees',
  accumulatorBit: 'accumulators',
  comparatorBit: 'comparators',
  sramBit: 'SRAM',
};

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside a <script> element. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;padding:20px 28px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#ffffff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:26px 0 8px}
.sub{color:#5a6272;margin:0 0 14px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:14px}
.card{border:1px solid #d9dde5;border-radius:6px;padding:8px 14px;min-width:150px;background:#f7f8fa}
.card b{display:block;font-size:20px}
.card span{color:#5a6272;font-size:12px}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.chart{border:1px solid #d9dde5;border-radius:6px;padding:6px 8px 4px;background:#ffffff}
.chart h3{font-size:14px;margin:2px 0 2px}
.chart svg{display:block;width:100%;height:270px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:12.5px}
th,td{border:1px solid #d9dde5;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#eef1f5}
td.l,th.l{text-align:left}
table.layers{font-size:11px;max-width:100%}
table.layers th{white-space:normal;vertical-align:bottom}
table.layers td,table.layers th{padding:2px 4px}
table.layers td.act{white-space:normal;min-width:70px}
.trust{background:#f7f8fa;border-left:3px solid #2f6db5;padding:6px 10px;margin:8px 0}
.note{color:#5a6272;font-size:12.5px}
`;

function cards(r: AsicReport): string {
  const card = (value: string, label: string): string => `<div class="card"><b>${value}</b><span>${escapeHtml(label)}</span></div>`;
  return `<div class="cards">${[
    card(`${mm2(r.summary.areaMm2)} mm²`, 'area'),
    card(`${watts(r.summary.powerW)} W`, 'power'),
    card(`${kfps(r.summary.fps)} kFPS`, 'throughput'),
    card(`${fixed(r.summary.energyPerFrameUj, 2)} µJ`, 'energy per frame'),
    card(bitsLabel(r.bits.avgWeightBits, r.bits.avgActivationBits), 'average weight / activation bits'),
  ].join('')}</div>`;
}

function chart(id: string, title: string): string {
  return `<div class="chart"><h3>${escapeHtml(title)}</h3><svg id="${id}" class="chart-svg" viewBox="0 0 560 270" preserveAspectRatio="none" role="img" aria-label="${escapeHtml(title)}"></svg></div>`;
}

function htmlTable(head: readonly string[], rows: readonly (readonly string[])[], leftCols = 1, tableClass = '', cellClass: (i: number) => string = () => ''): string {
  const cls = (i: number): string => {
    const c = [i < leftCols ? 'l' : '', cellClass(i)].filter((x) => x).join(' ');
    return c ? ` class="${c}"` : '';
  };
  return `<table${tableClass ? ` class="${tableClass}"` : ''}><thead><tr>${head.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function comparisonTable(r: AsicReport): string {
  const u = r.units;
  const p = r.paper;
  return htmlTable(
    ['estimate', 'area mm²', 'power W', 'kFPS'],
    [
      ['unit counts', mm2(u.areaMm2), watts(u.powerW), kfps(u.fps)],
      ["paper's rule", mm2(p.areaMm2), watts(p.powerW), kfps(p.fps)],
      ['difference (units vs paper)', pctDiff(u.areaMm2, p.areaMm2), pctDiff(u.powerW, p.powerW), pctDiff(u.fps, p.fps)],
    ],
  );
}

function variantsTable(r: AsicReport): string {
  return htmlTable(
    ['design', 'bits', 'units: area mm²', 'units: power W', 'units: kFPS', 'paper: area mm²', 'paper: power W'],
    r.variants.map((v) => [v.label, bitsLabel(v.weightBits, v.activationBits), mm2(v.units.areaMm2), watts(v.units.powerW), kfps(v.units.fps), mm2(v.paper.areaMm2), watts(v.paper.powerW)]),
    2,
  );
}

function layersTable(r: AsicReport): string {
  return htmlTable(
    ['layer', 'kind', 'params', 'w bits', 'act bits', 'MMAC/frame', 'M lane-ops', 'PE×SIMD', 'cycles', 'output', 'SRAM kbit', 'area mm²', 'power mW', 'paper area mm²', 'paper power mW'],
    r.units.layers.map((l, i) => [
      l.name,
      l.kind,
      int(l.params),
      bits(l.avgWeightBits),
      `${bits(l.activation.avg)} ${l.activation.source}`,
      millions(l.macsPerFrame),
      millions(l.laneOpsPerFrame),
      `${l.pe}×${l.simd}${l.copies > 1 ? `×${l.copies}` : ''}`,
      int(l.cyclesPerFrame),
      outputLabel(l.output),
      fixed(l.units.sramBit / 1024, 1),
      mm2(l.totalAreaMm2),
      fixed(l.powerW * 1000, 2),
      mm2(r.paper.layers[i]?.areaMm2 ?? 0),
      fixed((r.paper.layers[i]?.powerW ?? 0) * 1000, 2),
    ]),
    2,
    'layers',
    (i) => (i === 4 ? 'act' : ''),
  );
}

function breakdownTable(r: AsicReport): string {
  const u = r.units;
  return htmlTable(
    ['unit', 'instantiated', 'area mm²', 'energy µJ/frame', 'tech area µm²', 'tech energy pJ'],
    UNIT_KINDS.map((k) => [UNIT_LABELS[k], int(u.layers.reduce((s, l) => s + l.units[k], 0)), mm2(u.areaBreakdownMm2[k]), fixed(u.energyBreakdownUj[k], 3), String(r.tech.area[k]), String(r.tech.energy[k])]),
  );
}

/** The drawing script; reads #report-data. Plain ES2017, no dependencies. */
const SCRIPT = String.raw`
'use strict';
(function () {
  var NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var bars = 0, points = 0;
  function el(parent, name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  // Axis ticks at a round step (1, 2 or 5 × 10^k), 3 to 6 intervals: labels like 0.05 or
  // 250, never 0.0625.
  function niceTicks(v) {
    if (!(v > 0)) return { max: 1, step: 0.25, n: 4 };
    var raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    var n = Math.max(1, Math.ceil(v / step - 1e-9));
    return { max: step * n, step: step, n: n };
  }
  function trim(x, d) { return String(Number(x.toFixed(d))); }
  function fmt(v) {
    if (v === 0) return '0';
    var a = Math.abs(v);
    if (a >= 1e6) return trim(v / 1e6, 2) + 'M';
    if (a >= 1e3) return trim(v / 1e3, 2) + 'k';
    if (a >= 10) return trim(v, 1);
    if (a >= 1) return trim(v, 2);
    return String(Number(v.toPrecision(3)));
  }
  var W = 560, H = 270, L = 58, R = 10, T = 26, B = 62;
  function axes(svg, ticks, yLabel) {
    var ph = H - T - B;
    for (var i = 0; i <= ticks.n; i++) {
      var y = T + ph - (ph * i) / ticks.n;
      el(svg, 'line', { x1: L, x2: W - R, y1: y, y2: y, stroke: i ? '#e3e6ec' : '#8a92a3', 'stroke-width': 1 });
      el(svg, 'text', { 'class': 'tick', x: L - 5, y: y + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5a6272' }, fmt(Number((ticks.step * i).toPrecision(12))));
    }
    el(svg, 'text', { x: 12, y: T + ph / 2, transform: 'rotate(-90 12 ' + (T + ph / 2) + ')', 'text-anchor': 'middle', 'font-size': 11, fill: '#1d2330' }, yLabel);
  }
  function legend(svg, series) {
    var x = L;
    series.forEach(function (s) {
      el(svg, 'rect', { x: x, y: 6, width: 10, height: 10, fill: s.color });
      var t = el(svg, 'text', { x: x + 14, y: 15, 'font-size': 10.5, fill: '#1d2330' }, s.name);
      x += 22 + Math.max(40, s.name.length * 6);
    });
  }
  // series: [{name, color, values[]}], stacked or grouped over categories.
  function barChart(id, categories, series, opts) {
    var svg = document.getElementById(id);
    var n = categories.length, ph = H - T - B, pw = W - L - R;
    var totals = categories.map(function (_, i) {
      return opts.stacked ? series.reduce(function (s, se) { return s + se.values[i]; }, 0) : Math.max.apply(null, series.map(function (se) { return se.values[i]; }));
    });
    var ticks = niceTicks(Math.max.apply(null, totals)), max = ticks.max;
    axes(svg, ticks, opts.yLabel);
    legend(svg, series);
    var slot = pw / n, bw = Math.max(2, slot * 0.72);
    categories.forEach(function (c, i) {
      var x0 = L + slot * i + (slot - bw) / 2, acc = 0;
      series.forEach(function (se, k) {
        var v = se.values[i], h = (v / max) * ph;
        var w = opts.stacked ? bw : bw / series.length;
        var x = opts.stacked ? x0 : x0 + w * k;
        var y = opts.stacked ? T + ph - ((acc + v) / max) * ph : T + ph - h;
        acc += v;
        if (h <= 0) return;
        var r = el(svg, 'rect', { 'class': 'bar', x: x.toFixed(2), y: y.toFixed(2), width: Math.max(1, w - (opts.stacked ? 0 : 1)).toFixed(2), height: Math.max(0.5, h).toFixed(2), fill: se.color });
        el(r, 'title', {}, c + ' — ' + se.name + ': ' + fmt(v) + ' ' + opts.unit);
        bars++;
      });
      var lx = x0 + bw / 2, ly = T + ph + 10;
      var label = c.length > 14 ? c.slice(0, 13) + '…' : c;
      if (n > 6) el(svg, 'text', { x: lx, y: ly, transform: 'rotate(-50 ' + lx + ' ' + ly + ')', 'text-anchor': 'end', 'font-size': n > 20 ? 8 : 9.5, fill: '#1d2330' }, label);
      else el(svg, 'text', { x: lx, y: ly + 4, 'text-anchor': 'middle', 'font-size': 10.5, fill: '#1d2330' }, label);
    });
  }
  // series: [{name, color, points: [[x, y]]}]
  function lineChart(id, series, opts) {
    var svg = document.getElementById(id);
    var xs = [], ys = [];
    series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    var xmin = Math.min.apply(null, xs), xmax = Math.max.apply(null, xs);
    if (xmax === xmin) { xmin -= 0.5; xmax += 0.5; }
    var ticks = niceTicks(Math.max.apply(null, ys)), max = ticks.max, ph = H - T - B, pw = W - L - R;
    axes(svg, ticks, opts.yLabel);
    legend(svg, series);
    var sx = function (x) { return L + ((x - xmin) / (xmax - xmin)) * pw; };
    var sy = function (y) { return T + ph - (y / max) * ph; };
    for (var i = 0; i <= 4; i++) {
      var xv = xmin + ((xmax - xmin) * i) / 4;
      el(svg, 'text', { x: sx(xv), y: T + ph + 16, 'text-anchor': 'middle', 'font-size': 10, fill: '#5a6272' }, xv.toFixed(2));
    }
    el(svg, 'text', { x: L + pw / 2, y: H - 18, 'text-anchor': 'middle', 'font-size': 11, fill: '#1d2330' }, opts.xLabel);
    series.forEach(function (s) {
      var pts = s.points.slice().sort(function (a, b) { return a[0] - b[0]; });
      el(svg, 'polyline', { 'class': 'line', points: pts.map(function (p) { return sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1); }).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2 });
      pts.forEach(function (p) {
        el(svg, 'circle', { 'class': 'point', cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: 3.5, fill: s.color });
        points++;
      });
    });
  }
  function message(id, text) {
    var svg = document.getElementById(id);
    el(svg, 'text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', 'font-size': 13, fill: '#5a6272' }, text);
  }

  var r = data.report, colors = data.colors, labels = data.unitLabels;
  var names = r.units.layers.map(function (l) { return l.name; });
  barChart('chart-area', names, data.unitKinds.map(function (k) {
    return { name: labels[k], color: colors[k], values: r.units.layers.map(function (l) { return l.areaMm2[k]; }) };
  }), { stacked: true, yLabel: 'area (mm²)', unit: 'mm²' });
  barChart('chart-power', names, [
    { name: 'dynamic', color: '#2f6db5', values: r.units.layers.map(function (l) { return l.dynamicPowerW * 1000; }) },
    { name: 'leakage', color: '#9aa3b2', values: r.units.layers.map(function (l) { return l.leakagePowerW * 1000; }) }
  ], { stacked: true, yLabel: 'power (mW)', unit: 'mW' });
  barChart('chart-bits', r.bits.weightHistogram.map(function (_, i) { return (i + 1) + ' bit' + (i ? 's' : ''); }), [
    { name: 'binarized parameters', color: '#3a9a4d', values: r.bits.weightHistogram }
  ], { stacked: false, yLabel: 'parameters', unit: 'parameters' });
  var vnames = r.variants.map(function (v) { return v.variant === 'model' ? 'this model' : v.label.replace(/^homogeneous /, ''); });
  barChart('chart-variants-area', vnames, [
    { name: 'unit counts', color: '#2f6db5', values: r.variants.map(function (v) { return v.units.areaMm2; }) },
    { name: "paper's rule", color: '#e08a1e', values: r.variants.map(function (v) { return v.paper.areaMm2; }) }
  ], { stacked: false, yLabel: 'area (mm²)', unit: 'mm²' });
  barChart('chart-variants-power', vnames, [
    { name: 'unit counts', color: '#2f6db5', values: r.variants.map(function (v) { return v.units.powerW; }) },
    { name: "paper's rule", color: '#e08a1e', values: r.variants.map(function (v) { return v.paper.powerW; }) }
  ], { stacked: false, yLabel: 'power (W)', unit: 'W' });
  if (r.sweep && r.sweep.results.length) {
    var by = {}, palette = ['#2f6db5', '#e08a1e', '#3a9a4d', '#c23b3b', '#7a5bb5', '#1f9aa8'];
    r.sweep.results.forEach(function (e) { (by[e.heuristic] = by[e.heuristic] || []).push([e.avgBits, e.top1 * 100]); });
    lineChart('chart-sweep', Object.keys(by).map(function (h, i) { return { name: h, color: palette[i % palette.length], points: by[h] }; }),
      { xLabel: 'average weight bits', yLabel: 'top-1 (%)' });
  } else {
    message('chart-sweep', 'no accuracy sweep was given (optional input)');
  }

  var rects = Array.prototype.map.call(document.querySelectorAll('svg.chart-svg'), function (s) {
    var b = s.getBoundingClientRect();
    return { id: s.id, x: Math.round(b.left + window.scrollX), y: Math.round(b.top + window.scrollY), w: Math.round(b.width), h: Math.round(b.height) };
  });
  // Layout at this window width: the page's scroll width and each table's right edge.
  var tables = Array.prototype.map.call(document.querySelectorAll('table'), function (t, i) {
    var b = t.getBoundingClientRect();
    return { index: i, cls: t.className, right: Math.round(b.right + window.scrollX) };
  });
  document.body.setAttribute('data-layout', JSON.stringify({ viewport: window.innerWidth, scrollWidth: document.documentElement.scrollWidth, tables: tables }));
  var tickLabels = Array.prototype.map.call(document.querySelectorAll('text.tick'), function (t) { return t.textContent; });
  document.body.setAttribute('data-ticks', JSON.stringify(tickLabels));
  document.body.setAttribute('data-bars', String(bars));
  document.body.setAttribute('data-points', String(points));
  document.body.setAttribute('data-chart-rects', JSON.stringify(rects));
  document.body.setAttribute('data-rendered', 'true');
})();
`;

export function renderHtml(r: AsicReport): string {
  const data = { report: r, colors: UNIT_COLORS, unitLabels: UNIT_SHORT, unitKinds: UNIT_KINDS };
  const headline = r.scaling === 'paper' ? "the paper's rule (area and power ∝ b_act · b_weight)" : 'unit counts';
  const sweepTable = r.sweep
    ? `<h2>Accuracy vs average bits</h2>${htmlTable(
        ['heuristic', 'avg bits', 'top-1'],
        [...r.sweep.results].sort((a, b) => a.heuristic.localeCompare(b.heuristic) || a.avgBits - b.avgBits).map((e) => [e.heuristic, bits(e.avgBits), `${fixed(100 * e.top1, 2)}%`]),
      )}`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ASIC estimate: ${escapeHtml(r.model)}</title>
<style>${CSS}</style>
</head>
<body data-rendered="false">
<h1>ASIC estimate: ${escapeHtml(r.model)}</h1>
<p class="sub">Headline from ${escapeHtml(headline)} · technology ${escapeHtml(r.tech.name)} (${escapeHtml(r.tech.node)}) at ${fixed(r.clockMhz, 0)} MHz · per-layer work from ${
    r.source === 'bit-ir' ? 'the bit-level IR' : 'the quantization record'
  }</p>
${cards(r)}
<div class="charts">
${chart('chart-area', 'Area per layer by unit kind (unit counts)')}
${chart('chart-power', 'Power per layer (unit counts, mW)')}
${chart('chart-bits', 'Weight bitwidth histogram (binarized parameters)')}
${chart('chart-variants-area', 'Area: homogeneous 1 bit, this model, homogeneous 2 bits')}
${chart('chart-variants-power', 'Power: homogeneous 1 bit, this model, homogeneous 2 bits')}
${chart('chart-sweep', 'Accuracy vs average weight bits')}
</div>
<h2>Unit counts vs the paper's rule</h2>
<p class="note">Paper rule: anchor × (b_act · b_weight) / (${bitCount(r.paper.anchor.activationBits)} · ${bitCount(r.paper.anchor.weightBits)}) = anchor × ${fixed(r.paper.factor, 4)}; anchor: ${escapeHtml(r.paper.anchor.label)} (${mm2(r.paper.anchor.areaMm2)} mm², ${watts(r.paper.anchor.powerW)} W).</p>
${comparisonTable(r)}
<p class="trust" id="trust"><b>Which figure to trust.</b> ${escapeHtml(r.trust)}</p>
<h2>Homogeneous 1- and 2-bit weights beside this model</h2>
<p class="note">${escapeHtml(VARIANTS_NOTE)}</p>
${variantsTable(r)}
<h2>Layers</h2>
${layersTable(r)}
<h2>Units, area and energy</h2>
${breakdownTable(r)}
<p class="note">Dynamic power ${watts(r.units.dynamicPowerW)} W, leakage ${watts(r.units.leakagePowerW)} W; fold ${int(r.tech.foldCycles)} cycles per frame; voltage ${r.tech.voltage} V.</p>
${sweepTable}
<h2>Notes</h2>
<ul>${r.notes.map((n) => `<li class="note">${escapeHtml(n)}</li>`).join('')}</ul>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
