/**
 * protobufjs bindings for the ONNX schema, plus a wire-format walker that finds fields the
 * schema does not know (so that nothing is ever dropped silently on decode).
 */
import protobuf from 'protobufjs';
import Long from 'long';
import { ONNX_SCHEMA } from './schema.js';
import { fail, ErrorCodes } from '../errors.js';

// int64 fields decode as Long; the IR converts them to bigint.
protobuf.util.Long = Long;
protobuf.configure();

const root = protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root;
root.resolveAll();

export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const GraphProtoType = root.lookupType('onnx.GraphProto');

/* Plain object views of the decoded messages: defined with the IR (src/ir/messages.ts), which
   keeps the parts of a model it does not model (types, sparse tensors, functions) as these. */
export * from '../ir/messages.js';

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

/**
 * Walks `bytes` as an encoded message of `type` and throws ONNX_UNKNOWN_FIELD for any field
 * number the schema does not declare, ONNX_DECODE for malformed wire data. Cost: one pass
 * over the bytes; large byte fields are skipped, not copied.
 */
/** Deepest message nesting accepted (a graph inside a node attribute is 3 levels down). */
export const MAX_DEPTH = 64;

export function checkWire(bytes: Uint8Array, type: protobuf.Type, path: string, file?: string): void {
  const reader = protobuf.Reader.create(bytes);
  walk(reader, bytes.length, type, path, file, 0);
}

/** Wire types a field may arrive with: its own, plus length-delimited for packable repeated scalars. */
const wireTypesCache = new Map<protobuf.Field, readonly number[]>();
function wireTypesOf(field: protobuf.Field): readonly number[] {
  let w = wireTypesCache.get(field);
  if (!w) {
    if (field.resolvedType instanceof protobuf.Type) w = [2];
    else {
      const basic = (protobuf.types.basic as Record<string, number | undefined>)[field.type];
      // Enums are declared as int32 in the schema, so every field is a message or a basic type.
      const own = basic ?? 0;
      const packable = field.repeated && (protobuf.types.packed as Record<string, number | undefined>)[field.type] !== undefined;
      w = packable ? [own, 2] : [own];
    }
    wireTypesCache.set(field, w);
  }
  return w;
}

function walk(reader: protobuf.Reader, end: number, type: protobuf.Type, path: string, file: string | undefined, depth: number): void {
  if (depth > MAX_DEPTH) fail(ErrorCodes.ONNX_DECODE, `message nesting deeper than ${MAX_DEPTH} levels at ${path}`, { file });
  let seenMessages: Set<number> | undefined;
  let counts: Map<number, number> | undefined;
  while (reader.pos < end) {
    const tagAt = reader.pos;
    const tag = reader.uint32();
    const fieldNo = tag >>> 3;
    const wireType = tag & 7;
    if (fieldNo === 0) fail(ErrorCodes.ONNX_DECODE, `invalid field number 0 at ${path} (byte ${tagAt})`, { file });
    const field = type.fieldsById[fieldNo];
    if (!field) {
      fail(
        ErrorCodes.ONNX_UNKNOWN_FIELD,
        `${path} has field number ${fieldNo} (${WIRE_NAMES[wireType] ?? 'wire type ' + wireType}), which this version's ONNX schema does not know; ` +
          `refusing to load rather than drop it silently`,
        { file, field: fieldNo, message: type.name },
      );
    }
    // protobufjs decodes by field number and trusts the declared type: a field arriving with
    // another wire type would be misread, not rejected. Check it here.
    if (!wireTypesOf(field).includes(wireType)) {
      fail(
        ErrorCodes.ONNX_DECODE,
        `${path}.${field.name} arrives as ${WIRE_NAMES[wireType] ?? 'wire type ' + wireType} at byte ${tagAt}, but the schema declares ${field.type}`,
        { file },
      );
    }
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Type) {
      if (!field.repeated) {
        // Protobuf merges a singular message that appears twice; protobufjs keeps the last
        // one and would silently drop the first. No ONNX writer splits messages: refuse.
        seenMessages ??= new Set();
        if (seenMessages.has(fieldNo)) fail(ErrorCodes.ONNX_DECODE, `${path}.${field.name} appears more than once (byte ${tagAt}); split messages are not supported`, { file });
        seenMessages.add(fieldNo);
      }
      let subPath = `${path}.${field.name}`;
      if (field.repeated) {
        counts ??= new Map();
        const k = counts.get(fieldNo) ?? 0;
        counts.set(fieldNo, k + 1);
        subPath += `[${k}]`;
      }
      const len = reader.uint32();
      const subEnd = reader.pos + len;
      if (subEnd > end) fail(ErrorCodes.ONNX_DECODE, `truncated message in ${subPath} (${len} bytes declared at byte ${tagAt}, ${end - reader.pos} left)`, { file });
      walk(reader, subEnd, sub, subPath, file, depth + 1);
      if (reader.pos !== subEnd) fail(ErrorCodes.ONNX_DECODE, `malformed message in ${subPath}`, { file });
    } else {
      reader.skipType(wireType);
      if (reader.pos > end) fail(ErrorCodes.ONNX_DECODE, `truncated field ${path}.${field.name}`, { file });
    }
  }
  if (reader.pos !== end) fail(ErrorCodes.ONNX_DECODE, `truncated field at the end of ${path}`, { file });
}

