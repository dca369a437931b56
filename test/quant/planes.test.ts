/**
 * The plane encodings (src/quant/planes.ts): packed and int8 planes decode to the same planes,
 * onnxruntime computes the same Ŵ from both bit for bit, and a packed quantized fmnist-cnn
 * gives the same logits as the int8 one on the bundled slice.
 */
import { describe, expect, it } from 'vitest';
import { Graph, Model } from '../../src/ir/graph.js';
import { setTensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/ir/dtype.js';
import { decodeModel, encodeModel, loadModel } from '../../src/onnx/io.js';
import { isWeightCall, readQuantRecord, writeQuantRecord, HBNN_FORMAT, HBNN_FORMAT_PACKED, META_FORMAT, META_RECORD, type QuantRecord } from '../../src/quant/format.js';
import { addWeightCall, dequantizePlanes, findWeightCall, readWeightCall, rewriteWeightCall, type PlaneData } from '../../src/quant/planes.js';
import { quantize } from '../../src/drivers/quantize.js';
import { createSession, runSession, float32Tensor } from '../../src/runtime/ort.js';
import { loadDataset, FMNIST_NORMALIZATION, bundledModelPath } from '../../src/data/index.js';
import { inspectModel } from '../../src/inspect.js';
import { evaluate } from '../../src/runtime/infer.js';
import { lowerToBitIR, bitProgramToText } from '../../src/bitir/index.js';
import { fineTune } from '../../src/train/index.js';

/** Seeded planes with the prefix property: M_j in 1..k from `dist`, random signs; scales per tensor or per channel on `axis`. */
function randomPlanes(dims: number[], k: number, seed: number, channelAxis?: number): PlaneData {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 4294967296;
  };
  const n = dims.reduce((x, y) => x * y, 1);
  const planes = new Int8Array(k * n);
  for (let j = 0; j < n; j++) {
    const r = rnd();
    const m = k === 1 ? 1 : r < 0.7 ? 1 : r < 0.9 || k === 2 ? 2 : 3 + Math.floor(rnd() * (k - 2));
    for (let i = 0; i < m; i++) planes[i * n + j] = rnd() < 0.5 ? -1 : 1;
  }
  const channels = channelAxis === undefined ? 1 : dims[channelAxis]!;
  const scaleDims = [k, ...dims.map(() => 1)];
  if (channelAxis !== undefined) scaleDims[1 + channelAxis] = channels;
  const scaleData = Float32Array.from({ length: k * channels }, (_, i) => Math.fround(0.5 ** (Math.floor(i / channels) + 1) * (0.5 + rnd())));
  return { dims, k, planes, scaleDims, scaleData };
}

/** A model whose outputs are the Ŵ of each given weight, in the given encoding. */
function weightModel(ws: PlaneData[], encoding: 'packed' | 'int8', opset = 13): Model {
  const g = new Graph('w');
  const m = new Model(g);
  m.irVersion = 8n;
  m.opsetImports = [{ domain: '', version: opset }];
  ws.forEach((d, i) => {
    const { call } = addWeightCall(m, `w${i}`, `w${i}/call`, d, encoding);
    g.append(call);
    const out = call.outputs[0]!;
    setTensorType(out, DataType.FLOAT, [...d.dims]);
    g.outputs.push(out);
  });
  return m;
}

const CASES: [string, PlaneData][] = [
  ['3 planes, per tensor, n % 8 != 0', randomPlanes([5, 3, 3, 3], 3, 1)],
  ['3 planes, per channel on axis 0', randomPlanes([6, 2, 3, 3], 3, 2, 0)],
  ['3 planes, per channel on axis 1 (MatMul layout)', randomPlanes([13, 7], 3, 3, 1)],
  ['1 plane', randomPlanes([4, 9], 1, 4)],
  ['2 planes', randomPlanes([17], 2, 5)],
  ['4 planes, per channel', randomPlanes([3, 50], 4, 6, 0)],
];

