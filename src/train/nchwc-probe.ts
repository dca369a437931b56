/**
 * Which channel block onnxruntime's NCHWc Conv kernel uses on this machine (grad/nchwc.ts):
 * 8 with AVX2, 16 with AVX-512, none where the build has no NCHWc kernels (e.g. ARM). Found
 * by running, not by reading CPU flags: a 3×3 Conv on 16 channels is emitted exactly as the
 * training graph emits it for each candidate block, run once, and compared with the same Conv
 * computed here; the first candidate that matches wins, 0 when none does (or the session
 * cannot be created). Cached for the process.
 */
import { Graph, Model } from '../ir/graph.js';
import { DataType } from '../ir/dtype.js';
import { setTensorType } from '../ir/types.js';
import { createSession, runSession, ort } from '../runtime/ort.js';
import { GradContext } from './grad/context.js';
import { NCHWC_DOMAIN, nchwcConv } from './grad/nchwc.js';

const CANDIDATES = [8, 16] as const;
const C = 16;
const HW = 4;

let cached: Promise<number> | undefined;

/** The NCHWc channel block of this machine's onnxruntime, or 0 when its kernels are not usable. */
export function probeNchwcBlock(): Promise<number> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<number> {
  const x = Float32Array.from({ length: C * HW * HW }, (_, i) => ((i * 37) % 23) / 11 - 1);
  const w = Float32Array.from({ length: C * C * 9 }, (_, i) => ((i * 53) % 29) / 14 - 1);
  const want = reference(x, w);
  for (const block of CANDIDATES) {
    try {
      const session = await createSession(probeModel(block), { threads: 1 });
      const out = await runSession(session, { x: new ort.Tensor('float32', x, [1, C, HW, HW]), w: new ort.Tensor('float32', w, [C, C, 3, 3]) });
      await session.release();
      const y = out['y']!.data as Float32Array;
      if (y.length === want.length && y.every((v, i) => Math.abs(v - want[i]!) <= 1e-4 * (1 + Math.abs(want[i]!)))) return block;
    } catch {
      // no NCHWc kernels for this block (or none at all): try the next candidate
    }
  }
  return 0;
}

function probeModel(block: number): Model {
  const m = new Model(new Graph('nchwc-probe'));
  m.irVersion = 8n;
  m.opsetImports = [{ domain: '', version: 17 }, { domain: NCHWC_DOMAIN, version: 1 }];
  const g = m.graph;
  const ctx = new GradContext(g, 17);
  ctx.nchwcBlock = block;
  const x = g.addInput('x');
  setTensorType(x, DataType.FLOAT, [1, C, HW, HW]);
  ctx.setShape(x, [1, C, HW, HW]);
  const w = g.addInput('w');
  setTensorType(w, DataType.FLOAT, [C, C, 3, 3]);
  ctx.setShape(w, [C, C, 3, 3]);
  const y = nchwcConv(ctx, x, w, null, { kernel: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] }, 1)!;
  g.renameValue(y, 'y');
  setTensorType(y, DataType.FLOAT, [1, C, HW, HW]);
  g.outputs.push(y);
  return m;
}

/** The 3×3 pad-1 Conv of the probe, in float64. */
function reference(x: Float32Array, w: Float32Array): Float64Array {
  const y = new Float64Array(C * HW * HW);
  for (let m = 0; m < C; m++) {
    for (let r = 0; r < HW; r++) {
      for (let s = 0; s < HW; s++) {
        let acc = 0;
        for (let c = 0; c < C; c++) {
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 3; j++) {
              const rr = r + i - 1;
              const ss = s + j - 1;
              if (rr >= 0 && rr < HW && ss >= 0 && ss < HW) acc += x[(c * HW + rr) * HW + ss]! * w[((m * C + c) * 3 + i) * 3 + j]!;
            }
          }
        }
        y[(m * HW + r) * HW + s] = acc;
      }
    }
  }
  return y;
}
