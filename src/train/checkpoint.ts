/**
 * Checkpoints: a JSON file (state, options, log so far, tensor table) and a binary file with
 * the tensors (latent parameters, optimizer buffers, BatchNorm running statistics, frozen
 * bit maps). The binary is written first under a name unique to the step, then the JSON
 * atomically (src/util/fs.ts), then older binaries of the same checkpoint are removed: a
 * crash at any point leaves a JSON that names a complete binary (its SHA-256 is checked
 * on load).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { writeFileAtomic, readFileChecked } from '../util/fs.js';
import { fail, ErrorCodes } from '../errors.js';
import type { EpochRecord } from './types.js';

export const CHECKPOINT_FORMAT = 'hbnn-onnx-checkpoint/1';

export type TensorRole = 'param' | 'slot' | 'bn-mean' | 'bn-var' | 'bitmap';

export interface CheckpointTensor {
  role: TensorRole;
  name: string;
  /** Optimizer slot ('momentum', 'm', 'v') for role 'slot'. */
  slot?: string;
  dtype: 'float32' | 'uint8';
  dims: number[];
  offset: number;
  bytes: number;
}

/** Running sums of an epoch in progress. */
export interface PartialEpoch {
  steps: number;
  samples: number;
  lossSum: number;
  correct: number;
  ortMs: number;
  jsMs: number;
  ms: number;
  lr: number;
}

/** Everything but the tensors. */
export interface CheckpointState {
  mode: 'fine-tune' | 'float';
  /** Identifies the parameter set; a resume into a different model is refused. */
  fingerprint: string;
  /** Next epoch to run (0-based) and the step within it to continue from. */
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  seed: number;
  rng: number;
  optimizer: { kind: string; t: number };
  bitMapsFrozen: boolean;
  best: { epoch: number; top1: number } | null;
  /** Evaluation of the model before training, when there was one. */
  before?: { evalTop1: number; evalTop5: number };
  epochs: EpochRecord[];
  /** Sums of the epoch in progress (a mid-epoch checkpoint). */
  partial?: PartialEpoch;
  /** The resolved options of the run that wrote it (for the log). */
  options: Record<string, unknown>;
}

export interface CheckpointMeta extends CheckpointState {
  format: string;
  bin: string;
  sha256: string;
  tensors: CheckpointTensor[];
}

export interface CheckpointTensorData {
  role: TensorRole;
  name: string;
  slot?: string;
  dims: number[];
  data: Float32Array | Uint8Array;
}

export function tensorKey(role: TensorRole, name: string, slot?: string): string {
  return slot ? `${role}:${name}:${slot}` : `${role}:${name}`;
}

/** Writes `<dir>/<stem>.json` and its binary; returns the JSON path. */
export function saveCheckpoint(dir: string, stem: string, state: CheckpointState, tensors: readonly CheckpointTensorData[]): string {
  const table: CheckpointTensor[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.byteLength;
    table.push({ role: t.role, name: t.name, ...(t.slot ? { slot: t.slot } : {}), dtype: t.data instanceof Float32Array ? 'float32' : 'uint8', dims: t.dims, offset, bytes });
    offset += (bytes + 7) & ~7;
  }
  const bin = new Uint8Array(offset);
  tensors.forEach((t, i) => bin.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), table[i]!.offset));
  const binName = `${stem}.${state.globalStep}.bin`;
  writeFileAtomic(path.join(dir, binName), bin);
  const meta: CheckpointMeta = { format: CHECKPOINT_FORMAT, ...state, bin: binName, sha256: sha256(bin), tensors: table };
  const jsonPath = path.join(dir, `${stem}.json`);
  writeFileAtomic(jsonPath, JSON.stringify(meta, null, 1) + '\n');
  for (const f of fs.readdirSync(dir)) {
    if (f !== binName && f.startsWith(`${stem}.`) && f.endsWith('.bin') && /^\d+$/.test(f.slice(stem.length + 1, -4))) fs.rmSync(path.join(dir, f), { force: true });
  }
  return jsonPath;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  file: string;
  tensors: Map<string, Float32Array | Uint8Array>;
}

/** Reads a checkpoint JSON (or `<dir>/last.json` for a folder) and its binary. */
export function loadCheckpoint(fileOrDir: string): LoadedCheckpoint {
  const file = fs.existsSync(fileOrDir) && fs.statSync(fileOrDir).isDirectory() ? path.join(fileOrDir, 'last.json') : fileOrDir;
  const text = readFileChecked(file).toString('utf8');
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(text) as CheckpointMeta;
  } catch (e) {
    return fail(ErrorCodes.DATA_FORMAT, `checkpoint ${file} is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (meta.format !== CHECKPOINT_FORMAT) fail(ErrorCodes.DATA_FORMAT, `${file} is not a ${CHECKPOINT_FORMAT} checkpoint (format "${String(meta.format)}")`, { file });
  const binPath = path.join(path.dirname(file), meta.bin);
  const bin = new Uint8Array(readFileChecked(binPath));
  if (sha256(bin) !== meta.sha256) fail(ErrorCodes.DATA_FORMAT, `checkpoint data ${binPath} does not match its checksum in ${file}`, { file: binPath });
  const tensors = new Map<string, Float32Array | Uint8Array>();
  for (const t of meta.tensors) {
    const bytes = bin.slice(t.offset, t.offset + t.bytes);
    tensors.set(tensorKey(t.role, t.name, t.slot), t.dtype === 'float32' ? new Float32Array(bytes.buffer) : bytes);
  }
  return { meta, file, tensors };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
