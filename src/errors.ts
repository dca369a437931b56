/**
 * Typed errors with stable codes.
 *
 * Every error the toolkit raises on purpose is an `HbnnError` with a `code` from
 * `ErrorCode`. Codes are part of the public contract: scripts may match on them, and the
 * CLI maps each code's category to an exit code (see `exitCodeFor`). Messages are written
 * for the user; `context` names the file, pass, node or option involved.
 */

export const ErrorCodes = {
  // -- usage (exit 2): bad flags or option values
  USAGE: 'usage',
  INVALID_OPTION: 'invalid-option',
  // -- input (exit 3): files that cannot be read or parsed
  FILE_NOT_FOUND: 'file-not-found',
  FILE_READ: 'file-read',
  ONNX_NOT_A_MODEL: 'onnx-not-a-model',
  ONNX_DECODE: 'onnx-decode',
  ONNX_UNKNOWN_FIELD: 'onnx-unknown-field',
  ONNX_INVALID: 'onnx-invalid',
  EXTERNAL_DATA: 'external-data',
  DATA_FORMAT: 'data-format',
  DATA_MISMATCH: 'data-mismatch',
  // -- model (exit 4): the model is valid ONNX but cannot be handled as asked
  VERIFY: 'verify',
  SHAPE_INFERENCE: 'shape-inference',
  UNSUPPORTED_OP: 'unsupported-op',
  NOTHING_TO_QUANTIZE: 'nothing-to-quantize',
  NOT_QUANTIZED: 'not-quantized',
  ALREADY_QUANTIZED: 'already-quantized',
  NUMERIC: 'numeric',
  LOWERING: 'lowering',
  // -- pipeline (exit 5)
  PIPELINE_PARSE: 'pipeline-parse',
  UNKNOWN_PASS: 'unknown-pass',
  PASS_FAILED: 'pass-failed',
  // -- runtime (exit 6): onnxruntime, a toolchain or a worker thread failed
  RUNTIME: 'runtime',
  TOOLCHAIN: 'toolchain',
  TRAINING_DIVERGED: 'training-diverged',
  WORKER_FAILED: 'worker-failed',
  // -- output (exit 7)
  OUTPUT_WOULD_OVERWRITE_INPUT: 'output-would-overwrite-input',
  FILE_WRITE: 'file-write',
  // -- internal (exit 70)
  INTERNAL: 'internal',
  // -- interrupted (exit 130 = 128 + SIGINT): Ctrl-C stopped a command that saved its state
  INTERRUPTED: 'interrupted',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorContext {
  file?: string;
  pass?: string;
  node?: string;
  op?: string;
  option?: string;
  [key: string]: unknown;
}

export class HbnnError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HbnnError';
    this.code = code;
    this.context = context;
  }
}

export function isHbnnError(e: unknown): e is HbnnError {
  return e instanceof HbnnError;
}

/**
 * An API option's name as messages write it: in backquotes (\`checkpointDir\`). The CLI
 * replaces each with the flag of the running command (--checkpoint-dir, see
 * src/cli/options.ts), so CLI users read flags and API users read option keys.
 */
export function optionName(key: string): string {
  return `\`${key}\``;
}

/** Throws an HbnnError; the short form used everywhere. */
export function fail(code: ErrorCode, message: string, context: ErrorContext = {}, cause?: unknown): never {
  throw new HbnnError(code, message, context, cause === undefined ? undefined : { cause });
}

/** The non-throwing form: `{ ok: true, value } | { ok: false, errors }`. */
export type Result<T> = { ok: true; value: T } | { ok: false; errors: HbnnError[] };

export function tryResult<T>(fn: () => T): Result<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (isHbnnError(e)) return { ok: false, errors: [e] };
    throw e;
  }
}

const EXIT: Record<ErrorCode, number> = {
  usage: 2,
  'invalid-option': 2,
  'file-not-found': 3,
  'file-read': 3,
  'onnx-not-a-model': 3,
  'onnx-decode': 3,
  'onnx-unknown-field': 3,
  'onnx-invalid': 3,
  'external-data': 3,
  'data-format': 3,
  'data-mismatch': 3,
  verify: 4,
  'shape-inference': 4,
  'unsupported-op': 4,
  'nothing-to-quantize': 4,
  'not-quantized': 4,
  'already-quantized': 4,
  numeric: 4,
  lowering: 4,
  'pipeline-parse': 5,
  'unknown-pass': 5,
  'pass-failed': 5,
  runtime: 6,
  toolchain: 6,
  'training-diverged': 6,
  'worker-failed': 6,
  'output-would-overwrite-input': 7,
  'file-write': 7,
  internal: 70,
  interrupted: 130,
};

/** The process exit code for an error code (documented in docs/cli.md). */
export function exitCodeFor(code: ErrorCode): number {
  return EXIT[code] ?? 70;
}
