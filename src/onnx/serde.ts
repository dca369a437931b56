/**
 * Conversion between decoded ONNX protobuf messages and the graph IR, both directions.
 * Every field of the schema is carried; parts the IR does not model (functions, training
 * info, sparse tensors, type protos in attributes, device configurations) travel as the
 * decoded protobuf objects themselves.
 */
import type {
  AttributePb,
  GraphPb,
  ModelPb,
  NodePb,
  StringStringEntryPb,
  TensorPb,
  ValueInfoPb,
} from './proto.js';
import { has, toBigInt, toLong, int64ToNumber } from './proto.js';
import { Graph, Model, Node, Value, onClone, type Attribute } from '../ir/graph.js';
import { Tensor, type StringPairs, type TensorStorage } from '../ir/tensor.js';
import { DataType, dtypeBits, dtypeName } from '../ir/dtype.js';
import { fail, ErrorCodes } from '../errors.js';

const AttrType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

// ------------------------------------------------------------------------------------------
// proto -> IR
// ------------------------------------------------------------------------------------------

function pairs(list: StringStringEntryPb[] | undefined): StringPairs | undefined {
  if (!list || list.length === 0) return undefined;
  return list.map((e) => [e.key ?? '', e.value ?? '']);
}

function pairsPb(p: StringPairs | undefined): StringStringEntryPb[] {
  return (p ?? []).map(([key, value]) => ({ key, value }));
}

export function tensorFromPb(pb: TensorPb): Tensor {
  const dims = pb.dims.map((d) => int64ToNumber(d, `dimension of tensor "${pb.name ?? ''}"`));
  for (const d of dims) if (d < 0) fail(ErrorCodes.ONNX_INVALID, `tensor "${pb.name ?? ''}" has negative dimension ${d}`);
  checkPayload(pb, dims);
  let storage: TensorStorage;
  if (has(pb, 'raw_data')) storage = { kind: 'raw', bytes: pb.raw_data! };
  else if (pb.float_data.length) storage = { kind: 'float', values: Float32Array.from(pb.float_data) };
  else if (pb.int32_data.length) storage = { kind: 'int32', values: Int32Array.from(pb.int32_data) };
  else if (pb.int64_data.length) storage = { kind: 'int64', values: BigInt64Array.from(pb.int64_data, (v) => toBigInt(v)) };
  else if (pb.double_data.length) storage = { kind: 'double', values: Float64Array.from(pb.double_data) };
  else if (pb.uint64_data.length) storage = { kind: 'uint64', values: BigUint64Array.from(pb.uint64_data, (v) => BigInt.asUintN(64, toBigInt(v))) };
  else if (pb.string_data.length) storage = { kind: 'string', values: pb.string_data };
  else storage = { kind: 'empty' };
  const t = new Tensor(pb.name ?? '', pb.data_type ?? 0, dims, storage);
  if (has(pb, 'doc_string')) t.docString = pb.doc_string;
  if (has(pb, 'name') && pb.name === '') t.emptyNamePresent = true;
  t.metadataProps = pairs(pb.metadata_props);
  if (has(pb, 'segment')) {
    const seg = pb.segment!;
    t.segment = {};
    if (has(seg, 'begin')) t.segment.begin = toBigInt(seg.begin);
    if (has(seg, 'end')) t.segment.end = toBigInt(seg.end);
  }
  if (has(pb, 'data_location')) t.dataLocation = pb.data_location;
  if (pb.external_data.length) {
    const info = { location: '', extra: [] as [string, string][] } as NonNullable<Tensor['external']>;
    for (const e of pb.external_data) {
      const k = e.key ?? '';
      const v = e.value ?? '';
      if (k === 'location') info.location = v;
      else if (k === 'offset') info.offset = parseIntStrict(v, 'offset', t.name);
      else if (k === 'length') info.length = parseIntStrict(v, 'length', t.name);
      else info.extra.push([k, v]);
    }
    t.external = info;
  }
  return t;
}

