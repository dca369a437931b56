/**
 * Reading a model file without holding its bytes twice. `loadModel` used to read the whole
 * file into one buffer and decode it: every tensor was a view into that buffer, so the buffer
 * lived as long as any tensor did, and a float32 weight at an offset not a multiple of 4 was
 * copied again to be read as floats. Here the file is scanned with small reads, and every
 * large `raw_data` of a main-graph initializer (at least `threshold` bytes) is read straight
 * into a buffer of its own; the rest of the file (the "skeleton": the same messages with those
 * fields empty) is decoded as before, and the fields are put back into the decoded message
 * before it becomes a model. The model is the one the whole-file decode gives; each large
 * tensor's memory is freed once nothing uses it (e.g. after quantize replaces a weight).
 *
 * Only the common layout is handled: ModelProto.graph (field 7) once, its initializers
 * (GraphProto field 5), their raw_data (TensorProto field 9) once per tensor. Anything else the
 * scan does not expect (a repeated graph field, group wire types, a length past the end) makes
 * it give up: the caller then decodes the whole file, which reports errors as it always did.
 */
import * as fs from 'node:fs';

/** Where one large raw_data lies: the initializer's index in the main graph and the byte range in the file. */
export interface LargeField {
  initializer: number;
  offset: number;
  length: number;
}

export interface Skeleton {
  /** The file with every large raw_data replaced by an empty one (lengths of the enclosing messages adjusted). */
  bytes: Uint8Array;
  large: LargeField[];
}

/** Thrown when the file is not in the layout the scan handles (the caller falls back). */
class NotHandled extends Error {}

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

/** Buffered random-access reads of a file. */
class FileBytes {
  private buf = Buffer.allocUnsafe(1 << 16);
  private start = 0;
  private len = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  byte(pos: number): number {
    if (pos >= this.size) throw new NotHandled('past the end');
    if (pos < this.start || pos >= this.start + this.len) {
      this.start = pos;
      this.len = fs.readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - pos), pos);
      if (this.len <= 0) throw new NotHandled('short read');
    }
    return this.buf[pos - this.start]!;
  }

  /** A varint at `pos`: [value, position after it]. */
  varint(pos: number): [number, number] {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(pos + i);
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (v > Number.MAX_SAFE_INTEGER) throw new NotHandled('varint too large');
        return [v, pos + i + 1];
      }
      mul *= 128;
    }
    throw new NotHandled('varint too long');
  }

  /** A copy of [pos, pos + length) in a buffer of its own. */
  read(pos: number, length: number): Uint8Array {
    if (pos + length > this.size) throw new NotHandled('past the end');
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, pos + done);
      if (n <= 0) throw new NotHandled('short read');
      done += n;
    }
    return out;
  }
}

function varintBytes(v: number): Uint8Array {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

interface Field {
  no: number;
  wire: number;
  /** Start of the tag, start of the payload (after the length for wire type 2), end. */
  at: number;
  body: number;
  end: number;
}

/** The fields of the message [start, end). */
function* fields(f: FileBytes, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const at = pos;
    const [tag, p] = f.varint(pos);
    const no = Math.floor(tag / 8);
    const wire = tag % 8;
    if (no === 0) throw new NotHandled('field 0');
    let body = p;
    let stop: number;
    switch (wire) {
      case 0:
        stop = f.varint(p)[1];
        break;
      case 1:
        stop = p + 8;
        break;
      case 2: {
        const [len, q] = f.varint(p);
        body = q;
        stop = q + len;
        break;
      }
      case 5:
        stop = p + 4;
        break;
      default:
        throw new NotHandled(`wire type ${wire}`);
    }
    if (stop > end) throw new NotHandled('field past its message');
    yield { no, wire, at, body, end: stop };
    pos = stop;
  }
}

/** Chunks of a rebuilt message field: tag, new length, content. */
function lengthDelimited(f: FileBytes, field: Field, content: Uint8Array[]): Uint8Array[] {
  const tag = f.read(field.at, field.body - field.at);
  // The tag is the bytes before the length varint: re-read it without the old length.
  const tagLen = f.varint(field.at)[1] - field.at;
  const total = content.reduce((s, c) => s + c.byteLength, 0);
  return [tag.subarray(0, tagLen), varintBytes(total), ...content];
}

/**
 * The skeleton of the model file `file` (see the header), or undefined when it has no raw_data
 * of at least `threshold` bytes or is not in the layout handled.
 */
export function readSkeleton(file: string, threshold: number): Skeleton | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const f = new FileBytes(fd, fs.fstatSync(fd).size);
    const large: LargeField[] = [];
    const out: Uint8Array[] = [];
    let graphs = 0;
    for (const mf of fields(f, 0, f.size)) {
      if (mf.no !== MODEL_GRAPH || mf.wire !== 2) {
        out.push(f.read(mf.at, mf.end - mf.at));
        continue;
      }
      if (++graphs > 1) throw new NotHandled('more than one graph field');
      const graph: Uint8Array[] = [];
      let init = 0;
      for (const gf of fields(f, mf.body, mf.end)) {
        if (gf.no !== GRAPH_INITIALIZER || gf.wire !== 2) {
          graph.push(f.read(gf.at, gf.end - gf.at));
          continue;
        }
        const index = init++;
        const tensor: Uint8Array[] = [];
        let raws = 0;
        let big: LargeField | undefined;
        for (const tf of fields(f, gf.body, gf.end)) {
          if (tf.no === TENSOR_RAW_DATA) raws++;
          if (tf.no === TENSOR_RAW_DATA && tf.wire === 2 && tf.end - tf.body >= threshold) {
            big = { initializer: index, offset: tf.body, length: tf.end - tf.body };
            tensor.push(Uint8Array.of((TENSOR_RAW_DATA << 3) | 2, 0));
          } else tensor.push(f.read(tf.at, tf.end - tf.at));
        }
        if (big && raws > 1) throw new NotHandled('raw_data given twice');
        if (big) {
          large.push(big);
          graph.push(...lengthDelimited(f, gf, tensor));
        } else graph.push(f.read(gf.at, gf.end - gf.at));
      }
      out.push(...lengthDelimited(f, mf, graph));
    }
    if (large.length === 0) return undefined;
    const total = out.reduce((s, c) => s + c.byteLength, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const c of out) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    return { bytes, large };
  } catch (e) {
    if (e instanceof NotHandled) return undefined;
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads the large fields of a skeleton from `file`, each into a buffer of its own. */
export function readLargeFields(file: string, large: readonly LargeField[]): Uint8Array[] {
  const fd = fs.openSync(file, 'r');
  try {
    const f = new FileBytes(fd, fs.fstatSync(fd).size);
    return large.map((l) => f.read(l.offset, l.length));
  } finally {
    fs.closeSync(fd);
  }
}
