/** Small passes for CLI tests, registered in a registry of their own (not the built-in one). */
import { definePass } from '../../src/pass/pass.js';
import { PassRegistry } from '../../src/pass/manager.js';

/** Sets a metadata entry on the model. */
export const markModel = definePass({
  name: 'mark-model',
  summary: 'sets a metadata entry on the model (test pass)',
  options: [
    { name: 'key', type: 'string', doc: 'metadata key', default: 'touched' },
    { name: 'value', type: 'string', doc: 'metadata value', default: 'yes', choices: ['yes', 'no'] },
    { name: 'times', type: 'integer', doc: 'how often to set it', default: 1, min: 1, max: 3 },
  ],
  establishes: ['no-identity'],
  preserves: 'all',
  run(model, ctx) {
    for (let i = 0; i < (ctx.options.times as number); i++) ctx.stat('marks');
    model.setMetadata(ctx.options.key as string, ctx.options.value as string);
    return { changed: true };
  },
});

/** Throws a plain Error, as a buggy pass would. */
export const explode = definePass({
  name: 'explode',
  summary: 'throws (test pass)',
  run() {
    throw new Error('boom');
  },
});

/** Requires a property no test pass establishes. */
export const needsSorted = definePass({
  name: 'needs-sorted',
  summary: 'requires topologically-sorted (test pass)',
  requires: ['topologically-sorted'],
  run: () => ({ changed: false }),
});

/** A stand-in for the real eliminate-identity, for the demo's skip logic. */
export const fakeEliminateIdentity = definePass({
  name: 'eliminate-identity',
  summary: 'stand-in that changes nothing (test pass)',
  run: () => ({ changed: false }),
});

export function testRegistry(): PassRegistry {
  return new PassRegistry().register(markModel, explode, needsSorted);
}
