// GEMM throughput measurement shared by `llmforge doctor`, `llmforge bench gemm` and bench/gemm.bench.ts:
// times C = A @ B (f32, row-major, optional transposes) on the native backend, or the reference one
// when the addon is absent, with the same protocol as the OpenBLAS peer harness (bench/c/).
import type { GemmArgs, Kernels } from "./kernels.js";
import { gemmBf16, nativeInfo, nativeKernels, setNativeThreads } from "./native.js";
import { refKernels } from "./ref.js";

/** One GEMM shape: op(A) is M×K, op(B) is K×N. */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

export interface GemmBenchResult {
  /** Best rate over the timed chunks, in 10^9 floating-point operations (2·M·N·K per GEMM) per second. */
  gflops: number;
  backend: "native" | "ref";
  /** "f32" or "bf16" (bf16 products, f32 accumulation). */
  precision: "f32" | "bf16";
  threads: number;
  /** GEMM calls timed. */
  iterations: number;
}

export class GemmBenchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GemmBenchError";
  }
}

/** Seeded values in [-0.5, 0.5) (a 32-bit LCG, like the C harness). */
function fill(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) / 16777216 - 0.5;
  }
  return out;
}

/**
 * Times one GEMM shape for about `seconds`: one warm-up call, then three chunks of calls sized to
 * seconds/3 each; reports the best chunk. `threads` (native only) is restored afterwards.
 */
export function benchGemmShape(
  shape: GemmShape,
  seconds: number,
  opts: { threads?: number; precision?: "f32" | "bf16" } = {},
): GemmBenchResult {
  const { M, N, K } = shape;
  for (const [k, v] of Object.entries({ M, N, K })) {
    if (!Number.isInteger(v) || v < 1) throw new GemmBenchError(`benchGemm: ${k} must be a positive integer, got ${v}`);
  }
  if (!(seconds > 0)) throw new GemmBenchError(`benchGemm: seconds must be > 0, got ${seconds}`);
  const precision = opts.precision ?? "f32";
  const kernels: Kernels = nativeKernels ?? refKernels;
  if (precision === "bf16" && !nativeInfo().bf16) {
    throw new GemmBenchError("benchGemm: bf16 needs the native addon on a CPU with avx512_bf16");
  }
  const transA = shape.transA ?? false, transB = shape.transB ?? false;
  const p: GemmArgs = {
    transA, transB, M, N, K, alpha: 1,
    a: fill(M * K, 1), aOff: 0, lda: transA ? M : K,
    b: fill(K * N, 2), bOff: 0, ldb: transB ? K : N,
    beta: 0, c: new Float32Array(M * N), cOff: 0, ldc: N,
    batch: 1, strideA: 0, strideB: 0, strideC: 0,
  };
  const run = precision === "bf16" ? () => gemmBf16(p) : () => kernels.gemm(p);
  const before = nativeKernels ? nativeInfo().threads : 1;
  if (nativeKernels && opts.threads !== undefined) setNativeThreads(opts.threads);
  try {
    let t0 = performance.now();
    run();
    const one = Math.max(performance.now() - t0, 1e-3) / 1000;
    const iters = Math.max(1, Math.floor(seconds / 3 / one));
    let best = 0;
    for (let chunk = 0; chunk < 3; chunk++) {
      t0 = performance.now();
      for (let i = 0; i < iters; i++) run();
      const rate = (2 * M * N * K * iters) / ((performance.now() - t0) / 1000) / 1e9;
      best = Math.max(best, rate);
    }
    return {
      gflops: best,
      backend: kernels.name,
      precision,
      threads: nativeKernels ? nativeInfo().threads : 1,
      iterations: 1 + 3 * iters,
    };
  } finally {
    if (nativeKernels) setNativeThreads(before);
  }
}

/**
 * fp32 GEMM throughput at size³ on the backend in use (native when the addon loaded), measured for about
 * `seconds`; `threads` defaults to the backend's current setting (LLMFORGE_THREADS or all cores).
 */
export function benchGemm(size: number, seconds: number, threads?: number): GemmBenchResult {
  return benchGemmShape({ M: size, N: size, K: size }, seconds, { threads });
}