describe('packed planes', () => {
  it('decode to the planes they were built from; int8 calls too; far fewer bytes', () => {
    for (const [what, d] of CASES) {
      for (const enc of ['packed', 'int8'] as const) {
        const m = decodeModel(encodeModel(weightModel([d], enc)));
        const wc = readWeightCall(m.graph.nodes.find(isWeightCall)!);
        // K ≥ 4 planes have no packed code: written as int8.
        expect(wc.encoding, what).toBe(d.k > 3 ? 'int8' : enc);
        expect(Array.from(wc.planes), `${what} ${enc}`).toEqual(Array.from(d.planes));
        expect(wc.dims).toEqual(d.dims);
        expect(Array.from(wc.scaleData)).toEqual(Array.from(d.scaleData));
        if (enc === 'packed' && d.k <= 3 && d.planes.length >= 300) {
          const int8 = readWeightCall(weightModel([d], 'int8').graph.nodes.find(isWeightCall)!);
          expect(wc.storedBytes, what).toBeLessThan(int8.storedBytes / 2);
        }
      }
    }
  });

  it('onnxruntime computes the same Ŵ from packed and int8 planes, bit for bit, at opsets 11 and 13, folded or not', async () => {
    const ds = CASES.map(([, d]) => d);
    for (const opset of [11, 13]) {
      for (const optimization of ['disabled', 'all'] as const) {
        const outs: Float32Array[][] = [];
        for (const enc of ['packed', 'int8'] as const) {
          const m = weightModel(ds, enc, opset);
          const s = await createSession(m, { optimization, weights: 'as-written' });
          const r = await runSession(s, {});
          await s.release();
          outs.push(m.graph.outputs.map((v) => r[v.name]!.data as Float32Array));
        }
        ds.forEach((d, i) => {
          const ref = dequantizePlanes(d);
          expect(Buffer.from(outs[0]![i]!.buffer).equals(Buffer.from(ref.buffer)), `packed, case ${i}, opset ${opset}, ${optimization}`).toBe(true);
          expect(Buffer.from(outs[1]![i]!.buffer).equals(Buffer.from(ref.buffer)), `int8, case ${i}, opset ${opset}, ${optimization}`).toBe(true);
        });
      }
    }
  });

  it('weights whose count fills the code bytes get the body without the padding Slice (until an inexact call joins); onnxruntime gives the same Ŵ', async () => {
    const exact: PlaneData[] = [
      randomPlanes([4, 3, 3, 3], 3, 11),
      randomPlanes([6, 2, 3, 3], 3, 12, 0),
      randomPlanes([12, 7], 3, 13, 1),
      randomPlanes([8, 9], 1, 14),
      randomPlanes([6, 5], 2, 15),
    ];
    const slices = (m: Model): string[] =>
      (m.functions as { name?: string; node: { op_type?: string; input: string[] }[] }[])
        .filter((f) => f.node.some((x) => x.op_type === 'Slice' && x.input[0] !== 'chan'))
        .map((f) => f.name!)
        .sort();
    for (const opset of [11, 13, 18]) {
      const m = weightModel(exact, 'packed', opset);
      expect(slices(m), `opset ${opset}`).toEqual([]);
      // An inexact weight (135 entries, 3 planes per tensor) after exact ones: its function gets the Slice.
      const mixed = weightModel([...exact, randomPlanes([5, 3, 3, 3], 3, 16)], 'packed', opset);
      expect(slices(mixed)).toEqual(['PackedBinarizedWeight3']);
      for (const model of [m, mixed]) {
        for (const optimization of ['disabled', 'all'] as const) {
          const s = await createSession(decodeModel(encodeModel(model)), { optimization, weights: 'as-written' });
          const r = await runSession(s, {});
          await s.release();
          model.graph.outputs.forEach((v, i) => {
            const ref = dequantizePlanes(i < exact.length ? exact[i]! : randomPlanes([5, 3, 3, 3], 3, 16));
            expect(Buffer.from((r[v.name]!.data as Float32Array).buffer).equals(Buffer.from(ref.buffer)), `output ${i}, opset ${opset}, ${optimization}`).toBe(true);
          });
        }
      }
    }
  });

  it('codes written from bit counts and sign paths (what quantize gives) are the bytes written from the int8 planes', () => {
    for (const [what, d] of CASES) {
      const n = d.dims.reduce((x, y) => x * y, 1);
      const bitMap = new Uint8Array(n);
      const signs = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < d.k; i++) {
          const p = d.planes[i * n + j]!;
          if (p !== 0) bitMap[j] = i + 1;
          if (p < 0) signs[j]! |= 1 << i;
        }
      }
      for (const enc of ['packed', 'int8'] as const) {
        const fromPlanes = encodeModel(weightModel([d], enc));
        // `planes` is never read for packed codes from paths (a getter that fails says so).
        const lazy: PlaneData = {
          ...d,
          get planes(): Int8Array {
            if (enc === 'packed' && d.k <= 3) throw new Error('planes read');
            return d.planes;
          },
          paths: { bitMap, signs },
        };
        expect(Buffer.from(encodeModel(weightModel([lazy], enc))).equals(Buffer.from(fromPlanes)), `${what} ${enc}`).toBe(true);
      }
    }
  });

  it('planes that cannot be packed (a plane-1 zero, a plane-3 entry without plane 2) are written as int8', () => {
    const d = randomPlanes([4, 4], 3, 7);
    const bad = { ...d, planes: d.planes.slice() };
    bad.planes[0] = 0;
    const m = weightModel([bad], 'packed');
    expect(readWeightCall(m.graph.nodes.find(isWeightCall)!).encoding).toBe('int8');
  });

  it('rewriteWeightCall keeps the encoding and the key and scales names; another K replaces the call', () => {
    const d = randomPlanes([6, 5], 3, 8);
    const m = weightModel([d], 'packed');
    const call = m.graph.nodes.find(isWeightCall)!;
    const key = call.inputs[0]!.name;
    const scales = call.inputs[1]!.name;
    const e = randomPlanes([6, 5], 3, 9);
    rewriteWeightCall(m, call, e);
    let wc = readWeightCall(findWeightCall(m.graph, key)!);
    expect(wc.encoding).toBe('packed');
    expect(wc.scales.name).toBe(scales);
    expect(Array.from(wc.planes)).toEqual(Array.from(e.planes));
    const f = randomPlanes([6, 5], 2, 10);
    rewriteWeightCall(m, wc.call, f);
    wc = readWeightCall(findWeightCall(m.graph, key)!);
    expect(wc.call.opType).toBe('PackedBinarizedWeight2');
    expect(m.functions.map((f) => (f as { name: string }).name)).toEqual(['PackedBinarizedWeight2']);
    expect(wc.scales.name).toBe(scales);
    expect(Array.from(wc.planes)).toEqual(Array.from(f.planes));
    expect(m.graph.outputs[0]!.producer).toBe(wc.call);
  });
});

