/**
 * The stage modules of the ops beyond the conv/Gemm-BN-ReLU-MaxPool chain (issue 16 topologies),
 * in hbnn_lib.v beside the chain's (modules.ts), one module per stage kind, configured by
 * parameters, the same hardware as the vivado-hls stages (docs/backend-vivado-hls.md):
 *
 * - `hbnn_fifo`: a stream FIFO of DEPTH beats (the add/concat inputs whose branch reaches the
 *   join early: `StreamInfo.depth`, sized from the branch leads by the vivado-hls design);
 * - `hbnn_dup`: the duplicate-stream unit (an eager fork: each reader takes the beat once);
 * - `hbnn_align`: an operand of an add/concat/average pool at the output's frac (fixed entries:
 *   a rounding shift; bit-plane codes: a table of aligned values), clamped to OEB bits;
 * - `hbnn_add`: the add-streams unit (residual addition of N aligned streams, clamped);
 * - `hbnn_concat`: concat along channels (per pixel, COUNTS[i] beats of input i in turn);
 * - `hbnn_gap`: global average pooling, a streaming accumulator per channel;
 * - `hbnn_avgpool`: windowed average pooling on the line buffer of the window stages;
 * - `hbnn_swu_grouped`: the sliding window of a grouped (depthwise) convolution, per row fold
 *   and column fold one beat of PE·SIMD entries, PE p's from its row's group;
 * - `hbnn_threshold`: a standalone threshold on a fixed-point stream (per-channel bands);
 * - `hbnn_clip`, `hbnn_leakyrelu`: Clip and LeakyRelu on fixed-point entries.
 */
import { clocked, clockedReset, type Item, type Module, type Stmt } from './ast.js';
import { elementwise, GEOMETRY, lineBufferItems, lp, net, set, streamPorts, WINDOW_LOCALS, windowLoop } from './modules.js';

/** The clamp of the 64-bit signed `wide` to OEB bits, written to `target` (HI/LO: `clampParams`). */
const clampTo = (target: string, value = 'wide'): Stmt => set(target, `${value} > HI ? HI : ${value} < LO ? LO : ${value}`, true);
const clampParams = (bits = 'OEB'): Item[] => [lp('HI', `(64'sd1 <<< (${bits} - 1)) - 64'sd1`), lp('LO', `-(64'sd1 <<< (${bits} - 1))`)];
/** 2^(SHIFT−1) (0 when SHIFT is 0): the rounding constant of a right shift by SHIFT. */
const ROUND = "(SHIFT > 0 ? 64'sd1 <<< (SHIFT - 1) : 64'sd0)";

/** A FIFO of DEPTH beats of W bits; registered valid and ready (no path from input to output). */
export function fifoModule(): Module {
  return {
    name: 'hbnn_fifo',
    comment: ['stream FIFO of DEPTH beats (the early branch of an add/concat waits here for the late one)'],
    params: [
      { name: 'W', value: '8', comment: 'bits per beat' },
      { name: 'DEPTH', value: '2' },
    ],
    ports: streamPorts('W', 'W'),
    items: [
      net('reg', 'mem', 'W', { depth: 'DEPTH' }),
      net('integer', 'head', undefined, { comment: 'next beat to leave' }),
      net('integer', 'tail', undefined, { comment: 'next free slot' }),
      net('integer', 'count', undefined, { comment: 'beats held' }),
      net('wire', 'push', 1, { value: 'in_valid && in_ready' }),
      net('wire', 'pop', 1, { value: 'out_valid && out_ready' }),
      { kind: 'assign', lhs: 'in_ready', rhs: 'count < DEPTH' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'count > 0' },
      { kind: 'assign', lhs: 'out_data', rhs: 'mem[head]' },
      clockedReset(
        [set('head', '0'), set('tail', '0'), set('count', '0')],
        [
          { kind: 'if', cond: 'push', then: [set('mem[tail]', 'in_data'), set('tail', 'tail == DEPTH - 1 ? 0 : tail + 1')] },
          { kind: 'if', cond: 'pop', then: [set('head', 'head == DEPTH - 1 ? 0 : head + 1')] },
          set('count', 'count + (push ? 1 : 0) - (pop ? 1 : 0)'),
        ],
      ),
    ],
  };
}

