/**
 * The stage modules every design shares (hbnn_lib.v), one per stage kind, configured by
 * parameters: width converter, sliding window, max pooling, element-wise maps (ReLU, level
 * tables, the scaling layer) and the argmax. Streams are valid/ready; a beat of N entries of
 * EB bits holds entry k at bits k·EB.. (entry 0 is the first to arrive).
 */
import { clockedReset, type Item, type Module, type Port, type Stmt } from './ast.js';
import { RAM_MODULE, ramModule, romModule } from './memories.js';

export const set = (lhs: string, rhs: string, blocking = false): Stmt => ({ kind: 'set', lhs, rhs, blocking });
export const net = (n: 'wire' | 'reg' | 'integer', name: string, width?: number | string, extra: Partial<{ depth: number | string; value: string; signed: boolean; comment: string }> = {}): Item => ({
  kind: 'net',
  net: n,
  name,
  ...(width !== undefined ? { width } : {}),
  ...extra,
});
export const lp = (name: string, value: string, comment?: string): Item => ({ kind: 'localparam', name, value, ...(comment ? { comment } : {}) });

/** Variations on the standard stream ports of `streamPorts`. */
export interface StreamPortOptions {
  /** Width of in_valid/in_ready: one bit per input stream (default 1). */
  inputs?: number | string;
  /** Width of out_valid/out_ready: one bit per reader (default 1). */
  readers?: number | string;
  /** `out_valid` and the output data port are registers. */
  outReg?: boolean;
  /** Name of the output data port (default `out_data`). */
  outData?: string;
  inComment?: string;
  outComment?: string;
}

/** clk, rst, and valid/ready/data on each side: the ports every stage shares. */
export function streamPorts(inWidth: number | string, outWidth: number | string, o: StreamPortOptions = {}): Port[] {
  const reg = o.outReg ? { reg: true } : {};
  return [
    { dir: 'input', name: 'clk', width: 1 },
    { dir: 'input', name: 'rst', width: 1 },
    { dir: 'input', name: 'in_valid', width: o.inputs ?? 1 },
    { dir: 'output', name: 'in_ready', width: o.inputs ?? 1 },
    { dir: 'input', name: 'in_data', width: inWidth, ...(o.inComment ? { comment: o.inComment } : {}) },
    { dir: 'output', name: 'out_valid', width: o.readers ?? 1, ...reg },
    { dir: 'input', name: 'out_ready', width: o.readers ?? 1 },
    { dir: 'output', name: o.outData ?? 'out_data', width: outWidth, ...reg, ...(o.outComment ? { comment: o.outComment } : {}) },
  ];
}

/** Stream `from` passed on as stream `to` unchanged: valid and data forward, ready back. */
function passStream(from: string, to: string): Item[] {
  return [
    { kind: 'assign', lhs: `${to}_valid`, rhs: `${from}_valid` },
    { kind: 'assign', lhs: `${to}_data`, rhs: `${from}_data` },
    { kind: 'assign', lhs: `${from}_ready`, rhs: `${to}_ready` },
  ];
}

/**
 * Width converter: IN-entry beats in, OUT-entry beats out (entry order kept), through beats
 * of G entries, G a common divisor of IN and OUT (the design passes their gcd; 1 always
 * works): a split register of IN entries sends its G-entry pieces low entries first, and a
 * gather register of OUT entries shifts each G-entry piece in from the top until OUT entries
 * have arrived. Either side is a plain wire when IN or OUT is G. Every shift is by a constant,
 * so the converter is registers and 2:1 muxes (a buffer written at a variable position would
 * be a barrel shifter over IN + OUT entries).
 */
