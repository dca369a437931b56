import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';
import { QUANTIZE_OPTIONS } from '../../src/drivers/quantize.js';
import { insertWeightBinarization } from '../../passes/insert-weight-binarization.js';
import { calibrate } from '../../passes/calibrate.js';
import { recalibrateBatchnorm } from '../../passes/recalibrate-batchnorm.js';
import { pickOption, type OptionSpec } from '../../src/pass/pass.js';

/** The help of one flag, whitespace collapsed: from `--name` to the next flag. */
function flagHelp(help: string, flag: string): string | undefined {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^ {2}${flag}[ ,]|^ {2}${flag}$`).test(l));
  if (start < 0) return undefined;
  const out = [lines[start]!];
  for (const l of lines.slice(start + 1)) {
    if (/^ {2}-/.test(l) || l.trim() === '') break;
    out.push(l);
  }
  return out.join(' ').replace(/\s+/g, ' ').trim();
}

const shownDefault = (s: OptionSpec): string | undefined => (s.default === undefined || s.default === false ? undefined : Array.isArray(s.default) ? s.default.join(',') : String(s.default));

describe('flags generated from the option schemas', () => {
  it('quantize --help shows each default and range of the quantize schema (the passes\' own specs)', async () => {
    const r = await cli(['quantize', '--help']);
    expect(r.code).toBe(0);
    const exposed = QUANTIZE_OPTIONS.filter((s) => s.name !== 'normalize' && s.name !== 'scaling-layer');
    expect(exposed.length).toBeGreaterThanOrEqual(19);
    for (const spec of exposed) {
      const h = flagHelp(r.stdout, `--${spec.name}`);
      expect(h, spec.name).toBeDefined();
      const defaults = [...h!.matchAll(/\(default ([^)]*)\)/g)].map((m) => m[1]);
      const want = shownDefault(spec);
      expect(defaults, spec.name).toEqual(want === undefined ? [] : [want]);
      if ((spec.type === 'number' || spec.type === 'integer') && spec.min !== undefined && spec.max !== undefined) expect(h, spec.name).toContain(`(in [${spec.min}, ${spec.max}])`);
      for (const c of spec.choices ?? []) expect(h, spec.name).toContain(`"${c}"`);
    }
    // the quantize schema reuses the passes' specs: one place for each default
    expect(pickOption(QUANTIZE_OPTIONS, 'avg-bits')).toBe(pickOption(insertWeightBinarization.options, 'avg-bits'));
    expect(pickOption(QUANTIZE_OPTIONS, 'max-bits')).toBe(pickOption(insertWeightBinarization.options, 'max-bits'));
    expect(flagHelp(r.stdout, '--avg-bits')).toContain('(default 1.4)');
    expect(flagHelp(r.stdout, '--max-bits')).toContain('(default 3)');
    expect(flagHelp(r.stdout, '--calib-data')).toContain(`(default ${pickOption(calibrate.options, 'data').default})`);
    expect(flagHelp(r.stdout, '--calib-limit')).toContain(
      `by default ${pickOption(calibrate.options, 'limit').default} for the activations, ${pickOption(recalibrateBatchnorm.options, 'limit').default} for --bn-recalibrate`,
    );
  });

  it('sweep --help shows the same for the quantize options it shares', async () => {
    const r = await cli(['sweep', '--help']);
    for (const name of ['max-bits', 'seed', 'act-bits', 'calib-data', 'first-layer'] as const) {
      const spec = pickOption(QUANTIZE_OPTIONS, name);
      const h = flagHelp(r.stdout, `--${name}`);
      const want = shownDefault(spec);
      expect([...h!.matchAll(/\(default ([^)]*)\)/g)].map((m) => m[1]), name).toEqual(want === undefined ? [] : [want]);
    }
  });

  it("opt --help lists each pass with its options' defaults from the declarations", async () => {
    const r = await cli(['opt', '--help']);
    const line = r.stdout.split('\n').find((l) => l.startsWith('  insert-weight-binarization{'));
    const want = insertWeightBinarization.options.map((o) => `${o.name}=${o.default === undefined ? '?' : String(o.default)}`).join(',');
    expect(line).toBe(`  insert-weight-binarization{${want}}`);
    expect(line).toContain('avg-bits=1.4,');
    expect(line).toContain('max-bits=3,');
    expect(r.stdout).toContain(`  calibrate{data=${pickOption(calibrate.options, 'data').default},limit=512,`);
  });

  it('a flag out of its schema range is INVALID_OPTION naming the flag, before any work', async () => {
    for (const [args, msg] of [
      [['--max-bits', '9'], '--max-bits 9 is above the maximum 8'],
      [['--act-bits', '4'], '--act-bits 4 is above the maximum 3'],
      [['--calib-limit', '0', '--act-bits', '1.4'], '--calib-limit 0 is below the minimum 1'],
      [['--seed', '1.5'], '--seed 1.5 is not an integer'],
      [['--avg-bits', 'lots'], '--avg-bits lots is not a number'],
    ] as const) {
      const r = await cli(['quantize', 'no-such-model.onnx', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(`hbnn-onnx: error[invalid-option]: ${msg}\n`);
    }
  });
});
