/**
 * `hbnn-onnx lower MODEL --backend NAME [-o DIR] [backend options] [--json]`: lowers a
 * quantized (HBNN) model with one of the backends and writes the files the backend returns
 * in memory into the output folder, all together (`writeFilesAtomic`): an error leaves the
 * folder as it was. The backends themselves never write.
 *
 * Backends are entries of `BACKENDS`; each names the options it takes, so an option given
 * to a backend that does not use it is an error rather than silently ignored.
 */
import { Option, type Command } from 'commander';
import { LOWERING_CANONICALIZATION } from '../bitir/lower.js';
import { PAPER_ANCHOR_NAMES } from '../backends/asic/index.js';
import { DEFAULT_PART, DEFAULT_TARGET_FPS, FPGA_PARTS } from '../backends/vivado-hls/index.js';
import { Logger, toJson, type CliIo } from './io.js';
import { apiOptionAliases } from './options.js';
import { DEFAULT_POWER_IMAGES } from './lower-synth.js';
import { type LowerCliOptions, BACKENDS, runLower, formatLowerRun, lowerRunJson, on } from './run/lower.js';

export function registerLower(program: Command, io: CliIo): void {
  const cmd = program.command('lower');
  // LoweringOptions keys set by flags of another name (messages name the flags)
  apiOptionAliases(cmd, { actBits: 'fixedActBits', actFrac: 'fixedActFrac', weightBits: 'fixedWeightBits' });
  cmd
    .summary('lower a quantized model to the bit-level IR, a Vivado HLS project, Verilog or an ASIC estimate')
    .description(
      `Lower an HBNN-quantized model (from \`hbnn-onnx quantize\`) with a backend and write its files into the output folder, ` +
        `all together (an error leaves the folder as it was). Backends: ${BACKENDS.map((b) => `${b.name}: ${b.summary}`).join('; ')}. ` +
        'A model that is not quantized is refused (not-quantized, exit 4); an option the chosen backend does not use is an error.',
    )
    .argument('<model>', 'quantized ONNX model')
    .addOption(new Option('--backend <name>', 'backend').choices(BACKENDS.map((b) => b.name)).makeOptionMandatory())
    .option('-o, --out <dir>', 'output folder (default: <model stem>.<backend> beside the model)')
    .option('--input-bits <n>', on('inputBits', 'width of the fixed-point network input (default 20; asic: 8)'))
    .option('--input-frac <n>', on('inputFrac', 'fractional bits of the input (default 16)'))
    .option('--fixed-act-bits <n>', on('fixedActBits', 'width of fixed-point activations between layers (default 20)'))
    .option('--fixed-act-frac <n>', on('fixedActFrac', 'their fractional bits (default 12)'))
    .option('--logit-bits <n>', on('logitBits', 'width of the logits (default 32)'))
    .option('--logit-frac <n>', on('logitFrac', 'fractional bits of the logits (default 16)'))
    .option('--multiplier-bits <n>', on('multiplierBits', 'largest requantization multiplier width (default 24)'))
    .option('--fixed-weight-bits <n>', on('fixedWeightBits', 'width of weights the quantizer kept in float (default 12; asic: 8)'))
    .option('--range-data <spec>', on('rangeData', "calibration samples (a dataset SPEC): each fixed-point stream's fraction bits from its range on them, widths unchanged (default: the fixed fractions)"))
    .option('--range-samples <n>', on('rangeSamples', 'samples of --range-data (default 64)'))
    .option('--clock-mhz <mhz>', on('clockMhz', "clock (default 200; asic: the technology's)"))
    .option('--target-fps <fps>', on('targetFps', `throughput the folding is solved for (default ${DEFAULT_TARGET_FPS})`))
    .option('--folding <file>', on('folding', 'explicit PE/SIMD per layer, JSON {"layers": {"<node>": {"pe": N, "simd": N}}}'))
    .option('--part <name>', on('part', `FPGA part for the estimate and run_hls.tcl: ${Object.keys(FPGA_PARTS).join(', ')} (default ${DEFAULT_PART})`))
    .option('--test-data <spec>', on('testData', 'testbench inputs from a dataset (default: synthetic samples)'))
    .option('--normalize <norm>', on('normalize', "normalization of --test-data and --range-data: fmnist, MEAN:STD or none (default: the model's record, else none)"))
    .option('--test-samples <n>', on('testSamples', 'samples in the testbench (default 8; 1 with weights in files)'))
    .option('--acc-samples <n>', on('accSamples', 'samples whose accumulators the testbench checks (default 2; 0 with weights in files)'))
    .option('--csim', on('csim', 'compile the project with g++ ($CXX) and run its testbench (C simulation)'))
    .option('--sim', on('sim', 'build the testbench with Verilator ($VERILATOR; Debian package verilator) and run it (RTL simulation)'))
    .addOption(new Option('--simulator <name>', on('simulator', 'simulator of --sim: verilator (default) or icarus (Icarus Verilog, $IVERILOG/$VVP; Debian package iverilog: no C++ build, for small designs)')).choices(['verilator', 'icarus']))
    .option('--synth <target>', on('synth', 'synthesize the design (whole and per unit) with yosys ($YOSYS; Debian package yosys): xilinx (synth_xilinx: LUT/FF/CARRY/BRAM/DSP) or asic (standard cells: µm²), beside the estimates; writes synthesis.md and synthesis.json'))
    .option('--liberty <file>', on('liberty', 'Liberty library for --synth asic (default: OSU 0.18 µm from the Debian package qflow-tech-osu018)'))
    .addOption(new Option('--abc <script>', on('abc', "abc's mapping script for --synth asic: default (yosys's, what the calibration used) or fast (abc -fast: minutes instead of hours on wide fixed-point layers such as the bundled CNN's fc, somewhat more area)")).choices(['default', 'fast']))
    .option('--power', on('power', 'with --synth asic: gate-level switching-activity power of every stage on test images (each stage mapped to the cells, simulated beside its RTL through tb.v with Icarus Verilog, $IVERILOG; Debian package iverilog), dynamic (internal + switching) and leakage mW at --clock-mhz beside the asic unit-count estimate scaled to 180 nm; writes power.md and power.json'))
    .option('--power-images <n>', on('powerImages', `images of the power run: the first N of --test-data (default ${DEFAULT_POWER_IMAGES})`))
    .option('--power-stages <list>', on('powerStages', 'comma-separated stage names the power run maps and simulates (default: all; names in power.md or hbnn_top.v, u_<name>)'))
    .option('--weights <where>', on('weights', 'weight planes inline in the headers or in data files read at run time by the C simulation (inline|files; default: files above 4 Mbit of weights)'))
    .option('--keep-row-order', on('keepRowOrder', "keep FINN's row order on the PEs (default: rows grouped by their widest weight, so PEs drop the bit planes their rows never use)"))
    .option('--tech <file>', on('tech', "technology JSON (default: calibrated to the paper's VGG-8 ASIC row)"))
    .addOption(new Option('--scaling <rule>', on('scaling', "headline figures from unit counts or the paper's rule (default units)")).choices(['units', 'paper']))
    .option('--paper-anchor <name>', on('paperAnchor', `anchor of the paper rule: ${PAPER_ANCHOR_NAMES.join(', ')} (default: this model at W2A2)`))
    .option('--activation-bits <bits>', on('activationBits', 'bits assumed for layer inputs the model leaves float (default 8; 1-3 = HBNN)'))
    .option('--sweep <file>', on('sweep', 'accuracy results to show, e.g. sweep.json from `hbnn-onnx sweep`'))
    .option('--from-bit-ir', on('fromBitIr', 'read per-layer work from the bit-level IR instead of the quantization record'))
    .option('--model-name <name>', on('modelName', 'name shown in the reports (default: the model file name without .onnx)'))
    .option('--json', 'print the result (files, summary figures) as JSON')
    .option('--print-pipeline', 'print the canonicalization pipeline lower runs before the backend, and exit')
    .addHelpText(
      'after',
      `
Before the backend, lower canonicalizes the model: ${LOWERING_CANONICALIZATION}.

Examples:
  $ hbnn-onnx lower model.hbnn.onnx --backend bit-ir -o out/bitir
  $ hbnn-onnx lower model.hbnn.onnx --backend vivado-hls --target-fps 10000 --test-data fmnist-mini:test --normalize fmnist --csim
  $ hbnn-onnx lower model.hbnn.onnx --backend verilog --target-fps 20000 --test-data fmnist-mini:test --normalize fmnist --test-samples 100 --sim
  $ hbnn-onnx lower model.hbnn.onnx --backend verilog --test-data fmnist-mini:test --normalize fmnist --synth asic --power --power-images 2
  $ hbnn-onnx lower model.hbnn.onnx --backend asic --clock-mhz 200 --sweep sweep/sweep.json -o out/asic
  $ hbnn-onnx lower model.hbnn.onnx --backend asic --from-bit-ir --scaling paper --paper-anchor vgg8-cifar10`,
    )
    .action(async (model: string, opts: LowerCliOptions & { printPipeline?: boolean }, cmd: Command) => {
      if (opts.printPipeline) {
        io.stdout(`${LOWERING_CANONICALIZATION}\n`);
        return;
      }
      const globals = cmd.optsWithGlobals<{ verbose?: boolean }>();
      const log = new Logger(io, { json: opts.json === true, verbose: globals.verbose === true });
      const r = await runLower(model, opts, io, log);
      io.stdout(opts.json ? toJson(lowerRunJson(r, io.cwd)) : formatLowerRun(r, io.cwd));
    });
}
