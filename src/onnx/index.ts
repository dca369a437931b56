export { loadModel, saveModel, decodeModel, encodeModel, decodeTensor, loadTensorFile, resolveExternalLocation } from './io.js';
export type { LoadOptions, SaveOptions } from './io.js';
export { undeclaredDomains } from './checks.js';
