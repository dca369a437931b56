/**
 * Worker thread of the image decoding pool (stream.ts): reads, decodes and preprocesses the
 * image files it is sent into one uint8 buffer, transferred back without a copy.
 */
import { parentPort } from 'node:worker_threads';
import { isHbnnError } from '../errors.js';
import { decodeImagesInto, type ImageGeometry } from './folder.js';
import type { ImagePreprocessing } from './image.js';

export interface DecodeRequest {
  id: number;
  files: string[];
  prep: ImagePreprocessing;
  geom: ImageGeometry;
  per: number;
}

export type DecodeReply =
  | { id: number; ok: true; data: Uint8Array }
  | { id: number; ok: false; code?: string; message: string; context?: Record<string, unknown> };

parentPort?.on('message', (req: DecodeRequest) => {
  let reply: DecodeReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const data = new Uint8Array(req.files.length * req.per);
    decodeImagesInto(req.files, req.prep, req.geom, data);
    reply = { id: req.id, ok: true, data };
    transfer.push(data.buffer);
  } catch (e) {
    reply = isHbnnError(e)
      ? { id: req.id, ok: false, code: e.code, message: e.message, context: { ...e.context } }
      : { id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(reply, transfer);
});