export function dwcModule(): Module {
  const piece: Item[] = [net('wire', 'p_valid'), net('wire', 'p_ready'), net('wire', 'p_data', 'G * EB', { comment: 'G-entry pieces between the two sides' })];
  const split: Item = {
    kind: 'generate-if',
    cond: 'IN == G',
    label: 'g_in',
    then: passStream('in', 'p'),
    else: [
      net('reg', 'sbuf', 'IN * EB'),
      net('integer', 'scnt', undefined, { comment: 'pieces of sbuf not sent yet' }),
      { kind: 'assign', lhs: 'p_valid', rhs: 'scnt != 0' },
      { kind: 'assign', lhs: 'p_data', rhs: 'sbuf[G * EB - 1:0]' },
      { kind: 'assign', lhs: 'in_ready', rhs: 'scnt == 0 || (scnt == 1 && p_ready)' },
      clockedReset(
        [set('scnt', '0')],
        [
          {
            kind: 'if',
            cond: 'in_valid && in_ready',
            then: [set('sbuf', 'in_data'), set('scnt', 'IN / G')],
            else: [{ kind: 'if', cond: 'p_valid && p_ready', then: [set('sbuf', 'sbuf >> (G * EB)'), set('scnt', 'scnt - 1')] }],
          },
        ],
      ),
    ],
  };
  const gather: Item = {
    kind: 'generate-if',
    cond: 'OUT == G',
    label: 'g_out',
    then: passStream('p', 'out'),
    else: [
      net('reg', 'gbuf', 'OUT * EB'),
      net('integer', 'gcnt', undefined, { comment: 'pieces gathered' }),
      { kind: 'assign', lhs: 'out_valid', rhs: 'gcnt == OUT / G' },
      { kind: 'assign', lhs: 'out_data', rhs: 'gbuf' },
      { kind: 'assign', lhs: 'p_ready', rhs: 'gcnt != OUT / G || out_ready' },
      clockedReset(
        [set('gcnt', '0')],
        [
          {
            kind: 'if',
            cond: 'p_valid && p_ready',
            then: [set('gbuf', '{p_data, gbuf[OUT * EB - 1:G * EB]}'), set('gcnt', 'out_valid ? 1 : gcnt + 1')],
            else: [{ kind: 'if', cond: 'out_valid && out_ready', then: [set('gcnt', '0')] }],
          },
        ],
      ),
    ],
  };
  return {
    name: 'hbnn_dwc',
    comment: ['width converter: beats of IN entries → beats of OUT entries (entry order kept), through pieces of G entries (G divides IN and OUT)'],
    params: [
      { name: 'EB', value: '8', comment: 'bits per entry' },
      { name: 'IN', value: '1' },
      { name: 'OUT', value: '1' },
      { name: 'G', value: '1', comment: 'piece size: a common divisor of IN and OUT (their gcd is fastest)' },
    ],
    ports: streamPorts('IN * EB', 'OUT * EB'),
    items: [...piece, split, gather],
  };
}

/** Shared parameters of the line-buffered stages (window, pooling). */
export const GEOMETRY = [
  { name: 'EB', value: '8', comment: 'bits per entry' },
  { name: 'C', value: '1', comment: 'channels (one input beat = one pixel)' },
  { name: 'H', value: '1' },
  { name: 'W', value: '1' },
  { name: 'KH', value: '1' },
  { name: 'KW', value: '1' },
  { name: 'SH', value: '1' },
  { name: 'SW', value: '1' },
  { name: 'PT', value: '0', comment: 'top padding' },
  { name: 'PL', value: '0', comment: 'left padding' },
  { name: 'DH', value: '1' },
  { name: 'DW', value: '1' },
  { name: 'OH', value: '1' },
  { name: 'OW', value: '1' },
];

