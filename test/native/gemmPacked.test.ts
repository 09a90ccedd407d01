// The prepacked inference GEMM (y = x · Wᵀ + bias over a weight packed once) against its TypeScript twin in ref.ts, on
// every SIMD level this CPU runs; and its batch invariance, bit for bit: a row's result is the same in a call of any
// M (1..40) as alone, on 1 or 2 threads, and equals the ordinary native GEMM for M >= 2 (same panels, same K blocks).
import { afterAll, describe, expect, it } from "vitest";
import { type Kernels, PackedWeightError } from "../../src/tensor/backend/kernels.js";
import { nativeInfo, setNativeThreads } from "../../src/tensor/backend/native.js";
import { refKernels } from "../../src/tensor/backend/ref.js";
import { expectClose, native, randn, simdLevels, skipNative, withSimd } from "./helpers.js";

/** Expects a and b to hold the same floats, bit for bit, naming the first difference. */
function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const i = g.findIndex((v, j) => v !== w[j]);
  if (i >= 0) throw new Error(`${what}: [${i}] got ${got[i]}, want ${want[i]} (bits differ)`);
}

describe("ref gemmPacked (the twin)", () => {
  it("is x · Wᵀ + bias, as the reference GEMM computes it (f64, exact)", () => {
    const [M, N, K] = [5, 7, 9];
    const x = Float64Array.from(randn(M * K, 1));
    const w = Float64Array.from(randn(3 + N * K, 2));
    const bias = Float64Array.from(randn(N, 3));
    const y = new Float64Array(M * N);
    refKernels.gemmPacked(x, M, refKernels.packWeight(w, 3, N, K), bias, y);
    const want = new Float64Array(M * N);
    refKernels.gemm({
      transA: false, transB: true, M, N, K, alpha: 1, a: x, aOff: 0, lda: K, b: w, bOff: 3, ldb: K, beta: 0, c: want, cOff: 0, ldc: N,
      batch: 1, strideA: 0, strideB: 0, strideC: 0,
    });
    for (let i = 0; i < M * N; i++) want[i] += bias[i % N];
    expect(Array.from(y)).toEqual(Array.from(want));
  });
});

describe.skipIf(skipNative)("native gemmPacked", () => {
  const nk = native as Kernels;
  const threads0 = nativeInfo().threads;
  afterAll(() => setNativeThreads(threads0));

  for (const level of simdLevels()) {
    it(`${level}: matches the twin within tolerance (edge sizes, odd N and K, K past one 256 block, with and without bias)`, () => {
      withSimd(level, () => {
        const shapes: [number, number, number][] = [[1, 1, 1], [1, 37, 5], [3, 1, 7], [13, 33, 17], [7, 65, 259], [25, 101, 513], [2, 5, 0]];
        let seed = 10;
        for (const [M, N, K] of shapes) {
          for (const withBias of [false, true]) {
            const x = randn(M * K, seed++);
            const w = randn(N * K + 4, seed++);
            const bias = withBias ? randn(N, seed++) : null;
            const got = new Float32Array(M * N).fill(Number.NaN);
            nk.gemmPacked(x, M, nk.packWeight(w, 4, N, K), bias, got);
            const want = new Float32Array(M * N);
            refKernels.gemmPacked(x, M, refKernels.packWeight(w, 4, N, K), bias, want);
            expectClose(got, want, 2e-6 * Math.sqrt(K + 1), 1e-5, `${level} M=${M} N=${N} K=${K} bias=${withBias}`);
          }
        }
      });
    });

    it(`${level}: row r of an M-row call equals the same row alone, bit for bit, M = 1..40, and the native GEMM for M >= 2`, () => {
      withSimd(level, () => {
        const [N, K, Mmax] = [77, 301, 40];
        const x = randn(Mmax * K, 1);
        const w = randn(N * K, 2);
        const bias = randn(N, 3);
        const packed = nk.packWeight(w, 0, N, K);
        expect(packed.layout).toBe(level);
        const alone = new Float32Array(Mmax * N);
        for (let r = 0; r < Mmax; r++) nk.gemmPacked(x.subarray(r * K, (r + 1) * K), 1, packed, bias, alone.subarray(r * N, (r + 1) * N));
        for (let M = 1; M <= Mmax; M++) {
          const y = new Float32Array(M * N);
          nk.gemmPacked(x.subarray(0, M * K), M, packed, bias, y);
          expectSameBits(y, alone.subarray(0, M * N), `${level} M=${M}`);
        }
        // the ordinary GEMM (its packed path, M >= 2) runs the same panels and K blocks: same bits before the bias
        const M = 17;
        const y = new Float32Array(M * N);
        nk.gemmPacked(x.subarray(0, M * K), M, packed, null, y);
        const g = new Float32Array(M * N);
        nk.gemm({
          transA: false, transB: true, M, N, K, alpha: 1, a: x, aOff: 0, lda: K, b: w, bOff: 0, ldb: K, beta: 0, c: g, cOff: 0, ldc: N,
          batch: 1, strideA: 0, strideB: 0, strideC: 0,
        });
        expectSameBits(y, g, `${level} vs gemm`);
      });
    });

    it(`${level}: threads split N only (2 threads give 1 thread's bits, above the parallel threshold)`, () => {
      withSimd(level, () => {
        const [M, N, K] = [40, 1001, 513]; // 2.05e7 multiply-adds > 2^24: threaded
        const x = randn(M * K, 4);
        const packed = nk.packWeight(randn(N * K, 5), 0, N, K);
        const bias = randn(N, 6);
        const run = (threads: number, rows: number, r0 = 0) => {
          setNativeThreads(threads);
          const y = new Float32Array(rows * N);
          nk.gemmPacked(x.subarray(r0 * K, (r0 + rows) * K), rows, packed, bias, y);
          return y;
        };
        const one = run(1, M);
        expectSameBits(run(2, M), one, `${level} 2 threads`);
        expectSameBits(run(2, 1, 39), one.subarray(39 * N), `${level} last row alone`);
        setNativeThreads(threads0);
      });
    });
  }

  it("refuses a weight packed by another backend or SIMD level, and short arrays", () => {
    const [N, K] = [9, 5];
    const w = randn(N * K, 7);
    const x = randn(2 * K, 8);
    const y = new Float32Array(2 * N);
    expect(() => nk.gemmPacked(x, 2, refKernels.packWeight(w, 0, N, K), null, y)).toThrow(PackedWeightError);
    expect(() => refKernels.gemmPacked(x, 2, nk.packWeight(w, 0, N, K), null, y)).toThrow(PackedWeightError);
    const levels = simdLevels();
    if (levels.length > 1) {
      const p = withSimd(levels[1], () => nk.packWeight(w, 0, N, K));
      withSimd(levels[0], () => expect(() => nk.gemmPacked(x, 2, p, null, y)).toThrow(new RegExp(`packed for ${levels[1]}.*pack it again`)));
    }
    const p = nk.packWeight(w, 0, N, K);
    expect(() => nk.gemmPacked(x, 3, p, null, new Float32Array(3 * N))).toThrow(/x has 10 elements, needs at least 15/);
    expect(() => nk.gemmPacked(x, 2, p, new Float32Array(N - 1), y)).toThrow(/bias has 8 elements/);
    expect(() => nk.packWeight(w, 1, N, K)).toThrow(/w has 45 elements, needs at least 46/);
  });
});
