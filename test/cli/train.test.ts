import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, FMNIST_CNN, tmpDir } from './helpers.js';
import { main } from '../../src/cli/main.js';
import { encodeModel, loadModel } from '../../src/onnx/io.js';
import { readQuantRecord } from '../../src/quant/format.js';
import { FMNIST_NORMALIZATION, loadDataset, writeNpy } from '../../src/data/index.js';
import { trainFloat, type TrainLog } from '../../src/train/index.js';

// A quantized copy of the bundled CNN (W1.4) shared by the fine-tuning tests.
const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-cli-train-'));
const QMODEL = path.join(shared, 'cnn.hbnn.onnx');
afterAll(() => fs.rmSync(shared, { recursive: true, force: true }));
beforeAll(async () => {
  const r = await cli(['quantize', FMNIST_CNN, '--avg-bits', '1.4', '-o', QMODEL]);
  expect(r.code, r.stderr).toBe(0);
});

/** A folder with float.onnx and q.onnx. */
function workdir(): string {
  const d = tmpDir();
  fs.copyFileSync(FMNIST_CNN, path.join(d, 'float.onnx'));
  fs.copyFileSync(QMODEL, path.join(d, 'q.onnx'));
  return d;
}

const FAST = ['--train-data', 'fmnist-mini:train', '--normalize', 'fmnist', '--train-limit', '256', '--batch-size', '32', '--max-steps', '3', '--threads', '1'];