/**
 * The line buffer and schedule of the window and pooling stages (hbnn_swu, hbnn_maxpool,
 * hbnn_avgpool, hbnn_swu_grouped; as the HLS code): read input
 * row iy (W pixel beats, one per cycle) into a ring of ROWS ≥ SPAN + SH rows (a power of two,
 * so that the ring row is the low bits of the row index), then emit every output row y whose
 * last input row min(y·SH − PT + SPAN − 1, H − 1) has arrived; after row H − 1, the next sample.
 * The ring is one `hbnn_ram` with one synchronous read port: emitting an output pixel (y, ox)
 * is LOAD, which reads the KH·KW window positions one per cycle (position (a, b) issued at step
 * j, its pixel `pix` arriving at step j + 1 with `inside_q` = whether it lies inside the image;
 * `take`: what the stage does with it), then SEND (out_valid; `beats`: the output leaves in
 * beats counted by that counter up to `last`, each sent beat running `shift`; else one beat);
 * after the last pixel of the row, CHECK (y + 1). `start`: run as LOAD begins.
 */
export function pixelLineBufferItems(o: { take: Stmt[]; start?: Stmt[]; beats?: { counter: string; last: string; shift: Stmt[] } }): Item[] {
  const toLoad = (more: Stmt[]): Stmt[] => [...more, set('a', '0'), set('b', '0'), set('j', '0'), set('state', 'LOAD')];
  const nextPixel: Stmt = { kind: 'if', cond: 'ox == OW - 1', then: [set('y', 'y + 1'), set('state', 'CHECK')], else: toLoad([set('ox', 'ox + 1')]) };
  const beats = o.beats;
  const sent: Stmt = beats ? { kind: 'if', cond: `${beats.counter} == ${beats.last}`, then: [nextPixel], else: [set(beats.counter, `${beats.counter} + 1`), ...beats.shift] } : nextPixel;
  return [
    lp('SPAN', '(KH - 1) * DH + 1', 'input rows a window covers'),
    lp('RB', '$clog2(SPAN + SH)', 'ring row bits'),
    lp('ROWS', '1 << RB', 'rows in the ring buffer (a power of two ≥ SPAN + SH)'),
    lp('LA', '$clog2(ROWS * W)', 'line buffer address bits'),
    lp('KK', 'KH * KW', 'window positions'),
    lp('READ', '0'),
    lp('CHECK', '1'),
    lp('LOAD', '2'),
    lp('SEND', '3'),
    net('reg', 'state', 2),
    lp('XYB', '$clog2((H > W ? H : W) + (OH > OW ? OH : OW) * (SH > SW ? SH : SW) + KH * DH + KW * DW + KH * KW + 1) + 1', 'signed bits of the positions and counters below'),
    net('reg', 'x', 'XYB', { signed: true, comment: 'read position: pixel x of input row iy' }),
    net('reg', 'iy', 'XYB', { signed: true }),
    net('reg', 'y', 'XYB', { signed: true, comment: 'emit position: output row y, column ox' }),
    net('reg', 'ox', 'XYB', { signed: true }),
    net('reg', 'last_row', 'XYB', { signed: true }),
    net('reg', 'a', 'XYB', { signed: true, comment: 'window position (a, b) read next, j positions read so far' }),
    net('reg', 'b', 'XYB', { signed: true }),
    net('reg', 'j', 'XYB', { signed: true }),
    net('reg', 'wy', 'XYB', { signed: true, comment: 'input position of (a, b) (negative in the padding)' }),
    net('reg', 'wx', 'XYB', { signed: true }),
    net('reg', 'in_image', undefined, { comment: 'position (a, b) lies inside the image' }),
    net('reg', 'inside_q', undefined, { comment: 'the pixel read last cycle lies inside the image' }),
    net('reg', 'waddr', 'LA'),
    net('reg', 'raddr', 'LA'),
    net('wire', 'pix', 'C * EB', { comment: 'the pixel read last cycle' }),
    {
      kind: 'always',
      edge: '*',
      body: [
        set('last_row', 'y * SH - PT + SPAN - 1', true),
        { kind: 'if', cond: 'last_row > H - 1', then: [set('last_row', 'H - 1', true)] },
        set('wy', 'y * SH - PT + a * DH', true),
        set('wx', 'ox * SW - PL + b * DW', true),
        set('in_image', 'wy >= 0 && wy < H && wx >= 0 && wx < W', true),
        set('waddr', 'iy[RB-1:0] * W + x', true),
        set('raddr', 'wy[RB-1:0] * W + wx', true),
      ],
    },
    {
      kind: 'instance',
      module: RAM_MODULE,
      name: 'line',
      params: [
        ['W', 'C * EB'],
        ['D', 'ROWS * W'],
        ['AB', 'LA'],
      ],
      ports: [
        ['clk', 'clk'],
        ['we', 'state == READ && in_valid'],
        ['waddr', 'waddr'],
        ['wdata', 'in_data'],
        ['raddr', 'raddr'],
        ['q', 'pix'],
      ],
    },
    { kind: 'assign', lhs: 'in_ready', rhs: 'state == READ' },
    clockedReset(
      [set('state', 'READ'), set('x', '0'), set('iy', '0'), set('y', '0'), set('ox', '0'), set('a', '0'), set('b', '0'), set('j', '0'), set('inside_q', "1'b0")],
      [
        {
          kind: 'case',
          expr: 'state',
          arms: [
            {
              match: ['READ'],
              body: [{ kind: 'if', cond: 'in_valid', then: [{ kind: 'if', cond: 'x == W - 1', then: [set('x', '0'), set('state', 'CHECK')], else: [set('x', 'x + 1')] }] }],
            },
            {
              match: ['CHECK'],
              body: [
                {
                  kind: 'if',
                  cond: 'y < OH && last_row <= iy',
                  then: toLoad([set('ox', '0')]),
                  else: [{ kind: 'if', cond: 'iy == H - 1', then: [set('iy', '0'), set('y', '0'), set('state', 'READ')], else: [set('iy', 'iy + 1'), set('state', 'READ')] }],
                },
              ],
            },
            {
              match: ['LOAD'],
              body: [
                ...(o.start ? [{ kind: 'if', cond: 'j == 0', then: o.start } as Stmt] : []),
                { kind: 'if', cond: 'j > 0', then: o.take },
                {
                  kind: 'if',
                  cond: 'j < KK',
                  then: [set('inside_q', 'in_image'), { kind: 'if', cond: 'b == KW - 1', then: [set('b', '0'), set('a', 'a + 1')], else: [set('b', 'b + 1')] }, set('j', 'j + 1')],
                  else: [...(beats ? [set(beats.counter, '0')] : []), set('state', 'SEND')],
                },
              ],
            },
            { match: ['SEND'], body: [{ kind: 'if', cond: 'out_ready', then: [sent] }] },
          ],
        },
      ],
    ),
    { kind: 'assign', lhs: 'out_valid', rhs: 'state == SEND' },
  ];
}

