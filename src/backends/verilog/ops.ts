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
import { elementwise, GEOMETRY, lp, net, pixelLineBufferItems, set, streamPorts } from './modules.js';

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
      lp('AB', 'DEPTH > 1 ? $clog2(DEPTH) : 1', 'slot index bits'),
      lp('NB', '$clog2(DEPTH + 1)', 'beat count bits'),
      net('reg', 'mem', 'W', { depth: 'DEPTH' }),
      net('reg', 'head', 'AB', { comment: 'next beat to leave' }),
      net('reg', 'tail', 'AB', { comment: 'next free slot' }),
      net('reg', 'count', 'NB', { comment: 'beats held' }),
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

/** An operand aligned to the output's frac (docs/bit-ir.md, `Operand`), clamped to OEB bits where its VB bits do not fit. */
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
      // Aligned values of at most OEB signed bits need no clamp (an add's inputs, sized so).
      { kind: 'if', cond: 'VB > OEB', then: [clampTo('mapped[e * OEB +: OEB]')], else: [set('mapped[e * OEB +: OEB]', 'wide[OEB-1:0]', true)] },
    ],
    [net('reg', 'wide', 64, { signed: true }), ...clampParams(), lp('VB', 'BINARY ? TEB : IEB - SHIFT + (SHIFT > 0 ? 1 : 0)', 'signed bits of an aligned value')],
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

/**
 * Concat: COUNTS[i] beats of input i in turn (per pixel of an image; per sample of vectors).
 * The input whose turn it is (`sel`, SB bits) selects valid, data and its count by a
 * multiplexer over the N inputs at constant indices; the beat counter has CB bits.
 */
export function concatModule(): Module {
  return {
    name: 'hbnn_concat',
    comment: ['concat unit: COUNTS[i] beats of input i, then of input i + 1, … (a pixel of each image input in turn, or one vector after the other)'],
    params: [
      { name: 'N', value: '2', comment: 'inputs' },
      { name: 'EB', value: '8', comment: 'bits per entry' },
      { name: 'BEAT', value: '1', comment: 'entries per beat' },
      { name: 'CB', value: '8', comment: 'bits per count' },
      { name: 'COUNTS', value: "16'd0", comment: 'beats per turn of input i at bits CB·i' },
    ],
    ports: streamPorts('N * BEAT * EB', 'BEAT * EB', { inputs: 'N', inComment: 'input i at bits i·BEAT·EB', outReg: true }),
    items: [
      lp('SB', 'N > 1 ? $clog2(N) : 1', 'input index bits'),
      net('reg', 'sel', 'SB', { comment: 'the input whose turn it is' }),
      net('reg', 'cnt', 'CB', { comment: 'beats of its turn taken' }),
      net('reg', 'last', 1, { comment: 'the beat ends the turn' }),
      net('integer', 'i'),
      {
        kind: 'always',
        edge: '*',
        body: [
          set('out_valid', "1'b0", true),
          set('out_data', '0', true),
          set('last', "1'b0", true),
          {
            kind: 'for',
            index: 'i',
            from: '0',
            to: 'N',
            body: [{ kind: 'if', cond: 'sel == i', then: [set('out_valid', 'in_valid[i]', true), set('out_data', 'in_data[i * BEAT * EB +: BEAT * EB]', true), set('last', 'cnt == COUNTS[i * CB +: CB] - 1', true)] }],
          },
        ],
      },
      { kind: 'assign', lhs: 'in_ready', rhs: "out_ready ? {{(N - 1){1'b0}}, 1'b1} << sel : {N{1'b0}}" },
      clockedReset(
        [set('sel', '0'), set('cnt', '0')],
        [{ kind: 'if', cond: 'out_valid && out_ready', then: [{ kind: 'if', cond: 'last', then: [set('cnt', '0'), set('sel', 'sel == N - 1 ? 0 : sel + 1')], else: [set('cnt', 'cnt + 1')] }] }],
      ),
    ],
  };
}

/** The average of an accumulated sum: q = clamp((Σ·m + 2^(SHIFT−1)) >>> SHIFT) to OEB bits. */
function averageStmts(sum: string, mult: string, target: string): Stmt[] {
  return [set('prod', `${sum} * ${mult} + ${ROUND}`, true), set('wide', 'prod >>> SHIFT', true), clampTo(target)];
}

