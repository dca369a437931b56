/**
 * Worker thread of the one-session runner's re-binarization helper (rebinarize-helper.ts):
 * re-binarizes its shard of the binarized weights (`ShardRebinarizer`) on each `rebinarize`
 * request, while the main thread re-binarizes the rest.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ShardRebinarizer } from './shard-rebinarizer.js';
import type { RebinarizeWorkerData, StepReply, StepRequest } from './step-protocol.js';

const data = workerData as RebinarizeWorkerData;
const port = parentPort!;
const shard = new ShardRebinarizer(data.shard, data.slots, data.latent, data.out);

port.on('message', (req: Extract<StepRequest, { kind: 'rebinarize' }>) => {
  let reply: StepReply;
  try {
    const t0 = performance.now();
    shard.run(req.sumsAbs);
    reply = { kind: 'rebinarized', id: req.id, ms: performance.now() - t0 };
  } catch (e) {
    reply = { kind: 'error', id: req.id, message: (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 500) };
  }
  port.postMessage(reply);
});
port.postMessage({ kind: 'ready' } satisfies StepReply);
