/**
 * The registry of built-in passes. Registration is explicit: each pass file in passes/
 * exports one Pass object, imported and listed here (one line each, kept sorted).
 */
import { PassRegistry } from './manager.js';

export function builtinPasses(): PassRegistry {
  const r = new PassRegistry();
  // -- pass registrations (one line each) --
  return r;
}
