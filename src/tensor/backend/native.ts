// The native backend: loads the C++ addon (native/, built at `npm install` into build/Release) and adapts
// it to the Kernels interface. Importing this never throws: if the addon is missing or fails to load,
// `nativeKernels` is null and `nativeLoadError` says why; llmforge then runs on the reference backend.
import { isMainThread } from "node:worker_threads";
import { loadAddon } from "../../io/addon.js";
import {
  type AdamWArgs, type AttentionArgs, type AttentionBackwardArgs, type BinaryOp, type DecodeAttentionArgs, type GemmArgs,
  type Kernels, type KvAppendArgs, type PackedWeight, PackedWeightError, type Storage, type UnaryOp,
} from "./kernels.js";

/** SIMD level the native kernels run with. */
export type SimdLevel = "avx512" | "avx2" | "scalar";

/** What the loaded addon runs on. */
export interface NativeInfo {
  simd: SimdLevel;
  threads: number;
  /** Whether the bf16 GEMM (avx512_bf16) is available. */
  bf16: boolean;
  /** Which bf16 GEMM runs: AMX tiles, avx512_bf16 `vdpbf16ps`, or none. */
  bf16Path: Bf16Path | "none";
  /** How quantised matmuls multiply q8 activations: AVX512-VNNI dpbusd, AVX2/AVX-512 maddubs, or plain C. */
  quantDot: "vnni" | "maddubs" | "scalar";
}

/** The two bf16 GEMM implementations: AMX tiles (TDPBF16PS) or AVX-512 `vdpbf16ps`. */
export type Bf16Path = "amx" | "avx512bf16";

/** Thrown when a native-only function is called but the addon is not loaded or lacks the feature. */
export class NativeBackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NativeBackendError";
  }
}

type I32 = Int32Array;
/** The raw addon exports (native/addon.cc); arguments are positional and checked in C++. */
interface NativeAddon {
  info(): NativeInfo & { cores: number; available: SimdLevel[] };
  setThreads(n: number): number;
  fmaPeak(threads: number, seconds: number): number;
  setSimd(level: string): SimdLevel;
  setBf16Path(path: string): Bf16Path | "none";
  gemm(...args: GemmTuple): void;
  gemmBf16(...args: GemmTuple): void;
  gemmPair(bf16: boolean, ...args: [...GemmTuple, ...GemmTuple]): void;
  copyStrided(x: Storage, xOff: number, xStrides: readonly number[], out: Storage, shape: readonly number[]): void;
  binary(op: number, a: Storage, aOff: number, aStrides: readonly number[], b: Storage, bOff: number,
    bStrides: readonly number[], out: Storage, shape: readonly number[]): void;
  unary(op: number, x: Storage, out: Storage, n: number): void;
  unaryBackward(op: number, x: Storage, gy: Storage, gx: Storage, n: number): void;
  sumAxis(x: Storage, out: Storage, outer: number, dim: number, inner: number): void;
  maxAxis(x: Storage, out: Storage, arg: I32, outer: number, dim: number, inner: number): void;
  softmax(x: Storage, out: Storage, rows: number, cols: number, log: boolean): void;
  softmaxBackward(y: Storage, gy: Storage, gx: Storage, rows: number, cols: number, log: boolean): void;
  layerNorm(x: Storage, w: Storage | null, b: Storage | null, out: Storage, mean: Storage, rstd: Storage,
    rows: number, cols: number, eps: number): void;
  layerNormBackward(x: Storage, w: Storage | null, mean: Storage, rstd: Storage, gy: Storage, gx: Storage,
    gw: Storage | null, gb: Storage | null, rows: number, cols: number): void;
  rmsNorm(x: Storage, w: Storage | null, out: Storage, rstd: Storage, rows: number, cols: number, eps: number): void;
  rmsNormBackward(x: Storage, w: Storage | null, rstd: Storage, gy: Storage, gx: Storage, gw: Storage | null,
    rows: number, cols: number): void;
  embedding(weight: Storage, ids: I32, out: Storage, n: number, dim: number): void;
  embeddingBackward(gy: Storage, ids: I32, gw: Storage, n: number, dim: number): void;
  crossEntropy(logits: Storage, targets: I32, losses: Storage, lse: Storage, rows: number, vocab: number,
    ignoreIndex: number): void;
  crossEntropyBackward(logits: Storage, targets: I32, lse: Storage, gloss: Storage, glogits: Storage, rows: number,
    vocab: number, ignoreIndex: number): void;
  attention(...args: AttentionTuple): void;
  attentionBackward(...args: [...AttentionTuple, Storage, Storage, Storage, Storage]): void;
  rope(x: Storage, out: Storage, B: number, T: number, H: number, D: number, base: number, pos0: number,
    inverse: boolean): void;
  adamw(param: Storage, grad: Storage, m: Storage, v: Storage, n: number, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, bc1: number, bc2: number): void;
  kvAppend(n: number, H: number, Hkv: number, D: number, qkv: Float32Array, qkvOff: number, qkvRowStride: number, slot: I32,
    pos: I32, ropeBase: number, kCache: Float32Array, vCache: Float32Array, slotStride: number): void;
  decodeAttention(n: number, H: number, Hkv: number, D: number, scale: number, q: Float32Array, qOff: number, qRowStride: number,
    row: I32, slot: I32, len: I32, kCache: Float32Array, vCache: Float32Array, slotStride: number, out: Float32Array): void;
  packWeight(w: Storage, wOff: number, N: number, K: number): { data: Float32Array; layout: SimdLevel };
  gemmPacked(x: Storage, M: number, packed: Storage, layout: string, N: number, K: number, bias: Storage | null, y: Storage): void;
}
type GemmTuple = [boolean, boolean, number, number, number, number, Storage, number, number, Storage, number, number,
  number, Storage, number, number, number, number, number, number];
