/**
 * A small typed Verilog-2005 AST and its printer. Every generated module is built as a value
 * of these types (ports, parameters, declarations, processes, instances, generate loops) and
 * printed by `printModule`; expressions are Verilog text built by the helpers at the end
 * (`lit`, `slice`, `cat`, ...), so the structure is checked by the compiler and the printer
 * decides the layout (indentation, `begin`/`end`, commas).
 */

/** A Verilog expression (text produced by the expression helpers below or an identifier). */
export type Expr = string;

export interface Param {
  name: string;
  value: Expr;
  comment?: string;
}

export interface Port {
  dir: 'input' | 'output';
  name: string;
  /** Bit width (1: a scalar). */
  width: number | Expr;
  signed?: boolean;
  /** `output reg`. */
  reg?: boolean;
  comment?: string;
}

export type Item =
  | { kind: 'comment'; text: string }
  | { kind: 'blank' }
  | { kind: 'localparam'; name: string; value: Expr; comment?: string }
  | {
      kind: 'net';
      /** `wire` (continuous) or `reg` (assigned in processes); `integer` for simulation counters. */
      net: 'wire' | 'reg' | 'integer';
      name: string;
      width?: number | Expr;
      signed?: boolean;
      /** Memory: `reg [w-1:0] name [0:depth-1]`. */
      depth?: number | Expr;
      /** `wire x = expr;` */
      value?: Expr;
      /** A synthesis attribute before the declaration: `(* attr *)`, e.g. `rom_style = "block"`. */
      attr?: string;
      comment?: string;
    }
  | { kind: 'assign'; lhs: Expr; rhs: Expr }
  | { kind: 'always'; edge: 'posedge clk' | '*'; body: Stmt[] }
  | { kind: 'initial'; body: Stmt[] }
  | { kind: 'instance'; module: string; name: string; params: [string, Expr][]; ports: [string, Expr][] }
  | { kind: 'generate-for'; genvar: string; count: number | Expr; label: string; items: Item[] }
  | { kind: 'generate-if'; cond: Expr; label: string; then: Item[]; else?: Item[] }
  | { kind: 'function'; name: string; width: number | Expr; signed?: boolean; inputs: { name: string; width: number | Expr; signed?: boolean }[]; locals: Item[]; body: Stmt[] }
  | { kind: 'ifdef'; macro: string; items: Item[]; negate?: boolean };

export type Stmt =
  | { kind: 'comment'; text: string }
  | { kind: 'set'; lhs: Expr; rhs: Expr; blocking?: boolean }
  | { kind: 'if'; cond: Expr; then: Stmt[]; else?: Stmt[] }
  | { kind: 'case'; expr: Expr; arms: { match: Expr[]; body: Stmt[] }[]; default?: Stmt[] }
  | { kind: 'for'; index: string; from: Expr; to: Expr; body: Stmt[] }
  /** A system task or task call: `$display("...", a, b);` */
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'delay'; cycles: Expr }
  | { kind: 'forever'; body: Stmt[] }
  | { kind: 'ifdef'; macro: string; body: Stmt[] }
  | { kind: 'wait'; event: Expr };

export interface Module {
  name: string;
  comment?: string[];
  params: Param[];
  ports: Port[];
  items: Item[];
}

// ------------------------------------------------------------------------------------------
// Clocked processes
// ------------------------------------------------------------------------------------------

/** A process on the designs' one clock: `always @(posedge clk) begin <body> end`. */
export function clocked(body: Stmt[]): Item {
  return { kind: 'always', edge: 'posedge clk', body };
}

/** A clocked process with the designs' synchronous active-high reset: `if (rst) <reset> else <body>`. */
export function clockedReset(reset: Stmt[], body: Stmt[]): Item {
  return clocked([{ kind: 'if', cond: 'rst', then: reset, else: body }]);
}

// ------------------------------------------------------------------------------------------
// Printer
// ------------------------------------------------------------------------------------------

const INDENT = '  ';

function range(width: number | Expr | undefined): string {
  if (width === undefined || width === 1) return '';
  if (typeof width === 'number') return `[${width - 1}:0] `;
  return `[${width}-1:0] `;
}

function commentLines(text: string, pad: string): string[] {
  return text.split('\n').map((l) => `${pad}// ${l}`.trimEnd());
}

function printStmts(stmts: readonly Stmt[], depth: number, out: string[]): void {
  for (const s of stmts) printStmt(s, depth, out);
}

/** `begin ... end` around several statements, none around one. */
function printBlock(head: string, body: readonly Stmt[], depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  if (body.length === 1 && body[0]!.kind !== 'if' && body[0]!.kind !== 'comment') {
    out.push(`${pad}${head}`);
    printStmt(body[0]!, depth + 1, out);
    return;
  }
  out.push(`${pad}${head} begin`);
  printStmts(body, depth + 1, out);
  out.push(`${pad}end`);
}

