// The quantised matmuls (int8 with row scales, q4_0 blocks; native/gemm_quant.h) against their TypeScript twin
// quantMatmulRef on every SIMD level this CPU runs: edge sizes (K not a multiple of the vector width for int8,
// one row, many rows, zero rows of weights), with and without bias, on 1 and 2 threads; and bad arguments refused.
import { afterAll, describe, expect, it } from "vitest";
import { quantizeWeight, quantMatmulNative, quantMatmulRef } from "../../src/nn/quantLinear.js";
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
  { M: 5, N: 9, K: 45 }, // int8 only: K with a scalar tail on every ISA
];

describe.skipIf(skipNative || quantMatmulNative === null)("native quantMatmul vs quantMatmulRef", () => {
  for (const level of simdLevels()) {
    for (const format of ["int8", "q4_0"] as const) {
      it(`${format}, ${level}: every size within f32 rounding of the reference, on 1 and 2 threads`, () => {
        for (const { M, N, K } of cases) {
          if (format === "q4_0" && K % 32 !== 0) continue;
          const wf = randn(N * K, M + N + K);
          wf.fill(0, 0, K); // a zero row (int8 scale 0, q4_0 d 0)
          const w = quantizeWeight(wf, N, K, format);
          const x = randn(M * K, 7 * M + K);
          for (const bias of [null, randn(N, 3)]) {
            const want = new Float32Array(M * N);
            quantMatmulRef(x, M, w, bias, want);
            for (const t of [1, 2]) {
              setNativeThreads(t);
              const got = new Float32Array(M * N).fill(Number.NaN);
              withSimd(level, () => quantMatmulNative?.(x, M, w, bias, got));
              expectClose(got, want, 1e-4, 1e-5, `${format} ${level} M=${M} N=${N} K=${K} bias=${bias !== null} threads=${t}`);
            }
          }
        }
      });
    }
  }

  it("refuses short buffers and a q4_0 K that is not a multiple of 32", () => {
    const w = quantizeWeight(randn(4 * 32, 1), 4, 32, "q4_0");
    expect(() => quantMatmulNative?.(randn(31, 2), 1, w, null, new Float32Array(4))).toThrow(/x has 31 elements, needs at least 32/);
    expect(() => quantMatmulNative?.(randn(40, 2), 1, { ...w, inp: 40 }, null, new Float32Array(4))).toThrow(/q4_0 needs K a multiple of 32, got 40/);
    expect(() => quantMatmulNative?.(randn(32, 2), 1, { ...w, data: w.data.subarray(0, 50) }, null, new Float32Array(4))).toThrow(/data has 50 bytes, needs 72/);
  });
});
