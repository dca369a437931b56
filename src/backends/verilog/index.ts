/**
 * Verilog backend: the vivado-hls design (same folding, row grouping, plane guards and
 * accumulator forms) as synthesizable Verilog-2005, its memories as $readmemh files, a
 * self-checking testbench, and RTL simulation with Verilator. docs/verilog.md.
 */
export { emitUnitDesign, unitStageOf } from './unit-design.js';
export type { UnitConfig, UnitDesign } from './unit-design.js';
export { unitModule, memFile, accFile, TRACE_BITS } from './unit.js';
export { printModule, printFile } from './ast.js';
export type { Module, Item, Stmt, Expr, Port, Param } from './ast.js';
export { lowerToVerilog, stageWrapper, TOP_MODULE, TB_MODULE, LIB_FILE, TOP_FILE, TB_FILE, SOURCES_FILE } from './design.js';
export type { VerilogOptions, VerilogResult, VerilogStage, VerilogUnit } from './design.js';
export { buildVerilatorSim, runSimBuild, runVerilatorSim, runIcarusSim, VERILATOR_PACKAGE, ICARUS_PACKAGE } from './sim.js';
export type { SimOptions, SimResult, SimBuild, IcarusOptions } from './sim.js';
export { libraryModules } from './modules.js';
export { opModules } from './ops.js';
