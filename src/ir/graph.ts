/**
 * The graph IR: values that know their producer and their uses, nodes with typed
 * attributes, graphs (with nested subgraphs that see their enclosing scope) and models.
 *
 * All rewiring goes through `Node.setInput`, `Value.replaceAllUsesWith`,
 * `Graph.setOutput` and `Graph.removeNode`, which keep both sides of every use-def link
 * consistent. Consumers are a lookup (`value.uses`), never a scan of the graph.
 */
import type { TypePb, AttributePb, TensorShapeDimPb } from './messages.js';
import { Tensor, type StringPairs } from './tensor.js';
import { fail, ErrorCodes } from '../errors.js';

export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: bigint }
  | { type: 'string'; value: Uint8Array }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: bigint[] }
  | { type: 'strings'; value: Uint8Array[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  /** Sparse tensors and type protos are kept as decoded protobuf objects, intact. */
  | { type: 'sparse_tensor' | 'sparse_tensors' | 'type_proto' | 'type_protos' | 'undefined'; value: unknown; raw: AttributePb };

export type Attribute = AttributeValue & { refAttrName?: string; docString?: string };

export interface Use {
  node: Node;
  index: number;
}

let nextValueId = 1;

export class Value {
  /** Unique within a model's scope chain; '' only for absent optional outputs. */
  name: string;
  private typePb?: TypePb;
  docString?: string;
  metadataProps?: StringPairs;
  /** The graph that defines this value (as input, initializer or node output). */
  graph: Graph;
  producer: Node | null = null;
  producerIndex = -1;
  /** Set for initializers; `graph.initializers` holds the same Value. */
  constValue?: Tensor;
  readonly uses: Use[] = [];
  readonly id = nextValueId++;

  constructor(graph: Graph, name: string) {
    this.graph = graph;
    this.name = name;
  }

  /** Type as an ONNX TypeProto object (lossless); see `ir/types.ts` for helpers. Setting it is a change of the graph (`Graph.revision`). */
  get type(): TypePb | undefined {
    return this.typePb;
  }

  set type(t: TypePb | undefined) {
    this.typePb = t;
    this.graph.touch();
  }

  get isGraphInput(): boolean {
    return this.graph.inputs.includes(this);
  }

  get isGraphOutput(): boolean {
    return this.graph.outputs.includes(this);
  }

  get isInitializer(): boolean {
    return this.constValue !== undefined;
  }

  /** Consumers that are nodes (graph outputs are not listed in `uses`). */
  get consumers(): Node[] {
    return [...new Set(this.uses.map((u) => u.node))];
  }

  /** Every use of this value (node inputs and this graph's outputs) now uses `other`. */
  replaceAllUsesWith(other: Value): void {
    if (other === this) return;
    for (const use of [...this.uses]) use.node.setInput(use.index, other);
    const outs = this.graph.outputs;
    for (let i = 0; i < outs.length; i++) if (outs[i] === this) this.graph.setOutput(i, other);
  }
}

export class Node {
  opType: string;
  domain: string;
  name: string;
  overload?: string;
  docString?: string;
  metadataProps?: StringPairs;
  /** Optional string fields that were present on the wire with an empty value ('name', 'domain'). */
  emptyPresent?: string[];
  /** NodeProto.device_configurations, kept as decoded protobuf objects. */
  deviceConfigurations?: unknown[];
  readonly attributes = new Map<string, Attribute>();
  readonly inputs: (Value | null)[] = [];
  readonly outputs: Value[] = [];
  graph: Graph;

  constructor(graph: Graph, opType: string, domain = '', name = '') {
    this.graph = graph;
    this.opType = opType;
    this.domain = domain;
    this.name = name;
  }

  /** Whether the node is in the default ONNX domain ('' or 'ai.onnx'), and of `opType` when given. */
  isOnnx(opType?: string): boolean {
    return (this.domain === '' || this.domain === 'ai.onnx') && (opType === undefined || this.opType === opType);
  }

  /** Sets input `index` (null = an absent optional input), updating use lists. */
  setInput(index: number, value: Value | null): void {
    while (this.inputs.length <= index) this.inputs.push(null);
    const old = this.inputs[index];
    if (old === value) return;
    if (old) {
      const k = old.uses.findIndex((u) => u.node === this && u.index === index);
      if (k >= 0) old.uses.splice(k, 1);
    }
    this.inputs[index] = value ?? null;
    if (value) value.uses.push({ node: this, index });
    this.graph.touch();
  }

  /** Appends an input. */
  addInput(value: Value | null): void {
    this.setInput(this.inputs.length, value);
  }

  /** Drops inputs from `from` on (removing their uses). */
  truncateInputs(from: number): void {
    for (let i = this.inputs.length - 1; i >= from; i--) {
      this.setInput(i, null);
      this.inputs.pop();
    }
  }

  /** Creates and appends an output value named `name` in this node's graph. */
  addOutput(name: string): Value {
    const v = this.graph.createValue(name);
    v.producer = this;
    v.producerIndex = this.outputs.length;
    this.outputs.push(v);
    this.graph.touch();
    return v;
  }

  // ---- typed attribute access ----------------------------------------------------------
  attrInt(name: string): number | undefined;
  attrInt(name: string, dflt: number): number;
  attrInt(name: string, dflt?: number): number | undefined {
    const a = this.attributes.get(name);
    if (!a) return dflt;
    if (a.type !== 'int') fail(ErrorCodes.ONNX_INVALID, `attribute ${name} of node ${this.label} is ${a.type}, expected int`, { node: this.name });
    return bigToNumber(a.value, `${this.label}.${name}`);
  }

  attrInts(name: string): number[] | undefined;
  attrInts(name: string, dflt: number[]): number[];
  attrInts(name: string, dflt?: number[]): number[] | undefined {
    const a = this.attributes.get(name);
    if (!a) return dflt;
    if (a.type !== 'ints') fail(ErrorCodes.ONNX_INVALID, `attribute ${name} of node ${this.label} is ${a.type}, expected ints`, { node: this.name });
    return a.value.map((v) => bigToNumber(v, `${this.label}.${name}`));
  }

  attrFloat(name: string): number | undefined;
  attrFloat(name: string, dflt: number): number;
  attrFloat(name: string, dflt?: number): number | undefined {
    const a = this.attributes.get(name);
    if (!a) return dflt;
    if (a.type !== 'float') fail(ErrorCodes.ONNX_INVALID, `attribute ${name} of node ${this.label} is ${a.type}, expected float`, { node: this.name });
    return a.value;
  }

  attrFloats(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    if (!a) return undefined;
    if (a.type !== 'floats') fail(ErrorCodes.ONNX_INVALID, `attribute ${name} of node ${this.label} is ${a.type}, expected floats`, { node: this.name });
    return a.value;
  }

  attrString(name: string): string | undefined;
  attrString(name: string, dflt: string): string;
  attrString(name: string, dflt?: string): string | undefined {
    const a = this.attributes.get(name);
    if (!a) return dflt;
    if (a.type !== 'string') fail(ErrorCodes.ONNX_INVALID, `attribute ${name} of node ${this.label} is ${a.type}, expected string`, { node: this.name });
    return new TextDecoder().decode(a.value);
  }

  attrTensor(name: string): Tensor | undefined {
    const a = this.attributes.get(name);
    if (!a) return undefined;
    if (a.type !== 'tensor') fail(ErrorCodes.ONNX_INVALID, `attribute ${name} of node ${this.label} is ${a.type}, expected tensor`, { node: this.name });
    return a.value;
  }

  setAttr(name: string, attr: Attribute): void {
    this.attributes.set(name, attr);
    this.graph.touch();
  }

  setInt(name: string, v: number | bigint): void {
    this.setAttr(name, { type: 'int', value: BigInt(v) });
  }

  setInts(name: string, v: readonly (number | bigint)[]): void {
    this.setAttr(name, { type: 'ints', value: v.map((x) => BigInt(x)) });
  }

  setFloat(name: string, v: number): void {
    this.setAttr(name, { type: 'float', value: Math.fround(v) });
  }

  setFloats(name: string, v: readonly number[]): void {
    this.setAttr(name, { type: 'floats', value: v.map((x) => Math.fround(x)) });
  }

  setString(name: string, v: string): void {
    this.setAttr(name, { type: 'string', value: new TextEncoder().encode(v) });
  }

  setTensor(name: string, t: Tensor): void {
    this.setAttr(name, { type: 'tensor', value: t });
  }

  /** Subgraphs held by this node's attributes (If/Loop/Scan bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributes.values()) {
      if (a.type === 'graph') out.push(a.value);
      else if (a.type === 'graphs') out.push(...a.value);
    }
    return out;
  }

  /** A short label for messages: name, or op type and first output. */
  get label(): string {
    if (this.name) return `"${this.name}" (${this.opType})`;
    return `${this.opType} -> ${this.outputs[0]?.name ?? '?'}`;
  }
}

function bigToNumber(v: bigint, what: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    // INT64 extremes (used as "to the end" in Slice etc.) saturate to a safe sentinel.
    if (v > 0n) return Number.MAX_SAFE_INTEGER;
    if (v < 0n) return Number.MIN_SAFE_INTEGER;
    fail(ErrorCodes.ONNX_INVALID, `${what}: ${v} is not a safe integer`);
  }
  return n;
}

export class Graph {
  name: string;
  docString?: string;
  metadataProps?: StringPairs;
  /** True when GraphProto.name was present on the wire but empty. */
  emptyNamePresent?: boolean;
  /** Enclosing graph for subgraphs (names resolve outward through it). */
  readonly parent: Graph | null;
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  /** Initializers in file order, name → value (value.constValue holds the tensor). */
  readonly initializers = new Map<string, Value>();
  /** Sparse initializers and quantization annotations, kept as decoded protobuf objects. */
  sparseInitializers: unknown[] = [];
  quantizationAnnotations: unknown[] = [];
  /** Names of values that had a value_info entry, in file order (types live on the Values). */
  valueInfoOrder: string[] = [];
  /** ValueInfo of outputs that are outer-scope values, repeated outputs or pass-through inputs. */
  readonly outputInfoOverrides = new Map<number, unknown>();
  /**
   * value_info entries kept verbatim: names that do not exist in this graph, and entries for
   * graph inputs, outputs, typed values (initializers) or repeated names.
   */
  danglingValueInfo: unknown[] = [];
  /**
   * Where each danglingValueInfo entry stood in the file: after the valueInfoOrder entry of
   * this name (null: before the first one), so that saving keeps value_info in file order.
   */
  danglingAnchors: (string | null)[] = [];
  private readonly byName = new Map<string, Value>();
  private nameCounter = 0;
  private changes = 0;

  constructor(name = '', parent: Graph | null = null) {
    this.name = name;
    this.parent = parent;
  }

  /**
   * A counter of changes to this graph and its subgraphs, kept on the outermost graph: the
   * IR's mutation methods (node inputs, outputs, attributes and placement, graph inputs,
   * outputs and initializers, value types and names) advance it. Cached analyses
   * (`ir/analysis.ts`) compare it. Code that edits fields directly (`node.attributes`,
   * `node.opType`, `graph.nodes`) calls `touch()`; the pass manager also invalidates analyses
   * after every pass that reports a change.
   */
  get revision(): number {
    return this.parent ? this.parent.revision : this.changes;
  }

  /** Records a change (see `revision`). */
  touch(): void {
    if (this.parent) this.parent.touch();
    else this.changes++;
  }

  /** Looks a value up by name in this graph, then in enclosing graphs. */
  lookup(name: string): Value | undefined {
    return this.byName.get(name) ?? this.parent?.lookup(name);
  }

  /** Looks a value up in this graph only. */
  get(name: string): Value | undefined {
    return this.byName.get(name);
  }

  /** All values defined in this graph (inputs, initializers, node outputs). */
  values(): IterableIterator<Value> {
    return this.byName.values();
  }

  /** Creates a value owned by this graph; names must be unique ('' is allowed for absent outputs). */
  createValue(name: string): Value {
    const v = new Value(this, name);
    if (name !== '') {
      if (this.byName.has(name)) fail(ErrorCodes.VERIFY, `value name "${name}" is defined twice in graph "${this.name}"`, { value: name });
      this.byName.set(name, v);
    }
    return v;
  }

  /** A fresh value name based on `prefix`, unused in this graph and its enclosing graphs. */
  uniqueName(prefix: string): string {
    if (!this.lookup(prefix) && !this.nameInSubgraphs(prefix)) return prefix;
    for (;;) {
      const n = `${prefix}_${++this.nameCounter}`;
      if (!this.lookup(n) && !this.nameInSubgraphs(n)) return n;
    }
  }

  private nameInSubgraphs(name: string): boolean {
    for (const node of this.nodes) for (const g of node.subgraphs()) if (g.get(name) || g.nameInSubgraphs(name)) return true;
    return false;
  }

  renameValue(v: Value, name: string): void {
    if (v.name === name) return;
    if (this.byName.has(name)) fail(ErrorCodes.VERIFY, `cannot rename "${v.name}" to "${name}": name in use`, { value: name });
    if (v.name !== '') this.byName.delete(v.name);
    if (v.isInitializer) {
      this.initializers.delete(v.name);
      this.initializers.set(name, v);
      if (v.constValue) v.constValue.name = name;
    }
    const k = this.valueInfoOrder.indexOf(v.name);
    if (k >= 0) this.valueInfoOrder[k] = name;
    this.danglingAnchors = this.danglingAnchors.map((a) => (a === v.name ? name : a));
    v.name = name;
    this.byName.set(name, v);
    this.touch();
  }

  addInput(name: string): Value {
    const v = this.createValue(name);
    this.inputs.push(v);
    this.touch();
    return v;
  }

  /** Adds (or replaces the tensor of) an initializer. */
  addInitializer(tensor: Tensor, name = tensor.name): Value {
    const v = this.createValue(name);
    tensor.name = name;
    v.constValue = tensor;
    this.initializers.set(name, v);
    this.touch();
    return v;
  }

  /**
   * Gives initializer `v` (or a graph input `v`, which becomes an initializer) a new tensor, in
   * place: its users see the new value. The tensor takes `v`'s name. A declared type
   * (value_info) that no longer matches the tensor's data type and dims is dropped, since the
   * tensor types an initializer.
   */
  replaceInitializer(v: Value, tensor: Tensor): void {
    if (v.graph !== this || (!v.isInitializer && !v.isGraphInput)) fail(ErrorCodes.INTERNAL, `"${v.name}" is not an initializer or input of this graph`, { value: v.name });
    tensor.name = v.name;
    v.constValue = tensor;
    this.initializers.set(v.name, v);
    const tt = v.type?.tensor_type;
    if (v.type && !(tt && tt.elem_type === tensor.dtype && declaredDimsFit(tt.shape?.dim, tensor.dims))) v.type = undefined;
    this.touch();
  }

  /** Removes an initializer that has no uses (and drops it from graph inputs). */
  removeInitializer(v: Value): void {
    if (v.uses.length > 0 || v.isGraphOutput) fail(ErrorCodes.INTERNAL, `initializer "${v.name}" still has uses`);
    this.initializers.delete(v.name);
    const k = this.inputs.indexOf(v);
    if (k >= 0) this.inputs.splice(k, 1);
    this.byName.delete(v.name);
    v.constValue = undefined;
    this.touch();
  }

  /** Removes a graph input that has no uses. */
  removeInput(v: Value): void {
    if (v.uses.length > 0) fail(ErrorCodes.INTERNAL, `input "${v.name}" still has uses`);
    const k = this.inputs.indexOf(v);
    if (k >= 0) this.inputs.splice(k, 1);
    if (!v.isInitializer) this.byName.delete(v.name);
    this.touch();
  }

  setOutput(index: number, v: Value): void {
    this.outputs[index] = v;
    this.touch();
  }

  /**
   * Creates a node (not yet placed) with the given inputs and fresh outputs. Place it with
   * `insertBefore`/`insertAfter`/`append`.
   */
  createNode(
    opType: string,
    inputs: (Value | null)[],
    outputNames: string[],
    opts: { domain?: string; name?: string; attributes?: Record<string, Attribute> } = {},
  ): Node {
    const node = new Node(this, opType, opts.domain ?? '', opts.name ?? '');
    for (const v of inputs) node.addInput(v);
    for (const n of outputNames) node.addOutput(n);
    if (opts.attributes) for (const [k, a] of Object.entries(opts.attributes)) node.attributes.set(k, a);
    return node;
  }

  append(node: Node): Node {
    this.nodes.push(node);
    this.touch();
    return node;
  }

  insertBefore(anchor: Node, ...nodes: Node[]): void {
    const k = this.nodes.indexOf(anchor);
    if (k < 0) fail(ErrorCodes.INTERNAL, `node ${anchor.label} is not in graph "${this.name}"`);
    this.nodes.splice(k, 0, ...nodes);
    this.touch();
  }

  insertAfter(anchor: Node, ...nodes: Node[]): void {
    const k = this.nodes.indexOf(anchor);
    if (k < 0) fail(ErrorCodes.INTERNAL, `node ${anchor.label} is not in graph "${this.name}"`);
    this.nodes.splice(k + 1, 0, ...nodes);
    this.touch();
  }

  /**
   * Removes a node. Its outputs must have no uses (and must not be graph outputs) unless
   * `force` is set, in which case remaining uses are left dangling for the caller to fix.
   */
  removeNode(node: Node, opts: { force?: boolean } = {}): void {
    if (!opts.force) {
      for (const o of node.outputs) {
        if (o.uses.length > 0 || o.isGraphOutput) {
          fail(ErrorCodes.INTERNAL, `cannot remove node ${node.label}: its output "${o.name}" is still used`, { node: node.name });
        }
      }
    }
    const k = this.nodes.indexOf(node);
    if (k < 0) fail(ErrorCodes.INTERNAL, `node ${node.label} is not in graph "${this.name}"`);
    this.nodes.splice(k, 1);
    for (let i = 0; i < node.inputs.length; i++) node.setInput(i, null);
    // Nodes inside its subgraphs that read outer values stop being uses of those values.
    for (const sub of node.subgraphs()) detachOuterUses(sub, sub);
    for (const o of node.outputs) {
      if (o.name !== '' && this.byName.get(o.name) === o) this.byName.delete(o.name);
    }
    this.touch();
  }

  /** Registers an existing value (used by deserialization and rebuilds). */
  registerValue(v: Value): void {
    if (v.name === '') return;
    if (this.byName.has(v.name)) fail(ErrorCodes.VERIFY, `value name "${v.name}" is defined twice in graph "${this.name}"`);
    this.byName.set(v.name, v);
  }
}

/** Clears inputs of nodes in `g` (and deeper) that refer to values defined outside `root`. */
function detachOuterUses(g: Graph, root: Graph): void {
  const inside = (v: Value): boolean => {
    for (let x: Graph | null = v.graph; x; x = x.parent) if (x === root) return true;
    return false;
  };
  for (const n of g.nodes) {
    for (let i = 0; i < n.inputs.length; i++) {
      const v = n.inputs[i];
      if (v && !inside(v)) n.setInput(i, null);
    }
    for (const s of n.subgraphs()) detachOuterUses(s, root);
  }
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export class Model {
  irVersion: bigint = 8n;
  opsetImports: OpsetImport[] = [];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: bigint;
  docString?: string;
  metadataProps?: StringPairs;
  graph: Graph;
  /** Model-local functions, training info and device configurations: decoded protobuf objects, kept intact. */
  functions: unknown[] = [];
  trainingInfo: unknown[] = [];
  configuration: unknown[] = [];
  /** Set by the loader: the model file's folder (for external data). */
  sourcePath?: string;

  constructor(graph: Graph = new Graph('main')) {
    this.graph = graph;
  }

  /**
   * A deep copy that shares nothing mutable with this model: graphs, nodes, values with their
   * use lists, attributes and tensors (data copied) are new; the ONNX messages kept as plain
   * objects (value types, functions, sparse tensors, training info) are shared, since the IR
   * replaces them and never edits them in place. Like a model decoded from this one's
   * encoding, the copy is detached from files: no source path, and tensors that came from
   * external data hold their data inline. Encoding the copy gives this model's bytes.
   */
  clone(): Model {
    const m = new Model(cloneGraph(this.graph, null, new Map()));
    m.irVersion = this.irVersion;
    m.opsetImports = this.opsetImports.map((o) => cloned(o, { ...o }));
    if (this.producerName !== undefined) m.producerName = this.producerName;
    if (this.producerVersion !== undefined) m.producerVersion = this.producerVersion;
    if (this.domain !== undefined) m.domain = this.domain;
    if (this.modelVersion !== undefined) m.modelVersion = this.modelVersion;
    if (this.docString !== undefined) m.docString = this.docString;
    if (this.metadataProps !== undefined) m.metadataProps = pairs(this.metadataProps);
    m.functions = [...this.functions];
    m.trainingInfo = [...this.trainingInfo];
    m.configuration = [...this.configuration];
    return m;
  }

  /** The imported version of an operator set ('' and 'ai.onnx' are the same domain). */
  opsetVersion(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version;
  }

  getMetadata(key: string): string | undefined {
    return this.metadataProps?.find(([k]) => k === key)?.[1];
  }

  setMetadata(key: string, value: string): void {
    this.metadataProps ??= [];
    const k = this.metadataProps.findIndex(([kk]) => kk === key);
    if (k >= 0) this.metadataProps[k] = [key, value];
    else this.metadataProps.push([key, value]);
  }
}

/** Visits a graph and, depth-first, every subgraph inside its nodes' attributes. */
export function* walkGraphs(g: Graph): Generator<Graph> {
  yield g;
  for (const n of g.nodes) for (const s of n.subgraphs()) yield* walkGraphs(s);
}

/** Whether declared dims (absent: rank unknown; a dim without a value: unknown) fit a tensor's dims. */
function declaredDimsFit(declared: readonly TensorShapeDimPb[] | undefined, dims: readonly number[]): boolean {
  if (!declared) return true;
  if (declared.length !== dims.length) return false;
  return declared.every((d, i) => !Object.prototype.hasOwnProperty.call(d, 'dim_value') || Number(d.dim_value!.toString()) === dims[i]);
}

const pairs = (p: StringPairs): StringPairs => p.map(([k, v]) => [k, v]);

/**
 * Side information that another layer keeps about IR objects in a WeakMap (the ONNX I/O
 * layer: which fields of an attribute or an opset entry were absent on the wire, so that a
 * re-save writes the same bytes) is carried to their copies by these hooks, which
 * `Model.clone` calls for every attribute and opset entry it copies.
 */
const cloneHooks: ((from: object, to: object) => void)[] = [];

/** Registers a hook `Model.clone` calls with each copied attribute and opset entry. */
export function onClone(hook: (from: object, to: object) => void): void {
  cloneHooks.push(hook);
}

function cloned<T extends object>(from: T, to: T): T {
  for (const h of cloneHooks) h(from, to);
  return to;
}

/** A copy of bytes in a buffer of its own (a Node Buffer's slice() would share its memory). */
const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** A copy of `t` with its own data (external-data origin dropped: the data is inline). */
function cloneTensor(t: Tensor): Tensor {
  const st = t.storage;
  const storage: Tensor['storage'] =
    st.kind === 'raw'
      ? { kind: 'raw', bytes: copyBytes(st.bytes) }
      : st.kind === 'string'
        ? { kind: 'string', values: st.values.map(copyBytes) }
        : st.kind === 'empty'
          ? { kind: 'empty' }
          : ({ kind: st.kind, values: st.values.slice() } as Tensor['storage']);
  const c = new Tensor(t.name, t.dtype, [...t.dims], storage);
  if (t.docString !== undefined) c.docString = t.docString;
  if (t.metadataProps !== undefined) c.metadataProps = pairs(t.metadataProps);
  if (t.segment !== undefined) c.segment = { ...t.segment };
  if (t.emptyNamePresent !== undefined) c.emptyNamePresent = t.emptyNamePresent;
  if (t.dataLocation !== undefined) c.dataLocation = t.dataLocation;
  return c;
}

function cloneAttribute(a: Attribute, owner: Graph, map: Map<Value, Value>): Attribute {
  let c: Attribute;
  switch (a.type) {
    case 'tensor':
      c = { type: 'tensor', value: cloneTensor(a.value) };
      break;
    case 'tensors':
      c = { type: 'tensors', value: a.value.map(cloneTensor) };
      break;
    case 'graph':
      c = { type: 'graph', value: cloneGraph(a.value, owner, map) };
      break;
    case 'graphs':
      c = { type: 'graphs', value: a.value.map((g) => cloneGraph(g, owner, map)) };
      break;
    case 'floats':
      c = { type: 'floats', value: [...a.value] };
      break;
    case 'ints':
      c = { type: 'ints', value: [...a.value] };
      break;
    case 'strings':
      c = { type: 'strings', value: a.value.map(copyBytes) };
      break;
    case 'string':
      c = { type: 'string', value: copyBytes(a.value) };
      break;
    default:
      c = { ...a };
  }
  if (a.refAttrName !== undefined) c.refAttrName = a.refAttrName;
  if (a.docString !== undefined) c.docString = a.docString;
  return c;
}

/**
 * A copy of graph `g` under `parent`; `map` takes every value of `g` and its enclosing graphs
 * to its copy (outer-scope references of subgraphs resolve through it).
 */
function cloneGraph(g: Graph, parent: Graph | null, map: Map<Value, Value>): Graph {
  const c = new Graph(g.name, parent);
  if (g.docString !== undefined) c.docString = g.docString;
  if (g.metadataProps !== undefined) c.metadataProps = pairs(g.metadataProps);
  if (g.emptyNamePresent !== undefined) c.emptyNamePresent = g.emptyNamePresent;
  c.sparseInitializers = [...g.sparseInitializers];
  c.quantizationAnnotations = [...g.quantizationAnnotations];
  c.valueInfoOrder = [...g.valueInfoOrder];
  for (const [k, v] of g.outputInfoOverrides) c.outputInfoOverrides.set(k, v);
  c.danglingValueInfo = [...g.danglingValueInfo];
  c.danglingAnchors = [...g.danglingAnchors];
  const copyValue = (v: Value, into: Value): Value => {
    if (v.type !== undefined) into.type = v.type;
    if (v.docString !== undefined) into.docString = v.docString;
    if (v.metadataProps !== undefined) into.metadataProps = pairs(v.metadataProps);
    if (v.constValue !== undefined) into.constValue = cloneTensor(v.constValue);
    map.set(v, into);
    return into;
  };
  // Every named value first (same order), so nodes and subgraphs find them in `map`.
  for (const v of g.values()) copyValue(v, c.createValue(v.name));
  for (const [name, v] of g.initializers) c.initializers.set(name, map.get(v) ?? copyValue(v, new Value(c, v.name)));
  const mapped = (v: Value): Value => {
    const m = map.get(v);
    if (!m) fail(ErrorCodes.INTERNAL, `clone: value "${v.name}" is not defined in graph "${g.name}" or an enclosing graph`, { value: v.name });
    return m;
  };
  for (const v of g.inputs) c.inputs.push(mapped(v));
  for (const n of g.nodes) {
    const k = new Node(c, n.opType, n.domain, n.name);
    if (n.overload !== undefined) k.overload = n.overload;
    if (n.docString !== undefined) k.docString = n.docString;
    if (n.metadataProps !== undefined) k.metadataProps = pairs(n.metadataProps);
    if (n.emptyPresent !== undefined) k.emptyPresent = [...n.emptyPresent];
    if (n.deviceConfigurations !== undefined) k.deviceConfigurations = [...n.deviceConfigurations];
    for (const [name, a] of n.attributes) k.attributes.set(name, cloned(a, cloneAttribute(a, c, map)));
    n.inputs.forEach((v, i) => k.setInput(i, v ? mapped(v) : null));
    for (const o of n.outputs) {
      const out = o.name === '' ? copyValue(o, new Value(c, '')) : mapped(o);
      out.producer = k;
      out.producerIndex = k.outputs.length;
      k.outputs.push(out);
    }
    c.nodes.push(k);
  }
  for (const v of g.outputs) c.outputs.push(mapped(v));
  return c;
}
