/**
 * A readable, deterministic text form of the IR (golden tests, `--print-ir-after`).
 *
 *   graph main (input: float[N,1,28,28]) {
 *     %conv = Conv(%input, %w, %b) {kernel_shape=[3,3], pads=[1,1,1,1]}
 *     ...
 *     return %logits
 *   }
 */
import type { Attribute, Graph, Model, Node, Value } from './graph.js';
import type { Tensor } from './tensor.js';
import { dtypeName } from './dtype.js';
import { formatType } from './types.js';

export interface PrintOptions {
  /** Print up to this many values of each constant tensor (default 0: shape only). */
  tensorValues?: number;
  /** Include value types on node outputs (default true). */
  types?: boolean;
}

export function printModel(m: Model, opts: PrintOptions = {}): string {
  const lines: string[] = [];
  lines.push(`model ir_version=${m.irVersion} opsets={${m.opsetImports.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(', ')}}`);
  if (m.producerName !== undefined) lines.push(`  producer: ${m.producerName} ${m.producerVersion ?? ''}`.trimEnd());
  for (const [k, v] of m.metadataProps ?? []) lines.push(`  metadata ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  lines.push(printGraph(m.graph, opts, ''));
  for (const f of m.functions) lines.push(`function ${JSON.stringify(stableJson(f))}`);
  for (const t of m.trainingInfo) lines.push(`training_info ${JSON.stringify(stableJson(t))}`);
  return lines.join('\n') + '\n';
}

function tensorSummary(t: Tensor, opts: PrintOptions): string {
  let s = `${dtypeName(t.dtype)}[${t.dims.join(',')}]`;
  const k = opts.tensorValues ?? 0;
  if (k > 0 && t.storage.kind !== 'string') {
    try {
      const vals = t.toNumberArrayLoose().slice(0, k);
      s += ` {${vals.map((v) => fmt(v)).join(', ')}${t.size > k ? ', ...' : ''}}`;
    } catch {
      /* types without a numeric view print shape only */
    }
  }
  if (t.external) s += ` external(${t.external.location})`;
  return s;
}

function fmt(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  return Number.isInteger(v) ? String(v) : v.toPrecision(6);
}

function attrText(a: Attribute, opts: PrintOptions, indent: string): string {
  const dec = new TextDecoder();
  switch (a.type) {
    case 'float': return fmt(a.value);
    case 'int': return a.value.toString();
    case 'string': return JSON.stringify(dec.decode(a.value));
    case 'floats': return `[${a.value.map(fmt).join(',')}]`;
    case 'ints': return `[${a.value.join(',')}]`;
    case 'strings': return `[${a.value.map((s) => JSON.stringify(dec.decode(s))).join(',')}]`;
    case 'tensor': return tensorSummary(a.value, opts);
    case 'tensors': return `[${a.value.map((t) => tensorSummary(t, opts)).join(', ')}]`;
    case 'graph': return printGraph(a.value, opts, indent + '  ').trimStart();
    case 'graphs': return `[${a.value.map((g) => printGraph(g, opts, indent + '  ').trimStart()).join(', ')}]`;
    default: return `<${a.type} ${JSON.stringify(stableJson(a.raw))}>`;
  }
}

function v(x: Value | null): string {
  return x && x.name !== '' ? `%${x.name}` : '_'; // '_' = an absent optional input or output
}

export function printNode(n: Node, opts: PrintOptions = {}, indent = ''): string {
  const outs = n.outputs.map((o) => (opts.types === false || !o.type ? v(o) : `${v(o)}: ${formatType(o.type)}`)).join(', ');
  const op = n.domain ? `${n.domain}::${n.opType}` : n.opType;
  const attrs = [...n.attributes].map(([k, a]) => `${k}=${a.refAttrName ? '@' + a.refAttrName : attrText(a, opts, indent)}`);
  const name = n.name ? ` #${n.name}` : '';
  return `${indent}${outs} = ${op}(${n.inputs.map(v).join(', ')})${attrs.length ? ` {${attrs.join(', ')}}` : ''}${name}`;
}

export function printGraph(g: Graph, opts: PrintOptions = {}, indent = ''): string {
  const lines: string[] = [];
  const ins = g.inputs.filter((x) => !x.isInitializer).map((x) => `${v(x)}: ${formatType(x.type)}`);
  lines.push(`${indent}graph ${g.name || '_'} (${ins.join(', ')}) {`);
  for (const init of g.initializers.values()) {
    const asInput = init.isGraphInput ? ' (also input)' : '';
    lines.push(`${indent}  ${v(init)} = initializer ${tensorSummary(init.constValue!, opts)}${asInput}`);
  }
  for (const n of g.nodes) lines.push(printNode(n, opts, indent + '  '));
  lines.push(`${indent}  return ${g.outputs.map((o) => `${v(o)}: ${formatType(o.type)}`).join(', ')}`);
  lines.push(`${indent}}`);
  return lines.join('\n');
}

/** JSON-friendly copy of decoded protobuf objects (Long, bytes) with sorted keys. */
export function stableJson(x: unknown): unknown {
  if (x === null || x === undefined) return x;
  if (typeof x === 'bigint') return x.toString();
  if (x instanceof Uint8Array) return `bytes:${Buffer.from(x).toString('base64')}`;
  if (ArrayBuffer.isView(x)) return Array.from(x as unknown as ArrayLike<number>);
  if (Array.isArray(x)) return x.map(stableJson);
  if (typeof x === 'object') {
    const o = x as Record<string, unknown>;
    if ('low' in o && 'high' in o && 'unsigned' in o) return String(o.toString?.() ?? `${o.high}:${o.low}`);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) out[k] = stableJson(o[k]);
    return out;
  }
  return x;
}