/** The typed field each data type's values may use, and how many values one element takes. */
function typedFieldOf(dtype: number): { field: keyof TensorPb; perElement: number } | undefined {
  switch (dtype) {
    case DataType.FLOAT: return { field: 'float_data', perElement: 1 };
    case DataType.COMPLEX64: return { field: 'float_data', perElement: 2 };
    case DataType.DOUBLE: return { field: 'double_data', perElement: 1 };
    case DataType.COMPLEX128: return { field: 'double_data', perElement: 2 };
    case DataType.INT64: return { field: 'int64_data', perElement: 1 };
    case DataType.UINT32:
    case DataType.UINT64: return { field: 'uint64_data', perElement: 1 };
    case DataType.STRING: return { field: 'string_data', perElement: 1 };
    // 4-bit types are packed two to an int32_data entry, 2-bit types four.
    case DataType.INT4:
    case DataType.UINT4:
    case DataType.FLOAT4E2M1: return { field: 'int32_data', perElement: 1 / 2 };
    case DataType.INT2:
    case DataType.UINT2: return { field: 'int32_data', perElement: 1 / 4 };
    default: {
      const bits = dtypeBits(dtype);
      return bits !== undefined && bits > 0 && bits <= 32 ? { field: 'int32_data', perElement: 1 } : undefined;
    }
  }
}

const TYPED_FIELDS = ['float_data', 'int32_data', 'string_data', 'int64_data', 'double_data', 'uint64_data'] as const;

/**
 * Rejects (ONNX_INVALID) a tensor whose data cannot be what its dims and data type say: more
 * than one data field, a typed field the type does not use, or a value / byte count that does
 * not match the shape. Tensors without any data field are accepted (external data, not yet
 * loaded, and zero-size tensors are the legal cases; others are kept as written). Segments
 * (TensorProto.segment) and data types this schema does not know are not size-checked.
 */
function checkPayload(pb: TensorPb, dims: number[]): void {
  const name = pb.name ?? '';
  const dtype = pb.data_type ?? 0;
  const present: string[] = TYPED_FIELDS.filter((f) => pb[f].length > 0);
  if (has(pb, 'raw_data')) present.push('raw_data');
  if (present.length === 0) return;
  if (present.length > 1) fail(ErrorCodes.ONNX_INVALID, `tensor "${name}" has data in more than one field (${present.join(', ')})`, { tensor: name });
  const field = present[0]!;
  if (has(pb, 'segment') || dtypeBits(dtype) === undefined) return;
  let size = 1;
  for (const d of dims) size *= d;
  if (field === 'raw_data') {
    if (dtype === DataType.STRING) fail(ErrorCodes.ONNX_INVALID, `tensor "${name}" holds strings in raw_data, which ONNX does not allow`, { tensor: name });
    const want = Math.ceil((size * dtypeBits(dtype)!) / 8);
    const got = pb.raw_data!.byteLength;
    if (got !== want) {
      fail(ErrorCodes.ONNX_INVALID, `tensor "${name}" (${dtypeName(dtype)}[${dims.join(',')}]) has ${got} bytes of raw_data, expected ${want}`, { tensor: name });
    }
    return;
  }
  const spec = typedFieldOf(dtype);
  if (!spec || spec.field !== field) {
    fail(ErrorCodes.ONNX_INVALID, `tensor "${name}" of type ${dtypeName(dtype)} stores its values in ${field}, which that type does not use`, { tensor: name });
  }
  const want = Math.ceil(size * spec.perElement);
  const got = (pb[field as keyof TensorPb] as unknown[]).length;
  if (got !== want) {
    fail(ErrorCodes.ONNX_INVALID, `tensor "${name}" (${dtypeName(dtype)}[${dims.join(',')}]) has ${got} values in ${field}, expected ${want}`, { tensor: name });
  }
}

function parseIntStrict(s: string, what: string, tensor: string): number {
  if (!/^\d+$/.test(s)) fail(ErrorCodes.EXTERNAL_DATA, `tensor "${tensor}": external data ${what} "${s}" is not a non-negative integer`);
  return Number(s);
}