/**
 * Sliding window of a convolution: per output pixel, the window (kh, kw, c) (padding reads
 * entry 0) is gathered one position per cycle into the shift register `win` (LOAD; position
 * a·KW + b ends at bits (a·KW + b)·C·EB), then sent in beats of SIMD entries (SEND), `win`
 * shifting down one beat per beat sent.
 */
export function windowModule(): Module {
  return {
    name: 'hbnn_swu',
    comment: ['sliding window unit: [C,H,W] pixels (one beat each, HWC order) → per output pixel the (kh, kw, c) window in beats of SIMD entries'],
    params: [...GEOMETRY, { name: 'SIMD', value: '1' }],
    ports: streamPorts('C * EB', 'SIMD * EB'),
    items: [
      lp('MW', 'KH * KW * C', 'window entries'),
      lp('BEATS', 'MW / SIMD'),
      net('reg', 'win', 'MW * EB'),
      net('reg', 'nwin', 'MW * EB', { comment: 'blocking temporary' }),
      lp('KB', 'BEATS > 1 ? $clog2(BEATS) : 1'),
      net('reg', 'k', 'KB', { comment: 'beat of the window being sent' }),
      ...pixelLineBufferItems({
        take: [set('nwin', 'win >> (C * EB)', true), set('nwin[(KK - 1) * C * EB +: C * EB]', "inside_q ? pix : {C * EB{1'b0}}", true), set('win', 'nwin')],
        beats: { counter: 'k', last: 'BEATS - 1', shift: [set('win', 'win >> (SIMD * EB)')] },
      }),
      { kind: 'assign', lhs: 'out_data', rhs: 'win[SIMD * EB - 1:0]' },
    ],
  };
}

