/**
 * The built-in registry as the commands see it: the passes (passes/registry.ts) and the named
 * pipelines built from them (`quantize`). Named pipelines live above the passes, so they are
 * registered here, not in passes/registry.ts.
 */
import type { PassRegistry } from '../pass/manager.js';
import { builtinPasses } from '../../passes/registry.js';
import { quantizeNamedPipeline } from './quantize.js';

export function builtinRegistry(): PassRegistry {
  const r = builtinPasses();
  // -- named pipeline registrations (one line each) --
  r.registerPipeline(quantizeNamedPipeline);
  return r;
}
