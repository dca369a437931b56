/**
 * File output discipline: every file the toolkit writes goes through here.
 * Writes are atomic (temp file in the same folder, then rename) and never replace an input.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';

/** Throws OUTPUT_WOULD_OVERWRITE_INPUT when `output` is the same file as any of `inputs`. */
export function assertNotInput(output: string, inputs: readonly string[]): void {
  const out = path.resolve(output);
  for (const input of inputs) {
    const inp = path.resolve(input);
    let same = inp === out;
    if (!same && fs.existsSync(out) && fs.existsSync(inp)) {
      const a = fs.statSync(out);
      const b = fs.statSync(inp);
      same = a.ino === b.ino && a.dev === b.dev;
    }
    if (same) {
      fail(ErrorCodes.OUTPUT_WOULD_OVERWRITE_INPUT, `refusing to overwrite the input file ${input}; choose another output path`, {
        file: output,
      });
    }
  }
}

/**
 * Writes `data` to `file` atomically: a temp file beside it, fsync, rename (the temp file is
 * removed on failure). `data` may be a list of chunks, written in order without joining them.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const dir = path.dirname(path.resolve(file));
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    fail(ErrorCodes.FILE_WRITE, `cannot create folder ${dir}: ${(e as Error).message}`, { file });
  }
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
      for (const c of chunks) {
        let off = 0;
        while (off < c.byteLength) off += fs.writeSync(fd, c, off, c.byteLength - off);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* nothing more to clean */
    }
    fail(ErrorCodes.FILE_WRITE, `cannot write ${file}: ${(e as Error).message}`, { file });
  }
}

/**
 * Writes several files into `outDir` as one unit: all go to a temp folder first, which
 * then replaces `outDir`'s entries by rename. A failure leaves `outDir` as it was.
 */
export function writeFilesAtomic(outDir: string, files: ReadonlyMap<string, Uint8Array | string>): void {
  const root = path.resolve(outDir);
  fs.mkdirSync(root, { recursive: true });
  const staging = fs.mkdtempSync(path.join(root, '.staging-'));
  try {
    for (const [rel, data] of files) {
      const target = path.resolve(staging, rel);
      if (!target.startsWith(staging + path.sep)) {
        fail(ErrorCodes.FILE_WRITE, `output path ${rel} escapes the output folder`, { file: rel });
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, data);
    }
    for (const rel of files.keys()) {
      const dest = path.join(root, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(path.join(staging, rel), dest);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Reads a whole file, mapping errors to typed ones. */
export function readFileChecked(file: string): Buffer {
  if (!fs.existsSync(file)) fail(ErrorCodes.FILE_NOT_FOUND, `no such file: ${file}`, { file });
  try {
    return fs.readFileSync(file);
  } catch (e) {
    return fail(ErrorCodes.FILE_READ, `cannot read ${file}: ${(e as Error).message}`, { file });
  }
}
