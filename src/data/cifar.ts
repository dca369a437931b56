/**
 * CIFAR-10 / CIFAR-100 binary version (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * CIFAR-10: `data_batch_1.bin` … `data_batch_5.bin` (train) and `test_batch.bin` (test), each
 * a run of 3073-byte records: one label byte (0..9), then 1024 red, 1024 green and 1024 blue
 * bytes of a 32×32 image in row-major order — a [3,32,32] CHW sample as stored.
 * CIFAR-100: `train.bin` and `test.bin`, 3074-byte records: coarse label (0..19), fine label
 * (0..99), then the same 3072 pixel bytes.
 *
 * Readers take whole records from file offsets, so a range of samples can be read without the
 * rest (streamed loading); writers exist for tests and conversions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatShape } from './ndarray.js';

export type CifarVariant = 10 | 100;
export type CifarSplit = 'train' | 'test';
/** Which CIFAR-100 label: the 100 fine classes (default) or the 20 coarse superclasses. */
export type CifarLabel = 'fine' | 'coarse';

export const CIFAR_PIXELS = 3 * 32 * 32;
export const CIFAR_SAMPLE_SHAPE: readonly number[] = Object.freeze([3, 32, 32]);

export function cifarRecordBytes(variant: CifarVariant): number {
  return variant === 10 ? 1 + CIFAR_PIXELS : 2 + CIFAR_PIXELS;
}

export function cifarClassCount(variant: CifarVariant, label: CifarLabel = 'fine'): number {
  return variant === 10 ? 10 : label === 'coarse' ? 20 : 100;
}

/** The batch file names of a split, in sample order. */
export function cifarFileNames(variant: CifarVariant, split: CifarSplit): string[] {
  if (variant === 100) return [split === 'train' ? 'train.bin' : 'test.bin'];
  return split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
}

const EXTRACTED: Record<CifarVariant, string> = { 10: 'cifar-10-batches-bin', 100: 'cifar-100-binary' };

/** The folder holding the batch files: DIR itself, or DIR/cifar-10-batches-bin (cifar-100-binary) as the archive extracts. */
export function cifarDir(dir: string, variant: CifarVariant, split: CifarSplit): string {
  if (!fs.existsSync(dir)) fail(ErrorCodes.FILE_NOT_FOUND, `no such folder: ${dir}`, { file: dir });
  const first = cifarFileNames(variant, split)[0]!;
  if (fs.existsSync(path.join(dir, first))) return dir;
  const nested = path.join(dir, EXTRACTED[variant]);
  if (fs.existsSync(path.join(nested, first))) return nested;
  return dir;
}

/** A CIFAR split opened for reading ranges of records. */
export interface CifarSource {
  variant: CifarVariant;
  label: CifarLabel;
  files: string[];
  /** Records per file. */
  counts: number[];
  count: number;
  numClasses: number;
  /** Class names from batches.meta.txt / fine_label_names.txt / coarse_label_names.txt when present. */
  classNames?: string[];
}

export function openCifar(dir: string, variant: CifarVariant, split: CifarSplit, label: CifarLabel = 'fine'): CifarSource {
  const folder = cifarDir(dir, variant, split);
  const files = cifarFileNames(variant, split).map((n) => path.join(folder, n));
  const rec = cifarRecordBytes(variant);
  const counts = files.map((f) => {
    let size: number;
    try {
      size = fs.statSync(f).size;
    } catch {
      return fail(
        ErrorCodes.FILE_NOT_FOUND,
        `no such file: ${f} (cifar${variant}:${dir}:${split} needs ${cifarFileNames(variant, split).join(', ')}, the binary version of CIFAR-${variant})`,
        { file: f },
      );
    }
    if (size === 0 || size % rec !== 0) {
      fail(
        ErrorCodes.DATA_FORMAT,
        `${f}: ${size} bytes is not a whole number of ${rec}-byte CIFAR-${variant} records` + (size % cifarRecordBytes(variant === 10 ? 100 : 10) === 0 && size > 0 ? ` (it looks like CIFAR-${variant === 10 ? 100 : 10}: use cifar${variant === 10 ? 100 : 10}:)` : ''),
        { file: f, bytes: size },
      );
    }
    return size / rec;
  });
  const namesFile = path.join(folder, variant === 10 ? 'batches.meta.txt' : `${label}_label_names.txt`);
  const numClasses = cifarClassCount(variant, label);
  const out: CifarSource = { variant, label, files, counts, count: counts.reduce((a, b) => a + b, 0), numClasses };
  if (fs.existsSync(namesFile)) {
    const names = fs
      .readFileSync(namesFile, 'utf8')
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (names.length === numClasses) out.classNames = names;
  }
  return out;
}