/**
 * Global average pooling: a streaming accumulator per channel, BEAT channels per cycle in and
 * out. The C accumulators are a ring of FOLDS words of BEAT accumulators that turns one word
 * per beat (a shift register): the word of the current channel fold is always the low one
 * (`acc[BEAT·AB-1:0]`), so the adders and the averages read fixed bits and no channel index
 * is decoded (an indexed `acc[(cf·BEAT + e)·AB +: AB]` is a write decoder and a read
 * multiplexer over every accumulator).
 */
export function gapModule(): Module {
  const WORD = 'BEAT * AB';
  // Reading, the ring turns by one word, the current fold's new sums entering at the top (the
  // fold read last); emitting, the averaged word leaves (the next sample's first pixel starts from 0).

  const turn: Stmt[] = [set('ring', `acc >> (${WORD})`, true), set(`ring[(FOLDS - 1) * ${WORD} +: ${WORD}]`, 'sums', true), set('acc', 'ring')];
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
      lp('FB', 'FOLDS > 1 ? $clog2(FOLDS) : 1', 'channel fold counter bits'),
      lp('XB', 'PIX > 1 ? $clog2(PIX) : 1', 'pixel counter bits'),
      lp('READ', '0'),
      lp('EMIT', '1'),
      net('reg', 'state', 1),
      net('reg', 'p', 'XB', { comment: 'pixel being read' }),
      net('reg', 'cf', 'FB', { comment: 'channel fold (beat) of the pixel / of the averages' }),
      net('reg', 'acc', 'C * AB', { comment: 'ring of FOLDS words: the current fold in the low word, channel cf·BEAT + e at bits e·AB' }),
      net('reg', 'ring', 'C * AB', { comment: 'blocking temporary: acc turned by one word' }),
      net('reg', 'sums', `${WORD}`, { comment: 'the current fold plus the beat' }),
      net('reg', 'prod', 'PB', { signed: true }),
      net('reg', 'wide', 64, { signed: true }),
      net('reg', 'avg', 'BEAT * OEB'),
      ...clampParams(),
      net('integer', 'e'),
      { kind: 'assign', lhs: 'in_ready', rhs: 'state == READ' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'state == EMIT' },
      {
        kind: 'always',
        edge: '*',
        body: [{ kind: 'for', index: 'e', from: '0', to: 'BEAT', body: [set('sums[e * AB +: AB]', '(p == 0 ? 0 : $signed(acc[e * AB +: AB])) + $signed(in_data[e * EB +: EB])', true)] }],
      },
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
                  ...turn,
                  {
                    kind: 'if',
                    cond: 'cf == FOLDS - 1',
                    then: [set('cf', '0'), { kind: 'if', cond: 'p == PIX - 1', then: [set('p', '0'), set('state', 'EMIT')], else: [set('p', 'p + 1')] }],
                    else: [set('cf', 'cf + 1')],
                  },
                ],
              },
            ],
            else: [
              {
                kind: 'if',
                cond: 'out_ready',
                then: [set('acc', `acc >> (${WORD})`), { kind: 'if', cond: 'cf == FOLDS - 1', then: [set('cf', '0'), set('state', 'READ')], else: [set('cf', 'cf + 1')] }],
              },
            ],
          },
        ],
      ),
      {
        kind: 'always',
        edge: '*',
        body: [{ kind: 'for', index: 'e', from: '0', to: 'BEAT', body: averageStmts('$signed(acc[e * AB +: AB])', 'MULT', 'avg[e * OEB +: OEB]') }],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'avg' },
    ],
  };
}

/**
 * Windowed average pooling on the window stages' line buffer (`pixelLineBufferItems`: one pixel
 * per cycle from a one-port RAM): per output pixel (LOAD) each channel's aligned entries inside
 * the window (padding adds 0) summed into `sums`; then C/OBEAT beats of
 * clamp((Σ·m + 2^(SHIFT−1)) >>> SHIFT) (SEND), `sums` shifting down one beat per beat sent, m
 * the output pixel's multiplier, selected from MULTS by a constant-indexed multiplexer over the
 * pixels (a LUT ROM) addressed by a counter of PXB bits.
 */