/** Decodes an ONNX message, mapping protobufjs errors to typed ones. */
export function decodeMessage<T>(type: protobuf.Type, bytes: Uint8Array, what: string, file?: string): T {
  try {
    checkWire(bytes, type, what, file);
    return type.decode(bytes) as unknown as T;
  } catch (e) {
    if (e instanceof Error && e.name === 'HbnnError') throw e;
    return fail(ErrorCodes.ONNX_DECODE, `${file ?? what} is not a valid ONNX ${type.name}: ${(e as Error).message}`, { file }, e);
  }
}

/* protobufjs Writer internals used by encodeMessageChunks: a linked list of write ops. */
interface WriterOp {
  fn: (val: unknown, buf: Uint8Array, pos: number) => void;
  len: number;
  val: unknown;
  next: WriterOp | undefined;
}

let bytesOpFns: Set<WriterOp['fn']> | undefined;

/** The op functions protobufjs uses to copy a bytes field verbatim (found by a probe). */
function bytesFns(): Set<WriterOp['fn']> {
  if (!bytesOpFns) {
    bytesOpFns = new Set();
    for (const w of [protobuf.Writer.create(), new protobuf.Writer()]) {
      const probe = new Uint8Array(64);
      w.bytes(probe);
      for (let op = (w as unknown as { head: WriterOp }).head as WriterOp | undefined; op; op = op.next) if (op.val === probe) bytesOpFns.add(op.fn);
    }
  }
  return bytesOpFns;
}

/**
 * Encodes a message as a list of chunks whose concatenation is exactly `encodeMessage`'s
 * output, without copying bytes fields of `minView` bytes or more (raw_data of large
 * tensors): those chunks are the caller's own Uint8Arrays, so writing a model to a file
 * does not need a second, file-sized buffer. Everything else is packed into buffers that
 * lie between them.
 */
export function encodeMessageChunks(type: protobuf.Type, msg: object, minView = 1 << 16): Uint8Array[] {
  let writer: protobuf.Writer;
  try {
    writer = type.encode(msg as protobuf.Message);
  } catch (e) {
    return fail(ErrorCodes.INTERNAL, `cannot encode ${type.name}: ${(e as Error)?.message ?? String(e)}`, {}, e);
  }
  const fns = bytesFns();
  const alloc = (writer.constructor as unknown as { alloc(n: number): Uint8Array }).alloc;
  const chunks: Uint8Array[] = [];
  let pending: WriterOp[] = [];
  let pendingLen = 0;
  let total = 0;
  const flush = (): void => {
    if (pendingLen === 0) return;
    const buf = alloc(pendingLen);
    let pos = 0;
    for (const op of pending) {
      op.fn(op.val, buf, pos);
      pos += op.len;
    }
    chunks.push(buf);
    pending = [];
    pendingLen = 0;
  };
  for (let op = (writer as unknown as { head: WriterOp }).head.next; op; op = op.next) {
    total += op.len;
    if (op.len >= minView && op.val instanceof Uint8Array && op.val.byteLength === op.len && fns.has(op.fn)) {
      flush();
      chunks.push(op.val);
    } else {
      pending.push(op);
      pendingLen += op.len;
    }
  }
  flush();
  if (total !== writer.len) fail(ErrorCodes.INTERNAL, `chunked encoding of ${type.name} wrote ${total} bytes, expected ${writer.len}`);
  return chunks;
}

export function encodeMessage(type: protobuf.Type, msg: object): Uint8Array {
  try {
    return type.encode(msg as protobuf.Message).finish();
  } catch (e) {
    // Only an IR that no decoded file can produce gets here (e.g. nesting beyond protobufjs's
    // recursion limit of 100, or a field holding the wrong kind of value).
    return fail(ErrorCodes.INTERNAL, `cannot encode ${type.name}: ${(e as Error)?.message ?? String(e)}`, {}, e);
  }
}
