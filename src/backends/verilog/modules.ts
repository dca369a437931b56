/**
 * The stage modules every design shares (hbnn_lib.v), one per stage kind, configured by
 * parameters: width converter, sliding window, max pooling, element-wise maps (ReLU, level
 * tables, the scaling layer) and the argmax. Streams are valid/ready; a beat of N entries of
 * EB bits holds entry k at bits k·EB.. (entry 0 is the first to arrive).
 */
import type { Item, Module, Port, Stmt } from './ast.js';

export const set = (lhs: string, rhs: string, blocking = false): Stmt => ({ kind: 'set', lhs, rhs, blocking });
export const net = (n: 'wire' | 'reg' | 'integer', name: string, width?: number | string, extra: Partial<{ depth: number | string; value: string; signed: boolean; comment: string }> = {}): Item => ({
  kind: 'net',
  net: n,
  name,
  ...(width !== undefined ? { width } : {}),
  ...extra,
});
export const lp = (name: string, value: string, comment?: string): Item => ({ kind: 'localparam', name, value, ...(comment ? { comment } : {}) });

export function streamPorts(inWidth: string, outWidth: string): Port[] {
  return [
    { dir: 'input', name: 'clk', width: 1 },
    { dir: 'input', name: 'rst', width: 1 },
    { dir: 'input', name: 'in_valid', width: 1 },
    { dir: 'output', name: 'in_ready', width: 1 },
    { dir: 'input', name: 'in_data', width: inWidth },
    { dir: 'output', name: 'out_valid', width: 1 },
    { dir: 'input', name: 'out_ready', width: 1 },
    { dir: 'output', name: 'out_data', width: outWidth },
  ];
}

