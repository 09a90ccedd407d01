// View and layout ops with their VJPs: reshape, transpose/permute, slice, expand,
// squeeze/unsqueeze, contiguous, concat and split. Views share storage; copies are explicit.
import { record } from "../../autograd/tape.js";
import { contiguousStrides, numelOf, shapeStr, type Tensor, TensorError } from "../tensor.js";
import { checkSameKind, contiguousRaw, emptyLike, normAxis, zerosLike } from "./checks.js";
import { sumTo } from "./reduce.js";

/** Same data, new shape (one dim may be -1). A view when the layout allows, a copy otherwise. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = [...shape];
  const neg = target.indexOf(-1);
  if (neg >= 0) {
    const rest = numelOf(target.filter((_, i) => i !== neg));
    if (rest === 0 || x.size % rest !== 0) throw new TensorError(`reshape: cannot infer -1 for ${shapeStr(x.shape)} -> ${shapeStr(shape)}`);
    target[neg] = x.size / rest;
  }
  if (numelOf(target) !== x.size) throw new TensorError(`reshape: ${shapeStr(x.shape)} (${x.size} elements) cannot become ${shapeStr(shape)}`);
  const strides = viewStrides(x.shape, x.strides, target);
  const out = strides ? x.viewAs(target, strides) : contiguousRaw(x).viewAs(target, contiguousStrides(target));
  return record(out, "reshape", [x], (g) => [reshape(g, x.shape)]);
}

/**
 * Strides that let `newShape` view storage laid out as (shape, strides) without a copy,
 * or null when the layout does not allow it (the same rule as PyTorch's view).
 */
export function viewStrides(shape: readonly number[], strides: readonly number[], newShape: readonly number[]): number[] | null {
  if (numelOf(shape) === 0 || shape.length === 0) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length);
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1];
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d];
    // A chunk ends where the layout stops being contiguous with the dims after it.
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? out : null;
}

/** Swaps two axes (a view). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const nd = x.ndim;
  const perm = Array.from({ length: nd }, (_, i) => i);
  const ia = normAxis("transpose", a, nd);
  const ib = normAxis("transpose", b, nd);
  perm[ia] = ib;
  perm[ib] = ia;
  return permute(x, perm);
}

/** Reorders axes (a view). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
    throw new TensorError(`permute: ${JSON.stringify(perm)} is not a permutation of ${x.ndim} axes`);
  }
  const out = x.viewAs(perm.map((p) => x.shape[p]), perm.map((p) => x.strides[p]));
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return record(out, "permute", [x], (g) => [permute(g, inv)]);
}

/** Elements start..end (exclusive) along axis (a view). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis("slice", axis, x.ndim);
  const n = x.shape[ax];
  if (!(start >= 0 && start <= end && end <= n)) {
    throw new TensorError(`slice: range [${start}, ${end}) out of bounds for axis ${ax} of ${shapeStr(x.shape)}`);
  }
  const shape = [...x.shape];
  shape[ax] = end - start;
  const out = x.viewAs(shape, x.strides, x.offset + start * x.strides[ax]);
  const regionOf = (dst: Tensor): Tensor => dst.viewAs(shape, dst.strides, dst.offset + start * dst.strides[ax]);
  return record(
    out, "slice", [x],
    (g) => {
      const gx = zerosLike(x);
      copyInto(regionOf(gx), g);
      return [gx];
    },
    (g, dst) => addInto(regionOf(dst), g),
  );
}

/** Merges adjacent dims that are laid out contiguously relative to each other (row-major walk unchanged). */
function coalesce(shape: readonly number[], strides: readonly number[]): { shape: number[]; strides: number[] } {
  const sh: number[] = [];
  const st: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = sh.length - 1;
    if (last >= 0 && st[last] === strides[d] * shape[d]) {
      sh[last] *= shape[d];
      st[last] = strides[d];
    } else {
      sh.push(shape[d]);
      st.push(strides[d]);
    }
  }
  if (sh.length === 0) return { shape: [1], strides: [1] };
  return { shape: sh, strides: st };
}

