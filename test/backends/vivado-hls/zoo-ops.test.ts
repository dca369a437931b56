/**
 * The bit-level IR's average pooling (AveragePool, GlobalAveragePool), Clip and LeakyRelu as
 * streaming stages, in C simulation on the issue-16 fixtures: MobileNet-V1 (depthwise
 * vector-vector units and a global average pool) and the pooling net (AveragePool, LeakyRelu),
 * both W1.4A1.4 (Middle-Out), on 100 Fashion-MNIST images padded and replicated to the input
 * shape: every class, logit and (for 2 inputs) every unit's accumulators equal to the
 * interpreter's.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowerVivadoHls, runCsim } from '../../../src/backends/vivado-hls/index.js';
import { quantize } from '../../../src/drivers/quantize.js';
import { writeNpy } from '../../../src/data/index.js';
import { writeFilesAtomic } from '../../../src/util/fs.js';
import { ZOO_FIXTURES, fmnistAs } from '../../helpers/zoo.js';
import { tempDir } from './helpers.js';

const SAMPLES = 100;
const root = tempDir('hbnn-hls-zoo-');

describe('average pooling, clip and LeakyRelu stages (C simulation)', () => {
  for (const name of ['mobilenet-v1', 'poolnet-softmax']) {
    it(`${name} W1.4A1.4: bit-exact with the interpreter on ${SAMPLES} inputs`, async () => {
      const f = ZOO_FIXTURES.find((z) => z.name === name)!;
      const calib = path.join(root, `${name}-calib.npy`);
      writeNpy(calib, { dtype: 'float32', shape: [32, ...f.shape], data: fmnistAs(f.shape, 32, 'train') });
      const m = f.build();
      await quantize(m, { avgBits: 1.4, heuristic: 'middle-out', actBits: 1.4, actHeuristic: 'middle-out', calibData: `npy:${calib}`, calibLimit: 32 });
      const r = lowerVivadoHls(m, { testData: fmnistAs(f.shape, SAMPLES), testSamples: SAMPLES, accSamples: 2, targetFps: 2000 });
      const kinds = r.design.stages.map((s) => s.kind);
      expect(kinds).toContain('avgpool');
      if (name === 'poolnet-softmax') expect(kinds).toContain('leakyrelu');
      else expect(r.design.units.some((u) => u.groups > 1)).toBe(true);
      const est = r.estimates.stages.find((s) => s.kind === 'avgpool')!;
      expect(est.dsp).toBeGreaterThan(0);
      const dir = path.join(root, name);
      writeFilesAtomic(dir, r.files);
      const c = await runCsim(dir, { timeoutMs: 300_000, optLevel: 'O1' });
      expect(c.stdout).toContain('hbnn-tb: PASS');
      expect(c.summary).toMatchObject({ samples: SAMPLES, classMismatches: 0, logitMismatches: 0, accumulatorMismatches: 0 });
    }, 300_000);
  }
});
