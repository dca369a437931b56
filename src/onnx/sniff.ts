/**
 * Is this a ModelProto at all? A cheap look at the first bytes before the real decoder runs,
 * so that a text file, an archive or random bytes named `.onnx` are reported as
 * `onnx-not-a-model` with what was found, instead of a decoder error that points at an ONNX
 * version problem (`onnx-unknown-field`) or at the wire format.
 *
 * Verdict "not a model" when:
 *  - the input is empty;
 *  - it starts with the signature of a known non-ONNX format (ZIP, e.g. a PyTorch checkpoint;
 *    gzip; HDF5; NumPy .npy; PNG; JPEG; PDF; ELF);
 *  - one of its first two top-level fields is not a ModelProto field with the wire type the
 *    schema declares (or is not a protobuf tag at all);
 *  - its top level is well-formed protobuf but has no graph (ModelProto.graph, field 7), or
 *    stops being protobuf before any graph field.
 * Anything else goes to the decoder, whose errors are unchanged: a real model truncated, or
 * with a genuinely unknown field further on, still gets `onnx-decode` / `onnx-unknown-field`.
 */
import protobuf from 'protobufjs';
import { fail, ErrorCodes } from '../errors.js';
import { ModelProtoType } from './proto.js';

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32'];

const SIGNATURES: { bytes: number[]; what: string }[] = [
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a ZIP archive (a PyTorch .pt/.pth checkpoint is one: export the model with torch.onnx.export)' },
  { bytes: [0x1f, 0x8b], what: 'gzip-compressed data (decompress it first)' },
  { bytes: [0x89, 0x48, 0x44, 0x46], what: 'an HDF5 file (e.g. a Keras .h5 model: convert it with tf2onnx)' },
  { bytes: [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], what: 'a NumPy .npy array' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: [0x25, 0x50, 0x44, 0x46], what: 'a PDF document' },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], what: 'an ELF executable or library' },
];

/** "text starting \"...\"" when the first bytes are printable UTF-8, else the first bytes in hex. */
function describeBytes(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 256);
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head);
  } catch {
    // A multi-byte character cut at 256 bytes: retry shorter.
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(0, head.length - 3)));
    } catch {
      text = undefined;
    }
  }
  if (text !== undefined && text.length > 0 && /^[\p{L}\p{N}\p{P}\p{S}\p{Zs}\t\r\n]*$/u.test(text)) {
    const first = text.replace(/\s+/g, ' ').trim().slice(0, 40);
    return `text (${bytes.length.toLocaleString('en-US')} bytes) starting ${JSON.stringify(first)}`;
  }
  const hex = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `binary data (${bytes.length.toLocaleString('en-US')} bytes) starting ${hex}`;
}

function notAModel(bytes: Uint8Array, why: string, file?: string): never {
  const where = file ?? 'the input';
  // For text, what it is says enough; the protobuf details are for binary data.
  const found = describeBytes(bytes);
  const reason = why.startsWith(found) && found.startsWith('text') ? `it is ${found}` : why;
  return fail(ErrorCodes.ONNX_NOT_A_MODEL, `${where} is not an ONNX model: ${reason}`, { ...(file ? { file } : {}) });
}

/** Throws ONNX_NOT_A_MODEL when `bytes` clearly are not a ModelProto (see the file comment). */
export function assertLooksLikeModel(bytes: Uint8Array, file?: string): void {
  if (bytes.length === 0) notAModel(bytes, 'the file is empty', file);
  for (const s of SIGNATURES) {
    if (s.bytes.length <= bytes.length && s.bytes.every((b, i) => bytes[i] === b)) notAModel(bytes, `it is ${s.what}`, file);
  }
  const reader = protobuf.Reader.create(bytes);
  let fields = 0;
  let graph = false;
  // A walk that breaks down before any graph field is not a damaged model but something else.
  const broken = (what: string): void => {
    if (!graph) notAModel(bytes, `${describeBytes(bytes)}; ${what}, before any graph field`, file);
  };
  // Top-level walk: well-formed tags and lengths; the first two fields must be ModelProto's.
  while (reader.pos < bytes.length) {
    const at = reader.pos;
    let tag: number;
    try {
      tag = reader.uint32();
    } catch {
      if (fields < 2) notAModel(bytes, `${describeBytes(bytes)}; byte ${at} does not start a protobuf field`, file);
      broken(`byte ${at} does not start a protobuf field`);
      return; // a damaged model further on: the decoder says where
    }
    const fieldNo = tag >>> 3;
    const wire = tag & 7;
    const field = fieldNo > 0 ? ModelProtoType.fieldsById[fieldNo] : undefined;
    if (fields < 2) {
      if (!field) notAModel(bytes, `${describeBytes(bytes)}; its ${fields === 0 ? 'first' : 'second'} field (number ${fieldNo}, ${WIRE_NAMES[wire] ?? `wire type ${wire}`}) is not a ModelProto field`, file);
      const expected = field.resolvedType || field.type === 'string' || field.type === 'bytes' ? 2 : field.type === 'float' ? 5 : field.type === 'double' ? 1 : 0;
      if (wire !== expected && !(field.repeated && wire === 2)) {
        notAModel(bytes, `${describeBytes(bytes)}; its ${fields === 0 ? 'first' : 'second'} field would be ModelProto.${field.name} (${field.type}) but arrives as ${WIRE_NAMES[wire] ?? `wire type ${wire}`}`, file);
      }
    }
    if (fieldNo === 7 && wire === 2) graph = true;
    try {
      if (wire === 3 || wire === 4 || wire > 5) {
        broken(`field ${fieldNo} at byte ${at} has ${WIRE_NAMES[wire] ?? `wire type ${wire}`}`);
        return; // the decoder reports it
      }
      reader.skipType(wire);
    } catch {
      broken(`field ${fieldNo} at byte ${at} runs past the end`);
      return; // out of bounds: a truncated model, the decoder reports it
    }
    if (reader.pos > bytes.length) {
      broken(`field ${fieldNo} at byte ${at} runs past the end`);
      return;
    }
    fields++;
  }
  if (!graph) notAModel(bytes, `protobuf data with ${fields} top-level field${fields === 1 ? '' : 's'} but no graph (ModelProto.graph, field 7)`, file);
}
