// Matrix products with their VJPs: batched matmul with broadcasting batch dims, where
// transposed views are handed to GEMM as transposed operands (never copied), and linear.
import { record } from "../../autograd/tape.js";
import type { GemmArgs, Kernels } from "../backend/kernels.js";
import { gemmBf16, gemmBf16Pair, nativeInfo } from "../backend/native.js";
import { contiguousStrides, shapeStr, type Tensor, TensorError } from "../tensor.js";
import { checkSameKind, contiguousRaw, emptyLike } from "./checks.js";
import { broadcastShape } from "./elementwise.js";
import { sumTo } from "./reduce.js";
import { reshape, transpose } from "./shape.js";

export type MatmulPrecision = "f32" | "bf16";
let precision: MatmulPrecision = "f32";

/**
 * Mixed precision for matrix products (like torch autocast to bfloat16): with "bf16", f32 GEMMs on
 * the native backend multiply bf16-rounded operands with f32 accumulation, forward and backward.
 * Weights, gradients and every other op stay f32. Returns the previous setting. Ignored (f32)
 * where the CPU has no bf16 instructions or on the reference backend.
 */
export function setMatmulPrecision(p: MatmulPrecision): MatmulPrecision {
  const prev = precision;
  precision = p;
  return prev;
}

export function getMatmulPrecision(): MatmulPrecision {
  return precision;
}

/** Whether bf16 products are available here (native backend with avx512_bf16). */
export function bf16MatmulAvailable(): boolean {
  return nativeInfo().bf16;
}

function runGemm(k: Kernels, p: GemmArgs): void {
  if (precision === "bf16" && k.name === "native" && p.c instanceof Float32Array && bf16MatmulAvailable()) gemmBf16(p);
  else k.gemm(p);
}

/** Two independent products side by side (Kernels.gemmPair), at the matmul precision as runGemm. */
function runGemmPair(k: Kernels, p: GemmArgs, q: GemmArgs): void {
  if (precision === "bf16" && k.name === "native" && p.c instanceof Float32Array && q.c instanceof Float32Array && bf16MatmulAvailable()) gemmBf16Pair(p, q);
  else k.gemmPair(p, q);
}

/** The GEMM of a 2-D product a (M, K) @ b (K, N) into out (M, N) (row-major, contiguous), operands read in place. */
function gemm2d(a: Tensor, b: Tensor, out: Tensor): GemmArgs {
  const A = asOperand(a);
  const B = asOperand(b);
  const [M, K] = a.shape;
  const N = b.shape[1];
  return {
    transA: A.trans, transB: B.trans, M, N, K, alpha: 1, a: A.t.data, aOff: A.t.offset, lda: A.ld, b: B.t.data, bOff: B.t.offset, ldb: B.ld,
    beta: 0, c: out.data, cOff: out.offset, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: M * N,
  };
}

interface MatOperand {
  t: Tensor;
  trans: boolean;
  ld: number;
}

/** How GEMM reads the last two dims of t: row-major, transposed, or (if neither) a contiguous copy. */
function asOperand(t: Tensor): MatOperand {
  const nd = t.ndim;
  const [r, c] = [t.shape[nd - 2], t.shape[nd - 1]];
  const [sr, sc] = [t.strides[nd - 2], t.strides[nd - 1]];
  if (sc === 1 && (r <= 1 || sr >= c)) return { t, trans: false, ld: r <= 1 ? Math.max(c, 1) : sr };
  if (sr === 1 && (c <= 1 || sc >= r)) return { t, trans: true, ld: c <= 1 ? Math.max(r, 1) : sc };
  const cc = contiguousRaw(t);
  return { t: cc, trans: false, ld: Math.max(c, 1) };
}

/** A single stride that walks the batch dims of t broadcast to batchShape, or null if none does. */
function uniformBatchStride(t: Tensor, batchShape: readonly number[]): number | null {
  const nb = batchShape.length;
  const lead = nb - (t.ndim - 2);
  const strides = batchShape.map((s, d) => {
    const td = d - lead;
    return td < 0 || (t.shape[td] === 1 && s !== 1) ? 0 : t.strides[td];
  });
  // Collapse: the walk is uniform when stride[d] == stride[d+1] * shape[d+1] for all d (or all zero).
  if (strides.every((s) => s === 0)) return 0;
  let inner: number | null = null;
  let span = 1;
  for (let d = nb - 1; d >= 0; d--) {
    if (batchShape[d] === 1) continue;
    if (inner === null) {
      inner = strides[d];
      span = batchShape[d];
      continue;
    }
    if (strides[d] !== inner * span) return null;
    span *= batchShape[d];
  }
  return inner ?? 0;
}

function batchOffsets(t: Tensor, batchShape: readonly number[]): number[] {
  const nb = batchShape.length;
  const lead = nb - (t.ndim - 2);
  const count = batchShape.reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    let rem = i;
    let off = t.offset;
    for (let d = nb - 1; d >= 0; d--) {
      const idx = rem % batchShape[d];
      rem = Math.floor(rem / batchShape[d]);
      const td = d - lead;
      if (td >= 0 && t.shape[td] !== 1) off += idx * t.strides[td];
    }
    out.push(off);
  }
  return out;
}

