/**
 * Data input: IDX and .npy readers/writers, ONNX test_data_set folders, datasets and SPEC
 * strings. See docs/data.md.
 */
export * from './ndarray.js';
export * from './idx.js';
export * from './npy.js';
export * from './test-data-set.js';
export * from './dataset.js';
export * from './paths.js';
export * from './load.js';
export * from './image.js';
export * from './folder.js';
export * from './cifar.js';
export * from './stream.js';
export * from './normalization.js';
