// Elementwise ops with broadcasting and their VJPs: add/sub/mul/div/pow/maximum/minimum,
// scalar forms, and the unary maths and activations (exp, log, sqrt, relu, gelu(tanh), silu, ...).
import { record } from "../../autograd/tape.js";
import type { BinaryOp, UnaryOp } from "../backend/kernels.js";
import { shapeStr, Tensor, TensorError } from "../tensor.js";
import { checkSameKind, contiguousRaw, emptyLike } from "./checks.js";
import { sumTo } from "./reduce.js";

/** The broadcast shape of a and b, or an error naming the op and both shapes. */
export function broadcastShape(op: string, a: readonly number[], b: readonly number[]): number[] {
  const nd = Math.max(a.length, b.length);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const da = a[a.length - nd + i] ?? 1;
    const db = b[b.length - nd + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new TensorError(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read t as if broadcast to `shape` (0 on broadcast dims). */
export function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const nd = shape.length;
  const s = new Array<number>(nd).fill(0);
  for (let d = 0; d < t.ndim; d++) {
    const od = nd - t.ndim + d;
    s[od] = t.shape[d] === 1 && shape[od] !== 1 ? 0 : t.strides[d];
  }
  return s;
}

function asTensor(v: Tensor | number, like: Tensor): Tensor {
  return typeof v === "number" ? Tensor.scalar(v, { dtype: like.dtype, backend: like.backend }) : v;
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkSameKind(op, a, b);
  const shape = broadcastShape(op, a.shape, b.shape);
  const out = emptyLike(a, shape);
  a.kernels().binary(op, a.data, a.offset, broadcastStrides(a, shape), b.data, b.offset, broadcastStrides(b, shape), out.data, shape);
  return out;
}

export function add(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  return record(binaryRaw("add", a, b), "add", [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  return record(binaryRaw("sub", a, b), "sub", [a, b], (g) => [sumTo(g, a.shape), b.requiresGrad ? sumTo(neg(g), b.shape) : null]);
}

export function mul(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  return record(binaryRaw("mul", a, b), "mul", [a, b], (g) => [
    a.requiresGrad ? sumTo(mul(g, b), a.shape) : null,
    b.requiresGrad ? sumTo(mul(g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  return record(binaryRaw("div", a, b), "div", [a, b], (g) => [
    a.requiresGrad ? sumTo(div(g, b), a.shape) : null,
    // d(a/b)/db = -a / b^2
    b.requiresGrad ? sumTo(neg(div(mul(g, a), mul(b, b))), b.shape) : null,
  ]);
}

/** a ** b elementwise (b a tensor or a number). */
export function pow(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  const out = binaryRaw("pow", a, b);
  return record(out, "pow", [a, b], (g) => [
    // d/da = b * a^(b-1)
    a.requiresGrad ? sumTo(mul(g, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
    // d/db = a^b * ln a
    b.requiresGrad ? sumTo(mul(g, mul(out, log(a))), b.shape) : null,
  ]);
}

function selectGrad(op: "max" | "min", a: Tensor, b: Tensor, g: Tensor, forA: boolean): Tensor {
  // The gradient goes to the operand that won (a on ties).
  const shape = g.shape;
  const ad = contiguousRaw(expandRaw(a, shape)).contiguousData();
  const bd = contiguousRaw(expandRaw(b, shape)).contiguousData();
  const gd = g.contiguousData();
  const out = emptyLike(g);
  const od = out.data;
  for (let i = 0; i < od.length; i++) {
    const aWins = op === "max" ? ad[i] >= bd[i] : ad[i] <= bd[i];
    od[i] = aWins === forA ? gd[i] : 0;
  }
  return sumTo(out, forA ? a.shape : b.shape);
}

function expandRaw(t: Tensor, shape: readonly number[]): Tensor {
  return t.viewAs([...shape], broadcastStrides(t, shape), t.offset);
}

export function maximum(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  return record(binaryRaw("max", a, b), "maximum", [a, b], (g) => [selectGrad("max", a, b, g, true), selectGrad("max", a, b, g, false)]);
}

export function minimum(a: Tensor, bv: Tensor | number): Tensor {
  const b = asTensor(bv, a);
  return record(binaryRaw("min", a, b), "minimum", [a, b], (g) => [selectGrad("min", a, b, g, true), selectGrad("min", a, b, g, false)]);
}

export function addScalar(a: Tensor, s: number): Tensor {
  return add(a, s);
}

export function mulScalar(a: Tensor, s: number): Tensor {
  return mul(a, s);
}

// ---- unary ----

function unaryRaw(op: UnaryOp, x: Tensor): Tensor {
  const c = contiguousRaw(x);
  const out = emptyLike(x);
  x.kernels().unary(op, c.contiguousData(), out.data, out.size);
  return out;
}

/** A unary op whose derivative the backend computes from the input (gx = gy * f'(x)). */
function unary(op: UnaryOp, x: Tensor): Tensor {
  const out = unaryRaw(op, x);
  return record(out, op, [x], (g) => {
    const gx = emptyLike(x);
    const gc = contiguousRaw(g);
    x.kernels().unaryBackward(op, contiguousRaw(x).contiguousData(), gc.contiguousData(), gx.data, gx.size);
    return [gx];
  });
}

export const neg = (x: Tensor): Tensor => unary("neg", x);
export const exp = (x: Tensor): Tensor => unary("exp", x);
export const log = (x: Tensor): Tensor => unary("log", x);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
export const abs = (x: Tensor): Tensor => unary("abs", x);
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** GELU with the tanh approximation (GPT-2's). */
export const gelu = (x: Tensor): Tensor => unary("gelu", x);
export const silu = (x: Tensor): Tensor => unary("silu", x);
export const square = (x: Tensor): Tensor => unary("square", x);
export const recip = (x: Tensor): Tensor => unary("recip", x);