function printStmt(s: Stmt, depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  switch (s.kind) {
    case 'comment':
      out.push(...commentLines(s.text, pad));
      return;
    case 'set':
      out.push(`${pad}${s.lhs} ${s.blocking ? '=' : '<='} ${s.rhs};`);
      return;
    case 'if': {
      out.push(`${pad}if (${s.cond}) begin`);
      printStmts(s.then, depth + 1, out);
      let rest = s.else;
      while (rest && rest.length === 1 && rest[0]!.kind === 'if') {
        const e = rest[0];
        out.push(`${pad}end else if (${e.cond}) begin`);
        printStmts(e.then, depth + 1, out);
        rest = e.else;
      }
      if (rest && rest.length) {
        out.push(`${pad}end else begin`);
        printStmts(rest, depth + 1, out);
      }
      out.push(`${pad}end`);
      return;
    }
    case 'case':
      out.push(`${pad}case (${s.expr})`);
      for (const arm of s.arms) printBlock(`${arm.match.join(', ')}:`, arm.body, depth + 1, out);
      if (s.default) printBlock('default:', s.default, depth + 1, out);
      out.push(`${pad}endcase`);
      return;
    case 'for':
      printBlock(`for (${s.index} = ${s.from}; ${s.index} < ${s.to}; ${s.index} = ${s.index} + 1)`, s.body, depth, out);
      return;
    case 'call':
      out.push(`${pad}${s.name}${s.args.length ? `(${s.args.join(', ')})` : ''};`);
      return;
    case 'delay':
      out.push(`${pad}#(${s.cycles});`);
      return;
    case 'forever':
      printBlock('forever', s.body, depth, out);
      return;
    case 'ifdef':
      out.push(`\`ifdef ${s.macro}`);
      printStmts(s.body, depth, out);
      out.push('`endif');
      return;
    case 'wait':
      out.push(`${pad}@(${s.event});`);
      return;
  }
}

function printItems(items: readonly Item[], depth: number, out: string[], inGenerate = false): void {
  for (const it of items) printItem(it, depth, out, inGenerate);
}

