#!/usr/bin/env node
/**
 * Fits the default ASIC technology (src/backends/asic/tech.ts, DEFAULT_TECH) to the paper's
 * ASIC baseline, HBNN Table 2 row 3: a 2-bit VGG-8 for CIFAR-10, 6.06 mm², 0.38 W, 3.4 kFPS.
 *
 *   npx tsc --outDir /tmp/hbnn-dist && HBNN_DIST=/tmp/hbnn-dist node bench/asic-calibrate.mjs
 *
 * What is fitted (everything else is fixed by hand, see docs/backend-asic.md):
 * 1. foldCycles = round(clock / 3400) at the chosen 200 MHz clock (3.4 kFPS);
 * 2. one common area factor on BASE_UNIT_COSTS.area, so that CNV at W2A2 has 6.06 mm²;
 * 3. one common energy factor on BASE_UNIT_COSTS.energy, so that its power
 *    (dynamic + 0.01 W/mm² leakage) is 0.38 W.
 * The folding choice only depends on area ratios, so the factors are exact in one step;
 * constants are rounded to 4 significant digits. Prints the tech JSON and the check.
 */
import { asic, quantizedCnv, randomCalibration } from './asic-common.mjs';

const TARGET = { areaMm2: 6.06, powerW: 0.38, fps: 3400 };
const CLOCK_MHZ = 200;
const LEAKAGE = 0.01;
const round4 = (x) => Number(x.toPrecision(4));

const model = await quantizedCnv(2, randomCalibration([8, 3, 32, 32]));
const { works } = asic.fromQuantRecord(model);
const foldCycles = Math.round((CLOCK_MHZ * 1e6) / TARGET.fps);
const base = { ...asic.DEFAULT_TECH, clockMhz: CLOCK_MHZ, foldCycles, leakageWPerMm2: LEAKAGE, area: { ...asic.BASE_UNIT_COSTS.area }, energy: { ...asic.BASE_UNIT_COSTS.energy } };
const e0 = asic.estimateDesign(works, base);
const areaFactor = TARGET.areaMm2 / e0.areaMm2;
const leakW = TARGET.areaMm2 * LEAKAGE;
const energyFactor = (TARGET.powerW - leakW) / e0.dynamicPowerW;
const scale = (costs, f) => Object.fromEntries(Object.entries(costs).map(([k, v]) => [k, round4(v * f)]));
const tech = { ...base, area: scale(base.area, areaFactor), energy: scale(base.energy, energyFactor) };
const e1 = asic.estimateDesign(works, tech);
console.log(asic.techToJson(tech));
console.log(`area factor ${areaFactor.toPrecision(5)}, energy factor ${energyFactor.toPrecision(5)}, foldCycles ${foldCycles}`);
console.log(`CNV W2A2 with the fitted tech: ${e1.areaMm2.toFixed(4)} mm² (target ${TARGET.areaMm2}), ${e1.powerW.toFixed(4)} W (target ${TARGET.powerW}), ${(e1.fps / 1000).toFixed(4)} kFPS (target ${TARGET.fps / 1000})`);
const shares = Object.fromEntries(Object.entries(e1.areaBreakdownMm2).map(([k, v]) => [k, `${((100 * v) / e1.areaMm2).toFixed(1)}%`]));
console.log('area shares', shares);
const eshares = Object.fromEntries(Object.entries(e1.energyBreakdownUj).map(([k, v]) => [k, `${((100 * v) / e1.energyPerFrameUj).toFixed(1)}%`]));
console.log('energy shares', eshares);
