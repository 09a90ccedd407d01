// Native GEMM against the reference backend: every transpose combination, edge sizes (0, 1, odd, and
// around the 12x32 / 6x16 register tiles, 256-deep K blocks and 4096-row blocks), padded leading dims, offsets, batch
// strides with broadcast (0), alpha/beta, on every SIMD level this CPU runs; narrow products with many rows and
// few-row products with a long K (the row- and column-task paths on 2 threads) equal to one thread bit for bit; two
// products side by side (gemmPair) equal to each alone; plus the bf16 path.
import { describe, expect, it } from "vitest";
import type { GemmArgs } from "../../src/tensor/backend/kernels.js";
import { refKernels } from "../../src/tensor/backend/ref.js";
import { gemmBf16, gemmBf16Pair, nativeInfo, setNativeBf16Path, setNativeThreads, type Bf16Path } from "../../src/tensor/backend/native.js";
import { expectClose, native, randn, simdLevels, skipNative, withSimd } from "./helpers.js";

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  batch?: number;
  bcastA?: boolean;
  bcastB?: boolean;
  pad?: number;
  alpha?: number;
  beta?: 0 | 1;
}

function makeArgs(c: Case, seed: number): GemmArgs {
  const batch = c.batch ?? 1;
  const pad = c.pad ?? 0;
  const aRows = c.transA ? c.K : c.M, aCols = c.transA ? c.M : c.K;
  const bRows = c.transB ? c.N : c.K, bCols = c.transB ? c.K : c.N;
  const lda = aCols + pad, ldb = bCols + pad, ldc = c.N + pad;
  const aOff = 3, bOff = 5, cOff = 7;
  const strideA = c.bcastA ? 0 : aRows * lda + 1;
  const strideB = c.bcastB ? 0 : bRows * ldb + 2;
  const strideC = c.M * ldc + 3;
  const a = randn(aOff + strideA * (batch - 1) + aRows * lda + 4, seed);
  const b = randn(bOff + strideB * (batch - 1) + bRows * ldb + 4, seed + 1);
  const cArr = randn(cOff + strideC * (batch - 1) + c.M * ldc + 4, seed + 2);
  return {
    transA: c.transA, transB: c.transB, M: c.M, N: c.N, K: c.K, alpha: c.alpha ?? 1,
    a, aOff, lda, b, bOff, ldb, beta: c.beta ?? 0, c: cArr, cOff, ldc,
    batch, strideA, strideB, strideC,
  };
}

function runBoth(c: Case, seed: number, run: (p: GemmArgs) => void): { got: Float32Array; want: Float32Array; K: number } {
  const p = makeArgs(c, seed);
  const want = { ...p, c: Float32Array.from(p.c) };
  refKernels.gemm(want);
  const got = { ...p, c: Float32Array.from(p.c) };
  run(got);
  return { got: got.c as Float32Array, want: want.c as Float32Array, K: c.K };
}