export function avgPoolModule(): Module {
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
      lp('PXB', 'OH * OW > 1 ? $clog2(OH * OW) : 1', 'output pixel index bits'),
      net('reg', 'sums', 'C * AB', { comment: "the output pixel's window sums, channel c at bits c·AB (the beat being sent in the low bits)" }),
      net('reg', 'pixel', 'PXB', { comment: 'output pixel index y·OW + ox' }),
      net('reg', 'mult', 'MB', { comment: "the output pixel's multiplier" }),
      net('reg', 'prod', 'PB', { signed: true }),
      net('reg', 'wide', 64, { signed: true }),
      net('reg', 'avg', 'OBEAT * OEB'),
      ...clampParams(),
      net('integer', 'ch'),
      lp('KB', 'BEATS > 1 ? $clog2(BEATS) : 1'),
      net('reg', 'k', 'KB', { comment: 'beat of the output pixel being sent' }),
      net('integer', 'e'),
      net('integer', 'i'),
      ...pixelLineBufferItems({
        start: [set('sums', '0')],
        take: [
          {
            kind: 'if',
            cond: 'inside_q',
            then: [{ kind: 'for', index: 'ch', from: '0', to: 'C', body: [set('sums[ch * AB +: AB]', '$signed(sums[ch * AB +: AB]) + $signed(pix[ch * EB +: EB])')] }],
          },
        ],
        beats: { counter: 'k', last: 'BEATS - 1', shift: [set('sums', 'sums >> (OBEAT * AB)')] },
      }),
      {
        kind: 'always',
        edge: '*',
        body: [
          set('pixel', 'y * OW + ox', true),
          set('mult', '0', true),
          { kind: 'for', index: 'i', from: '0', to: 'OH * OW', body: [{ kind: 'if', cond: 'pixel == i', then: [set('mult', 'MULTS[i * MB +: MB]', true)] }] },
        ],
      },
      {
        kind: 'always',
        edge: '*',
        body: [{ kind: 'for', index: 'e', from: '0', to: 'OBEAT', body: averageStmts('$signed(sums[e * AB +: AB])', "$signed({1'b0, mult})", 'avg[e * OEB +: OEB]') }],
      },
      { kind: 'assign', lhs: 'out_data', rhs: 'avg' },
    ],
  };
}

/**
 * Sliding window of a grouped (depthwise) convolution for its vector-vector unit: per output
 * pixel the (kh, kw, c) window is gathered one position per cycle into the shift register `win`
 * (LOAD, as `hbnn_swu`), then per row fold nf and column fold sf one beat of PE·SIMD entries:
 * PE p's SIMD entries are columns sf·SIMD.. of the group-local window of output channel
 * nf·PE + p (column j: kernel position j / CG, channel group·CG + j % CG). The divisions are
 * constant tables (`GROUP_BASE` per row: group·CG; `COLUMN_AT` per column: (j / CG)·C + j % CG)
 * read at constant indices (LUT ROMs of NF and SF words, addressed by the fold counters), so
 * entry (p, l) of the beat is the window entry base + column: an IB-bit index, a multiplexer
 * over the window's entries (no divider, no 32-bit index arithmetic).
 */