function printItem(it: Item, depth: number, out: string[], inGenerate: boolean): void {
  const pad = INDENT.repeat(depth);
  switch (it.kind) {
    case 'comment':
      out.push(...commentLines(it.text, pad));
      return;
    case 'blank':
      out.push('');
      return;
    case 'localparam':
      out.push(`${pad}localparam ${it.name} = ${it.value};${it.comment ? `  // ${it.comment}` : ''}`);
      return;
    case 'net': {
      const signed = it.signed ? 'signed ' : '';
      const depthText = it.depth !== undefined ? ` [0:${typeof it.depth === 'number' ? it.depth - 1 : `${it.depth}-1`}]` : '';
      const value = it.value !== undefined ? ` = ${it.value}` : '';
      const head = it.net === 'integer' ? 'integer ' : `${it.net} ${signed}${range(it.width)}`;
      out.push(`${pad}${it.attr ? `(* ${it.attr} *) ` : ''}${head}${it.name}${depthText}${value};${it.comment ? `  // ${it.comment}` : ''}`);
      return;
    }
    case 'assign':
      out.push(`${pad}assign ${it.lhs} = ${it.rhs};`);
      return;
    case 'always':
      out.push(`${pad}always @(${it.edge}) begin`);
      printStmts(it.body, depth + 1, out);
      out.push(`${pad}end`);
      return;
    case 'initial':
      out.push(`${pad}initial begin`);
      printStmts(it.body, depth + 1, out);
      out.push(`${pad}end`);
      return;
    case 'instance': {
      const params = it.params.length ? ` #(\n${it.params.map(([k, v]) => `${pad}${INDENT}.${k}(${v})`).join(',\n')}\n${pad})` : '';
      out.push(`${pad}${it.module}${params} ${it.name} (`);
      out.push(it.ports.map(([k, v]) => `${pad}${INDENT}.${k}(${v})`).join(',\n'));
      out.push(`${pad});`);
      return;
    }
    case 'generate-for': {
      // Verilog-2005: one generate region; nested loops and ifs need no keyword of their own.
      const inner = inGenerate ? pad : `${pad}${INDENT}`;
      out.push(`${pad}genvar ${it.genvar};`);
      if (!inGenerate) out.push(`${pad}generate`);
      out.push(`${inner}for (${it.genvar} = 0; ${it.genvar} < ${it.count}; ${it.genvar} = ${it.genvar} + 1) begin : ${it.label}`);
      printItems(it.items, depth + (inGenerate ? 1 : 2), out, true);
      out.push(`${inner}end`);
      if (!inGenerate) out.push(`${pad}endgenerate`);
      return;
    }
    case 'generate-if': {
      const inner = inGenerate ? pad : `${pad}${INDENT}`;
      if (!inGenerate) out.push(`${pad}generate`);
      out.push(`${inner}if (${it.cond}) begin : ${it.label}`);
      printItems(it.then, depth + (inGenerate ? 1 : 2), out, true);
      if (it.else) {
        out.push(`${inner}end else begin : ${it.label}_off`);
        printItems(it.else, depth + (inGenerate ? 1 : 2), out, true);
      }
      out.push(`${inner}end`);
      if (!inGenerate) out.push(`${pad}endgenerate`);
      return;
    }
    case 'function': {
      out.push(`${pad}function automatic ${it.signed ? 'signed ' : ''}${range(it.width)}${it.name};`);
      for (const i of it.inputs) out.push(`${pad}${INDENT}input ${i.signed ? 'signed ' : ''}${range(i.width)}${i.name};`);
      printItems(it.locals, depth + 1, out);
      out.push(`${pad}${INDENT}begin`);
      printStmts(it.body, depth + 2, out);
      out.push(`${pad}${INDENT}end`);
      out.push(`${pad}endfunction`);
      return;
    }
    case 'ifdef':
      out.push(`\`${it.negate ? 'ifndef' : 'ifdef'} ${it.macro}`);
      printItems(it.items, depth, out, inGenerate);
      out.push('`endif');
      return;
  }
}

/** Verilog text of a module. */
export function printModule(m: Module): string {
  const out: string[] = [];
  for (const c of m.comment ?? []) out.push(...commentLines(c, ''));
  const params = m.params.length
    ? ` #(\n${m.params.map((p, i) => `  parameter ${p.name} = ${p.value}${i < m.params.length - 1 ? ',' : ''}${p.comment ? `  // ${p.comment}` : ''}`).join('\n')}\n)`
    : '';
  out.push(`module ${m.name}${params} (`);
  out.push(
    m.ports
      .map((p, i) => {
        const comma = i < m.ports.length - 1 ? ',' : '';
        const comment = p.comment ? `  // ${p.comment}` : '';
        return `  ${p.dir} ${p.reg ? 'reg ' : 'wire '}${p.signed ? 'signed ' : ''}${range(p.width)}${p.name}${comma}${comment}`;
      })
      .join('\n'),
  );
  out.push(');');
  printItems(m.items, 1, out);
  out.push('endmodule');
  return `${out.join('\n')}\n`;
}

/** A file of modules with a header comment. */
export function printFile(header: string, modules: readonly Module[]): string {
  return `// ${header}\n\`default_nettype none\n\n${modules.map(printModule).join('\n')}\n\`default_nettype wire\n`;
}

// ------------------------------------------------------------------------------------------
// Expression helpers
// ------------------------------------------------------------------------------------------

/** A sized signed decimal literal of value v (two's complement `bits` wide). */
export function slit(v: number | bigint, bits: number): Expr {
  const b = BigInt(v);
  return b < 0n ? `-${bits}'sd${-b}` : `${bits}'sd${b}`;
}

/** A sized unsigned decimal literal. */
export function ulit(v: number | bigint, bits: number): Expr {
  if (BigInt(v) < 0n) throw new Error(`negative unsigned literal ${v}`);
  return `${bits}'d${BigInt(v)}`;
}

/** `x[lo +: width]`. */
export function slice(x: Expr, lo: Expr | number, width: number | Expr): Expr {
  return `${x}[${lo} +: ${width}]`;
}

export function signed(x: Expr): Expr {
  return `$signed(${x})`;
}

/** Bits needed to count 0..n (at least 1). */
export function clog2(n: number): number {
  let b = 1;
  while (2 ** b <= n) b++;
  return b;
}

/** Bits of an index 0..n-1 (at least 1). */
export function indexBits(n: number): number {
  return clog2(Math.max(1, n - 1));
}

/** A Verilog identifier from an arbitrary name. */
export function ident(name: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/_+/g, '_').replace(/^_+|_+$/g, '');
  if (s === '' || /^[0-9]/.test(s)) s = `n_${s}`;
  return s;
}

/** Two's complement of v in `bits` bits as hex digits (for $readmemh files). */
export function hexWord(v: number | bigint, bits: number): string {
  let b = BigInt(v);
  if (b < 0n) b += 1n << BigInt(bits);
  return b.toString(16).padStart(Math.ceil(bits / 4), '0');
}

/** A packed word from fields (field 0 in the low bits), as hex of `fields.length · width` bits. */
export function packHex(fields: readonly (number | bigint)[], width: number): string {
  let word = 0n;
  const mask = (1n << BigInt(width)) - 1n;
  fields.forEach((f, i) => {
    word |= (BigInt(f) & mask) << BigInt(i * width);
  });
  return word.toString(16).padStart(Math.ceil((fields.length * width) / 4), '0');
}