/**
 * Max pooling: per output pixel (LOAD) the largest entry of each channel inside the window
 * (padding never wins; ties keep the first), one window position per cycle compared channel
 * by channel into `best`, sent as one beat of C entries (SEND). Fixed-point entries compare as
 * signed integers; bit-plane codes by their level rank (RANK: 8 bits per code, code c at bits 8·c).
 */
export function maxPoolModule(): Module {
  return {
    name: 'hbnn_maxpool',
    comment: ['max pooling over [C,H,W] pixels with a line buffer: one output pixel (C entries) per beat'],
    params: [...GEOMETRY, { name: 'BINARY', value: '0', comment: '1: entries are bit-plane codes compared by RANK' }, { name: 'RANK', value: "2048'd0", comment: 'level rank per code, 8 bits each' }],
    ports: streamPorts('C * EB', 'C * EB'),
    items: [
      net('reg', 'best', 'C * EB', { comment: 'per-channel maxima so far' }),
      net('reg', 'v', 'EB'),
      net('reg', 'b0', 'EB'),
      net('reg', 'any', undefined, { comment: 'a window position inside the image was read' }),
      net('integer', 'ch'),
      ...pixelLineBufferItems({
        start: [set('any', "1'b0")],
        take: [
          {
            kind: 'if',
            cond: 'inside_q',
            then: [
              {
                kind: 'for',
                index: 'ch',
                from: '0',
                to: 'C',
                body: [
                  set('v', 'pix[ch * EB +: EB]', true),
                  set('b0', 'best[ch * EB +: EB]', true),
                  { kind: 'if', cond: '!any || (BINARY ? RANK[v * 8 +: 8] > RANK[b0 * 8 +: 8] : $signed(v) > $signed(b0))', then: [set('best[ch * EB +: EB]', 'v')] },
                ],
              },
              set('any', "1'b1"),
            ],
          },
        ],
      }),
      { kind: 'assign', lhs: 'out_data', rhs: 'best' },
    ],
  };
}

/** Element-wise stages: combinational maps on each entry of a beat (valid/ready pass through). */
export function elementwise(name: string, comment: string, params: Module['params'], entry: Stmt[], locals: Item[] = []): Module {
  return {
    name,
    comment: [comment],
    params: [{ name: 'IEB', value: '8' }, { name: 'OEB', value: '8' }, { name: 'BEAT', value: '1' }, ...params],
    ports: streamPorts('BEAT * IEB', 'BEAT * OEB'),
    items: [
      { kind: 'assign', lhs: 'in_ready', rhs: 'out_ready' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'in_valid' },
      net('reg', 'mapped', 'BEAT * OEB'),
      net('reg', 'q', 'IEB', { signed: true }),
      ...locals,
      net('integer', 'e'),
      { kind: 'always', edge: '*', body: [{ kind: 'for', index: 'e', from: '0', to: 'BEAT', body: [set('q', '$signed(in_data[e * IEB +: IEB])', true), ...entry] }] },
      { kind: 'assign', lhs: 'out_data', rhs: 'mapped' },
    ],
  };
}

export function reluModule(): Module {
  return elementwise('hbnn_relu', 'ReLU on fixed-point entries: q ← max(q, 0)', [], [set('mapped[e * OEB +: OEB]', 'q < 0 ? 0 : q', true)]);
}

