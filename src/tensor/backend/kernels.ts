// The kernel interface every backend implements: plain functions over typed arrays.
// Tensors, views and autograd live above this line; kernels see raw storage, element
// offsets and sizes. The reference backend (ref.ts) is the definition of correct.

/** Raw element storage. f32 is the default; f64 is for the reference backend and gradchecks. */
export type Storage = Float32Array | Float64Array;

export type BinaryOp = "add" | "sub" | "mul" | "div" | "pow" | "max" | "min";
export type UnaryOp =
  | "neg" | "exp" | "log" | "sqrt" | "rsqrt" | "abs" | "tanh" | "sigmoid"
  | "relu" | "gelu" | "silu" | "square" | "recip";

/**
 * Row-major batched GEMM: C[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i], i < batch.
 * op(A) is M×K: element (m,k) lives at aOff + m*lda + k, or at aOff + k*lda + m when transA.
 * op(B) is K×N: element (k,n) lives at bOff + k*ldb + n, or at bOff + n*ldb + k when transB.
 * C is M×N at cOff + m*ldc + n. Batches step by strideA/strideB/strideC (0 broadcasts).
 * beta is 0 (overwrite; C need not be initialised) or 1 (accumulate).
 */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  a: Storage;
  aOff: number;
  lda: number;
  b: Storage;
  bOff: number;
  ldb: number;
  beta: 0 | 1;
  c: Storage;
  cOff: number;
  ldc: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

/**
 * Causal scaled-dot-product attention, flash style (no T×T buffer).
 * q is (B, T, H, D): element (b,t,h,d) at qOff + (b*T + t)*qRowStride + h*D + d.
 * k, v are (B, T, Hkv, D) with kvRowStride (grouped-query attention: head h reads kv head h / (H/Hkv)).
 * out is contiguous (B, T, H, D); lse is contiguous (B, H, T) (log-sum-exp of the scaled scores per query).
 */
export interface AttentionArgs {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  scale: number;
  q: Storage;
  qOff: number;
  qRowStride: number;
  k: Storage;
  kOff: number;
  v: Storage;
  vOff: number;
  kvRowStride: number;
  out: Storage;
  lse: Storage;
}

/** Backward of {@link AttentionArgs}: gq (B,T,H,D), gk/gv (B,T,Hkv,D), contiguous, overwritten. */
export interface AttentionBackwardArgs extends AttentionArgs {
  gout: Storage;
  gq: Storage;
  gk: Storage;
  gv: Storage;
}

/** Positions per block of a decoder's key cache (see {@link KvCaches}). */
export const DECODE_KEY_BLOCK = 16;

/**
 * A batch decoder's key/value caches for one layer, `slotStride` floats per sequence (slot), maxLen = slotStride /
 * (Hkv * D) positions, a multiple of {@link DECODE_KEY_BLOCK} (16). Values as (positions, Hkv, D): element (s, j, hk, d)
 * at s * slotStride + (j * Hkv + hk) * D + d. Keys in blocks of 16 positions, (positions / 16, Hkv, D, 16): element
 * (s, j, hk, d) at s * slotStride + (j >> 4) * Hkv * D * 16 + (hk * D + d) * 16 + (j & 15), so that a query's scores
 * against 16 consecutive positions are vector FMAs without horizontal sums and a sequence's keys, like its values,
 * are one run of memory read front to back.
 */
export interface KvCaches {
  kCache: Float32Array;
  vCache: Float32Array;
  slotStride: number;
}

/**
 * For each row r < n of a fused projection (query (H, D), key (Hkv, D), value (Hkv, D) at qkv[qkvOff + r *
 * qkvRowStride ..]): when ropeBase > 0, rotates the query and the key in place as {@link Kernels.rope} at position
 * pos[r]; then writes the key and value to position pos[r] of slot slot[r] of the caches.
 */
export interface KvAppendArgs extends KvCaches {
  n: number;
  H: number;
  Hkv: number;
  D: number;
  qkv: Float32Array;
  qkvOff: number;
  qkvRowStride: number;
  slot: Int32Array;
  pos: Int32Array;
  /** RoPE base (10000 for Llama), or 0 for none. */
  ropeBase: number;
}

