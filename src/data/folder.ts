/**
 * Image folders in torchvision's ImageFolder layout: DIR/<class>/**\/<image>.{png,jpg,jpeg}.
 *
 * Classes are the subfolders of DIR sorted by name (code point order, as Python's sorted()),
 * or the lines of a classes file (line k is label k). Samples are ordered as torchvision's
 * make_dataset: class by class; within a class the folders of its tree sorted by path, and
 * the files of each folder sorted by name. Listing reads no image; decoding is image.ts'.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fail, ErrorCodes } from '../errors.js';
import type { Layout } from './dataset.js';
import { IMAGE_EXTENSIONS, UNSUPPORTED_IMAGE_EXTENSIONS, type ImagePreprocessing, type Size2, preprocessImage } from './image.js';
import { readFileChecked } from '../util/fs.js';

export interface ImageFolder {
  dir: string;
  /** Class names by label. */
  classNames: string[];
  /** One path per sample, in sample order. */
  files: string[];
  /** The label of each sample. */
  labels: Int32Array;
  /** The classes file, when the classes came from one. */
  classesFile?: string;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function readDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return fail(ErrorCodes.FILE_READ, `cannot read the folder ${dir}: ${(e as Error).message}`, { file: dir }, e);
  }
}

function isDir(p: string, d: fs.Dirent): boolean {
  if (d.isDirectory()) return true;
  if (!d.isSymbolicLink()) return false;
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The image files under a class folder, in torchvision's order. DATA_FORMAT for an image format that is not decoded. */
function classFiles(classDir: string): string[] {
  const folders: { dir: string; files: string[] }[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 64) fail(ErrorCodes.DATA_FORMAT, `${dir}: folders nested more than 64 deep (a symbolic link loop?)`, { file: dir });
    const files: string[] = [];
    for (const d of readDir(dir)) {
      if (d.name.startsWith('.')) continue;
      const p = path.join(dir, d.name);
      if (isDir(p, d)) {
        walk(p, depth + 1);
        continue;
      }
      const ext = path.extname(d.name).toLowerCase();
      if ((IMAGE_EXTENSIONS as readonly string[]).includes(ext)) files.push(d.name);
      else if ((UNSUPPORTED_IMAGE_EXTENSIONS as readonly string[]).includes(ext)) {
        fail(ErrorCodes.DATA_FORMAT, `${p}: ${ext} images are not read (PNG and JPEG only); convert it or move it out of the folder`, { file: p });
      }
    }
    folders.push({ dir, files: files.sort(byCodePoint) });
  };
  walk(classDir, 0);
  folders.sort((a, b) => byCodePoint(a.dir, b.dir));
  return folders.flatMap((f) => f.files.map((n) => path.join(f.dir, n)));
}

/** Reads a classes file: one class (subfolder) name per line; blank lines and surrounding spaces are ignored. */
export function readClassesFile(file: string): string[] {
  const text = readFileChecked(file).toString('utf8');
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (names.length === 0) fail(ErrorCodes.DATA_FORMAT, `${file}: the classes file names no class`, { file });
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const prev = seen.get(n);
    if (prev !== undefined) fail(ErrorCodes.DATA_FORMAT, `${file}: class '${n}' is listed twice (lines ${prev + 1} and ${i + 1})`, { file });
    seen.set(n, i);
  });
  return names;
}

/** Lists an image folder: classes, sample files and labels. Reads no image. */
export function listImageFolder(dir: string, classesFile?: string): ImageFolder {
  if (!fs.existsSync(dir)) fail(ErrorCodes.FILE_NOT_FOUND, `no such folder: ${dir}`, { file: dir });
  if (!fs.statSync(dir).isDirectory()) fail(ErrorCodes.DATA_FORMAT, `${dir} is a file; folder: needs a folder with one subfolder per class`, { file: dir });
  const subdirs = readDir(dir)
    .filter((d) => !d.name.startsWith('.') && isDir(path.join(dir, d.name), d))
    .map((d) => d.name)
    .sort(byCodePoint);
  if (subdirs.length === 0) {
    fail(ErrorCodes.DATA_FORMAT, `${dir}: no class subfolders (an image folder holds one subfolder per class, e.g. ${path.join(dir, 'cat', '0001.jpg')})`, {
      file: dir,
    });
  }
  let classNames = subdirs;
  if (classesFile !== undefined) {
    classNames = readClassesFile(classesFile);
    const known = new Set(classNames);
    const extra = subdirs.find((s) => !known.has(s));
    if (extra !== undefined) {
      fail(
        ErrorCodes.DATA_MISMATCH,
        `${path.join(dir, extra)}: class folder '${extra}' is not in the classes file ${classesFile} (${classNames.length} classes); its images would have no label`,
        { file: path.join(dir, extra) },
      );
    }
  }
  const present = new Set(subdirs);
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((name, label) => {
    if (!present.has(name)) return; // a listed class with no folder has no samples
    const cdir = path.join(dir, name);
    const list = classFiles(cdir);
    if (list.length === 0) {
      fail(ErrorCodes.DATA_FORMAT, `${cdir}: the class folder '${name}' holds no PNG or JPEG image (${IMAGE_EXTENSIONS.join(' ')})`, { file: cdir });
    }
    for (const f of list) {
      files.push(f);
      labels.push(label);
    }
  });
  return { dir, classNames: [...classNames], files, labels: Int32Array.from(labels), ...(classesFile !== undefined ? { classesFile } : {}) };
}

/** The geometry of a folder's samples under `prep`, read from its first image. */
export interface ImageGeometry {
  size: Size2;
  channels: number;
  /** [C,H,W] (NCHW) or [H,W,C] (NHWC). */
  sampleShape: number[];
  chw: boolean;
  /** The file that fixed the size (the first one). */
  first: string;
}

export function imageGeometry(first: string, prep: ImagePreprocessing, layout: Layout): ImageGeometry {
  const chw = layout !== 'NHWC';
  const s = preprocessImage(readFileChecked(first), first, prep, chw);
  const sampleShape = chw ? [s.channels, s.size.height, s.size.width] : [s.size.height, s.size.width, s.channels];
  return { size: s.size, channels: s.channels, sampleShape, chw, first };
}

/** Decodes samples `files` into `out` (uint8, one sample after the other), checking each against the geometry. */
export function decodeImagesInto(files: readonly string[], prep: ImagePreprocessing, geom: ImageGeometry, out: Uint8Array): void {
  const per = geom.sampleShape.reduce((a, b) => a * b, 1);
  const expect = { size: geom.size, from: geom.first };
  files.forEach((f, i) => {
    const s = preprocessImage(readFileChecked(f), f, prep, geom.chw, expect);
    out.set(s.data, i * per);
  });
}
