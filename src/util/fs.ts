/**
 * File output discipline: every file the toolkit writes goes through here.
 * Writes are atomic (temp file in the same folder, then rename) and never replace an input.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes, HbnnError } from '../errors.js';

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

/** An output a command will write: checked by `preflightOutputs` before any work. */
export interface PlannedOutput {
  /** The path (resolved against the working folder by the caller). */
  path: string;
  /** `file`: one file written atomically; `folder`: a folder that files are written into. */
  kind: 'file' | 'folder';
  /** The flag that names it (`-o`, `--report`, `--checkpoint-dir`), for messages. */
  option?: string;
}

/**
 * The output preflight every writing command runs before any work (loading, training,
 * lowering), so an output that cannot be written costs nothing and loses nothing. For each
 * planned output it checks, without creating anything:
 * - it is not one of `inputs` (OUTPUT_WOULD_OVERWRITE_INPUT), and no two outputs are the same
 *   path (INVALID_OPTION);
 * - a file output is not an existing folder, a folder output not an existing file;
 * - the folder it goes into can be created: the nearest existing ancestor is a folder (not
 *   a file in the way) and it, or the folder itself when it exists, is writable.
 * Every failure other than the two above is FILE_WRITE (exit 7), naming the flag. `show`
 * turns a path into the text messages use (the CLI shows paths relative to its folder).
 */
export function preflightOutputs(outputs: readonly PlannedOutput[], inputs: readonly string[], show: (file: string) => string = (f) => f): void {
  const seen = new Map<string, PlannedOutput>();
  for (const out of outputs) {
    const abs = path.resolve(out.path);
    const shown = show(abs);
    const what = out.option !== undefined ? `${out.option} ${shown}` : shown;
    const context = { file: out.path, ...(out.option !== undefined ? { option: out.option } : {}) };
    const cannot: (why: string) => never = (why) =>
      fail(ErrorCodes.FILE_WRITE, `cannot write ${what}: ${why}; nothing was done`, context);
    assertNotInput(abs, inputs);
    const twin = seen.get(abs);
    if (twin !== undefined) {
      fail(ErrorCodes.INVALID_OPTION, `${twin.option ?? twin.path} and ${out.option ?? out.path} name the same ${out.kind} (${shown})`, context);
    }
    seen.set(abs, out);
    const st = statOrUndefined(abs);
    if (st !== undefined) {
      if (out.kind === 'file' && st.isDirectory()) cannot('it is a folder');
      if (out.kind === 'folder' && !st.isDirectory()) cannot('it exists and is not a folder');
    }
    const folder = out.kind === 'file' ? path.dirname(abs) : abs;
    // The nearest existing ancestor: the folder itself, or where its creation would start.
    let existing = folder;
    let stE = statOrUndefined(existing);
    while (stE === undefined && path.dirname(existing) !== existing) {
      existing = path.dirname(existing);
      stE = statOrUndefined(existing);
    }
    if (stE === undefined) cannot(`no part of ${show(folder)} exists`);
    if (!stE.isDirectory()) {
      cannot(existing === folder ? `${show(existing)} is a file, not a folder` : `${show(existing)} is a file, so the folder ${show(folder)} cannot be created`);
    }
    try {
      fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      cannot(`the folder ${show(existing)} is not writable (${code})`);
    }
  }
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
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
  let staging: string;
  try {
    fs.mkdirSync(root, { recursive: true });
    staging = fs.mkdtempSync(path.join(root, '.staging-'));
  } catch (e) {
    return fail(ErrorCodes.FILE_WRITE, `cannot write into folder ${outDir}: ${(e as Error).message}`, { file: outDir }, e);
  }
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
  } catch (e) {
    if (e instanceof HbnnError) throw e;
    fail(ErrorCodes.FILE_WRITE, `cannot write into folder ${outDir}: ${(e as Error).message}`, { file: outDir }, e);
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