/** Width converter: IN-entry beats in, OUT-entry beats out, through a buffer of IN + OUT entries. */
export function dwcModule(): Module {
  return {
    name: 'hbnn_dwc',
    comment: ['width converter: beats of IN entries → beats of OUT entries (entry order kept), a buffer of IN + OUT entries'],
    params: [
      { name: 'EB', value: '8', comment: 'bits per entry' },
      { name: 'IN', value: '1' },
      { name: 'OUT', value: '1' },
    ],
    ports: streamPorts('IN * EB', 'OUT * EB'),
    items: [
      lp('CAP', 'IN + OUT'),
      net('reg', 'buffer', 'CAP * EB'),
      net('integer', 'fill', undefined, { comment: 'entries held' }),
      net('reg', 'next_buffer', 'CAP * EB'),
      net('integer', 'next_fill'),
      { kind: 'assign', lhs: 'in_ready', rhs: 'fill + IN <= CAP' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'fill >= OUT' },
      { kind: 'assign', lhs: 'out_data', rhs: 'buffer[OUT * EB - 1:0]' },
      {
        kind: 'always',
        edge: 'posedge clk',
        body: [
          {
            kind: 'if',
            cond: 'rst',
            then: [set('fill', '0'), set('buffer', '0')],
            else: [
              { kind: 'comment', text: 'leave the first OUT entries, then append IN entries after what stays' },
              set('next_buffer', 'buffer', true),
              set('next_fill', 'fill', true),
              { kind: 'if', cond: 'out_valid && out_ready', then: [set('next_buffer', 'buffer >> (OUT * EB)', true), set('next_fill', 'fill - OUT', true)] },
              { kind: 'if', cond: 'in_valid && in_ready', then: [set('next_buffer[next_fill * EB +: IN * EB]', 'in_data', true), set('next_fill', 'next_fill + IN', true)] },
              set('fill', 'next_fill'),
              set('buffer', 'next_buffer'),
            ],
          },
        ],
      },
    ],
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
 * The line buffer and schedule of the window and pooling stages (as the HLS code): read input
 * row iy (W pixel beats) into a ring of SPAN + SH rows, then emit every output row y whose
 * last input row min(y·SH − PT + SPAN − 1, H − 1) has arrived; after row H − 1, the next sample.
 * Emitting an output pixel (y, ox) is LOAD (`load`: fill the output register from the line
 * buffer in one cycle) then SEND (out_valid; `beats`: the register leaves in beats counted by
 * that counter up to `last`, else as one beat); after the last pixel of the row, CHECK (y + 1).
 */
export function lineBufferItems(load: Stmt[], beats?: { counter: string; last: string }): Item[] {
  const nextPixel: Stmt = { kind: 'if', cond: 'ox == OW - 1', then: [set('y', 'y + 1'), set('state', 'CHECK')], else: [set('ox', 'ox + 1'), set('state', 'LOAD')] };
  const sent: Stmt = beats ? { kind: 'if', cond: `${beats.counter} == ${beats.last}`, then: [nextPixel], else: [set(beats.counter, `${beats.counter} + 1`)] } : nextPixel;
  return [
    lp('SPAN', '(KH - 1) * DH + 1', 'input rows a window covers'),
    lp('ROWS', 'SPAN + SH', 'rows in the ring buffer'),
    lp('READ', '0'),
    lp('CHECK', '1'),
    lp('LOAD', '2'),
    lp('SEND', '3'),
    net('reg', 'line', 'C * EB', { depth: 'ROWS * W' }),
    net('reg', 'state', 2),
    net('integer', 'x', undefined, { comment: 'read position: pixel x of input row iy' }),
    net('integer', 'iy'),
    net('integer', 'y', undefined, { comment: 'emit position: output row y, column ox' }),
    net('integer', 'ox'),
    net('integer', 'last_row'),
    {
      kind: 'always',
      edge: '*',
      body: [set('last_row', 'y * SH - PT + SPAN - 1', true), { kind: 'if', cond: 'last_row > H - 1', then: [set('last_row', 'H - 1', true)] }],
    },
    { kind: 'assign', lhs: 'in_ready', rhs: 'state == READ' },
    {
      kind: 'always',
      edge: 'posedge clk',
      body: [
        {
          kind: 'if',
          cond: 'rst',
          then: [set('state', 'READ'), set('x', '0'), set('iy', '0'), set('y', '0'), set('ox', '0')],
          else: [
            {
              kind: 'case',
              expr: 'state',
              arms: [
                {
                  match: ['READ'],
                  body: [
                    {
                      kind: 'if',
                      cond: 'in_valid',
                      then: [set('line[(iy % ROWS) * W + x]', 'in_data'), { kind: 'if', cond: 'x == W - 1', then: [set('x', '0'), set('state', 'CHECK')], else: [set('x', 'x + 1')] }],
                    },
                  ],
                },
                {
                  match: ['CHECK'],
                  body: [
                    {
                      kind: 'if',
                      cond: 'y < OH && last_row <= iy',
                      then: [set('ox', '0'), set('state', 'LOAD')],
                      else: [{ kind: 'if', cond: 'iy == H - 1', then: [set('iy', '0'), set('y', '0'), set('state', 'READ')], else: [set('iy', 'iy + 1'), set('state', 'READ')] }],
                    },
                  ],
                },
                { match: ['LOAD'], body: [...load, ...(beats ? [set(beats.counter, '0')] : []), set('state', 'SEND')] },
                { match: ['SEND'], body: [{ kind: 'if', cond: 'out_ready', then: [sent] }] },
              ],
            },
          ],
        },
      ],
    },
    { kind: 'assign', lhs: 'out_valid', rhs: 'state == SEND' },
  ];
}

/** The window positions of output pixel (y, ox): `inside` statements for an input pixel at (wy, wx), `outside` for padding. */
export function windowLoop(inside: Stmt[], outside: Stmt[]): Stmt {
  return {
    kind: 'for',
    index: 'a',
    from: '0',
    to: 'KH',
    body: [
      {
        kind: 'for',
        index: 'b',
        from: '0',
        to: 'KW',
        body: [set('wy', 'y * SH - PT + a * DH', true), set('wx', 'ox * SW - PL + b * DW', true), { kind: 'if', cond: 'wy >= 0 && wy < H && wx >= 0 && wx < W', then: inside, ...(outside.length ? { else: outside } : {}) }],
      },
    ],
  };
}

export const WINDOW_LOCALS: Item[] = [net('integer', 'a'), net('integer', 'b'), net('integer', 'wy'), net('integer', 'wx')];

/**
 * Sliding window of a convolution: per output pixel, the window (kh, kw, c) (padding reads
 * entry 0) is loaded into `win` in one cycle (LOAD), then sent in beats of SIMD entries (SEND).
 */
export function windowModule(): Module {
  const window = (value: string): Stmt => set('win[(a * KW + b) * C * EB +: C * EB]', value);
  const load = windowLoop([window('line[(wy % ROWS) * W + wx]')], [window('0')]);
  return {
    name: 'hbnn_swu',
    comment: ['sliding window unit: [C,H,W] pixels (one beat each, HWC order) → per output pixel the (kh, kw, c) window in beats of SIMD entries'],
    params: [...GEOMETRY, { name: 'SIMD', value: '1' }],
    ports: streamPorts('C * EB', 'SIMD * EB'),
    items: [
      lp('MW', 'KH * KW * C', 'window entries'),
      lp('BEATS', 'MW / SIMD'),
      net('reg', 'win', 'MW * EB'),
      net('integer', 'k', undefined, { comment: 'beat of the window being sent' }),
      ...WINDOW_LOCALS,
      ...lineBufferItems([load], { counter: 'k', last: 'BEATS - 1' }),
      { kind: 'assign', lhs: 'out_data', rhs: 'win[k * SIMD * EB +: SIMD * EB]' },
    ],
  };
}

/**
 * Max pooling: per output pixel (LOAD) the largest entry of each channel inside the window
 * (padding never wins; ties keep the first), sent as one beat of C entries (SEND). Each window
 * position's pixel is read from the line buffer once (`pix`) and compared channel by channel
 * (one read port per position: synthesis does not build a port per channel and position).
 * Fixed-point entries compare as signed integers; bit-plane codes by their level rank (RANK:
 * 8 bits per code, code c at bits 8·c).
 */
export function maxPoolModule(): Module {
  const load: Stmt[] = [
    set('any', "1'b0", true),
    set('best', '0', true),
    windowLoop(
      [
        set('pix', 'line[(wy % ROWS) * W + wx]', true),
        {
          kind: 'for',
          index: 'ch',
          from: '0',
          to: 'C',
          body: [
            set('v', 'pix[ch * EB +: EB]', true),
            set('b0', 'best[ch * EB +: EB]', true),
            { kind: 'if', cond: '!any || (BINARY ? RANK[v * 8 +: 8] > RANK[b0 * 8 +: 8] : $signed(v) > $signed(b0))', then: [set('best[ch * EB +: EB]', 'v', true)] },
          ],
        },
        set('any', "1'b1", true),
      ],
      [],
    ),
    set('pooled', 'best'),
  ];
  return {
    name: 'hbnn_maxpool',
    comment: ['max pooling over [C,H,W] pixels with a line buffer: one output pixel (C entries) per beat'],
    params: [...GEOMETRY, { name: 'BINARY', value: '0', comment: '1: entries are bit-plane codes compared by RANK' }, { name: 'RANK', value: "2048'd0", comment: 'level rank per code, 8 bits each' }],
    ports: streamPorts('C * EB', 'C * EB'),
    items: [
      net('reg', 'pooled', 'C * EB'),
      net('reg', 'best', 'C * EB', { comment: 'per-channel maxima so far (blocking, within LOAD)' }),
      net('reg', 'pix', 'C * EB', { comment: 'the pixel at one window position' }),
      net('reg', 'v', 'EB'),
      net('reg', 'b0', 'EB'),
      net('reg', 'any', undefined, { comment: 'a window position inside the image was read' }),
      net('integer', 'ch'),
      ...WINDOW_LOCALS,
      ...lineBufferItems(load),
      { kind: 'assign', lhs: 'out_data', rhs: 'pooled' },
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
    ports: [
      { dir: 'input', name: 'clk', width: 1 },
      { dir: 'input', name: 'rst', width: 1 },
      { dir: 'input', name: 'in_valid', width: 1 },
      { dir: 'output', name: 'in_ready', width: 1 },
      { dir: 'input', name: 'in_data', width: 'BEAT * EB' },
      { dir: 'output', name: 'out_valid', width: 1, reg: true },
      { dir: 'input', name: 'out_ready', width: 1 },
      { dir: 'output', name: 'out_class', width: 'CB', reg: true },
    ],
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
      {
        kind: 'always',
        edge: 'posedge clk',
        body: [
          {
            kind: 'if',
            cond: 'rst',
            then: [set('i', '0'), set('best', '0'), set('best_i', '0'), set('out_valid', "1'b0")],
            else: [
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
          },
        ],
      },
    ],
  };
}

/** Every shared module, in file order. */
export function libraryModules(): Module[] {
  return [dwcModule(), windowModule(), maxPoolModule(), reluModule(), tableModule(), scaleModule(), argmaxModule()];
}