/** A table per entry code (ReLU or Clip on bit-plane codes): TABLE holds OEB bits per input code. */
export function tableModule(): Module {
  return elementwise('hbnn_table', 'bit-plane codes through a table (ReLU, Clip): output code = TABLE[code]', [{ name: 'TABLE', value: "256'd0" }], [set('mapped[e * OEB +: OEB]', 'TABLE[in_data[e * IEB +: IEB] * OEB +: OEB]', true)]);
}

/** The scaling layer: q' = clamp((q·MULT + 2^(SHIFT−1)) >>> SHIFT) to OEB bits. */
export function scaleModule(): Module {
  return elementwise(
    'hbnn_scale',
    "scaling layer: q' = clamp((q · MULT + 2^(SHIFT-1)) >>> SHIFT)",
    [
      { name: 'MULT', value: "64'sd1" },
      { name: 'SHIFT', value: '1' },
    ],
    [
      set('wide', '(q * MULT + (64\'sd1 <<< (SHIFT - 1))) >>> SHIFT', true),
      set('mapped[e * OEB +: OEB]', 'wide > HI ? HI : wide < LO ? LO : wide', true),
    ],
    [net('reg', 'wide', 64, { signed: true }), lp('HI', "(64'sd1 <<< (OEB - 1)) - 64'sd1"), lp('LO', "-(64'sd1 <<< (OEB - 1))")],
  );
}

/** Argmax over N logits (ties: the lowest index); the class leaves as one beat per sample. */
export function argmaxModule(): Module {
  return {
    name: 'hbnn_argmax',
    comment: ['argmax over N fixed-point logits per sample (ties: the lowest index) → class index'],
    params: [
      { name: 'EB', value: '32' },
      { name: 'BEAT', value: '1' },
      { name: 'N', value: '10' },
      { name: 'CB', value: '8', comment: 'class index bits' },
    ],
    ports: streamPorts('BEAT * EB', 'CB', { outReg: true, outData: 'out_class' }),
    items: [
      net('integer', 'i', undefined, { comment: 'index of the next logit' }),
      net('reg', 'best', 'EB', { signed: true }),
      net('integer', 'best_i'),
      net('reg', 'nbest', 'EB', { signed: true }),
      net('integer', 'nbest_i'),
      net('integer', 'e'),
      { kind: 'assign', lhs: 'in_ready', rhs: '!out_valid' },
      {
        kind: 'always',
        edge: '*',
        body: [
          set('nbest', 'best', true),
          set('nbest_i', 'best_i', true),
          {
            kind: 'for',
            index: 'e',
            from: '0',
            to: 'BEAT',
            body: [{ kind: 'if', cond: 'i + e == 0 || $signed(in_data[e * EB +: EB]) > nbest', then: [set('nbest', '$signed(in_data[e * EB +: EB])', true), set('nbest_i', 'i + e', true)] }],
          },
        ],
      },
      clockedReset(
        [set('i', '0'), set('best', '0'), set('best_i', '0'), set('out_valid', "1'b0")],
        [
          { kind: 'if', cond: 'out_valid && out_ready', then: [set('out_valid', "1'b0")] },
          {
            kind: 'if',
            cond: 'in_valid && in_ready',
            then: [
              set('best', 'nbest'),
              set('best_i', 'nbest_i'),
              { kind: 'if', cond: 'i + BEAT == N', then: [set('i', '0'), set('out_valid', "1'b1"), set('out_class', 'nbest_i[CB-1:0]')], else: [set('i', 'i + BEAT')] },
            ],
          },
        ],
      ),
    ],
  };
}

/** Every shared module, in file order. */
export function libraryModules(): Module[] {
  return [dwcModule(), windowModule(), maxPoolModule(), reluModule(), tableModule(), scaleModule(), argmaxModule(), romModule(), ramModule()];
}