type AttentionTuple = [number, number, number, number, number, number, Storage, number, number, Storage, number,
  Storage, number, number, Storage, Storage];

// Op codes: the order of BinaryOpCode / UnaryOpCode in native/dispatch.h.
const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, pow: 4, max: 5, min: 6 };
const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, tanh: 6, sigmoid: 7, relu: 8, gelu: 9, silu: 10, square: 11,
  recip: 12,
};

function load(): { addon: NativeAddon | null; error: string | null } {
  if (process.env.LLMFORGE_BACKEND === "ref") return { addon: null, error: "LLMFORGE_BACKEND=ref asks for the reference backend" };
  // OpenMP threads that spin while waiting starve the thread they wait for when the CPU is shared
  // (measured here: 2-thread GEMM fell from ~90 to ~1-25 GFLOP/s under load); sleeping waits keep it
  // near the fair share. libgomp reads this once, when the addon loads it; an explicit setting wins,
  // and ours is removed again so child processes (e.g. benchmark peers) do not inherit it.
  const setWait = process.env.OMP_WAIT_POLICY === undefined;
  if (setWait) process.env.OMP_WAIT_POLICY = "passive";
  try {
    return loadAddon<NativeAddon>("llmforge_native", (a) => a.info());
  } finally {
    if (setWait) delete process.env.OMP_WAIT_POLICY;
  }
}

/**
 * What is wrong with the environment variables the addon reads when it loads (it falls back to its default for a value it
 * cannot use): one line per variable, saying what it does instead. `info` is the loaded addon's.
 */
export function nativeEnvWarnings(env: NodeJS.ProcessEnv, info: { simd: string; threads: number; cores: number; available: readonly string[] }): string[] {
  const out: string[] = [];
  const threads = env.LLMFORGE_THREADS;
  if (threads !== undefined && !/^\s*[1-9]\d*\s*$/.test(threads)) {
    out.push(`LLMFORGE_THREADS="${threads}" is not a whole number >= 1; using ${info.threads} threads (all ${info.cores} cores)`);
  }
  const simd = env.LLMFORGE_SIMD;
  if (simd !== undefined && simd !== "" && simd !== "auto") {
    if (!["avx512", "avx2", "scalar"].includes(simd)) out.push(`LLMFORGE_SIMD="${simd}" is not one of auto, avx512, avx2, scalar; using ${info.simd}`);
    else if (!info.available.includes(simd)) out.push(`LLMFORGE_SIMD=${simd}: this CPU does not have it (it has ${info.available.join(", ")}); using ${info.simd}`);
  }
  const backend = env.LLMFORGE_BACKEND;
  if (backend !== undefined && backend !== "" && backend !== "ref" && backend !== "native") out.push(`LLMFORGE_BACKEND="${backend}" is not ref or native; ignored`);
  const spin = env.LLMFORGE_SPIN_US;
  if (spin !== undefined && !/^\s*\d+\s*$/.test(spin)) out.push(`LLMFORGE_SPIN_US="${spin}" is not a whole number of microseconds >= 0; using the default`);
  return out;
}

const loaded = load();
const addon = loaded.addon;
/** Writes "llmforge: warning: LINE" to stderr, except under the test runner or LLMFORGE_QUIET. */
export function backendWarning(line: string): void {
  if (!process.env.VITEST && !process.env.LLMFORGE_QUIET) process.stderr.write(`llmforge: warning: ${line}\n`);
}

