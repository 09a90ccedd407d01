// The quantised matmuls (int8 with row scales, q4_0 blocks; native/gemm_quant.h) against their TypeScript twin
// quantMatmulRef on every SIMD level this CPU runs, with f32 activations and with q8 activations (integer dot
// products): edge sizes (K not a multiple of the vector width for int8, odd block counts, one row, many rows, zero
// rows of weights), with and without bias, on 1 and 2 threads; non-finite activations; and bad arguments refused.
import { afterAll, describe, expect, it } from "vitest";
import { packQuantWeight, quantizeWeight, quantMatmulNative, quantMatmulRef } from "../../src/nn/quantLinear.js";
import { nativeInfo, setNativeThreads } from "../../src/tensor/backend/native.js";
import { expectClose, randn, simdLevels, skipNative, withSimd } from "./helpers.js";

const threads0 = skipNative ? 1 : nativeInfo().threads;
afterAll(() => {
  if (!skipNative) setNativeThreads(threads0);
});

const cases = [
  { M: 1, N: 7, K: 32 },
  { M: 3, N: 33, K: 96 },
  { M: 16, N: 64, K: 256 },
  { M: 5, N: 9, K: 45 }, // int8 only: K with a scalar tail on every ISA (q8 activations fall back to f32)
  { M: 2, N: 5, K: 224 }, // 7 blocks: the odd block after the vector loops
  { M: 1, N: 3, K: 768 },
];

describe.skipIf(skipNative || quantMatmulNative === null)("native quantMatmul vs quantMatmulRef", () => {
  for (const level of simdLevels()) {
    for (const [format, act] of [["int8", "f32"], ["int8", "q8"], ["q4_0", "f32"], ["q4_0", "q8"]] as const) {
      it(`${format}, ${act} activations, ${level}: every size within f32 rounding of the reference, on 1 and 2 threads`, () => {
        for (const { M, N, K } of cases) {
          if (format === "q4_0" && K % 32 !== 0) continue;
          const wf = randn(N * K, M + N + K);
          wf.fill(0, 0, K); // a zero row (int8 scale 0, q4_0 d 0)
          const w = quantizeWeight(wf, N, K, format);
          const x = randn(M * K, 7 * M + K);
          for (const bias of [null, randn(N, 3)]) {
            const want = new Float32Array(M * N);
            quantMatmulRef(x, M, w, bias, want, act);
            for (const t of [1, 2]) {
              setNativeThreads(t);
              const got = new Float32Array(M * N).fill(Number.NaN);
              withSimd(level, () => quantMatmulNative?.(x, M, w, bias, got, act));
              expectClose(got, want, 1e-4, 1e-5, `${format} ${act} ${level} M=${M} N=${N} K=${K} bias=${bias !== null} threads=${t}`);
            }
          }
        }
      });
    }
  }

  it("q8 activations: a block with a non-finite value gives NaN outputs on every level, other rows stay finite", () => {
    for (const format of ["int8", "q4_0"] as const) {
      const w = quantizeWeight(randn(4 * 64, 5), 4, 64, format);
      const x = randn(2 * 64, 6);
      x[40] = Number.POSITIVE_INFINITY;
      const want = new Float32Array(8);
      quantMatmulRef(x, 2, w, null, want, "q8");
      expect(Array.from(want.subarray(0, 4)).every(Number.isNaN)).toBe(true);
      expect(Array.from(want.subarray(4)).every(Number.isFinite)).toBe(true);
      for (const level of simdLevels()) {
        const got = new Float32Array(8);
        withSimd(level, () => quantMatmulNative?.(x, 2, w, null, got, "q8"));
        expectClose(got, want, 1e-4, 1e-5, `${format} ${level} non-finite`);
      }
    }
  });

  it("refuses short buffers and a q4_0 K that is not a multiple of 32", () => {
    const w = quantizeWeight(randn(4 * 32, 1), 4, 32, "q4_0");
    for (const act of ["f32", "q8"] as const) expect(() => quantMatmulNative?.(randn(31, 2), 1, w, null, new Float32Array(4), act)).toThrow(/x has 31 elements, needs at least 32/);
    expect(() => quantMatmulNative?.(randn(40, 2), 1, { ...w, inp: 40 }, null, new Float32Array(4), "f32")).toThrow(/q4_0 needs K a multiple of 32, got 40/);
    expect(() => quantMatmulNative?.(randn(32, 2), 1, { ...w, data: w.data.subarray(0, 50) }, null, new Float32Array(4), "f32")).toThrow(/data has 50 bytes, needs 72/);
    expect(() => packQuantWeight(quantizeWeight(randn(4 * 40, 1), 4, 40, "int8"))).toThrow(/rows of 40 values do not divide into blocks of 32/);
  });
});
