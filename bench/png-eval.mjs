/**
 * Issue 15: `eval` on the whole Fashion-MNIST test set written as PNG files (folder:DIR, the
 * torchvision ImageFolder layout, one subfolder per class) gives the same accuracy as
 * `fmnist:test` (Debian's dataset-fashion-mnist), class by class.
 *
 *   npm run bench:png-eval [-- --model fixtures/models/fmnist-cnn.onnx --limit 10000 --decode-workers 2]
 *
 * Writes the PNGs with pngjs (the library the loader decodes them with) into a temporary
 * folder that is removed at the end. Exit status 1 when the two evaluations differ.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { lib, ROOT } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const model = path.resolve(ROOT, opt('model', 'fixtures/models/fmnist-cnn.onnx'));
const limit = Number(opt('limit', '10000'));
const decodeWorkers = opt('decode-workers', '2');
const fmnistDir = process.env.HBNN_FMNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

const { PNG } = createRequire(import.meta.url)('pngjs');
const images = lib.readIdx(path.join(fmnistDir, 't10k-images-idx3-ubyte.gz'));
const labels = lib.readIdx(path.join(fmnistDir, 't10k-labels-idx1-ubyte.gz'));
const count = Math.min(limit, labels.data.length);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hbnn-png-eval-'));
try {
  let t = performance.now();
  for (let i = 0; i < count; i++) {
    const png = new PNG({ width: 28, height: 28 });
    for (let p = 0; p < 784; p++) {
      const v = images.data[i * 784 + p];
      png.data[4 * p] = png.data[4 * p + 1] = png.data[4 * p + 2] = v;
      png.data[4 * p + 3] = 255;
    }
    const cls = path.join(dir, String(labels.data[i]));
    fs.mkdirSync(cls, { recursive: true });
    fs.writeFileSync(path.join(cls, `${String(i).padStart(5, '0')}.png`), PNG.sync.write(png, { colorType: 0 }));
  }
  console.log(`wrote ${count} PNG files in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const evalJson = (data, extra) => {
    t = performance.now();
    const out = execFileSync(process.execPath, [path.join(ROOT, 'bin/hbnn-onnx.js'), 'eval', model, '--data', data, ...extra, '--json'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const r = JSON.parse(out);
    console.log(`${data.padEnd(28)} samples ${r.samples}  top-1 ${(100 * r.top1).toFixed(2)}%  top-5 ${(100 * r.top5).toFixed(2)}%  (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    return r;
  };
  const ref = evalJson('fmnist:test', ['--limit', String(count), '--normalize', 'fmnist']);
  const png = evalJson(`folder:${dir}:fmnist`, ['--decode-workers', decodeWorkers]);
  const perClass = (r) => JSON.stringify(r.perClass.map(({ cls, samples, accuracy }) => [cls, samples, accuracy]));
  const same = ref.samples === png.samples && ref.top1 === png.top1 && ref.top5 === png.top5 && perClass(ref) === perClass(png);
  console.log(same ? 'PASS: same samples, top-1, top-5 and per-class accuracy' : 'FAIL: the PNG folder and fmnist:test differ');
  process.exitCode = same ? 0 : 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