// said once per process: worker threads load this module again
if (addon && isMainThread) for (const line of nativeEnvWarnings(process.env, addon.info())) backendWarning(line);
const hasBf16 = addon ? addon.info().bf16 : false;

/** Why the native backend is not available (null when it loaded). */
export const nativeLoadError: string | null = loaded.error;

function gemmTuple(p: GemmArgs): GemmTuple {
  return [p.transA, p.transB, p.M, p.N, p.K, p.alpha, p.a, p.aOff, p.lda, p.b, p.bOff, p.ldb, p.beta, p.c, p.cOff, p.ldc,
    p.batch, p.strideA, p.strideB, p.strideC];
}
function attentionTuple(p: AttentionArgs): AttentionTuple {
  return [p.B, p.T, p.H, p.Hkv, p.D, p.scale, p.q, p.qOff, p.qRowStride, p.k, p.kOff, p.v, p.vOff, p.kvRowStride, p.out,
    p.lse];
}

function makeKernels(a: NativeAddon): Kernels {
  return {
    name: "native",
    supports: (dtype) => dtype === "f32",
    gemm: (p) => a.gemm(...gemmTuple(p)),
    gemmPair: (p, q) => a.gemmPair(false, ...gemmTuple(p), ...gemmTuple(q)),
    copyStrided: (x, xOff, xStrides, out, shape) => a.copyStrided(x, xOff, xStrides, out, shape),
    binary: (op, x, xOff, xStrides, y, yOff, yStrides, out, shape) =>
      a.binary(BINARY_CODES[op], x, xOff, xStrides, y, yOff, yStrides, out, shape),
    unary: (op, x, out, n) => a.unary(UNARY_CODES[op], x, out, n),
    unaryBackward: (op, x, gy, gx, n) => a.unaryBackward(UNARY_CODES[op], x, gy, gx, n),
    sumAxis: (x, out, outer, dim, inner) => a.sumAxis(x, out, outer, dim, inner),
    maxAxis: (x, out, arg, outer, dim, inner) => a.maxAxis(x, out, arg, outer, dim, inner),
    softmax: (x, out, rows, cols, log) => a.softmax(x, out, rows, cols, log),
    softmaxBackward: (y, gy, gx, rows, cols, log) => a.softmaxBackward(y, gy, gx, rows, cols, log),
    layerNorm: (x, w, b, out, mean, rstd, rows, cols, eps) => a.layerNorm(x, w, b, out, mean, rstd, rows, cols, eps),
    layerNormBackward: (x, w, mean, rstd, gy, gx, gw, gb, rows, cols) =>
      a.layerNormBackward(x, w, mean, rstd, gy, gx, gw, gb, rows, cols),
    rmsNorm: (x, w, out, rstd, rows, cols, eps) => a.rmsNorm(x, w, out, rstd, rows, cols, eps),
    rmsNormBackward: (x, w, rstd, gy, gx, gw, rows, cols) => a.rmsNormBackward(x, w, rstd, gy, gx, gw, rows, cols),
    embedding: (weight, ids, out, n, dim) => a.embedding(weight, ids, out, n, dim),
    embeddingBackward: (gy, ids, gw, n, dim) => a.embeddingBackward(gy, ids, gw, n, dim),
    crossEntropy: (logits, targets, losses, lse, rows, vocab, ignoreIndex) =>
      a.crossEntropy(logits, targets, losses, lse, rows, vocab, ignoreIndex),
    crossEntropyBackward: (logits, targets, lse, gloss, glogits, rows, vocab, ignoreIndex) =>
      a.crossEntropyBackward(logits, targets, lse, gloss, glogits, rows, vocab, ignoreIndex),
    attention: (p) => a.attention(...attentionTuple(p)),
    attentionBackward: (p: AttentionBackwardArgs) =>
      a.attentionBackward(...attentionTuple(p), p.gout, p.gq, p.gk, p.gv),
    rope: (x, out, B, T, H, D, base, pos0, inverse) => a.rope(x, out, B, T, H, D, base, pos0, inverse),
    adamw: (p: AdamWArgs) =>
      a.adamw(p.param, p.grad, p.m, p.v, p.n, p.lr, p.beta1, p.beta2, p.eps, p.weightDecay, p.bc1, p.bc2),
    kvAppend: (p: KvAppendArgs) =>
      a.kvAppend(p.n, p.H, p.Hkv, p.D, p.qkv, p.qkvOff, p.qkvRowStride, p.slot, p.pos, p.ropeBase, p.kCache, p.vCache, p.slotStride),
    decodeAttention: (p: DecodeAttentionArgs) =>
      a.decodeAttention(p.n, p.H, p.Hkv, p.D, p.scale, p.q, p.qOff, p.qRowStride, p.row, p.slot, p.len, p.kCache, p.vCache,
        p.slotStride, p.out),
    packWeight: (w, wOff, N, K): PackedWeight => ({ N, K, ...a.packWeight(w, wOff, N, K) }),
    gemmPacked: (x, M, w, bias, y) => {
      if (w.layout === "ref") throw new PackedWeightError("gemmPacked: the weight was packed by the reference backend, not the native one: pack it again");
      a.gemmPacked(x, M, w.data, w.layout, w.N, w.K, bias, y);
    },
  };
}