function attributeFromPb(pb: AttributePb, graph: Graph, deferred: Deferred): Attribute {
  // protobufjs reads an absent int32 as its prototype default 0, so test presence.
  const type = has(pb, 'type') ? pb.type! : inferAttrType(pb);
  let a: Attribute;
  switch (type) {
    case AttrType.FLOAT: a = { type: 'float', value: pb.f ?? 0 }; break;
    case AttrType.INT: a = { type: 'int', value: toBigInt(pb.i) }; break;
    // protobufjs gives absent bytes fields a prototype default of [] (not a Uint8Array).
    case AttrType.STRING: a = { type: 'string', value: has(pb, 's') ? pb.s! : new Uint8Array() }; break;
    case AttrType.TENSOR: a = { type: 'tensor', value: tensorFromPb(pb.t ?? emptyTensorPb()) }; break;
    case AttrType.GRAPH: a = { type: 'graph', value: graphFromPb(pb.g ?? emptyGraphPb(), graph, deferred) }; break;
    case AttrType.FLOATS: a = { type: 'floats', value: [...pb.floats] }; break;
    case AttrType.INTS: a = { type: 'ints', value: pb.ints.map(toBigInt) }; break;
    case AttrType.STRINGS: a = { type: 'strings', value: [...pb.strings] }; break;
    case AttrType.TENSORS: a = { type: 'tensors', value: pb.tensors.map(tensorFromPb) }; break;
    case AttrType.GRAPHS: a = { type: 'graphs', value: pb.graphs.map((g) => graphFromPb(g, graph, deferred)) }; break;
    case AttrType.SPARSE_TENSOR: a = { type: 'sparse_tensor', value: pb.sparse_tensor, raw: pb }; break;
    case AttrType.SPARSE_TENSORS: a = { type: 'sparse_tensors', value: pb.sparse_tensors, raw: pb }; break;
    case AttrType.TYPE_PROTO: a = { type: 'type_proto', value: pb.tp, raw: pb }; break;
    case AttrType.TYPE_PROTOS: a = { type: 'type_protos', value: pb.type_protos, raw: pb }; break;
    default: a = { type: 'undefined', value: undefined, raw: pb };
  }
  if (has(pb, 'ref_attr_name')) a.refAttrName = pb.ref_attr_name;
  if (has(pb, 'doc_string')) a.docString = pb.doc_string;
  // A typed attribute that also carries other payload fields would lose them: keep raw.
  if (a.type !== 'undefined' && !('raw' in a) && hasExtraPayload(pb, type)) {
    return { type: 'undefined', value: undefined, raw: pb, ...(a.refAttrName !== undefined ? { refAttrName: a.refAttrName } : {}) };
  }
  // Remember fields that were absent on the wire (IR 1 attributes have no type; attributes
  // that reference a function attribute often have no value) so that a re-save writes
  // them the same way, as long as the value is still the placeholder made here.
  const single = SINGLE_FIELD[type];
  const wire: AttrWire = {};
  if (!has(pb, 'type')) wire.noType = true;
  if (single !== undefined && !has(pb, single)) wire.placeholder = a.value;
  if (wire.noType || 'placeholder' in wire) attrWire.set(a, wire);
  return a;
}

/** The single payload field of each scalar attribute type. */
const SINGLE_FIELD: Record<number, 'f' | 'i' | 's' | 't' | 'g'> = { 1: 'f', 2: 'i', 3: 's', 4: 't', 5: 'g' };

interface AttrWire {
  noType?: boolean;
  placeholder?: unknown;
}
const attrWire = new WeakMap<object, AttrWire>();

// Model.clone copies attributes and opset entries: their wire details go with them (a
// placeholder value stays a placeholder when the copy still holds the copied placeholder).
onClone((from, to) => {
  const absent = absentOpsetFields.get(from);
  if (absent) absentOpsetFields.set(to, absent);
  const w = attrWire.get(from);
  if (!w) return;
  const c: AttrWire = {};
  if (w.noType) c.noType = true;
  if ('placeholder' in w && (from as Attribute).value === w.placeholder) c.placeholder = (to as Attribute).value;
  if (c.noType || 'placeholder' in c) attrWire.set(to, c);
});

/** IR 1 models (no `type` field): infer from which payload field is set. */
function inferAttrType(pb: AttributePb): number {
  if (has(pb, 'f')) return AttrType.FLOAT;
  if (has(pb, 'i')) return AttrType.INT;
  if (has(pb, 's')) return AttrType.STRING;
  if (has(pb, 't')) return AttrType.TENSOR;
  if (has(pb, 'g')) return AttrType.GRAPH;
  if (pb.floats.length) return AttrType.FLOATS;
  if (pb.ints.length) return AttrType.INTS;
  if (pb.strings.length) return AttrType.STRINGS;
  if (pb.tensors.length) return AttrType.TENSORS;
  if (pb.graphs.length) return AttrType.GRAPHS;
  return AttrType.UNDEFINED;
}

