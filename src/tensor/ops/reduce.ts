// Reductions with their VJPs: sum and mean over axes, max over one axis, and sumTo
// (the reduction that undoes broadcasting, used by every broadcasting op's backward).
import { record } from "../../autograd/tape.js";
import { contiguousStrides, shapeStr, Tensor, TensorError } from "../tensor.js";
import { contiguousRaw, emptyLike, normAxis } from "./checks.js";
import { mulScalar } from "./elementwise.js";
import { expand, reshape } from "./shape.js";

function sumAxisRaw(x: Tensor, ax: number): Tensor {
  const c = contiguousRaw(x);
  const outer = c.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const dim = c.shape[ax];
  const inner = c.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const shape = [...c.shape];
  shape[ax] = 1;
  const out = emptyLike(c, shape);
  c.kernels().sumAxis(c.contiguousData(), out.data, outer, dim, inner);
  return out;
}

function resolveAxes(op: string, x: Tensor, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = typeof axes === "number" ? [axes] : [...axes];
  return [...new Set(list.map((a) => normAxis(op, a, x.ndim)))].sort((a, b) => a - b);
}

/** Sum over axes (all by default); keepDims keeps reduced axes as size 1. */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = resolveAxes("sum", x, axes);
  let cur = x;
  for (const a of ax) cur = sumAxisRaw(cur, a);
  const keptShape = cur.shape;
  const outShape = keepDims ? [...keptShape] : x.shape.filter((_, i) => !ax.includes(i));
  const out = ax.length === 0 ? contiguousRaw(x) : cur.viewAs(outShape, contiguousStrides(outShape));
  const result = out === x ? Tensor.from(x.contiguousData(), x.shape, { dtype: x.dtype, backend: x.backend }) : out;
  return record(result, "sum", [x], (g) => [contiguousRaw(expand(reshape(g, keptShape), x.shape))]);
}


/** Mean over axes (all by default). */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = resolveAxes("mean", x, axes);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  return mulScalar(sum(x, ax, keepDims), 1 / count);
}

/** Max over one axis; the gradient flows to the first maximal element. */
export function max(x: Tensor, axis: number, keepDims = false): Tensor {
  const ax = normAxis("max", axis, x.ndim);
  if (x.shape[ax] === 0) throw new TensorError(`max: axis ${ax} of ${shapeStr(x.shape)} is empty`);
  const c = contiguousRaw(x);
  const outer = c.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const dim = c.shape[ax];
  const inner = c.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const keptShape = [...c.shape];
  keptShape[ax] = 1;
  const out = emptyLike(c, keepDims ? keptShape : c.shape.filter((_, i) => i !== ax));
  const arg = new Int32Array(outer * inner);
  c.kernels().maxAxis(c.contiguousData(), out.data, arg, outer, dim, inner);
  return record(out, "max", [x], (g) => {
    const gx = Tensor.zeros(x.shape, { dtype: x.dtype, backend: x.backend });
    const gd = g.contiguousData();
    const gxd = gx.data;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) gxd[(o * dim + arg[o * inner + i]) * inner + i] = gd[o * inner + i];
    }
    return [gx];
  });
}

/** Index of the max along an axis (no gradient). */
export function argmax(x: Tensor, axis: number): Int32Array {
  const ax = normAxis("argmax", axis, x.ndim);
  const c = contiguousRaw(x);
  const outer = c.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const dim = c.shape[ax];
  const inner = c.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const out = emptyLike(c, [outer * inner]);
  const arg = new Int32Array(outer * inner);
  c.kernels().maxAxis(c.contiguousData(), out.data, arg, outer, dim, inner);
  out.dispose();
  return arg;
}

/** Sums g down to `shape` (the reverse of broadcasting `shape` up to g.shape). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.join(",") === shape.join(",")) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new TensorError(`sumTo: cannot reduce ${shapeStr(g.shape)} to ${shapeStr(shape)}`);
  const axes: number[] = [];
  for (let d = 0; d < g.ndim; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  }
  let cur = g;
  for (const a of axes) cur = sumAxisRaw(cur, a);
  return reshape(cur, shape);
}