/** Duplicate stream: every beat to N readers (an eager fork: `sent` remembers who took it). */
export function dupModule(): Module {
  return {
    name: 'hbnn_dup',
    comment: ['duplicate-stream unit: every input beat to each of N readers (reader i: bit i of out_valid/out_ready); the next beat once all took it'],
    params: [
      { name: 'W', value: '8', comment: 'bits per beat' },
      { name: 'N', value: '2', comment: 'readers' },
    ],
    ports: streamPorts('W', 'W', { readers: 'N', outComment: 'the same beat for every reader' }),
    items: [
      net('reg', 'sent', 'N', { comment: 'readers that took the current beat' }),
      { kind: 'assign', lhs: 'out_valid', rhs: '{N{in_valid}} & ~sent' },
      { kind: 'assign', lhs: 'in_ready', rhs: '&(sent | out_ready)' },
      { kind: 'assign', lhs: 'out_data', rhs: 'in_data' },
      clocked([{ kind: 'if', cond: 'rst || (in_valid && in_ready)', then: [set('sent', '0')], else: [set('sent', 'sent | (out_valid & out_ready)')] }]),
    ],
  };
}

/** An operand aligned to the output's frac (docs/bit-ir.md, `Operand`), clamped to OEB bits. */
export function alignModule(): Module {
  return elementwise(
    'hbnn_align',
    'operand alignment: fixed q → (q + 2^(SHIFT-1)) >>> SHIFT (SHIFT 0: q); bit-plane code → TABLE[code] (TEB bits each); clamped to OEB bits',
    [
      { name: 'SHIFT', value: '0' },
      { name: 'BINARY', value: '0', comment: '1: entries are bit-plane codes decoded by TABLE' },
      { name: 'TEB', value: '8', comment: 'bits per TABLE value (signed)' },
      { name: 'TABLE', value: "256'd0" },
    ],
    [
      {
        kind: 'if',
        cond: 'BINARY',
        then: [set('wide', '$signed(TABLE[in_data[e * IEB +: IEB] * TEB +: TEB])', true)],
        else: [{ kind: 'if', cond: 'SHIFT > 0', then: [set('wide', `(q + ${ROUND}) >>> SHIFT`, true)], else: [set('wide', 'q', true)] }],
      },
      clampTo('mapped[e * OEB +: OEB]'),
    ],
    [net('reg', 'wide', 64, { signed: true }), ...clampParams()],
  );
}

/** Add streams: per entry the sum of the N aligned inputs (AB bits each), clamped to OEB bits. */
export function addModule(): Module {
  return {
    name: 'hbnn_add',
    comment: ['add-streams unit (residual addition): per entry Σ of N aligned inputs, clamped to OEB bits; a beat when every input has one'],
    params: [
      { name: 'N', value: '2', comment: 'inputs' },
      { name: 'AB', value: '16', comment: 'bits per aligned input entry (signed)' },
      { name: 'OEB', value: '16' },
      { name: 'BEAT', value: '1', comment: 'entries per beat' },
    ],
    ports: streamPorts('N * BEAT * AB', 'BEAT * OEB', { inputs: 'N', inComment: 'input i at bits i·BEAT·AB' }),
    items: [
      { kind: 'assign', lhs: 'out_valid', rhs: '&in_valid' },
      { kind: 'assign', lhs: 'in_ready', rhs: '{N{out_valid && out_ready}}' },
      net('reg', 'sum', 'BEAT * OEB'),
      net('reg', 'wide', 64, { signed: true }),
      ...clampParams(),
      net('integer', 'e'),
      net('integer', 'i'),
      {
        kind: 'always',
        edge: '*',
        body: [
          {
            kind: 'for',
            index: 'e',
            from: '0',
            to: 'BEAT',
            body: [
              set('wide', '0', true),
              { kind: 'for', index: 'i', from: '0', to: 'N', body: [set('wide', 'wide + $signed(in_data[(i * BEAT + e) * AB +: AB])', true)] },
              clampTo('sum[e * OEB +: OEB]'),
            ],
          },
        ],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'sum' },
    ],
  };
}