/** The first index where a and b differ (NaN equal to NaN), or -1: a bit-for-bit check without a deep-equality walk. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

const edgeSizes: [number, number, number][] = [
  [0, 5, 3], [4, 0, 3], [3, 4, 0], [1, 1, 1], [1, 37, 5], [37, 1, 5], [5, 7, 1],
  [11, 31, 9], [12, 32, 16], [13, 33, 17], [25, 65, 259], [6, 16, 8], [7, 17, 300], [64, 48, 40],
];

describe.skipIf(skipNative)("native gemm vs reference", () => {
  for (const level of simdLevels()) {
    it(`${level}: all transposes, edge sizes, padded ld, offsets (tol 1e-5*sqrt(K))`, () => {
      withSimd(level, () => {
        let seed = 1;
        for (const [M, N, K] of edgeSizes) {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              for (const pad of [0, 3]) {
                const c: Case = { M, N, K, transA, transB, pad };
                const r = runBoth(c, seed++, (p) => native!.gemm(p));
                expectClose(r.got, r.want, 2e-6 * Math.sqrt(K + 1), 1e-5, `${level} ${JSON.stringify(c)}`);
              }
            }
          }
        }
      });
    });

    it(`${level}: alpha, beta=1 accumulate, batch strides and broadcast`, () => {
      withSimd(level, () => {
        const cases: Case[] = [
          { M: 9, N: 20, K: 13, transA: false, transB: false, alpha: 0.5, beta: 1 },
          { M: 9, N: 20, K: 300, transA: true, transB: false, alpha: -2, beta: 1 },
          { M: 5, N: 40, K: 7, transA: false, transB: true, batch: 4 },
          { M: 5, N: 40, K: 7, transA: true, transB: true, batch: 3, bcastB: true, beta: 1 },
          { M: 30, N: 3, K: 17, transA: false, transB: false, batch: 5, bcastA: true, alpha: 1.5 },
          { M: 2, N: 2, K: 2, transA: false, transB: false, batch: 7, pad: 2 },
          // more rows than one row block (4096): a micro-panel reaching across the block boundary added its rows twice with beta = 1
          { M: 4200, N: 40, K: 24, transA: false, transB: true, beta: 1 },
          { M: 8300, N: 33, K: 300, transA: true, transB: false, alpha: 0.5, beta: 1 },
        ];
        let seed = 100;
        for (const c of cases) {
          const r = runBoth(c, seed++, (p) => native!.gemm(p));
          expectClose(r.got, r.want, 4e-6 * Math.sqrt(c.K + 1), 1e-5, `${level} ${JSON.stringify(c)}`);
        }
      });
    });
  }

  it("broadcast C (strideC = 0) follows the reference: batches run in order", () => {
    const p = makeArgs({ M: 4, N: 5, K: 3, transA: false, transB: false, batch: 3 }, 7);
    for (const beta of [0, 1] as const) {
      const want = { ...p, beta, strideC: 0, c: Float32Array.from(p.c) };
      refKernels.gemm(want);
      const got = { ...p, beta, strideC: 0, c: Float32Array.from(p.c) };
      native!.gemm(got);
      expectClose(got.c, want.c, 1e-5, 1e-5, `strideC=0 beta=${beta}`);
    }
  });

  it("large blocked shapes and matrix-vector (M or N = 1) on 1 and 2 threads match", () => {
    const before = nativeInfo().threads;
    try {
      for (const threads of [1, 2]) {
        setNativeThreads(threads);
        for (const c of [
          { M: 301, N: 529, K: 531, transA: false, transB: false },
          { M: 130, N: 70, K: 600, transA: true, transB: true },
          { M: 8, N: 1100, K: 64, transA: false, transB: true },
          { M: 1, N: 3000, K: 2000, transA: true, transB: false },
          { M: 1, N: 2999, K: 2001, transA: false, transB: true },
          { M: 6001, N: 1, K: 1000, transA: true, transB: true },
          { M: 6000, N: 1, K: 1001, transA: false, transB: false },
        ]) {
          const r = runBoth(c, 11, (p) => native!.gemm(p));
          expectClose(r.got, r.want, 2e-6 * Math.sqrt(c.K), 1e-5, `threads=${threads} ${JSON.stringify(c)}`);
        }
      }
    } finally {
      setNativeThreads(before);
    }
  });

  it("narrow products with many rows (row tasks) and few rows with a long K (column tasks), no barrier, match the reference and one thread bit for bit, every level", () => {
    const before = nativeInfo().threads;
    try {
      for (const level of simdLevels()) {
        withSimd(level, () => {
          for (const c of [
            { M: 1100, N: 200, K: 300, transA: false, transB: false, pad: 3 },
            { M: 1301, N: 192, K: 520, transA: true, transB: false, alpha: 0.5, beta: 1 as const },
            { M: 1056, N: 33, K: 257, transA: false, transB: true },
            { M: 2048, N: 512, K: 64, transA: true, transB: true },
            // few rows, K over one block: each thread its own share of the N panels (weight gradients)
            { M: 100, N: 300, K: 700, transA: true, transB: false },
            { M: 257, N: 130, K: 600, transA: false, transB: true, alpha: 0.5, beta: 1 as const, pad: 2 },
          ]) {
            setNativeThreads(1);
            const one = runBoth(c, 21, (p) => native!.gemm(p));
            setNativeThreads(2);
            const two = runBoth(c, 21, (p) => native!.gemm(p));
            expectClose(two.got, two.want, 2e-6 * Math.sqrt(c.K), 1e-5, `${level} ${JSON.stringify(c)}`);
            expect(firstDifference(two.got, one.got)).toBe(-1);
          }
        });
      }
    } finally {
      setNativeThreads(before);
    }
  });

  it("gemmPair: two products side by side equal gemm on each, bit for bit, on 1 and 2 threads, every level; the reference twin runs them in turn", () => {
    const before = nativeInfo().threads;
    // a linear layer's backward (dX = g W, dW = gᵀ X), uneven work, odd sizes, beta = 1 and padding, a tiny pair
    // (one after the other), matrix-vector products, and a batched one (one after the other)
    const pairs: [Case, Case][] = [
      [{ M: 1030, N: 190, K: 300, transA: false, transB: false }, { M: 300, N: 190, K: 1030, transA: true, transB: false }],
      // three times the work on one side: that product in two row tasks
      [{ M: 1030, N: 190, K: 300, transA: false, transB: false }, { M: 300, N: 190, K: 343, transA: true, transB: false }],
      [{ M: 517, N: 77, K: 129, transA: false, transB: true, pad: 3, alpha: 0.5, beta: 1 }, { M: 33, N: 900, K: 1257, transA: true, transB: true }],
      [{ M: 5, N: 7, K: 3, transA: false, transB: false }, { M: 3, N: 7, K: 5, transA: true, transB: false }],
      // matrix-vector products (their own kernel) cut into row tasks
      [{ M: 4001, N: 1, K: 5000, transA: false, transB: false }, { M: 1, N: 500, K: 7000, transA: true, transB: false }],
      [{ M: 40, N: 50, K: 60, transA: false, transB: false, batch: 3 }, { M: 600, N: 70, K: 80, transA: false, transB: false }],
    ];
    // the reference twin once per pair (it runs the two in turn); not on the large matrix-vector pair (slow in JS,
    // and each of its products is checked against gemm)
    const args = pairs.map(([cp, cq], i) => [makeArgs(cp, 40 + i), makeArgs(cq, 50 + i)] as const);
    const fresh = (g: GemmArgs): GemmArgs => ({ ...g, c: Float32Array.from(g.c) });
    const refs = args.map(([p, q]) => {
      if (p.N === 1) return null;
      const r = [fresh(p), fresh(q)];
      refKernels.gemmPair(r[0], r[1]);
      return r.map((g) => g.c as Float32Array);
    });
    try {
      for (const level of simdLevels()) {
        withSimd(level, () => {
          for (const [i, [cp, cq]] of pairs.entries()) {
            for (const threads of [1, 2]) {
              setNativeThreads(threads);
              const [p, q] = [fresh(args[i][0]), fresh(args[i][1])];
              const want = [fresh(p), fresh(q)];
              for (const w of want) native!.gemm(w);
              native!.gemmPair(p, q);
              expect(firstDifference(p.c, want[0].c), `${level} ${threads} threads, pair ${i}: P`).toBe(-1);
              expect(firstDifference(q.c, want[1].c), `${level} ${threads} threads, pair ${i}: Q`).toBe(-1);
              const ref = refs[i];
              if (!ref) continue;
              expectClose(p.c as Float32Array, ref[0], 2e-6 * Math.sqrt(cp.K), 1e-5, `${level}, reference twin, pair ${i}: P`);
              expectClose(q.c as Float32Array, ref[1], 2e-6 * Math.sqrt(cq.K), 1e-5, `${level}, reference twin, pair ${i}: Q`);
            }
          }
        });
      }
    } finally {
      setNativeThreads(before);
    }
  });

  it("gemmPair checks both products' operands", () => {
    const p = makeArgs({ M: 4, N: 4, K: 4, transA: false, transB: false }, 1);
    expect(() => native!.gemmPair(p, { ...p, c: new Float32Array(3) })).toThrow(/gemmPair: c has 3 elements/);
    expect(() => native!.gemmPair({ ...p, lda: 1000 }, p)).toThrow(/gemmPair: a has \d+ elements, needs at least/);
  });

  it("beta = 0 ignores NaN already in C", () => {
    const p = makeArgs({ M: 13, N: 33, K: 5, transA: false, transB: false }, 3);
    p.c.fill(Number.NaN);
    native!.gemm(p);
    for (let m = 0; m < 13; m++) for (let n = 0; n < 33; n++) expect(Number.isNaN(p.c[p.cOff + m * p.ldc + n])).toBe(false);
  });

  it("rejects out-of-bounds and wrongly typed operands with a clear error", () => {
    const p = makeArgs({ M: 4, N: 4, K: 4, transA: false, transB: false }, 1);
    expect(() => native!.gemm({ ...p, lda: 1000 })).toThrow(/gemm: a has \d+ elements, needs at least/);
    expect(() => native!.gemm({ ...p, c: new Float32Array(3) })).toThrow(/gemm: c has 3 elements/);
    expect(() => native!.gemm({ ...p, a: new Float64Array(100) })).toThrow(/must be a Float32Array/);
    expect(() => native!.gemm({ ...p, ldc: 2 })).toThrow(/ldc = 2 is smaller than N = 4/);
    expect(() => native!.gemm({ ...p, M: -1 })).toThrow(/M = -1 is out of range/);
  });
});

const bf16Paths: Bf16Path[] = skipNative || !nativeInfo().bf16 ? [] : nativeInfo().bf16Path === "amx" ? ["amx", "avx512bf16"] : ["avx512bf16"];

describe.skipIf(bf16Paths.length === 0)("native bf16 gemm", () => {
  for (const path of bf16Paths) {
    const withPath = (fn: () => void) => () => {
      setNativeBf16Path(path);
      try {
        fn();
      } finally {
        setNativeBf16Path("auto");
      }
    };
    it(`${path}: matches f32 within bf16 rounding, |err| <= alpha 2^-8 sqrt(K), all transposes, edges, threads`, withPath(() => {
      let seed = 500;
      const before = nativeInfo().threads;
      try {
        for (const threads of [1, 2]) {
          setNativeThreads(threads);
          // 1100 x 200 x 300: narrow with many rows (row tasks on 2 threads); 4200 rows: more than one 4096-row block on 1 thread
          for (const [M, N, K] of [...edgeSizes, [70, 90, 1030] as [number, number, number], [200, 300, 400] as [number, number, number], [1100, 200, 300] as [number, number, number], [4200, 40, 24] as [number, number, number]]) {
            for (const transA of [false, true]) {
              for (const transB of [false, true]) {
                const c: Case = { M, N, K, transA, transB, pad: 1, beta: 1, alpha: 0.75 };
                const r = runBoth(c, seed++, (p) => gemmBf16(p));
                // inputs in [-1, 1): each product carries ~2 * 2^-9 relative rounding; errors add like a random walk (~3x margin).
                expectClose(r.got, r.want, 0.75 * 2 ** -8 * Math.sqrt(K + 1), 0, `bf16 ${path} ${JSON.stringify(c)}`);
              }
            }
          }
        }
      } finally {
        setNativeThreads(before);
      }
    }));

    it(`${path}: gemmBf16Pair equals gemmBf16 on each product bit for bit, 1 and 2 threads`, withPath(() => {
      const before = nativeInfo().threads;
      try {
        for (const threads of [1, 2]) {
          setNativeThreads(threads);
          const p = makeArgs({ M: 1030, N: 190, K: 300, transA: false, transB: false, beta: 1 }, 61);
          const q = makeArgs({ M: 300, N: 190, K: 1030, transA: true, transB: false }, 62);
          const want = [{ ...p, c: Float32Array.from(p.c) }, { ...q, c: Float32Array.from(q.c) }];
          for (const w of want) gemmBf16(w);
          const got = [{ ...p, c: Float32Array.from(p.c) }, { ...q, c: Float32Array.from(q.c) }];
          gemmBf16Pair(got[0], got[1]);
          expect(firstDifference(got[0].c, want[0].c)).toBe(-1);
          expect(firstDifference(got[1].c, want[1].c)).toBe(-1);
        }
      } finally {
        setNativeThreads(before);
      }
    }));

    it(`${path}: exact on bf16-representable inputs (small integers), batched`, withPath(() => {
      const M = 17, N = 35, K = 41;
      const a = Float32Array.from(randn(3 * M * K, 9), (x) => Math.round(x * 8));
      const b = Float32Array.from(randn(K * N, 10), (x) => Math.round(x * 8));
      const base: GemmArgs = {
        transA: false, transB: false, M, N, K, alpha: 1, a, aOff: 0, lda: K, b, bOff: 0, ldb: N, beta: 0,
        c: new Float32Array(3 * M * N), cOff: 0, ldc: N, batch: 3, strideA: M * K, strideB: 0, strideC: M * N,
      };
      const want = { ...base, c: new Float32Array(3 * M * N) };
      refKernels.gemm(want);
      gemmBf16(base);
      expect(Array.from(base.c)).toEqual(Array.from(want.c));
    }));
  }
});
