// Operand checks shared by every op: same dtype, same backend, and helpers to allocate outputs.
import { shapeStr, Tensor, TensorError } from "../tensor.js";

/** Throws when operands differ in dtype or backend, naming the op and both. */
export function checkSameKind(op: string, ...ts: Tensor[]): void {
  const a = ts[0];
  for (const b of ts.slice(1)) {
    if (b.dtype !== a.dtype) throw new TensorError(`${op}: dtype mismatch: ${a.dtype} ${shapeStr(a.shape)} vs ${b.dtype} ${shapeStr(b.shape)}`);
    if (b.backend.name !== a.backend.name) {
      throw new TensorError(`${op}: backend mismatch: ${a.backend.name} vs ${b.backend.name}`);
    }
  }
}

/** A new contiguous tensor like `t` (dtype, backend) with the given shape. */
export function emptyLike(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  return Tensor.empty(shape, { dtype: t.dtype, backend: t.backend });
}

export function zerosLike(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  return Tensor.zeros(shape, { dtype: t.dtype, backend: t.backend });
}

/** Normalises a possibly negative axis for a tensor of `ndim` dims. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) throw new TensorError(`${op}: axis ${axis} out of range for ${ndim} dims`);
  return a;
}

/** A contiguous version of t (t itself when already contiguous). No autograd. */
export function contiguousRaw(t: Tensor): Tensor {
  if (t.isContiguous()) return t;
  const out = emptyLike(t);
  t.kernels().copyStrided(t.data, t.offset, t.strides, out.data, t.shape);
  return out;
}