/** Concat: COUNTS[i] beats of input i in turn (per pixel of an image; per sample of vectors). */
export function concatModule(): Module {
  return {
    name: 'hbnn_concat',
    comment: ['concat unit: COUNTS[i] beats of input i, then of input i + 1, … (a pixel of each image input in turn, or one vector after the other)'],
    params: [
      { name: 'N', value: '2', comment: 'inputs' },
      { name: 'EB', value: '8', comment: 'bits per entry' },
      { name: 'BEAT', value: '1', comment: 'entries per beat' },
      { name: 'COUNTS', value: "64'd0", comment: 'beats per turn of input i at bits 32·i (32 bits each)' },
    ],
    ports: streamPorts('N * BEAT * EB', 'BEAT * EB', { inputs: 'N', inComment: 'input i at bits i·BEAT·EB' }),
    items: [
      net('integer', 'sel', undefined, { comment: 'the input whose turn it is' }),
      net('integer', 'cnt', undefined, { comment: 'beats of its turn taken' }),
      { kind: 'assign', lhs: 'out_valid', rhs: 'in_valid[sel]' },
      { kind: 'assign', lhs: 'out_data', rhs: 'in_data[sel * BEAT * EB +: BEAT * EB]' },
      { kind: 'assign', lhs: 'in_ready', rhs: "out_ready ? {{(N - 1){1'b0}}, 1'b1} << sel : {N{1'b0}}" },
      clockedReset(
        [set('sel', '0'), set('cnt', '0')],
        [
          {
            kind: 'if',
            cond: 'out_valid && out_ready',
            then: [{ kind: 'if', cond: 'cnt == COUNTS[sel * 32 +: 32] - 1', then: [set('cnt', '0'), set('sel', 'sel == N - 1 ? 0 : sel + 1')], else: [set('cnt', 'cnt + 1')] }],
          },
        ],
      ),
    ],
  };
}

/** The average of an accumulated sum: q = clamp((Σ·m + 2^(SHIFT−1)) >>> SHIFT) to OEB bits. */
function averageStmts(sum: string, mult: string, target: string): Stmt[] {
  return [set('prod', `${sum} * ${mult} + ${ROUND}`, true), set('wide', 'prod >>> SHIFT', true), clampTo(target)];
}

/** Global average pooling: a streaming accumulator per channel, BEAT channels per cycle in and out. */
export function gapModule(): Module {
  return {
    name: 'hbnn_gap',
    comment: [
      'global average pool: per sample, PIX pixels of C aligned entries (C/BEAT beats each) summed into one accumulator per channel,',
      'then C/BEAT beats of clamp((Σ·MULT + 2^(SHIFT-1)) >>> SHIFT); no line buffer',
    ],
    params: [
      { name: 'EB', value: '16', comment: 'bits per aligned input entry (signed)' },
      { name: 'OEB', value: '16' },
      { name: 'BEAT', value: '1' },
      { name: 'C', value: '1' },
      { name: 'PIX', value: '1', comment: 'pixels per sample (H·W)' },
      { name: 'AB', value: '32', comment: 'accumulator bits (signed)' },
      { name: 'PB', value: '64', comment: 'product bits (signed)' },
      { name: 'MULT', value: "64'sd1", comment: 'multiplier of the divisor H·W' },
      { name: 'SHIFT', value: '0' },
    ],
    ports: streamPorts('BEAT * EB', 'BEAT * OEB'),
    items: [
      lp('FOLDS', 'C / BEAT', 'beats per pixel'),
      lp('READ', '0'),
      lp('EMIT', '1'),
      net('reg', 'state', 1),
      net('integer', 'p', undefined, { comment: 'pixel being read' }),
      net('integer', 'cf', undefined, { comment: 'channel fold (beat) of the pixel / of the averages' }),
      net('reg', 'acc', 'C * AB', { comment: 'channel c at bits c·AB' }),
      net('reg', 'prod', 'PB', { signed: true }),
      net('reg', 'wide', 64, { signed: true }),
      net('reg', 'avg', 'BEAT * OEB'),
      ...clampParams(),
      net('integer', 'e'),
      { kind: 'assign', lhs: 'in_ready', rhs: 'state == READ' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'state == EMIT' },
      clockedReset(
        [set('state', 'READ'), set('p', '0'), set('cf', '0')],
        [
          {
            kind: 'if',
            cond: 'state == READ',
            then: [
              {
                kind: 'if',
                cond: 'in_valid',
                then: [
                  {
                    kind: 'for',
                    index: 'e',
                    from: '0',
                    to: 'BEAT',
                    body: [set('acc[(cf * BEAT + e) * AB +: AB]', '(p == 0 ? 0 : $signed(acc[(cf * BEAT + e) * AB +: AB])) + $signed(in_data[e * EB +: EB])')],
                  },
                  {
                    kind: 'if',
                    cond: 'cf == FOLDS - 1',
                    then: [set('cf', '0'), { kind: 'if', cond: 'p == PIX - 1', then: [set('p', '0'), set('state', 'EMIT')], else: [set('p', 'p + 1')] }],
                    else: [set('cf', 'cf + 1')],
                  },
                ],
              },
            ],
            else: [{ kind: 'if', cond: 'out_ready', then: [{ kind: 'if', cond: 'cf == FOLDS - 1', then: [set('cf', '0'), set('state', 'READ')], else: [set('cf', 'cf + 1')] }] }],
          },
        ],
      ),
      {
        kind: 'always',
        edge: '*',
        body: [{ kind: 'for', index: 'e', from: '0', to: 'BEAT', body: averageStmts('$signed(acc[(cf * BEAT + e) * AB +: AB])', 'MULT', 'avg[e * OEB +: OEB]') }],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'avg' },
    ],
  };
}

