/** Bad input to the ASIC backend: technology files, options, unquantized models. */
import { beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_TECH, loadTechFile, lowerAsic, parseTech, techToJson, type AsicTech } from '../../../src/backends/asic/index.js';
import { ErrorCodes, HbnnError } from '../../../src/errors.js';
import { buildCnv } from '../../../zoo/topologies.js';
import type { Model } from '../../../src/ir/graph.js';
import { tempDir, weightsOnlyCnv } from './fixtures.js';

function thrown(fn: () => unknown): HbnnError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HbnnError);
    return e as HbnnError;
  }
  throw new Error('expected an HbnnError, nothing was thrown');
}

const techJson = (): Record<string, unknown> => JSON.parse(techToJson(DEFAULT_TECH)) as Record<string, unknown>;

describe('technology files', () => {
  let dir = '';
  beforeAll(() => {
    dir = tempDir('hbnn-asic-tech-');
  });
  const write = (name: string, content: unknown): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  it('round-trips the default technology through a file', () => {
    expect(loadTechFile(write('default.json', techToJson(DEFAULT_TECH)))).toEqual(DEFAULT_TECH);
  });

  it('names a missing top-level or unit field', () => {
    for (const field of ['name', 'clockMhz', 'foldCycles', 'area', 'energy', 'leakageWPerMm2']) {
      const t = techJson();
      delete t[field];
      const file = write(`missing-${field}.json`, t);
      const e = thrown(() => loadTechFile(file));
      expect(e.code).toBe(ErrorCodes.INVALID_OPTION);
      expect(e.message).toContain(`field ${field} is missing`);
      expect(e.message).toContain(file);
      expect(e.context).toMatchObject({ option: 'tech', field, file });
    }
    const t = techJson();
    delete (t['area'] as Record<string, unknown>)['sramBit'];
    const e = thrown(() => loadTechFile(write('missing-sram.json', t)));
    expect(e.message).toContain('field area.sramBit is missing');
  });

  it('refuses negative, non-finite, non-numeric and misspelt values', () => {
    const cases: [string, (t: Record<string, unknown>) => void, RegExp][] = [
      ['area.xnorPopcountLane', (t) => ((t['area'] as Record<string, unknown>)['xnorPopcountLane'] = -1), /area\.xnorPopcountLane must be >= 0, got -1/],
      ['energy.sramBit', (t) => ((t['energy'] as Record<string, unknown>)['sramBit'] = -0.5), /energy\.sramBit must be >= 0/],
      ['leakageWPerMm2', (t) => (t['leakageWPerMm2'] = -0.01), /leakageWPerMm2 must be >= 0/],
      ['clockMhz', (t) => (t['clockMhz'] = 0), /clockMhz must be > 0/],
      ['foldCycles', (t) => (t['foldCycles'] = 10.5), /foldCycles must be a positive integer/],
      ['voltage', (t) => (t['voltage'] = '0.9'), /voltage must be a number/],
      ['areas', (t) => (t['areas'] = {}), /field areas is not a technology field/],
      ['area.lane', (t) => ((t['area'] as Record<string, unknown>)['lane'] = 1), /field area\.lane is not a technology field/],
    ];
    for (const [field, mutate, message] of cases) {
      const t = techJson();
      mutate(t);
      const e = thrown(() => loadTechFile(write(`bad-${field}.json`, t)));
      expect(e.code).toBe(ErrorCodes.INVALID_OPTION);
      expect(e.message).toMatch(message);
      expect(e.context['field']).toBe(field);
    }
    // Non-finite values cannot be written in JSON; programmatic objects are checked too.
    const inf = { ...DEFAULT_TECH, energy: { ...DEFAULT_TECH.energy, adderTreeBit: Number.POSITIVE_INFINITY } };
    expect(thrown(() => parseTech(inf)).message).toMatch(/energy\.adderTreeBit must be finite/);
    expect(thrown(() => parseTech({ ...DEFAULT_TECH, clockMhz: Number.NaN })).message).toMatch(/clockMhz must be finite/);
  });

  it('allows $comment keys, refuses non-objects and bad JSON, and reports a missing file', () => {
    expect(parseTech({ ...techJson(), $comment: 'fitted to row 3' })).toEqual(DEFAULT_TECH);
    expect(thrown(() => parseTech([1, 2])).code).toBe(ErrorCodes.INVALID_OPTION);
    const e = thrown(() => loadTechFile(write('broken.json', '{"name": ')));
    expect(e.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(e.message).toMatch(/not valid JSON/);
    expect(thrown(() => loadTechFile(path.join(dir, 'nope.json'))).code).toBe(ErrorCodes.FILE_NOT_FOUND);
  });
});

describe('lowerAsic input checks', () => {
  let model: Model;
  beforeAll(async () => {
    model = await weightsOnlyCnv(1.4);
  });

  it('refuses a model that was not quantized (NOT_QUANTIZED)', () => {
    const e = thrown(() => lowerAsic(buildCnv()));
    expect(e.code).toBe(ErrorCodes.NOT_QUANTIZED);
    expect(e.message).toMatch(/hbnn-onnx quantize/);
  });

  it('validates a technology given as an object', () => {
    const bad = { ...DEFAULT_TECH, area: { ...DEFAULT_TECH.area, comparatorBit: -3 } } as AsicTech;
    const e = thrown(() => lowerAsic(model, { tech: bad }));
    expect(e.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(e.message).toMatch(/area\.comparatorBit must be >= 0/);
  });

  it('refuses bad scaling, clock, anchor, bit options and sweep input', () => {
    const cases: [Parameters<typeof lowerAsic>[1], RegExp][] = [
      [{ scaling: 'linear' as never }, /scaling must be 'units' or 'paper'/],
      [{ clockMhz: -100 }, /clockMhz must be a finite number > 0/],
      [{ clockMhz: Number.POSITIVE_INFINITY }, /clockMhz must be a finite number > 0/],
      [{ paperAnchor: 'resnet' as never }, /unknown paper anchor "resnet"/],
      [{ paperAnchor: { label: 'x', areaMm2: -1, powerW: 1, fps: 1, weightBits: 2, activationBits: 2 } }, /paperAnchor\.areaMm2 must be a finite number > 0/],
      [{ activationBits: 0 }, /`activationBits` must be a number from 1 to 32/],
      [{ inputBits: 8.5 }, /inputBits must be an integer/],
      [{ sweep: { results: [{ heuristic: 'middle-out', avgBits: 1.4, top1: 81 }] } }, /entry 0 needs "top1" as a fraction in \[0, 1\]/],
      [{ sweep: { rows: [] } }, /neither a "results" nor a "points" list/],
    ];
    for (const [opts, message] of cases) {
      const e = thrown(() => lowerAsic(model, opts));
      expect(e.code).toBe(ErrorCodes.INVALID_OPTION);
      expect(e.message).toMatch(message);
    }
  });

  it('accepts the hbnn-sweep/1 result shape', () => {
    const sweep = { format: 'hbnn-sweep/1', float: { top1: 0.9 }, points: [{ heuristic: 'middle-out', bits: 1.4, avgWeightBits: 1.4, top1: 0.8 }] };
    const r = lowerAsic(model, { sweep }).report;
    expect(r.sweep).toEqual({ results: [{ heuristic: 'middle-out', avgBits: 1.4, top1: 0.8 }], floatTop1: 0.9 });
    expect(lowerAsic(model, { sweep }).files.get('report.md')).toMatch(/Float model top-1: 90\.00%/);
  });
});