export function groupedWindowModule(): Module {
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
      lp('NB', 'NF > 1 ? $clog2(NF) : 1', 'row fold counter bits'),
      lp('SB', 'SF > 1 ? $clog2(SF) : 1', 'column fold counter bits'),
      net('reg', 'win', 'KH * KW * C * EB', { comment: 'the window, position a·KW + b at bits (a·KW + b)·C·EB' }),
      net('reg', 'nwin', 'KH * KW * C * EB', { comment: 'blocking temporary' }),
      lp('KB', 'NF * SF > 1 ? $clog2(NF * SF) : 1'),
      net('reg', 'k', 'KB', { comment: 'beat of the window being sent (nf·SF + sf)' }),
      net('reg', 'gnf', 'NB', { comment: 'row fold of that beat' }),
      net('reg', 'gsf', 'SB', { comment: 'column fold of that beat' }),
      net('reg', 'beat', 'PE * SIMD * EB'),
      net('integer', 'pe'),
      net('integer', 'l'),
      net('reg', 'base', 'IB', { comment: "the beat's group base of PE pe" }),
      net('reg', 'column', 'IB', { comment: "the beat's column of lane l" }),
      net('integer', 'g'),
      net('integer', 'f'),
      ...pixelLineBufferItems({
        start: [set('gnf', '0'), set('gsf', '0')],
        take: [set('nwin', 'win >> (C * EB)', true), set('nwin[(KK - 1) * C * EB +: C * EB]', "inside_q ? pix : {C * EB{1'b0}}", true), set('win', 'nwin')],
        beats: { counter: 'k', last: 'NF * SF - 1', shift: [{ kind: 'if', cond: 'gsf == SF - 1', then: [set('gsf', '0'), set('gnf', 'gnf + 1')], else: [set('gsf', 'gsf + 1')] }] },
      }),
      {
        kind: 'always',
        edge: '*',
        body: [
          set('beat', '0', true),
          {
            kind: 'for',
            index: 'pe',
            from: '0',
            to: 'PE',
            body: [
              {
                kind: 'for',
                index: 'l',
                from: '0',
                to: 'SIMD',
                body: [
                  set('base', '0', true),
                  set('column', '0', true),
                  { kind: 'for', index: 'g', from: '0', to: 'NF', body: [{ kind: 'if', cond: 'gnf == g', then: [set('base', 'GROUP_BASE[(g * PE + pe) * IB +: IB]', true)] }] },
                  { kind: 'for', index: 'f', from: '0', to: 'SF', body: [{ kind: 'if', cond: 'gsf == f', then: [set('column', 'COLUMN_AT[(f * SIMD + l) * IB +: IB]', true)] }] },
                  set('beat[(pe * SIMD + l) * EB +: EB]', 'win[(base + column) * EB +: EB]', true),
                ],
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
 * beat has channel (ch + e) mod C (BEAT ≤ C: one conditional subtraction), `ch` a counter of
 * CB bits; the channel's row of thresholds and codes is a constant-indexed multiplexer over the
 * channels (a LUT ROM), its band #{t : q ≥ THR[c][t]} picks the code from the row by a
 * multiplexer over the bands. No index arithmetic reaches the wide THR/CODE constants (a
 * variable part-select `THR[(c·NT + t)·TB +: TB]` is a barrel shifter over all of THR).
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
      lp('CB', 'C > 1 ? $clog2(C) : 1', 'channel counter bits'),
      lp('BB', '$clog2(NT + 1)', 'band bits'),
      { kind: 'assign', lhs: 'in_ready', rhs: 'out_ready' },
      { kind: 'assign', lhs: 'out_valid', rhs: 'in_valid' },
      net('reg', 'ch', 'CB', { comment: 'channel of the first entry of the current beat' }),
      net('reg', 'mapped', 'BEAT * OEB'),
      net('reg', 'q', 'IEB', { signed: true }),
      net('reg', 'c', 'CB + 1', { comment: "entry e's channel" }),
      net('reg', 'thr_row', 'NT * TB', { comment: "the channel's thresholds" }),
      net('reg', 'code_row', '(NT + 1) * OEB', { comment: "the channel's codes" }),
      net('reg', 'band', 'BB'),
      net('integer', 'e'),
      net('integer', 'cc'),
      net('integer', 't'),
      clockedReset([set('ch', '0')], [{ kind: 'if', cond: 'in_valid && out_ready', then: [set('ch', 'ch + BEAT >= C ? ch + BEAT - C : ch + BEAT')] }]),
      {
        kind: 'always',
        edge: '*',
        body: [
          set('mapped', '0', true),
          {
            kind: 'for',
            index: 'e',
            from: '0',
            to: 'BEAT',
            body: [
              set('q', '$signed(in_data[e * IEB +: IEB])', true),
              set('c', 'ch + e >= C ? ch + e - C : ch + e', true),
              set('thr_row', '0', true),
              set('code_row', '0', true),
              { kind: 'for', index: 'cc', from: '0', to: 'C', body: [{ kind: 'if', cond: 'c == cc', then: [set('thr_row', 'THR[cc * NT * TB +: NT * TB]', true), set('code_row', 'CODE[cc * (NT + 1) * OEB +: (NT + 1) * OEB]', true)] }] },
              set('band', '0', true),
              { kind: 'for', index: 't', from: '0', to: 'NT', body: [{ kind: 'if', cond: 'q >= $signed(thr_row[t * TB +: TB])', then: [set('band', 'band + 1', true)] }] },
              { kind: 'for', index: 't', from: '0', to: 'NT + 1', body: [{ kind: 'if', cond: 'band == t', then: [set('mapped[e * OEB +: OEB]', 'code_row[t * OEB +: OEB]', true)] }] },
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