/**
 * Windowed average pooling on the window stages' line buffer: per output pixel (LOAD) the sum
 * of each channel's aligned entries inside the window (padding adds 0) and the pixel's
 * multiplier; then C/OBEAT beats of clamp((Σ·m + 2^(SHIFT−1)) >>> SHIFT) (SEND).
 */
export function avgPoolModule(): Module {
  const load: Stmt[] = [
    set('sums', '0', true),
    windowLoop(
      [
        set('pix', 'line[(wy % ROWS) * W + wx]', true),
        { kind: 'for', index: 'ch', from: '0', to: 'C', body: [set('sums[ch * AB +: AB]', '$signed(sums[ch * AB +: AB]) + $signed(pix[ch * EB +: EB])', true)] },
      ],
      [],
    ),
    set('window_sums', 'sums'),
    set('mult', 'MULTS[(y * OW + ox) * MB +: MB]'),
  ];
  return {
    name: 'hbnn_avgpool',
    comment: ['average pool over [C,H,W] aligned entries with a line buffer: per output pixel C/OBEAT beats of clamp((Σ·m + 2^(SHIFT-1)) >>> SHIFT), m the multiplier of its divisor'],
    params: [
      ...GEOMETRY,
      { name: 'OEB', value: '16' },
      { name: 'OBEAT', value: '1', comment: 'channels per output beat' },
      { name: 'AB', value: '32', comment: 'window sum bits (signed)' },
      { name: 'PB', value: '64', comment: 'product bits (signed)' },
      { name: 'MB', value: '32', comment: 'bits per multiplier (unsigned)' },
      { name: 'MULTS', value: "32'd1", comment: 'multiplier of output pixel (y, ox) at bits (y·OW + ox)·MB' },
      { name: 'SHIFT', value: '0' },
    ],
    ports: streamPorts('C * EB', 'OBEAT * OEB'),
    items: [
      lp('BEATS', 'C / OBEAT'),
      net('reg', 'sums', 'C * AB', { comment: 'window sums (blocking, within LOAD)' }),
      net('reg', 'window_sums', 'C * AB', { comment: "the output pixel's sums" }),
      net('reg', 'mult', 'MB', { comment: "the output pixel's multiplier" }),
      net('reg', 'pix', 'C * EB', { comment: 'the pixel at one window position' }),
      net('reg', 'prod', 'PB', { signed: true }),
      net('reg', 'wide', 64, { signed: true }),
      net('reg', 'avg', 'OBEAT * OEB'),
      ...clampParams(),
      net('integer', 'ch'),
      net('integer', 'k', undefined, { comment: 'beat of the output pixel being sent' }),
      net('integer', 'e'),
      ...WINDOW_LOCALS,
      ...lineBufferItems(load, { counter: 'k', last: 'BEATS - 1' }),
      {
        kind: 'always',
        edge: '*',
        body: [{ kind: 'for', index: 'e', from: '0', to: 'OBEAT', body: averageStmts('$signed(window_sums[(k * OBEAT + e) * AB +: AB])', "$signed({1'b0, mult})", 'avg[e * OEB +: OEB]') }],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'avg' },
    ],
  };
}