/**
 * Decoding attention over cached keys and values, many rows in one call: for each entry i < n, the query (H, D) of
 * row r = row[i] at q[qOff + r * qRowStride ..] attends to positions 0..len[i]-1 of slot slot[i] of the caches
 * (grouped-query: head h reads kv head h / (H / Hkv)); out row r (H, D), at out[r * H * D ..], is overwritten with
 * softmax(q·kᵀ·scale)·v (max-subtracted). Rows not listed are left alone. Each row's result depends on its own
 * inputs only (batch-invariant).
 */
export interface DecodeAttentionArgs extends KvCaches {
  n: number;
  H: number;
  Hkv: number;
  D: number;
  scale: number;
  q: Float32Array;
  qOff: number;
  qRowStride: number;
  row: Int32Array;
  slot: Int32Array;
  len: Int32Array;
  out: Float32Array;
}

export interface AdamWArgs {
  param: Storage;
  grad: Storage;
  m: Storage;
  v: Storage;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Bias corrections 1 - beta^t, computed by the caller. */
  bc1: number;
  bc2: number;
}

/**
 * A weight W (N, K) = (out, in) packed once by {@link Kernels.packWeight} for {@link Kernels.gemmPacked}. Opaque: a
 * copy of W in the layout of the backend (and, natively, the SIMD level) that packed it, which is all `layout` names;
 * later changes to W are not seen.
 */
export interface PackedWeight {
  readonly N: number;
  readonly K: number;
  /** "ref", or the native SIMD level ("avx512", "avx2", "scalar") whose panels `data` holds. */
  readonly layout: string;
  readonly data: Storage;
}

/** Thrown by {@link Kernels.gemmPacked} for a weight packed by another backend or SIMD level, or of the wrong size. */
export class PackedWeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PackedWeightError";
  }
}

/**
 * Every kernel a backend provides. Unless stated, arrays are contiguous and start at 0,
 * outputs are overwritten, and all float arrays of one call share a dtype.
 */
export interface Kernels {
  readonly name: "ref" | "native";
  /** Whether this backend runs kernels for this dtype (the native one runs f32 only). */
  supports(dtype: "f32" | "f64"): boolean;

  gemm(p: GemmArgs): void;
  /**
   * Two independent products, the same results as gemm(p) then gemm(q) (neither's C may overlap the other's
   * operands); the native backend runs them side by side on its threads (a linear layer's dX and dW).
   */
  gemmPair(p: GemmArgs, q: GemmArgs): void;

  /** out[i] = x[xOff + sum_d idx_d * xStrides[d]] over the contiguous index space of `shape`. */
  copyStrided(x: Storage, xOff: number, xStrides: readonly number[], out: Storage, shape: readonly number[]): void;
  /** out = a op b with broadcasting encoded by strides (0 on broadcast dims); out contiguous over `shape`. */
  binary(
    op: BinaryOp,
    a: Storage, aOff: number, aStrides: readonly number[],
    b: Storage, bOff: number, bStrides: readonly number[],
    out: Storage, shape: readonly number[],
  ): void;
  /** out[i] = f(x[i]) (with scalar `alpha` for ops that take one: none yet). */
  unary(op: UnaryOp, x: Storage, out: Storage, n: number): void;
  /** gx[i] = gy[i] * f'(x[i]) for the ops whose derivative is a function of x. */
  unaryBackward(op: UnaryOp, x: Storage, gy: Storage, gx: Storage, n: number): void;
  /** out[o, i] = sum_d x[o, d, i]  (x viewed as (outer, dim, inner)). */
  sumAxis(x: Storage, out: Storage, outer: number, dim: number, inner: number): void;
  /** out[o, i] = max_d x[o, d, i]; arg[o, i] = argmax (first on ties). */
  maxAxis(x: Storage, out: Storage, arg: Int32Array, outer: number, dim: number, inner: number): void;