function hasExtraPayload(pb: AttributePb, type: number): boolean {
  const singles: [string, number][] = [['f', 1], ['i', 2], ['s', 3], ['t', 4], ['g', 5], ['sparse_tensor', 11], ['tp', 13]];
  for (const [f, t] of singles) if (t !== type && has(pb, f)) return true;
  const lists: [keyof AttributePb, number][] = [
    ['floats', 6], ['ints', 7], ['strings', 8], ['tensors', 9], ['graphs', 10], ['sparse_tensors', 12], ['type_protos', 14],
  ];
  for (const [f, t] of lists) if (t !== type && (pb[f] as unknown[]).length > 0) return true;
  return false;
}

function emptyTensorPb(): TensorPb {
  return { dims: [], float_data: [], int32_data: [], string_data: [], int64_data: [], external_data: [], double_data: [], uint64_data: [], metadata_props: [] };
}

function emptyGraphPb(): GraphPb {
  return { node: [], initializer: [], sparse_initializer: [], input: [], output: [], value_info: [], quantization_annotation: [], metadata_props: [] };
}

interface Deferred {
  wires: { node: Node; names: string[] }[];
  outputs: { graph: Graph; index: number; name: string; vi: ValueInfoPb }[];
}

function applyValueInfo(v: Value, vi: ValueInfoPb): void {
  if (has(vi, 'type')) v.type = vi.type;
  if (has(vi, 'doc_string')) v.docString = vi.doc_string;
  v.metadataProps = pairs(vi.metadata_props);
}

export function graphFromPb(pb: GraphPb, parent: Graph | null, deferred: Deferred): Graph {
  const g = new Graph(pb.name ?? '', parent);
  if (has(pb, 'name') && pb.name === '') g.emptyNamePresent = true;
  if (has(pb, 'doc_string')) g.docString = pb.doc_string;
  g.metadataProps = pairs(pb.metadata_props);
  const defined = (name: string, what: string): void => {
    if (name !== '' && g.get(name)) fail(ErrorCodes.ONNX_INVALID, `graph "${g.name || 'main'}" defines "${name}" twice (again as ${what})`, { value: name });
  };
  for (const vi of pb.input) {
    defined(vi.name ?? '', 'an input');
    const v = g.addInput(vi.name ?? '');
    applyValueInfo(v, vi);
  }
  for (const tpb of pb.initializer) {
    const t = tensorFromPb(tpb);
    const existing = g.get(t.name);
    if (existing && existing.isGraphInput && !existing.isInitializer) {
      existing.constValue = t;
      g.initializers.set(t.name, existing);
    } else {
      defined(t.name, 'an initializer');
      g.addInitializer(t);
    }
  }
  g.sparseInitializers = [...pb.sparse_initializer];
  g.quantizationAnnotations = [...pb.quantization_annotation];
  for (const npb of pb.node) {
    const node = nodeFromPb(npb, g, deferred);
    g.append(node);
  }
  for (const vi of pb.output) {
    const name = vi.name ?? '';
    let v = g.get(name);
    if (!v) {
      // An output produced in an enclosing scope, or missing: resolved when wiring.
      v = g.lookup(name);
    }
    if (!v) {
      deferred.outputs.push({ graph: g, index: g.outputs.length, name, vi });
      g.outputs.push(placeholder(g, name));
      continue;
    }
    if (v.graph !== g || g.outputs.includes(v) || v.isGraphInput) {
      // Outer-scope, repeated or pass-through outputs carry their own ValueInfo.
      g.outputInfoOverrides.set(g.outputs.length, vi);
    } else applyValueInfo(v, vi);
    g.outputs.push(v);
  }
  for (const vi of pb.value_info) {
    const v = g.get(vi.name ?? '');
    if (v && !v.isGraphInput && !v.isGraphOutput && v.type === undefined && !g.valueInfoOrder.includes(v.name)) {
      applyValueInfo(v, vi);
      g.valueInfoOrder.push(v.name);
    } else {
      g.danglingValueInfo.push(vi);
      g.danglingAnchors.push(g.valueInfoOrder.at(-1) ?? null);
    }
  }
  return g;
}

function placeholder(g: Graph, name: string): Value {
  return new Value(g, name);
}