/**
 * Sliding window of a grouped (depthwise) convolution for its vector-vector unit: per output
 * pixel the (kh, kw, c) window is loaded (LOAD, as `hbnn_swu`), then per row fold nf and
 * column fold sf one beat of PE·SIMD entries: PE p's SIMD entries are columns sf·SIMD.. of
 * the group-local window of output channel nf·PE + p (column j: kernel position j / CG,
 * channel group·CG + j % CG). The divisions are constant tables (`GROUP_BASE` per row:
 * group·CG; `COLUMN_AT` per column: (j / CG)·C + j % CG), so the beat is a multiplexer over
 * the window register and no divider is built.
 */
export function groupedWindowModule(): Module {
  const window = (value: string): Stmt => set('win[(a * KW + b) * C * EB +: C * EB]', value);
  const load = windowLoop([window('line[(wy % ROWS) * W + wx]')], [window('0')]);
  return {
    name: 'hbnn_swu_grouped',
    comment: ['sliding window unit of a grouped convolution: per output pixel, per row fold and column fold, PE·SIMD entries (PE p: its group\'s window columns)'],
    params: [
      ...GEOMETRY,
      { name: 'PE', value: '1' },
      { name: 'SIMD', value: '1' },
      { name: 'NF', value: '1', comment: 'row folds (C_out / PE)' },
      { name: 'SF', value: '1', comment: 'column folds (group window / SIMD)' },
      { name: 'IB', value: '8', comment: 'bits of a window entry index' },
      { name: 'GROUP_BASE', value: "8'd0", comment: 'per row r (output channel), at bits r·IB: its group · CG' },
      { name: 'COLUMN_AT', value: "8'd0", comment: 'per group-local column j, at bits j·IB: (j / CG)·C + j % CG' },
    ],
    ports: streamPorts('C * EB', 'PE * SIMD * EB'),
    items: [
      net('reg', 'win', 'KH * KW * C * EB'),
      net('integer', 'k', undefined, { comment: 'beat of the window being sent (nf·SF + sf)' }),
      net('integer', 'gnf', undefined, { comment: 'row fold of that beat' }),
      net('integer', 'gsf', undefined, { comment: 'column fold of that beat' }),
      net('reg', 'beat', 'PE * SIMD * EB'),
      net('integer', 'pe'),
      net('integer', 'l'),
      net('integer', 'base'),
      net('integer', 'j'),
      ...WINDOW_LOCALS,
      ...lineBufferItems([load], { counter: 'k', last: 'NF * SF - 1' }),
      clocked([
        {
          kind: 'if',
          cond: 'rst || state == LOAD',
          then: [set('gnf', '0'), set('gsf', '0')],
          else: [{ kind: 'if', cond: 'out_valid && out_ready', then: [{ kind: 'if', cond: 'gsf == SF - 1', then: [set('gsf', '0'), set('gnf', 'gnf + 1')], else: [set('gsf', 'gsf + 1')] }] }],
        },
      ]),
      {
        kind: 'always',
        edge: '*',
        body: [
          {
            kind: 'for',
            index: 'pe',
            from: '0',
            to: 'PE',
            body: [
              set('base', 'GROUP_BASE[(gnf * PE + pe) * IB +: IB]', true),
              {
                kind: 'for',
                index: 'l',
                from: '0',
                to: 'SIMD',
                body: [set('j', 'gsf * SIMD + l', true), set('beat[(pe * SIMD + l) * EB +: EB]', 'win[(COLUMN_AT[j * IB +: IB] + base) * EB +: EB]', true)],
              },
            ],
          },
        ],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'beat' },
    ],
  };
}

/**
 * Standalone threshold on a fixed-point stream (a binarizer not after a unit): entry e of a
 * beat has channel (ch + e) mod C (BEAT ≤ C: one conditional subtraction); its band
 * #{t : q ≥ THR[c][t]} picks the output code.
 */
