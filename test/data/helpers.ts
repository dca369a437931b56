import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import { HbnnError, type ErrorCode } from '../../src/errors.js';

/** Runs `fn`, expects an HbnnError with `code`, and returns it for further checks. */
export function expectError(fn: () => unknown, code: ErrorCode): HbnnError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error to be thrown').toBeInstanceOf(HbnnError);
  const err = caught as HbnnError;
  expect(err.code, `wrong code; message: ${err.message}`).toBe(code);
  return err;
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'hbnn-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