/**
 * Reads records [start, start + n) into `images` (n × 3072 uint8, CHW) and `labels`.
 * DATA_FORMAT naming the file and record for a label outside the variant's classes.
 */
export function readCifarRange(src: CifarSource, start: number, n: number, images: Uint8Array, labels: Int32Array): void {
  const rec = cifarRecordBytes(src.variant);
  const skip = src.variant === 100 ? 2 : 1;
  const labelAt = src.variant === 100 && src.label === 'fine' ? 1 : 0;
  let done = 0;
  let base = 0;
  for (let fi = 0; fi < src.files.length && done < n; fi++) {
    const c = src.counts[fi]!;
    const from = start + done - base;
    if (from >= c) {
      base += c;
      continue;
    }
    const take = Math.min(c - from, n - done);
    const file = src.files[fi]!;
    const buf = Buffer.alloc(take * rec);
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'r');
      let got = 0;
      while (got < buf.length) {
        const r = fs.readSync(fd, buf, got, buf.length - got, from * rec + got);
        if (r === 0) break;
        got += r;
      }
      if (got !== buf.length) throw new Error(`short read (${got} of ${buf.length} bytes)`);
    } catch (e) {
      fail(ErrorCodes.FILE_READ, `cannot read ${file}: ${(e as Error).message}`, { file }, e);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    for (let i = 0; i < take; i++) {
      const l = buf[i * rec + labelAt]!;
      if (l >= src.numClasses) {
        fail(
          ErrorCodes.DATA_FORMAT,
          `${file}: record ${from + i} has ${src.variant === 100 ? `${src.label} ` : ''}label ${l}, outside CIFAR-${src.variant}'s 0..${src.numClasses - 1}`,
          { file, record: from + i },
        );
      }
      labels[done + i] = l;
      images.set(buf.subarray(i * rec + skip, (i + 1) * rec), (done + i) * CIFAR_PIXELS);
    }
    done += take;
    base += c;
  }
  if (done !== n) fail(ErrorCodes.INTERNAL, `CIFAR range ${start}+${n} outside ${src.count} records`);
}

/**
 * Encodes samples as a CIFAR batch file. `images` is n × 3072 uint8 (CHW); `labels` the
 * labels (CIFAR-100: fine labels, with `coarse` the coarse ones, default 0).
 */
export function encodeCifar(variant: CifarVariant, images: Uint8Array, labels: ArrayLike<number>, coarse?: ArrayLike<number>): Uint8Array {
  const n = labels.length;
  if (images.length !== n * CIFAR_PIXELS) {
    fail(ErrorCodes.DATA_MISMATCH, `CIFAR images must be ${n} × ${formatShape([...CIFAR_SAMPLE_SHAPE])} = ${n * CIFAR_PIXELS} bytes, got ${images.length}`);
  }
  const rec = cifarRecordBytes(variant);
  const out = new Uint8Array(n * rec);
  const classes = cifarClassCount(variant);
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= classes) fail(ErrorCodes.DATA_MISMATCH, `label ${l} of sample ${i} is outside CIFAR-${variant}'s 0..${classes - 1}`);
    if (variant === 100) {
      const c = coarse?.[i] ?? 0;
      if (!Number.isInteger(c) || c < 0 || c >= 20) fail(ErrorCodes.DATA_MISMATCH, `coarse label ${c} of sample ${i} is outside 0..19`);
      out[i * rec] = c;
      out[i * rec + 1] = l;
    } else out[i * rec] = l;
    out.set(images.subarray(i * CIFAR_PIXELS, (i + 1) * CIFAR_PIXELS), i * rec + (rec - CIFAR_PIXELS));
  }
  return out;
}

/** Writes a CIFAR batch file atomically (see encodeCifar). */
export function writeCifar(file: string, variant: CifarVariant, images: Uint8Array, labels: ArrayLike<number>, coarse?: ArrayLike<number>): void {
  writeFileAtomic(file, encodeCifar(variant, images, labels, coarse));
}