describe('the quantization record', () => {
  const weight = (tensor: string, extra: Record<string, unknown> = {}): QuantRecord['weights'][number] => ({
    tensor,
    node: `/${tensor}/Conv`,
    op: 'Conv',
    shape: [4, 2, 3, 3],
    planes: `${tensor}.hbnn_codes`,
    scales: `${tensor}.hbnn_scales`,
    scaleValues: [0.25, 0.125, 0.0625],
    perChannel: false,
    heuristic: 'middle-out',
    distribution: [0.7000000000000001, 0.19999999999999996, 0.09999999999999998],
    histogram: [50, 15, 7],
    avgBits: (50 + 2 * 15 + 3 * 7) / 72,
    ...extra,
  });
  const record = (): QuantRecord => ({
    format: HBNN_FORMAT_PACKED,
    tool: 'hbnn-onnx',
    weights: [
      weight('a'),
      // Fields unlike the defaults and derivations are kept: another heuristic and seed, suffixed names, an average not from the histogram.
      weight('b', { heuristic: 'random', seed: 7, planes: 'b.hbnn_codes_1', scales: 'b.hbnn_scales_2', avgBits: 1.5, granularity: 'row' }),
      weight('c', { perChannel: true, scaleValues: [[0.5, 0.25], [0.1, 0.2], [0.05, 0.01]] }),
    ],
    activations: [],
    avgWeightBits: 1.4,
    scalingLayer: { node: '/fc/Mul', scale: 'fc.scale', inserted: false },
  });

  it('hbnn-onnx/3 stores it compactly and reads it back as written (field order too); hbnn-onnx/2 files (full record) read as before', () => {
    const m = weightModel([randomPlanes([4, 2, 3, 3], 3, 21)], 'packed');
    const rec = record();
    writeQuantRecord(m, rec);
    expect(m.getMetadata(META_FORMAT)).toBe('hbnn-onnx/3');
    const raw = m.getMetadata(META_RECORD)!;
    const compact = JSON.parse(raw) as { weightDefaults: unknown; weights: Record<string, unknown>[] };
    expect(compact.weightDefaults).toEqual({ perChannel: false, heuristic: 'middle-out', distribution: rec.weights[0]!.distribution });
    expect(Object.keys(compact.weights[0]!)).toEqual(['tensor', 'node', 'op', 'shape', 'scaleValues', 'histogram']);
    expect(compact.weights[1]).toMatchObject({ heuristic: 'random', seed: 7, planes: 'b.hbnn_codes_1', scales: 'b.hbnn_scales_2', avgBits: 1.5, granularity: 'row' });
    expect(compact.weights[2]!.perChannel).toBe(true);
    expect(raw.length).toBeLessThan(JSON.stringify(rec).length * 0.75);
    const back = readQuantRecord(decodeModel(encodeModel(m)))!;
    expect(JSON.stringify(back)).toBe(JSON.stringify(rec));
    // A file of the previous packed format: the record as it was, read unchanged.
    m.setMetadata(META_FORMAT, 'hbnn-onnx/2');
    m.setMetadata(META_RECORD, JSON.stringify({ ...rec, format: 'hbnn-onnx/2' }));
    expect(readQuantRecord(m)).toEqual({ ...rec, format: 'hbnn-onnx/2' });
    m.setMetadata(META_FORMAT, 'hbnn-onnx/9');
    expect(() => readQuantRecord(m)).toThrow(/hbnn-onnx\/9/);
  });

  it('a weight without one of the shared fields keeps the others as they were (no default invented for it)', () => {
    const m = weightModel([randomPlanes([4, 2, 3, 3], 3, 22)], 'packed');
    const rec = record();
    delete (rec.weights[2] as Partial<QuantRecord['weights'][number]>).distribution;
    writeQuantRecord(m, rec);
    expect((JSON.parse(m.getMetadata(META_RECORD)!) as { weightDefaults: object }).weightDefaults).toEqual({ perChannel: false, heuristic: 'middle-out' });
    expect(JSON.stringify(readQuantRecord(m))).toBe(JSON.stringify(rec));
  });
});