  /** Row softmax (or log-softmax) over the last axis of (rows, cols). */
  softmax(x: Storage, out: Storage, rows: number, cols: number, log: boolean): void;
  /** Backward of softmax given its output y: gx = y*(gy - sum(gy*y)) or, for log, gy - exp(y)*sum(gy). */
  softmaxBackward(y: Storage, gy: Storage, gx: Storage, rows: number, cols: number, log: boolean): void;

  /** LayerNorm over the last axis; w/b may be null; saves mean and rstd per row. */
  layerNorm(
    x: Storage, w: Storage | null, b: Storage | null, out: Storage,
    mean: Storage, rstd: Storage, rows: number, cols: number, eps: number,
  ): void;
  /** gx overwritten; gw/gb accumulated (+=) when not null. */
  layerNormBackward(
    x: Storage, w: Storage | null, mean: Storage, rstd: Storage, gy: Storage,
    gx: Storage, gw: Storage | null, gb: Storage | null, rows: number, cols: number,
  ): void;
  rmsNorm(x: Storage, w: Storage | null, out: Storage, rstd: Storage, rows: number, cols: number, eps: number): void;
  rmsNormBackward(
    x: Storage, w: Storage | null, rstd: Storage, gy: Storage,
    gx: Storage, gw: Storage | null, rows: number, cols: number,
  ): void;

  /** out[i, :] = weight[ids[i], :] for i < n; ids are checked by the caller. */
  embedding(weight: Storage, ids: Int32Array, out: Storage, n: number, dim: number): void;
  /** gw[ids[i], :] += gy[i, :] (scatter-add). */
  embeddingBackward(gy: Storage, ids: Int32Array, gw: Storage, n: number, dim: number): void;

  /**
   * Per-row cross-entropy: loss[r] = lse(logits[r]) - logits[r, target[r]], and lse[r] saved;
   * rows whose target equals ignoreIndex get loss 0.
   */
  crossEntropy(
    logits: Storage, targets: Int32Array, losses: Storage, lse: Storage,
    rows: number, vocab: number, ignoreIndex: number,
  ): void;
  /** glogits[r] = gloss[r] * (softmax(logits[r]) - onehot(target[r])); 0 for ignored rows. */
  crossEntropyBackward(
    logits: Storage, targets: Int32Array, lse: Storage, gloss: Storage, glogits: Storage,
    rows: number, vocab: number, ignoreIndex: number,
  ): void;

  attention(p: AttentionArgs): void;
  attentionBackward(p: AttentionBackwardArgs): void;

  /**
   * Rotary embedding on x (B, T, H, D) contiguous, pairs (d, d + D/2) (the Llama/HF "rotate_half" layout),
   * position of row t is pos0 + t; inverse rotates by -angle (the backward).
   */
  rope(x: Storage, out: Storage, B: number, T: number, H: number, D: number, base: number, pos0: number, inverse: boolean): void;

  /** New keys and values of decoded tokens into a batch decoder's caches, RoPE first (f32; see {@link KvAppendArgs}). */
  kvAppend(p: KvAppendArgs): void;
  /** One attention row per decoded token over its own sequence's cache (f32; see {@link DecodeAttentionArgs}). */
  decodeAttention(p: DecodeAttentionArgs): void;

  /** One AdamW step in place on param/m/v (decoupled weight decay). */
  adamw(p: AdamWArgs): void;

  /** Packs W (N, K) row-major at w[wOff..] once for {@link Kernels.gemmPacked} (inference weights). */
  packWeight(w: Storage, wOff: number, N: number, K: number): PackedWeight;
  /**
   * y (M, N) = x (M, K) · Wᵀ (+ bias (N)) over a packed W; x and y contiguous from 0, y overwritten. Batch-invariant:
   * each element's arithmetic is the same for every M, so a row gives bit for bit the same result alone or among
   * others (and on any thread count). Throws if W was packed under another backend or SIMD level.
   */
  gemmPacked(x: Storage, M: number, w: PackedWeight, bias: Storage | null, y: Storage): void;
}
