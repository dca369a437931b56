/**
 * hbnn-onnx public API. Everything a program needs is exported from here; other modules
 * are internal. See docs/api.md for a runnable example.
 */
export { HbnnError, ErrorCodes, isHbnnError, exitCodeFor, tryResult } from './errors.js';
export type { ErrorCode, ErrorContext, Result } from './errors.js';

export { loadModel, saveModel, decodeModel, encodeModel, decodeTensor, loadTensorFile } from './onnx/index.js';
export type { LoadOptions, SaveOptions } from './onnx/index.js';

export { Model, Graph, Node, Value, walkGraphs } from './ir/graph.js';
export type { Attribute, AttributeValue, Use, OpsetImport } from './ir/graph.js';
export { Tensor } from './ir/tensor.js';
export { DataType, dtypeName } from './ir/dtype.js';
export { tensorTypeOf, setTensorType, makeTensorType } from './ir/types.js';
export type { Dim, TensorType } from './ir/types.js';
export { verifyModel, assertValid } from './ir/verifier.js';
export type { VerifyIssue } from './ir/verifier.js';
export { printModel, printGraph, printNode } from './ir/printer.js';

export { definePass } from './pass/pass.js';
export type { Pass, PassContext, PassResult, OptionSpec, Property } from './pass/pass.js';
export { Pipeline, PassRegistry, formatReport } from './pass/manager.js';
export type { RunReport, RunOptions, PassRecord } from './pass/manager.js';
export { parsePipeline, printPipeline } from './pass/pipeline.js';
export { builtinPasses } from '../passes/registry.js';
export { defineAnalysis, getAnalysis, invalidateAnalyses } from './ir/analysis.js';
export type { Analysis } from './ir/analysis.js';
export { ShapeAnalysis, shapeAnalysis } from './analysis/shapes.js';
export type { ShapeInfo, InferredType } from './analysis/shapes.js';
export { builtinRegistry } from './drivers/registry.js';

export { createSession, runSession, toOrtTensor, float32Tensor } from './runtime/ort.js';

export { inspectModel, INSPECT_FORMAT, INSPECT_VERSION } from './inspect.js';
export type { InspectReport, InspectWarning, InspectWarningKind, IoSummary, LayerSummary, ParamSummary } from './inspect.js';

export {
  loadDataset,
  parseDataSpec,
  formatDataSpec,
  DATA_SPEC_HELP,
  FMNIST_NORMALIZATION,
  FMNIST_CLASSES,
  parseNormalization,
  checkFitsModelInput,
  checkLabelRange,
  batch,
  batches,
  shuffledIndices,
  readIdx,
  writeIdx,
  readNpy,
  writeNpy,
  readTestDataSet,
  bundledModelPath,
  packageRoot,
  openDataSource,
  dataSourceOf,
  defaultDecodeWorkers,
  IMAGE_PRESETS,
  parseImagePreprocessing,
  listImageFolder,
  decodeImage,
  writeCifar,
  NAMED_NORMALIZATIONS,
} from './data/index.js';
export type { Dataset, DataSource, ImagePreprocessing, NdArray } from './data/index.js';

// ---- quantization (HBNN) ----------------------------------------------------------------
export { quantize, quantizePipeline, prepareForQuantize } from './drivers/quantize.js';
export type { QuantizeOptions, QuantizeResult, PreparedModel } from './drivers/quantize.js';
export { preparationFor, QUANTIZE_MIN_OPSET } from './drivers/prepare.js';
export type { PrepareOptions, Preparation } from './drivers/prepare.js';
export { readQuantRecord, requireQuantRecord, HBNN_DOMAIN, HBNN_FORMAT } from './quant/format.js';
export type { QuantRecord, WeightRecord, ActivationRecord } from './quant/format.js';
export { sweep, sweepSeries } from './drivers/sweep.js';
export { sweepSvg, lineChartSvg } from './drivers/svg.js';
export { evaluate, forEachBatch } from './runtime/infer.js';
export type { EvalOptions, EvalResult } from './runtime/infer.js';
export * as hbnn from './hbnn/index.js';

// ---- training ---------------------------------------------------------------------------
export * from './train/index.js';

// ---- bit-level IR and backends ------------------------------------------------------------
export { lowerToBitIR, measureStreamRanges, interpret, lowerBitIrFiles, bitProgramToJson, bitProgramFromJson, bitProgramToText, summarizeProgram, permuteRows, rowsPermutable } from './bitir/index.js';
export type { BitProgram, InterpretOptions, InterpretResult } from './bitir/index.js';
export { lowerVivadoHls, planVivadoHls, runCsim } from './backends/vivado-hls/index.js';
export type { VivadoHlsOptions, VivadoHlsResult } from './backends/vivado-hls/index.js';
export { lowerAsic, lowerAsicFromProgram, loadTechFile, DEFAULT_TECH } from './backends/asic/index.js';
export type { AsicOptions, AsicReport, AsicTech } from './backends/asic/index.js';
export { lowerToVerilog, runVerilatorSim } from './backends/verilog/index.js';
export type { VerilogOptions, VerilogResult, SimOptions, SimResult } from './backends/verilog/index.js';
// The explicit write call for files a backend returns in memory (atomic: temporary file, rename).
export { writeFileAtomic, writeFilesAtomic } from './util/fs.js';
