/**
 * Training defaults that the loop and the gradient builder both read. A leaf module (it
 * imports nothing) so the graph builder can read them without importing the option types.
 */

/** Samples per step unless `batchSize` says otherwise. */
export const DEFAULT_BATCH_SIZE = 128;
