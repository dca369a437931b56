/** Helpers over ONNX TypeProto objects stored on IR values. */
import type { TypePb } from './messages.js';
import type { Value } from './graph.js';
import { toLong } from './messages.js';
import { dtypeName } from './dtype.js';

/** A dimension: a number, a symbolic name, or null (unknown). */
export type Dim = number | string | null;

export interface TensorType {
  elemType: number;
  /** undefined = rank unknown. */
  shape?: Dim[];
}

export function tensorTypeOf(v: Value | undefined): TensorType | undefined {
  const t = v?.type?.tensor_type;
  if (!t) return undefined;
  const out: TensorType = { elemType: t.elem_type ?? 0 };
  if (t.shape) {
    out.shape = t.shape.dim.map((d) => {
      if (Object.prototype.hasOwnProperty.call(d, 'dim_value')) return Number(d.dim_value!.toString());
      if (Object.prototype.hasOwnProperty.call(d, 'dim_param')) return d.dim_param!;
      return null;
    });
  }
  return out;
}

export function makeTensorType(elemType: number, shape?: readonly Dim[]): TypePb {
  const tt: NonNullable<TypePb['tensor_type']> = { elem_type: elemType };
  if (shape) {
    tt.shape = {
      dim: shape.map((d) => (typeof d === 'number' ? { dim_value: toLong(d) } : typeof d === 'string' ? { dim_param: d } : {})),
    };
  }
  return { tensor_type: tt };
}

export function setTensorType(v: Value, elemType: number, shape?: readonly Dim[]): void {
  v.type = makeTensorType(elemType, shape);
}

export function formatDims(shape: readonly Dim[] | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

export function formatType(t: TypePb | undefined): string {
  if (!t) return '?';
  if (t.tensor_type) {
    const s = t.tensor_type.shape;
    const dims = s ? `[${s.dim.map((d) => (Object.prototype.hasOwnProperty.call(d, 'dim_value') ? String(d.dim_value) : d.dim_param ?? '?')).join(',')}]` : '';
    return `${dtypeName(t.tensor_type.elem_type ?? 0)}${dims}`;
  }
  if (t.sequence_type) return `seq(${formatType(t.sequence_type.elem_type)})`;
  if (t.optional_type) return `optional(${formatType(t.optional_type.elem_type)})`;
  if (t.map_type) return `map(${dtypeName(t.map_type.key_type ?? 0)},${formatType(t.map_type.value_type)})`;
  if (t.sparse_tensor_type) return `sparse(${dtypeName(t.sparse_tensor_type.elem_type ?? 0)})`;
  if (t.opaque_type) return `opaque(${t.opaque_type.domain ?? ''}.${t.opaque_type.name ?? ''})`;
  return '?';
}
