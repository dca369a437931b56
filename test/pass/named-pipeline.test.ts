/**
 * A named pipeline in pipeline text (`opt -p 'quantize{avg-bits=1.4}'`) expands to the pass
 * instances it builds from its options, checked by its own schema.
 */
import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../src/pass/manager.js';
import { printPipeline } from '../../src/pass/pipeline.js';
import { builtinRegistry } from '../../src/drivers/registry.js';
import { quantizePipeline } from '../../src/drivers/quantize.js';
import { builtinPasses } from '../../passes/registry.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectHbnnError } from '../helpers/build.js';

const passList = (p: Pipeline): string[] => p.items.map((it) => (it.kind === 'pass' ? `${it.pass.name}${JSON.stringify(it.options)}` : 'fixpoint'));

describe('named pipelines in pipeline text', () => {
  it('quantize{...} expands to the passes the quantize pipeline builds, with the same options', () => {
    const named = Pipeline.parse('fold-constants,quantize{avg-bits=1.2,heuristic=random,seed=3}', builtinRegistry());
    const expanded = Pipeline.parse(`fold-constants,${printPipeline(quantizePipeline({ avgBits: 1.2, heuristic: 'random', seed: 3 }))}`, builtinPasses());
    expect(passList(named)).toEqual(passList(expanded));
    expect(passList(named)[1]).toMatch(/^insert-weight-binarization\{.*"avg-bits":1.2/);
    // the text stays as written
    expect(named.text).toBe('fold-constants,quantize{avg-bits=1.2,heuristic=random,seed=3}');
  });

  it('checks the options against the pipeline schema, and a registry without it does not know the name', async () => {
    await expectHbnnError(() => Pipeline.parse('quantize{avg-bits=9}', builtinRegistry()), ErrorCodes.INVALID_OPTION);
    await expectHbnnError(() => Pipeline.parse('quantize{no-such=1}', builtinRegistry()), ErrorCodes.INVALID_OPTION);
    await expectHbnnError(() => Pipeline.parse('quantize', builtinPasses()), ErrorCodes.UNKNOWN_PASS);
  });
});
