/**
 * The matrix-vector-threshold unit in Verilog: one module per unit of the vivado-hls design
 * (`UnitStage`, same folding, same row order and per-PE plane guards, same accumulator forms
 * and constants from arith.ts), so both backends describe the same hardware.
 *
 * Schedule (FINN's MVAU): per input vector (a window of a convolution, or the vector of a
 * matvec) and row fold nf = 0..NF-1, column fold sf = 0..SF-1, one step per cycle. During
 * nf = 0 the SF input beats arrive (SIMD entries each) and are kept in `ibuf` (an `hbnn_ram`
 * of SF words read one step ahead; a register when SF = 1); the other row folds replay them. In each step every PE adds, per accumulator term, the lane sum of its
 * SIMD lanes of the tile (nf·SF + sf) to its accumulator; at sf = SF-1 it combines its row:
 * S' = Σ_t K_t·X_t (+ bias), then the threshold band's output code or the requantized value,
 * and the PE outputs leave as one beat of PE entries (valid/ready).
 *
 * Memories ($readmemh files, one word per tile or row fold, PE p's field at bits p·width..):
 * `<unit>_ws<i>.hex` / `<unit>_wm<i>.hex` the sign and mask words of weight plane i (no mask
 * for a plane every weight has), `<unit>_k<t>.hex` row multipliers that vary by row,
 * `<unit>_thr.hex` + `<unit>_code.hex` (threshold) or `<unit>_bias.hex` (requantize).
 */
import { fail, ErrorCodes } from '../../errors.js';
import { planeStats } from '../vivado-hls/estimate.js';
import { BIT_PLANE_MIN_SIMD, planesPerPe } from '../vivado-hls/emit/stages.js';
import { thresholdLayout } from '../vivado-hls/emit/weights.js';
import { signedBits } from '../vivado-hls/emit/cpp.js';
import { entryBits } from '../vivado-hls/design.js';
import type { UnitStage } from '../vivado-hls/types.js';
import type { BinaryWeight } from '../../bitir/types.js';
import { clocked, clockedReset, clog2, indexBits, packHex, slit, slice, type Expr, type Item, type Module, type Stmt } from './ast.js';
import { BLOCK_ROM_MIN_DEPTH, RAM_MODULE, ROM_MODULE, type MemoryInstance } from './memories.js';
import { streamPorts } from './modules.js';

/** Width of the traced accumulators in the simulation checks (every IR accumulator fits). */
export const TRACE_BITS = 64;

export interface UnitModule {
  module: Module;
  /** Memory files by name ($readmemh), relative to the folder the simulator or synthesis runs in. */
  files: Map<string, string>;
  /** Accumulator values per sample the check compares (T·MH·reps). */
  accPerSample: number;
  /** Its ROMs and input-buffer RAM (instance paths relative to the unit). */
  memories: MemoryInstance[];
}

/** The memory file of a unit's array. */
export function memFile(u: Pick<UnitStage, 'name'>, array: string): string {
  return `${u.name}_${array}.hex`;
}

/** The accumulator check file of a unit (simulation only). */
export function accFile(u: Pick<UnitStage, 'name'>): string {
  return `${u.name}_acc.hex`;
}

function bit(words: Uint32Array, wpr: number, row: number, col: number): number {
  return (words[row * wpr + (col >>> 5)]! >>> (col & 31)) & 1;
}