describe('quantized fmnist-cnn, packed against int8 planes', () => {
  const CNN = bundledModelPath('fmnist-cnn');

  it('onnxruntime logits are bit for bit the same on the bundled slice; the packed file is under 15% of the float one', async () => {
    const files: Uint8Array[] = [];
    for (const planes of ['packed', 'int8'] as const) {
      const m = loadModel(CNN);
      await quantize(m, { avgBits: 1.4, ...(planes === 'int8' ? { planes } : {}) });
      expect(readQuantRecord(m)!.format).toBe(planes === 'packed' ? HBNN_FORMAT_PACKED : HBNN_FORMAT);
      files.push(encodeModel(m));
    }
    const float = encodeModel(loadModel(CNN));
    expect(files[0]!.length / float.length).toBeLessThan(0.15);
    expect(files[1]!.length / float.length).toBeGreaterThan(0.5);
    const ds = loadDataset('fmnist-mini:test', { normalize: FMNIST_NORMALIZATION });
    const logits: Buffer[] = [];
    for (const bytes of files) {
      // The files as written, with onnxruntime's default optimizations (the calls folded at load).
      const s = await createSession(bytes);
      const r = await runSession(s, { input: float32Tensor(ds.images, [ds.count, 1, 28, 28]) });
      await s.release();
      const out = Object.values(r)[0]!.data as Float32Array;
      logits.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    }
    expect(logits[0]!.length).toBe(ds.count * 10 * 4);
    expect(logits[0]!.equals(logits[1]!)).toBe(true);
    // inspect: the same logical parameter count, far fewer stored bytes
    const [a, b] = files.map((f) => inspectModel(decodeModel(f)).quantization!.storage!);
    expect(a!.logicalParameters).toBe(105_099);
    expect(b!.logicalParameters).toBe(105_099);
    expect(a!.planes).toEqual({ packed: 4, int8: 0 });
    expect(b!.planes).toEqual({ packed: 0, int8: 4 });
    expect(a!.binarizedStoredBytes).toBeLessThan(b!.binarizedStoredBytes / 5);
  });
});

