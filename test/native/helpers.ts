// Shared helpers for the native-backend tests: seeded data, tolerance checks against the reference
// backend, and the list of SIMD levels to run every kernel under (all that this CPU supports).
import { expect } from "vitest";
import { nativeKernels, nativeSimdLevels, setNativeSimd, type SimdLevel } from "../../src/tensor/backend/native.js";

export const native = nativeKernels;
export const skipNative = nativeKernels === null;

/** Seeded uniform floats in [lo, hi) (mulberry32). */
export function randn(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Seeded integers in [0, n). */
export function randInts(count: number, n: number, seed: number): Int32Array {
  const u = randn(count, seed, 0, 1);
  return Int32Array.from(u, (x) => Math.min(n - 1, Math.floor(x * n)));
}

/** Expects |got - want| <= atol + rtol*|want| element-wise (NaN must match NaN), naming the first miss. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (Number.isNaN(w) !== Number.isNaN(g)) throw new Error(`${what}: [${i}] got ${g}, want ${w}`);
      continue;
    }
    if (g === w) continue;
    const excess = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (excess > worst || !Number.isFinite(excess)) {
      worst = Number.isFinite(excess) ? excess : Number.POSITIVE_INFINITY;
      worstAt = i;
    }
  }
  if (worstAt >= 0) {
    throw new Error(`${what}: [${worstAt}] got ${got[worstAt]}, want ${want[worstAt]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** The SIMD levels to test (every one this CPU runs); restores "auto" afterwards via {@link withSimd}. */
export function simdLevels(): SimdLevel[] {
  return skipNative ? [] : nativeSimdLevels();
}

export function withSimd<T>(level: SimdLevel, fn: () => T): T {
  setNativeSimd(level);
  try {
    return fn();
  } finally {
    setNativeSimd("auto");
  }
}