/** Per tile (nf·SF + sf), the PE·SIMD bits of a weight bit array (lane s of PE p at bit p·SIMD + s). */
function tileWords(u: UnitStage, w: BinaryWeight, words: Uint32Array): string {
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const lines: string[] = [];
  for (let f = 0; f < nf; f++) {
    for (let t = 0; t < sf; t++) {
      const fields: number[] = [];
      for (let p = 0; p < u.pe; p++) {
        const row = f * u.pe + p;
        for (let s = 0; s < u.simd; s++) fields.push(bit(words, w.wordsPerRow, row, u.columnOrder[t * u.simd + s]!));
      }
      lines.push(packHex(fields, 1));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Per row fold, PE fields of `width` bits each (row nf·PE + p at field p). */
function rowWords(u: UnitStage, width: number, perRow: (row: number) => (number | bigint)[]): string {
  const nf = u.mh / u.pe;
  const lines: string[] = [];
  for (let f = 0; f < nf; f++) {
    const fields: (number | bigint)[] = [];
    for (let p = 0; p < u.pe; p++) {
      const vals = perRow(f * u.pe + p);
      const per = width / vals.length;
      // A row's values packed first (value i at bits i·per), then placed at p·width.
      let word = 0n;
      vals.forEach((v, i) => {
        let b = BigInt(v);
        if (b < 0n) b += 1n << BigInt(per);
        word |= b << BigInt(i * per);
      });
      fields.push(word);
    }
    lines.push(packHex(fields, width));
  }
  return `${lines.join('\n')}\n`;
}

const wire = (name: string, width: number | Expr, value?: Expr, signed = false): Item => ({ kind: 'net', net: 'wire', name, width, ...(value !== undefined ? { value } : {}), ...(signed ? { signed } : {}) });
const reg = (name: string, width: number | Expr, depth?: number | Expr, signed = false): Item => ({ kind: 'net', net: 'reg', name, width, ...(depth !== undefined ? { depth } : {}), ...(signed ? { signed } : {}) });
const set = (lhs: Expr, rhs: Expr, blocking = false): Stmt => ({ kind: 'set', lhs, rhs, blocking });

/** The Verilog module of a matrix-vector-threshold unit and its memory files. */
export function unitModule(u: UnitStage): UnitModule {
  const name = u.name;
  const w = u.weight;
  if (w.kind !== 'binary') fail(ErrorCodes.LOWERING, `verilog: unit ${u.layer} has fixed-point weights, which the Verilog backend does not map yet`, { node: u.layer, op: 'conv' });
  // A vector-vector unit (grouped/depthwise convolution) reads a new beat of PE·SIMD entries
  // every step, PE p's SIMD entries at entries p·SIMD.. (no replay buffer); a matrix-vector
  // unit reads SIMD entries during the first row fold and replays them from `ibuf`.
  const vv = u.groups > 1;
  const files = new Map<string, string>();
  const a = u.arith;
  const act = u.activation;
  const nf = u.mh / u.pe;
  const sf = u.mw / u.simd;
  const T = u.terms.length;
  const ieb = entryBits(u.in.entry);
  const oeb = entryBits(u.out.entry);
  const binaryIn = u.in.entry.kind === 'binary';
  const ka = u.in.entry.kind === 'binary' ? u.in.entry.planes : 0;
  const stats = planeStats(w);
  const live = planesPerPe(u);
  const cb = clog2(u.simd);
  const xb = a.xBits;
  const sb = a.sumBits;

  const items: Item[] = [];
  const c = (text: string): void => void items.push({ kind: 'comment', text });
  items.push({ kind: 'localparam', name: 'MH', value: String(u.mh), comment: 'output rows' });
  items.push({ kind: 'localparam', name: 'MW', value: String(u.mw), comment: 'input columns' });
  items.push({ kind: 'localparam', name: 'PE', value: String(u.pe), comment: 'processing elements (rows per cycle)' });
  items.push({ kind: 'localparam', name: 'SIMD', value: String(u.simd), comment: 'lanes per PE (columns per cycle)' });
  items.push({ kind: 'localparam', name: 'REPS', value: String(u.reps), comment: 'input vectors per sample' });
  items.push({ kind: 'localparam', name: 'NF', value: 'MH / PE', comment: 'row folds' });
  items.push({ kind: 'localparam', name: 'SF', value: 'MW / SIMD', comment: 'column folds' });
  items.push({ kind: 'localparam', name: 'TILES', value: 'NF * SF' });
  items.push({ kind: 'localparam', name: 'IEB', value: String(ieb), comment: u.in.entry.kind === 'binary' ? `input entry: ${ka} plane signs, then ${ka} masks` : `input entry: signed fixed point` });
  items.push({ kind: 'localparam', name: 'OEB', value: String(oeb), comment: u.out.entry.kind === 'binary' ? 'output entry: bit-plane code' : 'output entry: signed fixed point' });
  items.push({ kind: 'localparam', name: 'XB', value: String(xb), comment: 'per-term accumulator X (signed)' });
  items.push({ kind: 'localparam', name: 'SB', value: String(sb), comment: "row sum S' (signed)" });
  items.push({ kind: 'blank' });

  // ---- memories (instances after the control, whose read addresses they take) -------------
  // Synchronous-read ROMs (hbnn_rom): each reads at the address of the next step (`tile_rd`,
  // `nf_rd`), so that its registered output holds the word of the current tile or row fold.
  const memories: MemoryInstance[] = [];
  const memItems: Item[] = [];
  const rom = (array: string, width: number, depth: number, addr: string, data: string): string => {
    const file = memFile(u, array);
    const q = `${array}_q`;
    files.set(file, data);
    memItems.push(wire(q, String(width))); // a range even at width 1 (the datapath slices it)
    memItems.push({
      kind: 'instance',
      module: ROM_MODULE,
      name: `rom_${array}`,
      params: [
        ['W', String(width)],
        ['D', String(depth)],
        ['AB', String(indexBits(depth))],
        ['INIT', `"${file}"`],
        ['BLOCK', depth >= BLOCK_ROM_MIN_DEPTH ? '1' : '0'],
      ],
      ports: [
        ['clk', 'clk'],
        ['addr', addr],
        ['q', q],
      ],
    });
    memories.push({ path: `rom_${array}`, kind: 'rom', width, depth, init: file });
    return q;
  };
  memItems.push({ kind: 'comment', text: 'weight memories: one word per tile (nf·SF + sf); PE p uses bits p·SIMD .. p·SIMD + SIMD-1' });
  const planes = w.planes.map((pl, i) => ({ k: i + 1, hasMask: !stats.full[i], plane: pl }));
  for (const p of planes) {
    rom(`ws${p.k}`, u.pe * u.simd, nf * sf, 'tile_rd', tileWords(u, w, p.plane.signs));
    if (p.hasMask) rom(`wm${p.k}`, u.pe * u.simd, nf * sf, 'tile_rd', tileWords(u, w, p.plane.mask));
  }
  memItems.push({ kind: 'comment', text: 'per-row constants: one word per row fold; PE p uses field p' });
  const kMem = new Map<number, number>();
  if (!a.trivial) {
    a.k.forEach((kt, t) => {
      if (a.kConst[t]) return;
      const kb = a.kBits[t]!;
      kMem.set(t, kb);
      rom(`k${t}`, u.pe * kb, nf, 'nf_rd', rowWords(u, kb, (r) => [kt[r]!]));
    });
  }
  let thr: { bits: number; count: number } | undefined;
  let biasBits = 0;
  if (act.kind === 'threshold') {
    const layout = thresholdLayout(u);
    thr = { bits: layout.bits, count: layout.count };
    items.push({ kind: 'localparam', name: 'TB', value: String(layout.bits), comment: 'threshold width' });
    items.push({ kind: 'localparam', name: 'NT', value: String(layout.count), comment: `thresholds per row (padded with ${layout.sentinel}, never reached)` });
    if (layout.count > 0) {
      rom(
        'thr',
        u.pe * layout.count * layout.bits,
        nf,
        'nf_rd',
        rowWords(u, layout.count * layout.bits, (r) => {
          const t = a.thresholds![r]!;
          return Array.from({ length: layout.count }, (_, i) => (i < t.length ? t[i]! : layout.sentinel));
        }),
      );
    }
    rom(
      'code',
      u.pe * (layout.count + 1) * oeb,
      nf,
      'nf_rd',
      rowWords(u, (layout.count + 1) * oeb, (r) => {
        const codes = act.codes[r]!;
        return Array.from({ length: layout.count + 1 }, (_, i) => codes[Math.min(i, codes.length - 1)]!);
      }),
    );
  } else {
    biasBits = Math.max(signedBits(a.bias!), 2);
    items.push({ kind: 'localparam', name: 'BB', value: String(biasBits), comment: 'bias width (rounding constant and accumulator offsets included)' });
    rom('bias', u.pe * biasBits, nf, 'nf_rd', rowWords(u, biasBits, (r) => [a.bias![r]!]));
  }
  items.push({ kind: 'blank' });

  // ---- control -----------------------------------------------------------------------
  c('control: row fold nf, column fold sf, tile = nf·SF + sf, input vector px of REPS');
  items.push(reg('nf', indexBits(nf)), reg('sf', indexBits(sf)), reg('tile', indexBits(nf * sf)), reg('px', indexBits(u.reps)));
  // The input buffer (matrix-vector, SF > 1) is a one-write, one-read `hbnn_ram` of SF words
  // (LUT or block RAM on the FPGA, a RAM macro on the ASIC) read one step ahead like the ROMs:
  // `sf_rd` is the column fold after this cycle, so its registered word is ibuf[sf] during the
  // replay. A word is never read in the cycle it is written (the write is at sf, the read at the
  // next fold, which differs when SF > 1). With SF = 1 the buffer is one register.
  const ibufRam = !vv && sf > 1;
  if (!vv && !ibufRam) items.push(reg('ibuf', 'SIMD * IEB'));
  if (ibufRam) items.push(wire('ibuf_q', 'SIMD * IEB', undefined));
  items.push(wire('first', 1, vv ? "1'b1" : 'nf == 0'));
  items.push(wire('last', 1, `sf == ${sf - 1}`));
  items.push(wire('out_free', 1, '!out_valid || out_ready'));
  items.push(wire('step', 1, '(first ? in_valid : 1\'b1) && (!last || out_free)'));
  items.push({ kind: 'assign', lhs: 'in_ready', rhs: 'first && (!last || out_free)' });
  items.push(vv ? wire('chunk', 'PE * SIMD * IEB', 'in_data') : wire('chunk', 'SIMD * IEB', `first ? in_data : ${ibufRam ? 'ibuf_q' : 'ibuf'}`));
  items.push(wire('first_tile', 1, 'sf == 0'));
  items.push({ kind: 'comment', text: `the ${ibufRam ? 'column fold, ' : ''}tile and row fold after this cycle: the memories read there` });
  items.push(wire('wrap', 1, `last && nf == ${nf - 1}`));
  if (ibufRam) items.push(wire('sf_rd', indexBits(sf), `rst || (step && last) ? 0 : step ? sf + 1 : sf`));
  items.push(wire('tile_rd', indexBits(nf * sf), `rst || (step && wrap) ? 0 : step ? tile + 1 : tile`));
  items.push(wire('nf_rd', indexBits(nf), `rst || (step && wrap) ? 0 : step && last ? nf + 1 : nf`));
  items.push(clockedReset(
    [set('nf', '0'), set('sf', '0'), set('tile', '0'), set('px', '0'), set('out_valid', "1'b0")],
    [
      { kind: 'if', cond: 'out_valid && out_ready', then: [set('out_valid', "1'b0")] },
      {
        kind: 'if',
        cond: 'step',
        then: [
          {
            kind: 'if',
            cond: 'last',
            then: [
              set('out_valid', "1'b1"),
              set('sf', '0'),
              {
                kind: 'if',
                cond: `nf == ${nf - 1}`,
                then: [set('nf', '0'), set('tile', '0'), set('px', `px == ${u.reps - 1} ? 0 : px + 1`)],
                else: [set('nf', 'nf + 1'), set('tile', 'tile + 1')],
              },
            ],
            else: [set('sf', 'sf + 1'), set('tile', 'tile + 1')],
          },
        ],
      },
    ],
  ));
  if (!vv && !ibufRam) items.push(clocked([{ kind: 'if', cond: 'step && first', then: [set('ibuf', 'in_data')] }]));
  items.push({ kind: 'blank' });
  if (ibufRam) {
    items.push({ kind: 'comment', text: 'input buffer: the SF beats of the first row fold (word sf), replayed in the other row folds' });
    items.push({
      kind: 'instance',
      module: RAM_MODULE,
      name: 'ibuf',
      params: [
        ['W', 'SIMD * IEB'],
        ['D', 'SF'],
        ['AB', String(indexBits(sf))],
      ],
      ports: [
        ['clk', 'clk'],
        ['we', 'step && first'],
        ['waddr', 'sf'],
        ['wdata', 'in_data'],
        ['raddr', 'sf_rd'],
        ['q', 'ibuf_q'],
      ],
    });
    memories.push({ path: 'ibuf', kind: 'ram', width: u.simd * ieb, depth: sf });
  }
  items.push(...memItems);
  items.push({ kind: 'blank' });

  // ---- lane helpers ------------------------------------------------------------------
  items.push({
    kind: 'function',
    name: 'popcount',
    width: cb + 1,
    signed: true,
    inputs: [{ name: 'v', width: 'SIMD' }],
    locals: [],
    body: [set('popcount', '$countones(v)', true)],
  });
  // ±1 weights × fixed-point input: lane by lane for narrow SIMD, on the input's bit planes
  // (popcounts) from BIT_PLANE_MIN_SIMD lanes, as the HLS code does. The same integer sum.
  const bitPlanes = !binaryIn && u.simd >= BIT_PLANE_MIN_SIMD;
  const ib = ieb;
  if (bitPlanes) {
    items.push({
      kind: 'function',
      name: 'plane_sum',
      width: 'XB',
      signed: true,
      inputs: [
        { name: 'm', width: 'SIMD' },
        { name: 'planes', width: `${ib} * SIMD` },
      ],
      locals: [{ kind: 'net', net: 'integer', name: 'b' }],
      body: [
        { kind: 'comment', text: `Σ over the lanes in m of x = Σ_b ±2^b·popcount(m & plane b) (bit ${ib - 1} weighs −2^${ib - 1})` },
        set('plane_sum', '0', true),
        { kind: 'for', index: 'b', from: '0', to: String(ib - 1), body: [set('plane_sum', `plane_sum + ($signed({1'b0, popcount(m & planes[b * SIMD +: SIMD])}) <<< b)`, true)] },
        set('plane_sum', `plane_sum - ($signed({1'b0, popcount(m & planes[${ib - 1} * SIMD +: SIMD])}) <<< ${ib - 1})`, true),
      ],
    });
  } else if (!binaryIn) {
    items.push({
      kind: 'function',
      name: 'signed_sum',
      width: 'XB',
      signed: true,
      inputs: [
        { name: 'ws', width: 'SIMD' },
        { name: 'wm', width: 'SIMD' },
        { name: 'x', width: 'SIMD * IEB' },
      ],
      locals: [{ kind: 'net', net: 'integer', name: 'i' }],
      body: [
        { kind: 'comment', text: 'Σ over the lanes whose weight has this plane of ±x (the plane sign)' },
        set('signed_sum', '0', true),
        { kind: 'for', index: 'i', from: '0', to: 'SIMD', body: [{ kind: 'if', cond: 'wm[i]', then: [set('signed_sum', `ws[i] ? signed_sum + $signed(x[i * ${ib} +: ${ib}]) : signed_sum - $signed(x[i * ${ib} +: ${ib}])`, true)] }] },
      ],
    });
  }
  for (const [k, has] of live) {
    items.push({ kind: 'localparam', name: `HAS_W${k}`, value: `${u.pe}'b${[...has].reverse().map((h) => (h ? 1 : 0)).join('')}`, comment: `PEs whose rows have weight plane ${k} (bit p = PE p); the others have no plane-${k} terms` });
  }
  items.push({ kind: 'blank' });

  // ---- processing elements -----------------------------------------------------------
  c('processing elements: PE p computes rows nf·PE + p; its accumulators are field p of acc<t>');
  for (let t = 0; t < T; t++) items.push(reg(`acc${t}`, 'PE * XB'));
  items.push({ kind: 'net', net: 'integer', name: 'p' });
  const temps: Item[] = [];
  if (binaryIn) for (let k = 1; k <= ka; k++) temps.push(reg(`as${k}`, 'SIMD'), reg(`am${k}`, 'SIMD'));
  if (bitPlanes) temps.push(reg('xbits', `${ib} * SIMD`), reg('xsum', 'XB', undefined, true));
  temps.push({ kind: 'net', net: 'integer', name: 'ln' }, { kind: 'net', net: 'integer', name: 'bt' });
  for (const pl of planes) {
    temps.push(reg(`ws${pl.k}`, 'SIMD'));
    if (pl.hasMask) temps.push(reg(`wm${pl.k}`, 'SIMD'));
  }
  for (let t = 0; t < T; t++) temps.push(reg(`x${t}`, 'XB', undefined, true), reg(`n${t}`, 'XB', undefined, true));
  temps.push(reg('sum', 'SB', undefined, true));
  if (thr && thr.count > 0) temps.push(reg('band', clog2(thr.count)), { kind: 'net', net: 'integer', name: 'th' });
  if (act.kind === 'requantize') temps.push(reg('shifted', 'SB', undefined, true));
  items.push({ kind: 'comment', text: 'values within one step (blocking temporaries of the datapath process)' });
  items.push(...temps);
  const body: Stmt[] = [];
  // The chunk the lanes read: shared by the PEs (matrix-vector), or PE p's own (vector-vector:
  // unpacked inside the PE loop).
  const unpack: Stmt[] = [];
  const lane = vv ? '(p * SIMD + ln)' : 'ln';
  if (binaryIn) {
    unpack.push({ kind: 'comment', text: `activation planes of the ${vv ? "PE's " : ''}chunk: sign and mask bit of plane a of each lane` });
    const laneSet: Stmt[] = [];
    for (let k = 1; k <= ka; k++) laneSet.push(set(`as${k}[ln]`, `chunk[${lane} * IEB + ${k - 1}]`, true), set(`am${k}[ln]`, `chunk[${lane} * IEB + ${ka + k - 1}]`, true));
    unpack.push({ kind: 'for', index: 'ln', from: '0', to: 'SIMD', body: laneSet });
  }
  if (bitPlanes) {
    unpack.push({ kind: 'comment', text: `the ${vv ? "PE's " : ''}chunk's two's complement bit planes (xbits[b·SIMD + s] = bit b of lane s) and its sum` });
    unpack.push(set('xsum', '0', true));
    unpack.push({
      kind: 'for',
      index: 'ln',
      from: '0',
      to: 'SIMD',
      body: [set('xsum', `xsum + $signed(chunk[${lane} * ${ib} +: ${ib}])`, true), { kind: 'for', index: 'bt', from: '0', to: String(ib), body: [set('xbits[bt * SIMD + ln]', `chunk[${lane} * ${ib} + bt]`, true)] }],
    });
  }
  const perPe: Stmt[] = [];
  if (vv) perPe.push(...unpack);
  else body.push(...unpack);
  for (const pl of planes) {
    perPe.push(set(`ws${pl.k}`, slice(`ws${pl.k}_q`, 'p * SIMD', 'SIMD'), true));
    if (pl.hasMask) perPe.push(set(`wm${pl.k}`, slice(`wm${pl.k}_q`, 'p * SIMD', 'SIMD'), true));
  }
  u.terms.forEach((term, t) => {
    const form = a.forms[t]!;
    const ws = `ws${term.w}`;
    const wm = planes[term.w - 1]!.hasMask ? `wm${term.w}` : undefined;
    let x: Expr;
    let what: string;
    if (binaryIn) {
      const as = `as${term.a}`;
      const am = `am${term.a}`;
      if (form.kind === 'bipolar') {
        x = `popcount(~(${ws} ^ ${as})${wm ? ` & ${wm}` : ''})`;
        what = 'plane always present: X = popcount(XNOR & Mw); acc = 2·X − popcount(Mw of the row)';
      } else if (form.kind === 'unipolar') {
        x = `popcount(~(${ws} ^ ${am})${wm ? ` & ${wm}` : ''})`;
        what = 'present activations are +1: X = popcount(~(Ws ^ Ma) & Mw); acc = X + popcount(Ws) − popcount(Mw) of the row';
      } else if (!wm) {
        x = `2 * popcount(~(${ws} ^ ${as}) & ${am}) - popcount(${am})`;
        what = '2·popcount(XNOR & Ma) − popcount(Ma)';
      } else {
        x = `2 * popcount(~(${ws} ^ ${as}) & ${wm} & ${am}) - popcount(${wm} & ${am})`;
        what = 'M = Mw & Ma: 2·popcount(XNOR & M) − popcount(M)';
      }
    } else if (bitPlanes) {
      x = wm ? `2 * plane_sum(${ws} & ${wm}, xbits) - plane_sum(${wm}, xbits)` : `2 * plane_sum(${ws}, xbits) - xsum`;
      what = wm ? 'on the input bit planes: 2·Σ_{sign +1} x − Σ_{plane} x' : 'on the input bit planes: 2·Σ_{sign +1} x − Σ x';
    } else {
      x = `signed_sum(${ws}, ${wm ?? `{SIMD{1'b1}}`}, ${vv ? 'chunk[p * SIMD * IEB +: SIMD * IEB]' : 'chunk'})`;
      what = 'Σ ±x over the lanes whose weight has the plane';
    }
    perPe.push({ kind: 'comment', text: `term ${t}: weight plane ${term.w} × ${term.a ? `activation plane ${term.a}` : 'fixed-point input'} (${form.kind}): ${what}` });
    const accumulate = [set(`x${t}`, x, true), set(`n${t}`, `first_tile ? x${t} : $signed(acc${t}[p * XB +: XB]) + x${t}`, true)];
    if (live.has(term.w)) {
      // A PE without the plane: its term is 0 outright, not an accumulator that stays 0 (a
      // register of unknown initial value synthesis cannot remove, nor the K_t multiplier on it).
      perPe.push({ kind: 'if', cond: `HAS_W${term.w}[p]`, then: accumulate, else: [set(`x${t}`, '0', true), set(`n${t}`, '0', true)] });
    } else perPe.push(...accumulate);
    perPe.push(set(`acc${t}[p * XB +: XB]`, `n${t}`));
  });
  // Combination at the last column fold.
  const sumTerms: Expr[] = [];
  if (act.kind === 'requantize') sumTerms.push(`$signed(${slice('bias_q', 'p * BB', 'BB')})`);
  u.terms.forEach((_, t) => {
    if (a.trivial) {
      sumTerms.push(`n${t}`);
      return;
    }
    const kt = a.k[t]!;
    if (a.kConst[t]) {
      if (kt[0] === 0) return;
      sumTerms.push(kt[0] === 1 ? `n${t}` : `${slit(kt[0]!, a.kBits[t]!)} * n${t}`);
    } else {
      const kb = kMem.get(t)!;
      sumTerms.push(`$signed(${slice(`k${t}_q`, `p * ${kb}`, kb)}) * n${t}`);
    }
  });
  const combine: Stmt[] = [{ kind: 'comment', text: act.kind === 'requantize' ? "S' = bias + Σ_t K_t·X_t" : "S' = Σ_t K_t·X_t" }, set('sum', sumTerms.length ? sumTerms.join(' + ') : '0', true)];
  if (thr) {
    if (thr.count > 0) {
      combine.push({ kind: 'comment', text: "band = #{u : S' ≥ threshold_u}" }, set('band', '0', true));
      combine.push({ kind: 'for', index: 'th', from: '0', to: 'NT', body: [{ kind: 'if', cond: `sum >= $signed(thr_q[(p * NT + th) * TB +: TB])`, then: [set('band', 'band + 1', true)] }] });
      combine.push(set(slice('out_data', 'p * OEB', 'OEB'), `code_q[(p * (NT + 1) + band) * OEB +: OEB]`));
    } else combine.push(set(slice('out_data', 'p * OEB', 'OEB'), `code_q[p * OEB +: OEB]`));
  } else if (act.kind === 'requantize') {
    const hi = 2n ** BigInt(act.outBits - 1) - 1n;
    const lo = -(2n ** BigInt(act.outBits - 1));
    combine.push({ kind: 'comment', text: `q = clamp(S' >>> ${act.shift}) to ${act.outBits} bits` });
    combine.push(set('shifted', `sum >>> ${act.shift}`, true));
    combine.push(set(slice('out_data', 'p * OEB', 'OEB'), `shifted > ${slit(hi, sb + 1)} ? ${slit(hi, act.outBits)} : shifted < ${slit(lo, sb + 1)} ? ${slit(lo, act.outBits)} : shifted[OEB-1:0]`));
  }
  // Simulation trace: the IR's accumulators acc = α·X + β[row], registered with the output.
  const trace: Stmt[] = a.forms.map((f, t) => {
    const alpha = f.alpha === 1 ? '' : `${f.alpha} * `;
    const bb = f.beta ? Math.max(signedBits(f.beta), 2) : 0;
    const beta = f.beta ? ` + $signed(beta${t}_row[p * ${bb} +: ${bb}])` : '';
    return set(slice(`trace${t}`, `p * ${TRACE_BITS}`, TRACE_BITS), `${alpha}$signed({{${TRACE_BITS - xb}{n${t}[XB-1]}}, n${t}})${beta}`);
  });
  combine.push({ kind: 'ifdef', macro: 'HBNN_CHECK', body: trace });
  perPe.push({ kind: 'if', cond: 'last', then: combine });
  body.push({ kind: 'for', index: 'p', from: '0', to: 'PE', body: perPe });
  items.push({ kind: 'comment', text: 'the datapath: one step per cycle when `step` (the lane sums, the accumulators, and at the last column fold the row outputs)' });
  items.push(clocked([{ kind: 'if', cond: 'step', then: body }]));

  // ---- simulation check (HBNN_CHECK) -------------------------------------------------
  const perSample = T * u.mh * u.reps;
  const check: Item[] = [
    { kind: 'comment', text: `simulation only: the IR's accumulators of the first CHECK_SAMPLES samples, checked row by row (the cycle after) against ${accFile(u)}` },
    { kind: 'localparam', name: 'ACC_PER_SAMPLE', value: String(perSample) },
    { kind: 'localparam', name: 'CHECK_DEPTH', value: 'CHECK_SAMPLES > 0 ? CHECK_SAMPLES * ACC_PER_SAMPLE : 1' },
    reg('acc_expected', TRACE_BITS, 'CHECK_DEPTH'),
    { kind: 'initial', body: [{ kind: 'if', cond: 'CHECK_SAMPLES > 0', then: [{ kind: 'call', name: '$readmemh', args: [`"${accFile(u)}"`, 'acc_expected'] }] }] },
    { kind: 'net', net: 'integer', name: 'sample' },
    { kind: 'net', net: 'integer', name: 'acc_checked' },
    { kind: 'net', net: 'integer', name: 'acc_mismatches' },
    { kind: 'net', net: 'integer', name: 'cp' },
    { kind: 'net', net: 'integer', name: 'cidx' },
    reg('chk_valid', 1),
    { kind: 'net', net: 'integer', name: 'chk_nf' },
    { kind: 'net', net: 'integer', name: 'chk_px' },
    { kind: 'initial', body: [set('sample', '0', true), set('acc_checked', '0', true), set('acc_mismatches', '0', true), set('chk_valid', "1'b0", true)] },
  ];
  a.forms.forEach((f, t) => {
    check.push(reg(`trace${t}`, `PE * ${TRACE_BITS}`));
    if (f.beta) {
      const bb = Math.max(signedBits(f.beta), 2);
      check.push(reg(`beta${t}_mem`, `PE * ${bb}`, 'NF'));
      check.push({ kind: 'initial', body: [{ kind: 'call', name: '$readmemh', args: [`"${memFile(u, `beta${t}`)}"`, `beta${t}_mem`] }] });
      check.push(wire(`beta${t}_row`, `PE * ${bb}`, `beta${t}_mem[nf]`));
      files.set(memFile(u, `beta${t}`), rowWords(u, bb, (r) => [f.beta![r]!]));
    }
  });
  const perTerm: Stmt[] = u.terms.map((_, t) => ({
    kind: 'if',
    cond: `sample < CHECK_SAMPLES`,
    then: [
      set('cidx', `sample * ACC_PER_SAMPLE + ${t * u.mh * u.reps} + (chk_nf * PE + cp) * ${u.reps} + chk_px`, true),
      set('acc_checked', 'acc_checked + 1', true),
      {
        kind: 'if',
        cond: `trace${t}[cp * ${TRACE_BITS} +: ${TRACE_BITS}] !== acc_expected[cidx]`,
        then: [
          set('acc_mismatches', 'acc_mismatches + 1', true),
          {
            kind: 'if',
            cond: 'acc_mismatches <= 5',
            then: [{ kind: 'call', name: '$display', args: [`"hbnn-tb: accumulator mismatch: ${name} sample %0d term ${t} row %0d pixel %0d: rtl %0d, expected %0d"`, 'sample', 'chk_nf * PE + cp', 'chk_px', `$signed(trace${t}[cp * ${TRACE_BITS} +: ${TRACE_BITS}])`, '$signed(acc_expected[cidx])'] }],
          },
        ],
      },
    ],
  }));
  check.push(clocked([set('chk_valid', '!rst && step && last'), set('chk_nf', 'nf'), set('chk_px', 'px')]));
  // The check runs on the registered traces, the cycle after the row's step.
  check.push(clocked([
    {
      kind: 'if',
      cond: 'chk_valid',
      then: [
        { kind: 'for', index: 'cp', from: '0', to: 'PE', body: perTerm },
        { kind: 'if', cond: `chk_nf == ${nf - 1} && chk_px == ${u.reps - 1}`, then: [set('sample', 'sample + 1', true)] },
      ],
    },
  ]));
  items.push({ kind: 'ifdef', macro: 'HBNN_CHECK', items: check });

  const module: Module = {
    name,
    comment: [
      `${vv ? `vector-vector unit (${u.groups} groups; PE p reads its own SIMD entries of its row's group)` : u.source === 'conv' ? 'convolution unit' : 'matrix-vector unit'} ${u.layer}: MH=${u.mh} MW=${u.mw} PE=${u.pe} SIMD=${u.simd}, ${u.reps} input vector(s) per sample,`,
      `${T} accumulator term(s) (${a.forms.map((f) => f.kind).join(', ')}), ${act.kind}; weight planes ${planes.map((p) => `${p.k}: ${(stats.density[p.k - 1]! * 100).toFixed(1)}%`).join(', ')}`,
    ],
    params: [{ name: 'CHECK_SAMPLES', value: '0', comment: 'simulation (HBNN_CHECK): samples whose accumulators are checked' }],
    ports: streamPorts((vv ? u.pe : 1) * u.simd * ieb, u.pe * oeb, {
      outReg: true,
      inComment: vv ? "PE·SIMD entries, PE p's lane s at bits (p·SIMD + s)·IEB" : 'SIMD entries, entry s at bits s·IEB',
      outComment: 'PE entries, row nf·PE + p at bits p·OEB',
    }),
    items,
  };
  return { module, files, accPerSample: perSample, memories };
}