export function thresholdModule(): Module {
  return {
    name: 'hbnn_threshold',
    comment: ['threshold on fixed-point entries: per channel c, band = #{t : q >= THR[c][t]}, output CODE[c][band] (a bit-plane code)'],
    params: [
      { name: 'IEB', value: '8' },
      { name: 'OEB', value: '2' },
      { name: 'BEAT', value: '1' },
      { name: 'C', value: '1', comment: 'channels (entry i of the stream has channel i mod C)' },
      { name: 'NT', value: '1', comment: 'thresholds per channel' },
      { name: 'TB', value: '8', comment: 'bits per threshold (signed)' },
      { name: 'THR', value: "8'd0", comment: 'threshold t of channel c at bits (c·NT + t)·TB' },
      { name: 'CODE', value: "4'd0", comment: 'code of band b of channel c at bits (c·(NT+1) + b)·OEB' },
    ],
    ports: streamPorts('BEAT * IEB', 'BEAT * OEB'),
    items: [
      { kind: 'assign', lhs: 'in_ready', rhs: 'out_ready' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'in_valid' },
      net('integer', 'ch', undefined, { comment: 'channel of the first entry of the current beat' }),
      net('reg', 'mapped', 'BEAT * OEB'),
      net('reg', 'q', 'IEB', { signed: true }),
      net('integer', 'c'),
      net('integer', 'band'),
      net('integer', 'e'),
      net('integer', 't'),
      clockedReset([set('ch', '0')], [{ kind: 'if', cond: 'in_valid && out_ready', then: [set('ch', 'ch + BEAT >= C ? ch + BEAT - C : ch + BEAT')] }]),
      {
        kind: 'always',
        edge: '*',
        body: [
          {
            kind: 'for',
            index: 'e',
            from: '0',
            to: 'BEAT',
            body: [
              set('q', '$signed(in_data[e * IEB +: IEB])', true),
              set('c', 'ch + e >= C ? ch + e - C : ch + e', true),
              set('band', '0', true),
              { kind: 'for', index: 't', from: '0', to: 'NT', body: [{ kind: 'if', cond: 'q >= $signed(THR[(c * NT + t) * TB +: TB])', then: [set('band', 'band + 1', true)] }] },
              set('mapped[e * OEB +: OEB]', 'CODE[(c * (NT + 1) + band) * OEB +: OEB]', true),
            ],
          },
        ],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'mapped' },
    ],
  };
}

/** Clip on fixed-point entries: q ← min(max(q, LO), HI), each bound only when USE_LO / USE_HI. */
export function clipModule(): Module {
  return elementwise(
    'hbnn_clip',
    'Clip (ReLU6, hardtanh) on fixed-point entries: q ← min(max(q, LO), HI)',
    [
      { name: 'USE_LO', value: '1' },
      { name: 'USE_HI', value: '1' },
      { name: 'LO', value: "64'sd0" },
      { name: 'HI', value: "64'sd0" },
    ],
    [
      set('wide', 'q', true),
      { kind: 'if', cond: 'USE_LO && wide < LO', then: [set('wide', 'LO', true)] },
      { kind: 'if', cond: 'USE_HI && wide > HI', then: [set('wide', 'HI', true)] },
      set('mapped[e * OEB +: OEB]', 'wide[OEB-1:0]', true),
    ],
    [net('reg', 'wide', 64, { signed: true })],
  );
}

/** LeakyRelu on fixed-point entries: q ≥ 0 → q, else (q·MULT + 2^(SHIFT−1)) >>> SHIFT. */
export function leakyReluModule(): Module {
  return elementwise(
    'hbnn_leakyrelu',
    'LeakyRelu on fixed-point entries: q < 0 → (q · MULT + 2^(SHIFT-1)) >>> SHIFT',
    [
      { name: 'MULT', value: "64'sd1" },
      { name: 'SHIFT', value: '0' },
    ],
    [{ kind: 'if', cond: 'q < 0', then: [set('wide', `(q * MULT + ${ROUND}) >>> SHIFT`, true)], else: [set('wide', 'q', true)] }, set('mapped[e * OEB +: OEB]', 'wide[OEB-1:0]', true)],
    [net('reg', 'wide', 64, { signed: true })],
  );
}

/** The modules of this file, in hbnn_lib.v order. */
export function opModules(): Module[] {
  return [fifoModule(), dupModule(), alignModule(), addModule(), concatModule(), gapModule(), avgPoolModule(), groupedWindowModule(), thresholdModule(), clipModule(), leakyReluModule()];
}