function nodeFromPb(pb: NodePb, g: Graph, deferred: Deferred): Node {
  const node = new Node(g, pb.op_type ?? '', pb.domain ?? '', pb.name ?? '');
  if (has(pb, 'overload')) node.overload = pb.overload;
  const empties = (['name', 'domain', 'op_type'] as const).filter((f) => has(pb, f) && pb[f] === '');
  if (empties.length) node.emptyPresent = empties;
  if (has(pb, 'doc_string')) node.docString = pb.doc_string;
  node.metadataProps = pairs(pb.metadata_props);
  if (pb.device_configurations.length) node.deviceConfigurations = [...pb.device_configurations];
  for (const apb of pb.attribute) {
    const name = apb.name ?? '';
    if (node.attributes.has(name)) fail(ErrorCodes.ONNX_INVALID, `node ${node.label} has attribute "${name}" twice`, { node: node.name });
    node.attributes.set(name, attributeFromPb(apb, g, deferred));
  }
  for (const name of pb.output) {
    if (name !== '' && g.get(name)) fail(ErrorCodes.ONNX_INVALID, `node ${node.label} defines "${name}", which graph "${g.name || 'main'}" already defines`, { node: node.name, value: name });
    node.addOutput(name);
  }
  deferred.wires.push({ node, names: [...pb.input] });
  return node;
}

function wire(deferred: Deferred, file?: string): void {
  for (const { node, names } of deferred.wires) {
    for (const name of names) {
      if (name === '') {
        node.addInput(null);
        continue;
      }
      const v = node.graph.lookup(name);
      if (!v) {
        fail(ErrorCodes.ONNX_INVALID, `node ${node.label} uses "${name}", which no input, initializer or node defines`, {
          file,
          node: node.name,
        });
      }
      node.addInput(v);
    }
  }
  for (const d of deferred.outputs) {
    const v = d.graph.lookup(d.name);
    if (!v) fail(ErrorCodes.ONNX_INVALID, `graph "${d.graph.name || 'main'}" output "${d.name}" is not defined`, { file });
    d.graph.outputs[d.index] = v;
    d.graph.outputInfoOverrides.set(d.index, d.vi);
  }
}

/** OperatorSetIdProto entries whose domain / version field was absent on the wire. */
const absentOpsetFields = new WeakMap<object, { domain: boolean; version: boolean }>();

export function modelFromPb(pb: ModelPb, file?: string): Model {
  if (!has(pb, 'graph')) fail(ErrorCodes.ONNX_INVALID, `${file ?? 'model'} has no graph`, { file });
  const deferred: Deferred = { wires: [], outputs: [] };
  const graph = graphFromPb(pb.graph!, null, deferred);
  wire(deferred, file);
  const m = new Model(graph);
  m.irVersion = toBigInt(pb.ir_version);
  m.opsetImports = pb.opset_import.map((o) => {
    const entry = { domain: o.domain ?? '', version: int64ToNumber(o.version, 'opset version') };
    // Exporters such as PyTorch leave the default domain out; remember it so that a re-save
    // writes the same bytes (an entry changed or created later is written in full).
    if (!has(o, 'domain') || !has(o, 'version')) absentOpsetFields.set(entry, { domain: !has(o, 'domain'), version: !has(o, 'version') });
    return entry;
  });
  if (has(pb, 'producer_name')) m.producerName = pb.producer_name;
  if (has(pb, 'producer_version')) m.producerVersion = pb.producer_version;
  if (has(pb, 'domain')) m.domain = pb.domain;
  if (has(pb, 'model_version')) m.modelVersion = toBigInt(pb.model_version);
  if (has(pb, 'doc_string')) m.docString = pb.doc_string;
  m.metadataProps = pairs(pb.metadata_props);
  m.functions = [...pb.functions];
  m.trainingInfo = [...pb.training_info];
  m.configuration = [...pb.configuration];
  return m;
}

// ------------------------------------------------------------------------------------------
// IR -> proto
// ------------------------------------------------------------------------------------------

export interface TensorPbOptions {
  /** Replaces the tensor's payload by external_data entries (set by the saver). */
  externalize?: (t: Tensor) => { location: string; offset: number; length: number } | undefined;
}