/** Raw product (no autograd) of a (..., M, K) and b (..., K, N), 1-D operands promoted as in numpy. */
function matmulRaw(a: Tensor, b: Tensor, out?: Tensor, beta: 0 | 1 = 0): Tensor {
  const A = asOperand(a);
  const B = asOperand(b);
  const M = a.shape[a.ndim - 2];
  const K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  const batchShape = broadcastShape("matmul", a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const result = out ?? emptyLike(a, [...batchShape, M, N]);
  const sA = uniformBatchStride(A.t, batchShape);
  const sB = uniformBatchStride(B.t, batchShape);
  const base: GemmArgs = {
    transA: A.trans, transB: B.trans, M, N, K, alpha: 1,
    a: A.t.data, aOff: A.t.offset, lda: A.ld, b: B.t.data, bOff: B.t.offset, ldb: B.ld,
    beta, c: result.data, cOff: result.offset, ldc: N, batch, strideA: sA ?? 0, strideB: sB ?? 0, strideC: M * N,
  };
  const k = a.kernels();
  if (sA !== null && sB !== null) {
    runGemm(k, base);
  } else {
    const offA = batchOffsets(A.t, batchShape);
    const offB = batchOffsets(B.t, batchShape);
    for (let i = 0; i < batch; i++) {
      runGemm(k, { ...base, aOff: offA[i], bOff: offB[i], cOff: result.offset + i * M * N, batch: 1 });
    }
  }
  return result;
}

/** Matrix product with broadcasting batch dims: (..., M, K) @ (..., K, N) -> (..., M, N). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkSameKind("matmul", a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new TensorError(`matmul: scalar operand ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`);
  if (a.ndim === 1) return reshape(matmul(reshape(a, [1, a.shape[0]]), b), [...b.shape.slice(0, -2), b.shape[b.ndim - 1]]);
  if (b.ndim === 1) return reshape(matmul(a, reshape(b, [b.shape[0], 1])), a.shape.slice(0, -1));
  const K = a.shape[a.ndim - 1];
  if (b.shape[b.ndim - 2] !== K) {
    throw new TensorError(`matmul: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}: inner dims ${K} and ${b.shape[b.ndim - 2]} differ`);
  }
  const out = matmulRaw(a, b);
  return record(out, "matmul", [a, b], (g) => [
    a.requiresGrad ? sumTo(matmulRaw(g, transpose(b.detach())), a.shape) : null,
    b.requiresGrad ? sumTo(matmulRaw(transpose(a.detach()), g), b.shape) : null,
  ]);
}

/**
 * y = x @ w^T + b with w in PyTorch layout (out, in): x (..., in) -> (..., out).
 * The backward writes gw = g^T x and gb = sum g directly from GEMM.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  checkSameKind("linear", x, w, ...(b ? [b] : []));
  const inF = x.shape[x.ndim - 1];
  if (w.ndim !== 2 || w.shape[1] !== inF) {
    throw new TensorError(`linear: input ${shapeStr(x.shape)} and weight ${shapeStr(w.shape)}: expected weight (out, ${inF})`);
  }
  const outF = w.shape[0];
  if (b && (b.ndim !== 1 || b.shape[0] !== outF)) throw new TensorError(`linear: bias ${shapeStr(b.shape)} for weight ${shapeStr(w.shape)}: expected (${outF},)`);
  const x2 = contiguousRaw(x).viewAs([x.size / Math.max(inF, 1), inF], [inF, 1]);
  const rows = x2.shape[0];
  const out = emptyLike(x, [...x.shape.slice(0, -1), outF]);
  const out2 = out.viewAs([rows, outF], [outF, 1]);
  if (b) {
    // Seed C with the bias rows, then accumulate the product (beta = 1): one pass, no temp.
    x.kernels().copyStrided(b.data, b.offset, [0, b.strides[0]], out.data, [rows, outF]);
    matmulRaw(x2, transpose(w.detach()), out2, 1);
  } else {
    matmulRaw(x2, transpose(w.detach()), out2, 0);
  }
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, "linear", inputs, (g) => {
    const g2 = contiguousRaw(g).viewAs([rows, outF], [outF, 1]);
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    if (x.requiresGrad && w.requiresGrad) {
      // dX = g W and dW = gᵀ X side by side (Kernels.gemmPair): on two threads each runs whole on its own thread, where
      // one product split over both threads meets at a barrier per block (a 6 6 384 step 4-11% faster)
      const gx2 = emptyLike(x, [rows, inF]);
      gw = emptyLike(w, [outF, inF]);
      runGemmPair(g2.kernels(), gemm2d(g2, w.detach(), gx2), gemm2d(transpose(g2), x2, gw));
      gx = reshapeRaw(gx2, x.shape);
    } else {
      gx = x.requiresGrad ? reshapeRaw(matmulRaw(g2, w.detach()), x.shape) : null;
      gw = w.requiresGrad ? matmulRaw(transpose(g2), x2) : null;
    }
    let gb: Tensor | null = null;
    if (b?.requiresGrad) {
      gb = emptyLike(b);
      g2.kernels().sumAxis(g2.contiguousData(), gb.data, 1, rows, outF);
    }
    return b ? [gx, gw, gb] : [gx, gw];
  });
}

function reshapeRaw(t: Tensor, shape: readonly number[]): Tensor {
  return t.viewAs([...shape], contiguousStrides(shape));
}

