/**
 * What a CLI user reads: help (required options, the right flag names, `help <unknown>`),
 * list options that do not swallow the model, flag names instead of API option names in
 * errors, progress counted from 1, and one number formatter.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { formatCount, formatFixed } from '../../src/util/numbers.js';
import { formatTrainLog, formatTrainProgress } from '../../src/cli/run/train.js';
import type { TrainLog } from '../../src/train/index.js';

/** Help text with commander's line wrapping undone. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

/** The help entry of `flag` (its line and the wrapped lines under it), unwrapped. */
function optionHelp(help: string, flag: string): string {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^  (-\\w, )?${flag}\\b`).test(l));
  expect(start, `${flag} in help`).toBeGreaterThanOrEqual(0);
  let end = start + 1;
  while (end < lines.length && /^ {4,}\S/.test(lines[end]!) && !/^ {2}-/.test(lines[end]!)) end++;
  return flat(lines.slice(start, end).join(' ')).trim().replace(/^-\w, /, '');
}

describe('help', () => {
  it('`help <command>` prints that command\'s help; `help` the general help; exit 0', async () => {
    const viaHelp = await cli(['help', 'lower']);
    const viaFlag = await cli(['lower', '--help']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    const general = await cli(['help']);
    expect(general.code).toBe(0);
    expect(general.stdout).toMatch(/^Usage: hbnn-onnx \[options\] \[command\]/);
  });

  it('`help nosuch` says the command is unknown and exits 2', async () => {
    const r = await cli(['help', 'nosuch']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: unknown command 'nosuch'; commands: demo, inspect, opt, passes, quantize, eval, sweep, lower, train\n/);
  });

  it('required options are marked (required) in --help, and only those', async () => {
    for (const [command, flag] of [
      ['eval', '--data'],
      ['sweep', '--data'],
      ['lower', '--backend'],
      ['train', '--train-data'],
    ] as const) {
      const help = (await cli([command, '--help'])).stdout;
      expect(optionHelp(help, flag), `${command} ${flag}`).toMatch(/\(required\)$/);
      expect(flat(help).match(/\(required\)/g), command).toHaveLength(1);
    }
    // quantize takes --train-data only with --fine-tune: not required there
    expect(flat((await cli(['quantize', '--help'])).stdout)).not.toContain('(required)');
  });

  it('train without --train-data is a usage error naming it', async () => {
    const r = await cli(['train', FMNIST_CNN, '--epochs', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: required option '--train-data <spec>' not specified\n/);
  });

  it('sweep --help names --heuristics (its flag), not --heuristic', async () => {
    const help = (await cli(['sweep', '--help'])).stdout;
    expect(optionHelp(help, '--granularity')).toContain('--heuristics');
    expect(flat(help)).not.toMatch(/--heuristic(?!s)/);
    // quantize's flag is --heuristic
    expect(optionHelp((await cli(['quantize', '--help'])).stdout, '--granularity')).toMatch(/--heuristic(?!s)/);
  });

  it('lower --help labels each backend option with the backends that take it', async () => {
    const help = (await cli(['lower', '--help'])).stdout;
    for (const flag of ['--input-frac', '--fixed-act-bits', '--fixed-act-frac', '--logit-bits', '--multiplier-bits']) {
      expect(optionHelp(help, flag), flag).toMatch(new RegExp(`^${flag} <n> bit-ir, vivado-hls, verilog, asic with --from-bit-ir: `));
    }
    expect(optionHelp(help, '--input-bits')).toMatch(/^--input-bits <n> bit-ir, vivado-hls, verilog, asic: /);
    expect(optionHelp(help, '--target-fps')).toMatch(/^--target-fps <fps> vivado-hls, verilog: /);
    expect(optionHelp(help, '--tech')).toMatch(/^--tech <file> asic: /);
    // and the labels agree with what lower accepts: --input-frac with vivado-hls is not refused as unused
    const r = await cli(['lower', 'no-such.onnx', '--backend', 'vivado-hls', '--input-frac', '15', '-o', tmpDir()]);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[file-not-found\]/);
  });
});

describe('list options', () => {
  it('--exclude, --include and --freeze before the model do not swallow it', async () => {
    const d = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(d, 'model.onnx'));
    const q = await cli(['quantize', '--exclude', '/fc/*', '--include', '/c*', 'model.onnx', '-o', 'q.onnx', '--json'], { cwd: d });
    expect(q.code, q.stderr).toBe(0);
    const layers = (JSON.parse(q.stdout) as { layers: { node: string; avgBits: number | null }[] }).layers;
    expect(layers.filter((l) => l.avgBits !== null).map((l) => l.node)).toEqual(['/c1/Conv', '/c2/Conv', '/c3/Conv']);
    const t = await cli(['train', '--freeze', '*', 'model.onnx', '--train-data', 'fmnist-mini:train', '--train-limit', '32'], { cwd: d });
    // every parameter frozen: the trainer's error, with the flag named (not a missing model)
    expect(t.code).toBe(2);
    expect(t.stderr).toBe('hbnn-onnx: error[invalid-option]: nothing to train: no float parameter reaches the loss (all frozen by --freeze?)\n');
  });
});

describe('errors name flags, not API option names', () => {
  it('train --resume without --checkpoint-dir', async () => {
    const d = tmpDir();
    fs.copyFileSync(FMNIST_CNN, path.join(d, 'model.onnx'));
    const r = await cli(['train', 'model.onnx', '--train-data', 'fmnist-mini:train', '--train-limit', '32', '--resume'], { cwd: d });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('hbnn-onnx: error[invalid-option]: --resume without a checkpoint file needs --checkpoint-dir\n');
    expect(fs.readdirSync(d)).toEqual(['model.onnx']);
  });
});

describe('sweep checks --max-bits as quantize does', () => {
  it('--max-bits 9: the flag, not the pass option', async () => {
    for (const cmd of [['sweep', FMNIST_CNN, '--data', 'fmnist-mini:test'], ['quantize', FMNIST_CNN]]) {
      const r = await cli([...cmd, '--max-bits', '9', '-o', path.join(tmpDir(), 'out')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('hbnn-onnx: error[invalid-option]: --max-bits 9 is above the maximum 8\n');
    }
  });
});

describe('reports name flags too', () => {
  it('the ASIC report says --activation-bits and --from-bit-ir, not the API names', async () => {
    const d = tmpDir();
    const q = await cli(['quantize', FMNIST_CNN, '-o', path.join(d, 'q.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    for (const extra of [[], ['--from-bit-ir']]) {
      const out = path.join(d, `asic${extra.length}`);
      const r = await cli(['lower', 'q.onnx', '--backend', 'asic', ...extra, '-o', out], { cwd: d });
      expect(r.code, r.stderr).toBe(0);
      for (const f of ['report.md', 'report.html', 'report.json']) {
        const text = fs.readFileSync(path.join(out, f), 'utf8');
        expect(text, f).not.toMatch(/fromQuantRecord|fromBitProgram|option activationBits/);
      }
      expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('--from-bit-ir');
    }
  });
});

describe('lowering errors name lower\'s flags', () => {
  it('an integer sum too wide for the reference simulator names --multiplier-bits and --fixed-act-bits', async () => {
    const d = tmpDir();
    const q = await cli(['quantize', FMNIST_CNN, '-o', path.join(d, 'q.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    const r = await cli(['lower', 'q.onnx', '--backend', 'bit-ir', '--logit-bits', '70', '-o', 'out'], { cwd: d });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[lowering\]: .* lower --multiplier-bits or the activation width \(--fixed-act-bits\)\n$/);
  });
});

describe('training progress and log text', () => {
  it('step events count from 1: the last step of the last epoch is "epoch E/E, step N/N"', () => {
    const line = formatTrainProgress({ type: 'step', epoch: 2, step: 17, stepsPerEpoch: 17, globalStep: 34, loss: 0.5, lr: 0.01 }, 2);
    expect(line).toBe('epoch 2/2, step 17/17: loss 0.5000, lr 0.0100');
    expect(formatTrainProgress({ type: 'start', epochs: 2, stepsPerEpoch: 1563, epoch: 0, step: 0, params: 104651, samples: 60000 }, 2)).toBe(
      'training: 104,651 parameters, 60,000 samples, 1,563 steps per epoch',
    );
  });

  it('the log text groups sample counts', () => {
    const log = {
      mode: 'fine-tune',
      data: { train: 'fmnist:train', samples: 60000, eval: 'fmnist:test', evalSamples: 10000 },
      epochs: [],
      kept: 'last',
      stopped: 'completed',
      totalMs: 1,
    } as unknown as TrainLog;
    expect(formatTrainLog(log)[0]).toBe('fine-tuned on fmnist:train (60,000 samples), evaluated on fmnist:test (10,000 samples)');
  });
});

describe('the number formatter', () => {
  it('groups thousands, keeps the decimals asked for, independent of the locale', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(104651)).toBe('104,651');
    expect(formatCount(-1234567)).toBe('-1,234,567');
    expect(formatCount(1234.5)).toBe('1,234.5');
    expect(formatFixed(2660.04, 1)).toBe('2,660.0');
    expect(formatFixed(58824, 0)).toBe('58,824');
    expect(formatFixed(0.35549, 3)).toBe('0.355');
    expect(formatFixed(-0.0001, 2)).toBe('0.00');
    expect(formatFixed(-1234.5, 1)).toBe('-1,234.5');
    expect(formatFixed(Number.NaN, 1)).toBe('NaN');
  });

  it('the ASIC report and the lower summary use it (fold cycles, mW)', async () => {
    const d = tmpDir();
    const q = await cli(['quantize', FMNIST_CNN, '-o', path.join(d, 'q.onnx')]);
    expect(q.code, q.stderr).toBe(0);
    const r = await cli(['lower', 'q.onnx', '--backend', 'asic', '--clock-mhz', '20000', '-o', 'asic'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    // a 100x clock: thousands of mW
    expect(r.stdout).toMatch(/ \d{1,3}(,\d{3})+\.\d mW, /);
    // bit-ir summary.md: every count grouped (shapes in brackets are dimensions, not counts)
    const b = await cli(['lower', 'q.onnx', '--backend', 'bit-ir', '-o', 'bitir'], { cwd: d });
    expect(b.code, b.stderr).toBe(0);
    const summary = fs.readFileSync(path.join(d, 'bitir', 'summary.md'), 'utf8').replace(/\[[\d,]*\]/g, '[]');
    expect(summary).toMatch(/\| \d{1,3},\d{3}\/\d{1,3},\d{3}\/\d{1,3},\d{3} \|/); // the bit histogram
    expect(summary).not.toMatch(/(?<![\d,.])\d{4,}/);
    const md = fs.readFileSync(path.join(d, 'asic', 'report.md'), 'utf8');
    expect(md).toMatch(/fold \d{1,3}(,\d{3})* cycles per frame/);
    expect(md).not.toMatch(/fold \d{4,} cycles/);
  });
});
