/**
 * The unit configurations of the synthesis calibration sweep (bench/synth.mjs): matvec and
 * conv units over PE, SIMD, 1/2/3 weight planes, per-weight and per-row bit maps, fixed-point
 * and 1/2-plane activations, threshold and requantize outputs. `holdout: true` marks the
 * configurations the fits never see (every fourth), on which the held-out error is measured.
 */
const base = { seed: 7 };
const mv = (o) => ({ ...base, kind: 'matvec', inputs: 64, outputs: 16, pe: 4, simd: 8, weightPlanes: 2, activationPlanes: 1, ...o });
const cv = (o) => ({ ...base, kind: 'conv', inputs: 8, outputs: 16, image: [6, 6], kernel: 3, pad: 1, pe: 4, simd: 8, weightPlanes: 2, activationPlanes: 1, ...o });

const list = [
  mv({ weightPlanes: 1, avgBits: 1 }),
  mv({ weightPlanes: 2, avgBits: 1.4 }),
  mv({ weightPlanes: 3, avgBits: 1.4 }),
  mv({ weightPlanes: 2, avgBits: 1.4, bitMap: 'row' }),
  mv({ weightPlanes: 3, avgBits: 1.4, bitMap: 'row' }),
  mv({ weightPlanes: 2, avgBits: 2 }),
  mv({ weightPlanes: 1, avgBits: 1, activationPlanes: 2 }),
  mv({ weightPlanes: 2, avgBits: 1.4, activationPlanes: 2 }),
  mv({ weightPlanes: 2, avgBits: 1.4, activationPlanes: 0 }),
  mv({ weightPlanes: 1, avgBits: 1, activationPlanes: 0 }),
  mv({ weightPlanes: 2, avgBits: 1.4, pe: 2, simd: 16 }),
  mv({ weightPlanes: 2, avgBits: 1.4, pe: 8, simd: 4 }),
  mv({ weightPlanes: 1, avgBits: 1, pe: 8, simd: 32, inputs: 128, outputs: 32 }),
  mv({ weightPlanes: 2, avgBits: 1.4, pe: 2, simd: 32, inputs: 128 }),
  mv({ weightPlanes: 2, avgBits: 1.4, outputPlanes: 0 }),
  mv({ weightPlanes: 2, avgBits: 1.4, outputPlanes: 2 }),
  mv({ weightPlanes: 3, avgBits: 2, pe: 4, simd: 16, bitMap: 'row' }),
  mv({ weightPlanes: 1, avgBits: 1, pe: 1, simd: 8 }),
  cv({ weightPlanes: 1, avgBits: 1 }),
  cv({ weightPlanes: 2, avgBits: 1.4 }),
  cv({ weightPlanes: 2, avgBits: 1.4, bitMap: 'row' }),
  cv({ weightPlanes: 3, avgBits: 1.4, bitMap: 'row', simd: 12 }),
  cv({ weightPlanes: 2, avgBits: 1.4, activationPlanes: 0, inputs: 3, simd: 9, outputs: 16 }),
  cv({ weightPlanes: 2, avgBits: 1.4, activationPlanes: 2, pe: 2, simd: 24 }),
  cv({ weightPlanes: 1, avgBits: 1, pe: 8, simd: 24, inputs: 16 }),
  cv({ weightPlanes: 2, avgBits: 1.4, pe: 8, simd: 8, outputs: 32 }),
  cv({ weightPlanes: 3, avgBits: 1.4, pe: 2, simd: 8 }),
  cv({ weightPlanes: 2, avgBits: 2, pe: 4, simd: 18, bitMap: 'row' }),
];

export const SWEEP = list.map((config, i) => ({ id: `u${String(i).padStart(2, '0')}`, config, holdout: i % 4 === 3 }));

/** A short label of a configuration. */
export function label(c) {
  const act = c.activationPlanes === 0 ? `${c.inputBits ?? 8}b-fixed` : `A${c.activationPlanes}`;
  const out = (c.outputPlanes ?? 1) === 0 ? 'requant' : `thr${c.outputPlanes ?? 1}`;
  return `${c.kind} ${c.outputs}×${c.inputs}${c.kind === 'conv' ? `·${c.kernel}²` : ''} PE${c.pe} SIMD${c.simd} W${c.avgBits ?? 1.4}/${c.weightPlanes}p ${c.bitMap ?? 'weight'} ${act} ${out}`;
}

/** The Table 2 check: a row-grouped conv unit (1-bit activations) at 1, 1.2, 1.4 and 2 average weight bits. */
export const TABLE2 = [1, 1.2, 1.4, 2].map((b) => ({
  id: `t2-${b}`,
  bits: b,
  config: { kind: 'conv', inputs: 16, outputs: 16, image: [6, 6], kernel: 3, pad: 1, pe: 4, simd: 16, weightPlanes: b === 1 ? 1 : 2, avgBits: b, bitMap: 'row', activationPlanes: 1, seed: 11 },
}));