/** The native kernels (f32 only), or null when the addon did not load (see {@link nativeLoadError}). */
export const nativeKernels: Kernels | null = addon ? makeKernels(addon) : null;

function need(): NativeAddon {
  if (!addon) throw new NativeBackendError(`llmforge native backend unavailable: ${nativeLoadError}`);
  return addon;
}

/**
 * SIMD level, thread count and bf16 support of the loaded addon. When the addon did not load this does not
 * throw: it reports { simd: "scalar", threads: 1, bf16: false } and {@link nativeLoadError} says why.
 */
export function nativeInfo(): NativeInfo {
  if (!addon) return { simd: "scalar", threads: 1, bf16: false, bf16Path: "none", quantDot: "scalar" };
  const i = addon.info();
  return { simd: i.simd, threads: i.threads, bf16: i.bf16, bf16Path: i.bf16Path, quantDot: i.quantDot };
}

/** Sets the number of threads every native kernel uses (default: LLMFORGE_THREADS, else all cores). */
export function setNativeThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNativeThreads: expected a positive integer, got ${n}`);
  need().setThreads(n);
}

/**
 * The machine's fp32 FMA ceiling in GFLOP/s at the current SIMD level: independent vector FMA chains on `threads`
 * threads at once for about `seconds` (best round). What the benchmarks' "% of peak" divides by.
 */
export function nativeFmaPeak(threads: number, seconds = 0.3): number {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`nativeFmaPeak: expected a positive integer, got ${threads}`);
  return need().fmaPeak(threads, seconds);
}

/**
 * Switches the SIMD level at run time ("auto" picks the best the CPU has). For tests and benchmarks of
 * the fallback paths; throws if the CPU does not support the level. Returns the level now in use.
 */
export function setNativeSimd(level: SimdLevel | "auto"): SimdLevel {
  return need().setSimd(level);
}

/**
 * Picks the bf16 GEMM implementation ("auto": AMX when the CPU and kernel allow it, else vdpbf16ps).
 * For tests and benchmarks; throws if the path is not supported here. Returns the path now in use.
 */
export function setNativeBf16Path(path: Bf16Path | "auto"): Bf16Path | "none" {
  return need().setBf16Path(path);
}

/** SIMD levels this CPU can run. */
export function nativeSimdLevels(): SimdLevel[] {
  return need().info().available;
}

/**
 * bf16 GEMM on f32 arrays: op(A) and op(B) are rounded to bfloat16 (8-bit mantissa) and multiplied on AMX
 * tiles (TDPBF16PS) where available, else with avx512_bf16 `vdpbf16ps`, accumulating in f32; same arguments
 * and semantics as {@link Kernels.gemm}.
 * Expect a relative error around 2^-8 * sqrt(K) of the operands' scale. Throws NativeBackendError when
 * the addon is missing or the CPU has no avx512_bf16.
 */
export function gemmBf16(p: GemmArgs): void {
  const a = need();
  if (!hasBf16) throw new NativeBackendError("gemmBf16: this CPU has no avx512_bf16; use gemm (f32)");
  if (!(p.a instanceof Float32Array) || !(p.b instanceof Float32Array) || !(p.c instanceof Float32Array)) {
    throw new TypeError("gemmBf16: a, b and c must be Float32Array");
  }
  a.gemmBf16(...gemmTuple(p));
}

/** Two independent bf16 GEMMs side by side, the same results as gemmBf16(p) then gemmBf16(q) (see Kernels.gemmPair). */
export function gemmBf16Pair(p: GemmArgs, q: GemmArgs): void {
  const a = need();
  if (!hasBf16) throw new NativeBackendError("gemmBf16Pair: this CPU has no avx512_bf16; use gemmPair (f32)");
  for (const g of [p, q]) {
    if (!(g.a instanceof Float32Array) || !(g.b instanceof Float32Array) || !(g.c instanceof Float32Array)) {
      throw new TypeError("gemmBf16Pair: a, b and c must be Float32Array");
    }
  }
  a.gemmPair(true, ...gemmTuple(p), ...gemmTuple(q));
}