describe('train (float)', () => {
  it('writes the model trainFloat returns (same bytes) and the log', async () => {
    const d = workdir();
    const r = await cli(['train', 'float.onnx', ...FAST, '--lr', '0.005', '--log', 'log.json', '--json'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout) as { input: string; output: string; log: string; train: TrainLog };
    expect(j.output).toBe('float.trained.onnx');
    expect(j.log).toBe('log.json');
    expect(j.train.mode).toBe('float');
    expect(j.train.stopped).toBe('max-steps');
    expect(j.train.epochs[0]!.steps).toBe(3);
    expect(JSON.parse(fs.readFileSync(path.join(d, 'log.json'), 'utf8'))).toMatchObject({ mode: 'float', stopped: 'max-steps', data: { train: 'fmnist-mini:train', samples: 256 } });
    // The same training through the API gives the same model, byte for byte (one thread, same seed).
    const ds = loadDataset('fmnist-mini:train', { normalize: FMNIST_NORMALIZATION, limit: 256 });
    const direct = await trainFloat(loadModel(FMNIST_CNN), ds, { limit: 256, batchSize: 32, maxSteps: 3, threads: 1, lr: 0.005 });
    expect(Buffer.from(encodeModel(direct.model)).equals(fs.readFileSync(path.join(d, 'float.trained.onnx')))).toBe(true);
    expect(fs.readFileSync(path.join(d, 'float.onnx')).equals(fs.readFileSync(FMNIST_CNN))).toBe(true);
  });
});

describe('train --fine-tune', () => {
  it('fine-tunes a quantized model: per-epoch table, a quantized output', async () => {
    const d = workdir();
    const r = await cli(['train', 'q.onnx', '--fine-tune', '--latent-from', 'float.onnx', ...FAST, '--eval-data', 'fmnist-mini:test', '--eval-limit', '200', '-o', 'ft.onnx'], { cwd: d });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('q.onnx → ft.onnx');
    expect(lines[1]).toBe('fine-tuned on fmnist-mini:train (256 samples), evaluated on fmnist-mini:test (200 samples)');
    expect(lines[2]).toMatch(/^before: eval top-1 \d+\.\d\d%, top-5 \d+\.\d\d%$/);
    expect(r.stdout).toMatch(/^ {2}epoch +steps +loss +train top-1 +eval top-1 +eval top-5 +lr +time$/m);
    expect(r.stdout).toMatch(/^ +1 +3 +\d+\.\d{4} +\d+\.\d\d% +\d+\.\d\d% +\d+\.\d\d% +\S+ +.+$/m);
    expect(r.stdout).toMatch(/^stopped at --max-steps \(epoch 1, step 3 of 8\); kept the best epoch \(1, eval top-1 \d+\.\d\d%\); /m);
    const rec = readQuantRecord(loadModel(path.join(d, 'ft.onnx')))!;
    expect(rec.weights).toHaveLength(4);
    expect(rec.avgWeightBits).toBeCloseTo(1.4, 3);
  });
});

describe('train checkpoints', () => {
  it('--checkpoint-dir writes last.json; --resume continues from it', async () => {
    const d = workdir();
    const args = ['train', 'float.onnx', '--train-data', 'fmnist-mini:train', '--normalize', 'fmnist', '--train-limit', '64', '--batch-size', '32', '--threads', '1', '--checkpoint-dir', 'ck'];
    const first = await cli([...args, '--epochs', '1', '-o', 'a.onnx', '--json'], { cwd: d });
    expect(first.code, first.stderr).toBe(0);
    expect(fs.existsSync(path.join(d, 'ck', 'last.json'))).toBe(true);
    const again = await cli([...args, '--epochs', '2', '--resume', '-o', 'b.onnx', '--json'], { cwd: d });
    expect(again.code, again.stderr).toBe(0);
    const log = (JSON.parse(again.stdout) as { train: TrainLog }).train;
    expect(log.resumedFrom).toBe(path.join(d, 'ck', 'last.json'));
    expect(log.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  });
});

describe('train --max-steps then --resume', () => {
  it('with --freeze-bn-stats-after: stopped before and after the epoch that freezes, the resumed runs equal an uninterrupted one', async () => {
    const d = workdir();
    // 2 steps per epoch, 3 epochs, frozen from the second
    const base = ['train', 'q.onnx', '--fine-tune', '--train-data', 'fmnist-mini:train', '--normalize', 'fmnist', '--train-limit', '64', '--batch-size', '32', '--threads', '1', '--schedule', 'constant', '--epochs', '3', '--freeze-bn-stats-after', '1'];
    const straight = await cli([...base, '-o', 'straight.onnx', '--log', 'straight.json'], { cwd: d });
    expect(straight.code, straight.stderr).toBe(0);
    const slog = JSON.parse(fs.readFileSync(path.join(d, 'straight.json'), 'utf8')) as TrainLog;
    expect(slog.epochs.map((e) => e.bnStatsFrozen)).toEqual([false, true, true]);
    for (const steps of ['2', '3']) {
      const ck = `ck${steps}`;
      const stop = await cli([...base, '--max-steps', steps, '--checkpoint-dir', ck, '-o', `stopped${steps}.onnx`], { cwd: d });
      expect(stop.code, stop.stderr).toBe(0);
      const resumed = await cli([...base, '--checkpoint-dir', ck, '--resume', '-o', `resumed${steps}.onnx`, '--log', `resumed${steps}.json`], { cwd: d });
      expect(resumed.code, resumed.stderr).toBe(0);
      const rlog = JSON.parse(fs.readFileSync(path.join(d, `resumed${steps}.json`), 'utf8')) as TrainLog;
      expect(rlog.epochs.map((e) => e.bnStatsFrozen)).toEqual([false, true, true]);
      expect(fs.readFileSync(path.join(d, `resumed${steps}.onnx`)).equals(fs.readFileSync(path.join(d, 'straight.onnx'))), `stopped after ${steps} steps`).toBe(true);
    }
  });

  it('the checkpoint records the step inside the epoch; the resumed run finishes that epoch and equals an uninterrupted run', async () => {
    const d = workdir();
    // 128 samples in batches of 32: 4 steps per epoch; a constant learning rate, so the
    // schedule does not depend on --max-steps and the runs are comparable byte for byte.
    const base = ['train', 'float.onnx', '--train-data', 'fmnist-mini:train', '--normalize', 'fmnist', '--train-limit', '128', '--batch-size', '32', '--threads', '1', '--schedule', 'constant', '--epochs', '2'];
    const stop = await cli([...base, '--max-steps', '5', '--checkpoint-dir', 'ck', '-o', 'stopped.onnx'], { cwd: d });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toMatch(/^stopped at --max-steps \(epoch 2, step 1 of 4\); kept the last parameters; /m);
    const meta = JSON.parse(fs.readFileSync(path.join(d, 'ck', 'last.json'), 'utf8')) as { epoch: number; stepInEpoch: number; globalStep: number; epochs: unknown[]; partial: { steps: number } };
    expect({ epoch: meta.epoch, stepInEpoch: meta.stepInEpoch, globalStep: meta.globalStep, epochs: meta.epochs.length, partialSteps: meta.partial.steps }).toEqual({
      epoch: 1, // 0-based: the second epoch
      stepInEpoch: 1,
      globalStep: 5,
      epochs: 1,
      partialSteps: 1,
    });
    const resumed = await cli([...base, '--checkpoint-dir', 'ck', '--resume', '-o', 'resumed.onnx', '--json'], { cwd: d });
    expect(resumed.code, resumed.stderr).toBe(0);
    const log = (JSON.parse(resumed.stdout) as { train: TrainLog }).train;
    expect(log.stopped).toBe('completed');
    expect(log.epochs.map((e) => [e.epoch, e.steps, e.samples])).toEqual([
      [1, 4, 128],
      [2, 4, 128],
    ]);
    const straight = await cli([...base, '-o', 'straight.onnx'], { cwd: d });
    expect(straight.code, straight.stderr).toBe(0);
    expect(fs.readFileSync(path.join(d, 'resumed.onnx')).equals(fs.readFileSync(path.join(d, 'straight.onnx')))).toBe(true);
  });
});

describe('quantize --fine-tune interrupted (Ctrl-C)', () => {
  it('exit 130; the quantized model is written and the printed train command resumes from the checkpoint', async () => {
    const d = workdir();
    let err = '';
    let sent = false;
    const quantize = ['quantize', 'float.onnx', '--fine-tune', '--train-data', 'fmnist-mini:train', '--train-limit', '256', '--batch-size', '32', '--threads', '1', '--normalize', 'fmnist', '--checkpoint-dir', 'ck', '-o', 'q.onnx'];
    const code = await main(['node', 'hbnn-onnx', ...quantize], {
      cwd: d,
      stderrIsTTY: true,
      stdout: () => {},
      stderr: (t) => {
        err += t;
        // the trainer listens for SIGINT; the first step's progress line triggers it
        if (!sent && t.includes(', step 1/8')) {
          sent = true;
          process.emit('SIGINT', 'SIGINT');
        }
      },
    });
    expect(sent).toBe(true);
    expect(code, err).toBe(130);
    const m = /hbnn-onnx: error\[interrupted\]: training interrupted \(Ctrl-C\) at epoch 1, step 1 of 8\. Saved a checkpoint in ck\/last\.json, the quantized model as of the last step in q\.onnx \(not a finished training\)\. Resume with:\n {2}hbnn-onnx (.*)\n$/.exec(err);
    expect(m, err).not.toBeNull();
    expect(m![1]).toBe('train q.onnx --fine-tune --normalize fmnist --train-data fmnist-mini:train --batch-size 32 --threads 1 --train-limit 256 --checkpoint-dir ck --resume');
    const resumed = await cli([...m![1]!.split(' '), '--json'], { cwd: d });
    expect(resumed.code, resumed.stderr).toBe(0);
    const log = (JSON.parse(resumed.stdout) as { train: TrainLog }).train;
    expect(log.stopped).toBe('completed');
    expect(log.epochs.map((e) => e.steps)).toEqual([8]);
  });
});

describe('train progress on a terminal', () => {
  it('counts epochs and steps from 1 and never past their totals; counts have thousands separators', async () => {
    const d = workdir();
    // 256 samples in batches of 32: 8 steps per epoch, 2 epochs
    const r = await cli(['train', 'float.onnx', ...FAST.filter((a, i, all) => a !== '--max-steps' && all[i - 1] !== '--max-steps'), '--epochs', '2'], { cwd: d, stderrIsTTY: true });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split(/\r\x1b\[2K/).filter((l) => l !== '');
    expect(lines).toContain('training: 104,651 parameters, 256 samples, 8 steps per epoch'); // the trainable ones
    const steps = lines.filter((l) => l.startsWith('epoch ') && l.includes(', step ')).map((l) => /^epoch (\d+)\/(\d+), step (\d+)\/(\d+):/.exec(l)!.slice(1).map(Number));
    expect(steps).toHaveLength(16);
    expect(steps[0]).toEqual([1, 2, 1, 8]);
    expect(steps[15]).toEqual([2, 2, 8, 8]);
    for (const [e, es, s, ss] of steps) {
      expect(e).toBeLessThanOrEqual(es!);
      expect(s).toBeLessThanOrEqual(ss!);
    }
  });
});

describe('train errors: nothing written', () => {
  const cases: [string, string[], number, string][] = [
    ['--lr 0', ['float.onnx', ...FAST, '--lr', '0'], 2, 'invalid-option'],
    ['--keep best without --eval-data', ['float.onnx', ...FAST, '--keep', 'best'], 2, 'invalid-option'],
    ['--gamma without the step schedule', ['float.onnx', ...FAST, '--gamma', '0.5'], 2, 'invalid-option'],
    ['--freeze-bit-maps-after without --fine-tune', ['float.onnx', ...FAST, '--freeze-bit-maps-after', '0'], 2, 'invalid-option'],
    ['--latent-from without --fine-tune', ['float.onnx', ...FAST, '--latent-from', 'float.onnx'], 2, 'invalid-option'],
    ['--bit-map-every without --fine-tune', ['float.onnx', ...FAST, '--bit-map-every', '4'], 2, 'invalid-option'],
    ['--bit-map-every 0', ['q.onnx', '--fine-tune', ...FAST, '--bit-map-every', '0'], 2, 'invalid-option'],
    ['a quantized model without --fine-tune', ['q.onnx', ...FAST], 2, 'invalid-option'],
    ['--fine-tune on a float model', ['float.onnx', '--fine-tune', ...FAST], 4, 'not-quantized'],
    ['a missing training folder', ['float.onnx', ...FAST, '--train-data', 'no/such/dir'], 3, 'file-not-found'],
    ['the output is the input', ['float.onnx', ...FAST, '-o', 'float.onnx'], 7, 'output-would-overwrite-input'],
    ['the output is the latent model', ['q.onnx', '--fine-tune', ...FAST, '--latent-from', 'float.onnx', '-o', 'float.onnx'], 7, 'output-would-overwrite-input'],
  ];
  for (const [what, args, exit, code] of cases) {
    it(`${what}: exit ${exit}, ${code}`, async () => {
      const d = workdir();
      const r = await cli(['train', ...args], { cwd: d });
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^hbnn-onnx: error\\[${code}\\]: `));
      expect(fs.readdirSync(d).sort()).toEqual(['float.onnx', 'q.onnx']);
      expect(fs.readFileSync(path.join(d, 'float.onnx')).equals(fs.readFileSync(FMNIST_CNN))).toBe(true);
    });
  }

  it('training data that does not fit the model: exit 3, data-mismatch', async () => {
    const d = workdir();
    writeNpy(path.join(d, 'x.npy'), { dtype: 'float32', shape: [8, 3, 32, 32], data: new Float32Array(8 * 3 * 32 * 32) });
    writeNpy(path.join(d, 'y.npy'), { dtype: 'int64', shape: [8], data: new BigInt64Array(8) });
    const r = await cli(['train', 'float.onnx', '--train-data', 'npy:x.npy,y.npy'], { cwd: d });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^hbnn-onnx: error\[data-mismatch\]: /);
    expect(fs.readdirSync(d).sort()).toEqual(['float.onnx', 'q.onnx', 'x.npy', 'y.npy']);
  });

  it('--no-phase-layout trains without the phase layout: the log records it, the loss matches the default run', async () => {
    const d = workdir();
    const run = async (extra: string[], log: string) => {
      const r = await cli(['train', 'float.onnx', ...FAST, '--log', log, '-o', `${log}.onnx`, ...extra], { cwd: d });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(fs.readFileSync(path.join(d, log), 'utf8')) as TrainLog & { options: Record<string, unknown> };
    };
    const plain = await run(['--no-phase-layout'], 'plain.json');
    const phase = await run([], 'phase.json');
    expect(plain.options['phaseLayout']).toBe(false);
    expect(phase.options).not.toHaveProperty('phaseLayout');
    const [a, b] = [plain.epochs[0]!.trainLoss, phase.epochs[0]!.trainLoss];
    expect(Math.abs(a - b)).toBeLessThan(1e-4 * Math.abs(a));
    // a training flag: quantize refuses it without --fine-tune
    const q = await cli(['quantize', 'float.onnx', '--avg-bits', '1.4', '--no-phase-layout', '-o', 'x.onnx'], { cwd: d });
    expect(q.code).toBe(2);
    expect(q.stderr).toContain('--no-phase-layout needs --fine-tune');
  });

  it('--freeze-bn-stats: BatchNorm running statistics left as they were (they change without it), gamma and beta trained, the log records it', async () => {
    const d = workdir();
    const run = async (extra: string[], name: string) => {
      const r = await cli(['train', 'q.onnx', '--fine-tune', ...FAST, '--log', `${name}.json`, '-o', `${name}.onnx`, ...extra], { cwd: d });
      expect(r.code, r.stderr).toBe(0);
      const log = JSON.parse(fs.readFileSync(path.join(d, `${name}.json`), 'utf8')) as TrainLog & { options: Record<string, unknown> };
      return { log, model: loadModel(path.join(d, `${name}.onnx`)) };
    };
    const bnInputs = (m: ReturnType<typeof loadModel>, which: number[]): Float32Array[] =>
      m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').flatMap((n) => which.map((i) => n.inputs[i]!.constValue!.toFloat32()));
    const q = loadModel(path.join(d, 'q.onnx'));
    expect(bnInputs(q, [3]).length).toBeGreaterThan(0);
    const frozen = await run(['--freeze-bn-stats'], 'frozen');
    const batch = await run([], 'batch');
    expect(frozen.log.options['freezeBatchNormStats']).toBe(true);
    expect(batch.log.options).not.toHaveProperty('freezeBatchNormStats');
    const same = (a: Float32Array[], b: Float32Array[]): boolean => a.length === b.length && a.every((t, i) => Buffer.from(t.buffer, t.byteOffset, t.byteLength).equals(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength)));
    expect(same(bnInputs(frozen.model, [3, 4]), bnInputs(q, [3, 4]))).toBe(true);
    expect(same(bnInputs(batch.model, [3, 4]), bnInputs(q, [3, 4]))).toBe(false);
    // gamma and beta moved
    expect(same(bnInputs(frozen.model, [1, 2]), bnInputs(q, [1, 2]))).toBe(false);
    expect(Number.isFinite(frozen.log.epochs[0]!.trainLoss)).toBe(true);
    expect(frozen.log.epochs[0]!.trainLoss).not.toBe(batch.log.epochs[0]!.trainLoss);
  });

  it('--freeze-bn-stats-after E: training mode before epoch E (running statistics as a run stopped there leaves them), frozen from it (unchanged, gamma and beta still trained); 0 is --freeze-bn-stats; one worker and two', async () => {
    const d = workdir();
    // 2 steps an epoch and a constant learning rate: epoch 1 is the same in a 1- and a 2-epoch run
    const TWO = ['--train-data', 'fmnist-mini:train', '--normalize', 'fmnist', '--train-limit', '64', '--batch-size', '32', '--threads', '1', '--schedule', 'constant'];
    const run = async (extra: string[], name: string) => {
      const r = await cli(['train', 'q.onnx', '--fine-tune', ...TWO, '--log', `${name}.json`, '-o', `${name}.onnx`, ...extra], { cwd: d });
      expect(r.code, r.stderr).toBe(0);
      const log = JSON.parse(fs.readFileSync(path.join(d, `${name}.json`), 'utf8')) as TrainLog & { options: Record<string, unknown> };
      return { log, model: loadModel(path.join(d, `${name}.onnx`)), bytes: fs.readFileSync(path.join(d, `${name}.onnx`)) };
    };
    const bnInputs = (m: ReturnType<typeof loadModel>, which: number[]): Float32Array[] =>
      m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').flatMap((n) => which.map((i) => n.inputs[i]!.constValue!.toFloat32()));
    const same = (a: Float32Array[], b: Float32Array[]): boolean => a.length === b.length && a.every((t, i) => Buffer.from(t.buffer, t.byteOffset, t.byteLength).equals(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength)));
    const q = loadModel(path.join(d, 'q.onnx'));
    for (const workers of ['1', '2']) {
      const w = ['--workers', workers];
      const one = await run([...w, '--epochs', '1'], `one${workers}`);
      const late = await run([...w, '--epochs', '2', '--freeze-bn-stats-after', '1'], `late${workers}`);
      const all = await run([...w, '--epochs', '2'], `all${workers}`);
      // epoch 1 in training mode moved the running statistics; epoch 2 left them where epoch 1 did
      expect(same(bnInputs(one.model, [3, 4]), bnInputs(q, [3, 4]))).toBe(false);
      expect(same(bnInputs(late.model, [3, 4]), bnInputs(one.model, [3, 4]))).toBe(true);
      expect(same(bnInputs(all.model, [3, 4]), bnInputs(one.model, [3, 4]))).toBe(false);
      // gamma and beta trained on in epoch 2
      expect(same(bnInputs(late.model, [1, 2]), bnInputs(one.model, [1, 2]))).toBe(false);
      expect(late.log.options['freezeBatchNormStatsAfter']).toBe(1);
      expect(late.log.epochs.map((e) => e.bnStatsFrozen)).toEqual([false, true]);
      expect(late.log.epochs.map((e) => e.trainLoss).every(Number.isFinite)).toBe(true);
      expect(all.log.epochs[0]!.bnStatsFrozen).toBeUndefined();
    }
    // 0: frozen from the start, the same model as --freeze-bn-stats
    const zero = await run(['--epochs', '2', '--freeze-bn-stats-after', '0'], 'zero');
    const frozen = await run(['--epochs', '2', '--freeze-bn-stats'], 'frozen');
    expect(zero.bytes.equals(frozen.bytes)).toBe(true);
    expect(zero.log.epochs.map((e) => e.bnStatsFrozen)).toEqual([true, true]);
    // bad values and the two flags together: invalid-option, nothing written
    for (const [extra, msg] of [
      [['--freeze-bn-stats-after', '-1'], '--freeze-bn-stats-after'],
      [['--freeze-bn-stats-after', '1.5'], '--freeze-bn-stats-after'],
      [['--freeze-bn-stats-after', '1', '--freeze-bn-stats'], 'give one of them'],
    ] as const) {
      const r = await cli(['train', 'q.onnx', '--fine-tune', ...TWO, '-o', 'bad.onnx', ...extra], { cwd: d });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/error\[invalid-option\]/);
      expect(r.stderr).toContain(msg);
      expect(fs.existsSync(path.join(d, 'bad.onnx'))).toBe(false);
    }
  });

  it('--help lists the training options', async () => {
    const r = await cli(['train', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--fine-tune', '--latent-from <model>', '--train-data <spec>', '--eval-data <spec>', '--epochs <n>', '--batch-size <n>', '--lr <x>', '--optimizer <name>', '--checkpoint-dir <dir>', '--resume [checkpoint]', '--log <file>', '--no-phase-layout', '--freeze-bn-stats', '--freeze-bn-stats-after <epoch>']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('Examples:\n  $ hbnn-onnx train model.hbnn.onnx --fine-tune');
  });
});