export function tensorToPb(t: Tensor, opts: TensorPbOptions = {}): object {
  const pb: Record<string, unknown> = {
    dims: t.dims.map((d) => toLong(d)),
    data_type: t.dtype,
    name: t.name,
  };
  if (t.name === '' && !t.emptyNamePresent) delete pb.name;
  if (t.docString !== undefined) pb.doc_string = t.docString;
  if (t.metadataProps) pb.metadata_props = pairsPb(t.metadataProps);
  if (t.segment) {
    const seg: Record<string, unknown> = {};
    if (t.segment.begin !== undefined) seg.begin = toLong(t.segment.begin);
    if (t.segment.end !== undefined) seg.end = toLong(t.segment.end);
    pb.segment = seg;
  }
  const ext = opts.externalize?.(t);
  if (ext) {
    const entries: StringStringEntryPb[] = [
      { key: 'location', value: ext.location },
      { key: 'offset', value: String(ext.offset) },
      { key: 'length', value: String(ext.length) },
    ];
    for (const [key, value] of t.external?.extra ?? []) if (key !== 'checksum') entries.push({ key, value });
    pb.external_data = entries;
    pb.data_location = 1;
    return pb;
  }
  if (t.dataLocation !== undefined && t.dataLocation !== 1) pb.data_location = t.dataLocation;
  const s = t.storage;
  switch (s.kind) {
    case 'raw': pb.raw_data = s.bytes; break;
    case 'float': pb.float_data = s.values; break;
    case 'int32': pb.int32_data = s.values; break;
    case 'int64': pb.int64_data = Array.from(s.values, (v) => toLong(v)); break;
    case 'double': pb.double_data = s.values; break;
    case 'uint64': pb.uint64_data = Array.from(s.values, (v) => toLongUnsigned(v)); break;
    case 'string': pb.string_data = s.values; break;
    case 'empty': break;
  }
  return pb;
}

function toLongUnsigned(v: bigint): unknown {
  // uint64 travels as Long with unsigned flag so values above 2^63 survive.
  return { low: Number(v & 0xffffffffn) | 0, high: Number((v >> 32n) & 0xffffffffn) | 0, unsigned: true };
}

function attributeToPb(name: string, a: Attribute, opts: TensorPbOptions): object {
  if ('raw' in a) return a.raw as object;
  const pb: Record<string, unknown> = { name };
  if (a.refAttrName !== undefined) pb.ref_attr_name = a.refAttrName;
  if (a.docString !== undefined) pb.doc_string = a.docString;
  switch (a.type) {
    case 'float': pb.type = AttrType.FLOAT; pb.f = a.value; break;
    case 'int': pb.type = AttrType.INT; pb.i = toLong(a.value); break;
    case 'string': pb.type = AttrType.STRING; pb.s = a.value; break;
    case 'tensor': pb.type = AttrType.TENSOR; pb.t = tensorToPb(a.value, opts); break;
    case 'graph': pb.type = AttrType.GRAPH; pb.g = graphToPb(a.value, opts); break;
    case 'floats': pb.type = AttrType.FLOATS; pb.floats = a.value; break;
    case 'ints': pb.type = AttrType.INTS; pb.ints = a.value.map((v) => toLong(v)); break;
    case 'strings': pb.type = AttrType.STRINGS; pb.strings = a.value; break;
    case 'tensors': pb.type = AttrType.TENSORS; pb.tensors = a.value.map((t) => tensorToPb(t, opts)); break;
    case 'graphs': pb.type = AttrType.GRAPHS; pb.graphs = a.value.map((g) => graphToPb(g, opts)); break;
  }
  const wire = attrWire.get(a);
  if (wire) {
    if (wire.noType) delete pb.type;
    if ('placeholder' in wire && a.value === wire.placeholder) delete pb[SINGLE_FIELD[typeCode(a.type)]!];
  }
  return pb;
}

function typeCode(t: string): number {
  return ({ float: 1, int: 2, string: 3, tensor: 4, graph: 5 } as Record<string, number>)[t] ?? 0;
}

function valueInfoToPb(v: Value): object {
  const pb: Record<string, unknown> = { name: v.name };
  if (v.type !== undefined) pb.type = v.type;
  if (v.docString !== undefined) pb.doc_string = v.docString;
  if (v.metadataProps) pb.metadata_props = pairsPb(v.metadataProps);
  return pb;
}

