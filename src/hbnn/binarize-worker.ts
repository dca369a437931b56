/**
 * Worker thread of `binarizeWithBitMaps` (parallel.ts): runs `binarizeWithBitMap` on the
 * tensors it is sent, into output buffers in shared memory, and posts the results back.
 */
import { parentPort } from 'node:worker_threads';
import { isHbnnError } from '../errors.js';
import { binarizeWithBitMap } from './fused.js';
import type { WorkerReply, WorkerRequest } from './parallel.js';

parentPort?.on('message', (req: WorkerRequest) => {
  const n = req.t.length;
  let reply: WorkerReply;
  try {
    const bitMap = new Uint8Array(new SharedArrayBuffer(n));
    const signs = new Uint8Array(new SharedArrayBuffer(n));
    const out = new Float32Array(new SharedArrayBuffer(4 * n));
    const r = binarizeWithBitMap(req.t, { ...req.mapOpts, out: bitMap }, { ...req.binOpts, out, signsOut: signs });
    reply = { id: req.id, ok: true, map: r.map, bin: r.bin };
  } catch (e) {
    reply = isHbnnError(e)
      ? { id: req.id, ok: false, code: e.code, message: e.message, context: { ...e.context } }
      : { id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(reply);
});
