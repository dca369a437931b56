/**
 * The bit-level IR: types, lowering from a quantized ONNX model, the reference simulator,
 * files (ir.json / ir.txt / summary.md) and per-layer cost figures. See docs/bit-ir.md.
 */
export * from './types.js';
export { lowerToBitIR, outputSize, rangeFrac } from './lower.js';
export { measureStreamRanges } from './ranges.js';
export { permuteRows, permuteWeightRows, rowsPermutable } from './permute.js';
export { interpret, type InterpretOptions, type InterpretResult } from './interpret.js';
export { bitProgramToJson, bitProgramFromJson, bitProgramToText, summaryMarkdown, lowerBitIrFiles, typeToText } from './serialize.js';
export { summarizeProgram, weightBitHistogram, entryBits, type LayerSummary, type ProgramSummary } from './summary.js';
export { binarizeActivation, binarizerPieces, codeValue, type BinarizerConstants, type BinCode } from './binarizer.js';
export { roundHalfUp, chooseShift, signedBitsFor, popcount32 } from './fixed.js';
export { sampleExplainer, realExecutor, type SampleExplanation, type RealForward } from './bounds.js';