function nodeToPb(n: Node, opts: TensorPbOptions): object {
  const pb: Record<string, unknown> = {
    input: n.inputs.map((v) => (v ? v.name : '')),
    output: n.outputs.map((v) => v.name),
  };
  const keepEmpty = (f: string): boolean => n.emptyPresent?.includes(f) ?? false;
  if (n.opType !== '' || keepEmpty('op_type')) pb.op_type = n.opType;
  if (n.name !== '' || keepEmpty('name')) pb.name = n.name;
  if (n.domain !== '' || keepEmpty('domain')) pb.domain = n.domain;
  if (n.overload !== undefined) pb.overload = n.overload;
  if (n.docString !== undefined) pb.doc_string = n.docString;
  if (n.metadataProps) pb.metadata_props = pairsPb(n.metadataProps);
  if (n.deviceConfigurations) pb.device_configurations = n.deviceConfigurations;
  pb.attribute = [...n.attributes].map(([k, a]) => attributeToPb(k, a, opts));
  return pb;
}

export function graphToPb(g: Graph, opts: TensorPbOptions = {}): object {
  const pb: Record<string, unknown> = {};
  pb.node = g.nodes.map((n) => nodeToPb(n, opts));
  if (g.name !== '' || g.emptyNamePresent) pb.name = g.name;
  pb.initializer = [...g.initializers.values()].map((v) => tensorToPb(v.constValue!, opts));
  pb.sparse_initializer = g.sparseInitializers;
  if (g.docString !== undefined) pb.doc_string = g.docString;
  pb.input = g.inputs.map(valueInfoToPb);
  pb.output = g.outputs.map((v, i) => g.outputInfoOverrides.get(i) ?? valueInfoToPb(v));
  // value_info in file order: the typed values' entries with the verbatim ones where they
  // stood (danglingAnchors); entries whose anchor a pass removed go last, as before.
  const vis: unknown[] = [];
  const anchored = new Map<string | null, unknown[]>();
  g.danglingValueInfo.forEach((vi, i) => {
    const a = g.danglingAnchors[i] ?? null;
    const key = a !== null && !g.valueInfoOrder.includes(a) ? undefined : a;
    if (key === undefined) return;
    const list = anchored.get(key) ?? [];
    list.push(vi);
    anchored.set(key, list);
  });
  const placed = new Set<unknown>([...anchored.values()].flat());
  vis.push(...(anchored.get(null) ?? []));
  for (const name of g.valueInfoOrder) {
    const v = g.get(name);
    if (v && v.type !== undefined) vis.push(valueInfoToPb(v));
    vis.push(...(anchored.get(name) ?? []));
  }
  // Values typed by passes (shape inference) after load.
  const listed = new Set(g.valueInfoOrder);
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (o.name !== '' && o.type !== undefined && !listed.has(o.name) && !o.isGraphOutput) {
        vis.push(valueInfoToPb(o));
        listed.add(o.name);
      }
    }
  }
  pb.value_info = [...vis, ...g.danglingValueInfo.filter((vi) => !placed.has(vi))];
  pb.quantization_annotation = g.quantizationAnnotations;
  if (g.metadataProps) pb.metadata_props = pairsPb(g.metadataProps);
  return pb;
}

export function modelToPb(m: Model, opts: TensorPbOptions = {}): object {
  const pb: Record<string, unknown> = {
    ir_version: toLong(m.irVersion),
    opset_import: m.opsetImports.map((o) => {
      const absent = absentOpsetFields.get(o);
      const pb: Record<string, unknown> = {};
      if (!(absent?.domain && o.domain === '')) pb.domain = o.domain;
      if (!(absent?.version && o.version === 0)) pb.version = toLong(o.version);
      return pb;
    }),
  };
  if (m.producerName !== undefined) pb.producer_name = m.producerName;
  if (m.producerVersion !== undefined) pb.producer_version = m.producerVersion;
  if (m.domain !== undefined) pb.domain = m.domain;
  if (m.modelVersion !== undefined) pb.model_version = toLong(m.modelVersion);
  if (m.docString !== undefined) pb.doc_string = m.docString;
  pb.graph = graphToPb(m.graph, opts);
  if (m.metadataProps) pb.metadata_props = pairsPb(m.metadataProps);
  pb.training_info = m.trainingInfo;
  pb.functions = m.functions;
  pb.configuration = m.configuration;
  return pb;
}