describe('every consumer reads both plane encodings', () => {
  const CNN = bundledModelPath('fmnist-cnn');
  const quantized = async (planes: 'packed' | 'int8'): Promise<Model> => {
    const m = loadModel(CNN);
    await quantize(m, { avgBits: 1.4, actBits: 1.4, normalize: 'fmnist', calibLimit: 128, planes });
    return decodeModel(encodeModel(m));
  };

  it('eval, lowering to the bit-level IR and fine-tuning give the same results from packed and int8 planes; fine-tuning keeps the encoding', async () => {
    const [p, i] = [await quantized('packed'), await quantized('int8')];
    // Calibration saw the same weights: the same activation constants.
    expect(readQuantRecord(p)!.activations).toEqual(readQuantRecord(i)!.activations);
    // eval (the tool's sessions take Ŵ computed once)
    const ds = loadDataset('fmnist-mini:test', { limit: 500, normalize: FMNIST_NORMALIZATION });
    const [ep, ei] = [await evaluate(p, ds), await evaluate(i, ds)];
    expect(Array.from(ep.predictions)).toEqual(Array.from(ei.predictions));
    expect(ep.top1).toBeGreaterThan(0.5);
    // the bit-level IR: the same program but for the planes' initializer names
    const text = (m: Model): string => bitProgramToText(lowerToBitIR(m)).replace(/hbnn_(codes|planes)/g, 'hbnn_PLANES');
    expect(text(p)).toEqual(text(i));
    // fine-tuning: a few steps from each, the same written weights, each in its own encoding
    const train = loadDataset('fmnist-mini:train', { limit: 128, normalize: FMNIST_NORMALIZATION });
    const opts = { batchSize: 64, maxSteps: 2, epochs: 1, threads: 1, seed: 3 };
    const [fp, fi] = [await fineTune(p, train, opts), await fineTune(i, train, opts)];
    expect(readQuantRecord(fp.model)!.format).toBe(HBNN_FORMAT_PACKED);
    expect(readQuantRecord(fi.model)!.format).toBe(HBNN_FORMAT);
    for (const w of readQuantRecord(fp.model)!.weights) {
      const a = readWeightCall(findWeightCall(fp.model.graph, w.planes)!);
      const wi = readQuantRecord(fi.model)!.weights.find((x) => x.tensor === w.tensor)!;
      const b = readWeightCall(findWeightCall(fi.model.graph, wi.planes)!);
      expect(a.encoding).toBe('packed');
      expect(b.encoding).toBe('int8');
      expect(Array.from(a.planes)).toEqual(Array.from(b.planes));
      expect(Array.from(a.scaleData)).toEqual(Array.from(b.scaleData));
    }
  });
});