/** Walks the rows (all but the last dim) of a strided view, calling fn(rowOffset, rowIndex, rowLength, step). */
function forEachRow(dst: Tensor, fn: (off: number, row: number, inner: number, step: number) => void): void {
  const { shape, strides } = coalesce(dst.shape, dst.strides);
  const nd = shape.length;
  const inner = shape[nd - 1];
  const step = strides[nd - 1];
  const rows = inner === 0 ? 0 : dst.size / inner;
  const idx = new Array<number>(nd - 1).fill(0);
  let off = dst.offset;
  for (let r = 0; r < rows; r++) {
    fn(off, r, inner, step);
    for (let k = nd - 2; k >= 0; k--) {
      idx[k]++;
      off += strides[k];
      if (idx[k] < shape[k]) break;
      off -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
}

/** dst (a possibly strided view) += src, elementwise; shapes must match. */
export function addInto(dst: Tensor, src: Tensor): void {
  if (dst.shape.join(",") !== src.shape.join(",")) {
    throw new TensorError(`addInto: shapes ${shapeStr(dst.shape)} and ${shapeStr(src.shape)} differ`);
  }
  const s = src.contiguousData();
  const d = dst.data;
  if (dst.ndim === 0) {
    d[dst.offset] += s[0];
    return;
  }
  forEachRow(dst, (off, r, inner, step) => {
    const base = r * inner;
    if (step === 1) for (let i = 0; i < inner; i++) d[off + i] += s[base + i];
    else for (let i = 0; i < inner; i++) d[off + i * step] += s[base + i];
  });
}

/** Copies src into the (possibly strided) view dst, elementwise; shapes must match. */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (dst.shape.join(",") !== src.shape.join(",")) {
    throw new TensorError(`copyInto: shapes ${shapeStr(dst.shape)} and ${shapeStr(src.shape)} differ`);
  }
  const s = src.contiguousData();
  const d = dst.data;
  if (dst.ndim === 0) {
    d[dst.offset] = s[0];
    return;
  }
  forEachRow(dst, (off, r, inner, step) => {
    if (step === 1) d.set(s.subarray(r * inner, (r + 1) * inner), off);
    else for (let i = 0; i < inner; i++) d[off + i * step] = s[r * inner + i];
  });
}

/** Broadcasts x to `shape` (a view with zero strides). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const nd = shape.length;
  if (nd < x.ndim) throw new TensorError(`expand: cannot expand ${shapeStr(x.shape)} to fewer dims ${shapeStr(shape)}`);
  const strides = new Array<number>(nd);
  for (let d = 0; d < nd; d++) {
    const xd = d - (nd - x.ndim);
    const size = xd >= 0 ? x.shape[xd] : 1;
    if (size === shape[d]) strides[d] = xd >= 0 ? x.strides[xd] : 0;
    else if (size === 1) strides[d] = 0;
    else throw new TensorError(`expand: ${shapeStr(x.shape)} cannot broadcast to ${shapeStr(shape)}`);
  }
  const out = x.viewAs([...shape], strides);
  return record(out, "expand", [x], (g) => [sumTo(g, x.shape)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? axis + x.ndim + 1 : axis;
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const ax = normAxis("squeeze", axis, x.ndim);
  if (x.shape[ax] !== 1) throw new TensorError(`squeeze: axis ${ax} of ${shapeStr(x.shape)} has size ${x.shape[ax]}, not 1`);
  const shape = [...x.shape];
  shape.splice(ax, 1);
  return reshape(x, shape);
}

/** A contiguous copy when x is a non-contiguous view; x itself otherwise. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = contiguousRaw(x);
  return record(out, "contiguous", [x], (g) => [g]);
}

/** Joins tensors along an axis. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new TensorError("concat: no tensors given");
  checkSameKind("concat", ...xs);
  const first = xs[0];
  const ax = normAxis("concat", axis, first.ndim);
  for (const t of xs) {
    if (t.ndim !== first.ndim || t.shape.some((s, d) => d !== ax && s !== first.shape[d])) {
      throw new TensorError(`concat: ${shapeStr(t.shape)} does not match ${shapeStr(first.shape)} outside axis ${ax}`);
    }
  }
  const shape = [...first.shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const out = emptyLike(first, shape);
  const starts: number[] = [];
  let pos = 0;
  for (const t of xs) {
    starts.push(pos);
    const region = out.viewAs(t.shape, out.strides, pos * out.strides[ax]);
    copyInto(region, t);
    pos += t.shape[ax];
  }
  return record(out, "concat", xs, (g) => xs.map((t, i) => contiguous(sliceNoGrad(g, ax, starts[i], starts[i] + t.shape[ax]))));
}

function sliceNoGrad(x: Tensor, ax: number, start: number, end: number): Tensor {
  const shape = [...x.shape];
  shape[ax] = end - start;
  return x.viewAs(shape, x.strides, x.offset + start * x.strides[ax]);
}

/** Splits along an axis into pieces of the given sizes (views). */
export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const ax = normAxis("split", axis, x.ndim);
  const total = sizes.reduce((s, v) => s + v, 0);
  if (total !== x.shape[ax]) throw new TensorError(`split: sizes ${JSON.stringify(sizes)} sum to ${total}, axis ${ax} of ${shapeStr(x.shape)} has ${x.shape[ax]}`);
  const out: Tensor[] = [];
  let pos = 0;
  for (const s of sizes) {
    out.push(slice(x, ax, pos, pos + s));
    pos += s;
  }
  return out;
}

/** A tensor of the same values with its own storage. */
export function clone(x: Tensor): Tensor {
  const out = emptyLike(x);
  out.data.set(x.contiguousData());
  return record(out, "clone", [x], (g) => [g]);
}
