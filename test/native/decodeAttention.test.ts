// The batch decoder's two kernels, native against their reference twins on every SIMD level: kvAppend (RoPE'd q/k
// in place, keys and values into per-slot caches; exact without RoPE) and decodeAttention (many rows, each over its
// own slot's cache prefix: odd D, GQA, lengths 1..200 around the 16-position key blocks and vector widths, rows listed out
// of order with others left alone). Also: the reference decodeAttention agrees with the causal `attention` kernel
// it replaces, a row's native output is bit for bit the same alone, in a batch and on 1 or 2 threads, large scores
// stay finite, and bad arguments throw a RangeError naming the entry.
import { describe, expect, it } from "vitest";
import { DECODE_KEY_BLOCK, type DecodeAttentionArgs, type Kernels, type KvAppendArgs } from "../../src/tensor/backend/kernels.js";
import { nativeInfo, setNativeThreads } from "../../src/tensor/backend/native.js";
import { refKernels } from "../../src/tensor/backend/ref.js";
import { expectClose, native, randn, simdLevels, skipNative, withSimd } from "./helpers.js";

/** The native kernels, used only under describe.skipIf(skipNative). */
const nk = native as Kernels;

interface Heads {
  H: number;
  Hkv: number;
  D: number;
}

/** Caches of `slots` slots of `maxLen` positions (rounded up to whole key blocks), filled with seeded values (a decoder's history). */
function caches(h: Heads, slots: number, maxLen: number, seed: number) {
  const slotStride = Math.ceil(maxLen / DECODE_KEY_BLOCK) * DECODE_KEY_BLOCK * h.Hkv * h.D;
  return { kCache: randn(slots * slotStride, seed, -2, 2), vCache: randn(slots * slotStride, seed + 1), slotStride };
}

/**
 * decodeAttention args over `lens.length` entries: entry i reads query row rows[i] of a padded (R, stride) buffer and
 * slot (i * 5 + 2) % slots; `out` starts at a sentinel so untouched rows show.
 */
function attnArgs(h: Heads, lens: number[], seed: number, o: { slots?: number; qScale?: number } = {}): DecodeAttentionArgs {
  const n = lens.length;
  const R = n + 3; // rows n..n+2 are never listed
  const slots = o.slots ?? n + 1;
  const maxLen = Math.max(...lens);
  const stride = (h.H + 2 * h.Hkv) * h.D + 3;
  const q = randn(2 + R * stride, seed + 2, -2, 2).map((x) => x * (o.qScale ?? 1));
  const row = Int32Array.from(lens, (_, i) => (2 * n - 1 - i) % n); // 0..n-1 reversed
  return {
    ...h, n, scale: 1 / Math.sqrt(h.D), q, qOff: 2, qRowStride: stride, row,
    slot: Int32Array.from(lens, (_, i) => (i * 5 + 2) % slots), len: Int32Array.from(lens),
    ...caches(h, slots, maxLen, seed), out: new Float32Array(R * h.H * h.D).fill(-7),
  };
}

const run = (p: DecodeAttentionArgs, k: "ref" | "native") => {
  const out = Float32Array.from(p.out);
  (k === "ref" ? refKernels : nk).decodeAttention({ ...p, out });
  return out;
};

const shapes: Heads[] = [
  { H: 6, Hkv: 6, D: 32 }, // the quickstart model
  { H: 4, Hkv: 2, D: 17 },
  { H: 8, Hkv: 1, D: 33 },
  { H: 3, Hkv: 3, D: 5 },
  { H: 2, Hkv: 2, D: 1 },
  { H: 4, Hkv: 4, D: 64 },
  { H: 4, Hkv: 2, D: 130 },
];
const lengths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 129, 200];

describe.skipIf(skipNative)("native decode kernels vs reference", () => {
  for (const level of simdLevels()) {
    describe(level, () => {
      it("decodeAttention: odd D, GQA, rows of lengths 1..200 out of order (atol 2e-6, rtol 1e-5), unlisted rows untouched", () => {
        withSimd(level, () => {
          shapes.forEach((h, si) => {
            const p = attnArgs(h, lengths, 100 + si);
            const want = run(p, "ref");
            const got = run(p, "native");
            expectClose(got, want, 2e-6, 1e-5, `${level} ${JSON.stringify(h)}`);
            expect(Array.from(got.subarray(lengths.length * h.H * h.D)).every((x) => x === -7)).toBe(true);
          });
        });
      });

      it("decodeAttention: large scores stay finite and match (max-subtracted softmax)", () => {
        withSimd(level, () => {
          const p = attnArgs({ H: 4, Hkv: 2, D: 24 }, [1, 5, 40, 77], 7, { qScale: 40 });
          const want = run(p, "ref");
          const got = run(p, "native");
          expect(got.every(Number.isFinite)).toBe(true);
          expectClose(got, want, 1e-5, 1e-4, `${level} large scores`);
        });
      });

      it("decodeAttention: a row's output is bit for bit the same alone or in a batch", () => {
        withSimd(level, () => {
          const p = attnArgs({ H: 4, Hkv: 2, D: 40 }, [3, 50, 9, 120, 1, 64, 17], 21);
          const batch = run(p, "native");
          const HD = p.H * p.D;
          for (let i = 0; i < p.n; i++) {
            const alone = run({ ...p, n: 1, row: p.row.subarray(i, i + 1), slot: p.slot.subarray(i, i + 1), len: p.len.subarray(i, i + 1) }, "native");
            const r = p.row[i];
            expect(Array.from(alone.subarray(r * HD, (r + 1) * HD)), `entry ${i}`).toEqual(Array.from(batch.subarray(r * HD, (r + 1) * HD)));
          }
        });
      });

      it("kvAppend: keys and values into their slots (exact), RoPE on q and k (atol 1e-6, rtol 1e-5), GQA, padded rows", () => {
        withSimd(level, () => {
          for (const [h, ropeBase] of [[{ H: 4, Hkv: 2, D: 6 }, 0], [{ H: 4, Hkv: 2, D: 6 }, 10000], [{ H: 6, Hkv: 6, D: 32 }, 500000], [{ H: 3, Hkv: 1, D: 7 }, 0]] as const) {
            const n = 9;
            const slots = 4;
            const maxLen = 300;
            const stride = (h.H + 2 * h.Hkv) * h.D + 5;
            const p: KvAppendArgs = {
              ...h, n, qkv: randn(1 + n * stride, 3), qkvOff: 1, qkvRowStride: stride, ropeBase,
              // positions up to 299 (the rotation table grows), slots revisited at other positions
              slot: Int32Array.from({ length: n }, (_, r) => (r * 3) % slots), pos: Int32Array.from({ length: n }, (_, r) => (r * 37) % maxLen),
              ...caches(h, slots, maxLen, 9),
            };
            const want = { ...p, qkv: Float32Array.from(p.qkv), kCache: Float32Array.from(p.kCache), vCache: Float32Array.from(p.vCache) };
            const got = { ...p, qkv: Float32Array.from(p.qkv), kCache: Float32Array.from(p.kCache), vCache: Float32Array.from(p.vCache) };
            refKernels.kvAppend(want);
            nk.kvAppend(got);
            const tol = ropeBase > 0 ? 1e-6 : 0;
            const what = `${level} ${JSON.stringify(h)} rope ${ropeBase}`;
            expectClose(got.qkv, want.qkv, tol, tol * 10, `${what} qkv`);
            expectClose(got.kCache, want.kCache, tol, tol * 10, `${what} kCache`);
            expectClose(got.vCache, want.vCache, 0, 0, `${what} vCache`);
            if (ropeBase === 0) expect(got.qkv).toEqual(p.qkv);
          }
        });
      });
    });
  }

  it("decodeAttention is bit for bit the same on 1 and 2 threads (work large enough to split)", () => {
    const before = nativeInfo().threads;
    try {
      const p = attnArgs({ H: 8, Hkv: 4, D: 64 }, Array.from({ length: 16 }, (_, i) => 200 + 37 * i), 5);
      setNativeThreads(1);
      const one = run(p, "native");
      setNativeThreads(2);
      const two = run(p, "native");
      expect(Array.from(two)).toEqual(Array.from(one));
      expectClose(one, run(p, "ref"), 2e-6, 1e-5, "2 threads vs reference");
    } finally {
      setNativeThreads(before);
    }
  });

  it("refuses out-of-range rows, slots, lengths and positions with a RangeError naming the entry", () => {
    const p = attnArgs({ H: 4, Hkv: 2, D: 8 }, [3, 5], 1, { slots: 2 });
    const bad = (o: Partial<DecodeAttentionArgs>) => () => nk.decodeAttention({ ...p, ...o });
    expect(bad({ slot: Int32Array.of(0, 2) })).toThrow(/entry 1: slot 2, positions up to 5 do not fit/);
    expect(bad({ len: Int32Array.of(0, 5) })).toThrow(/entry 0: len 0 must be >= 1/);
    expect(bad({ len: Int32Array.of(3, 17) })).toThrow(RangeError);
    expect(bad({ row: Int32Array.of(0, 5) })).toThrow(/entry 1: row 5 is outside/);
    expect(bad({ Hkv: 3 })).toThrow(/must be a multiple of Hkv/);
    expect(bad({ n: 3 })).toThrow(/row has 2 elements, needs at least 3/);
    const a: KvAppendArgs = { n: 1, H: 4, Hkv: 2, D: 8, qkv: new Float32Array(64), qkvOff: 0, qkvRowStride: 64, slot: Int32Array.of(1), pos: Int32Array.of(16), ropeBase: 0, ...caches({ H: 4, Hkv: 2, D: 8 }, 2, 5, 1) };
    expect(() => nk.kvAppend(a)).toThrow(/row 0: slot 1, positions up to 17 do not fit/);
    // a slot that does not hold whole key blocks of 16 positions, on both backends
    for (const k of [nk, refKernels]) {
      expect(() => k.kvAppend({ ...a, pos: Int32Array.of(0), slotStride: 5 * 16 })).toThrow(/slotStride 80 must be a multiple of 16 \* Hkv \* D = 256/);
      expect(() => k.decodeAttention({ ...p, slotStride: p.slotStride - 16 })).toThrow(/must be a multiple of 16 \* Hkv \* D/);
    }
    expect(() => nk.kvAppend({ ...a, pos: Int32Array.of(-1) })).toThrow(/position -1 is negative/);
    expect(() => nk.kvAppend({ ...a, D: 7, ropeBase: 10000, pos: Int32Array.of(0) })).toThrow(/must be even/);
  });
});

describe("reference decodeAttention", () => {
  it("equals causal attention over one sequence, row by row (GQA, atol 1e-6)", () => {
    const h = { H: 6, Hkv: 3, D: 12 };
    const T = 21;
    const W = (h.H + 2 * h.Hkv) * h.D;
    const qkv = randn(T * W, 4, -2, 2);
    const scale = 1 / Math.sqrt(h.D);
    const want = new Float32Array(T * h.H * h.D);
    refKernels.attention({ B: 1, T, ...h, scale, q: qkv, qOff: 0, qRowStride: W, k: qkv, kOff: h.H * h.D, v: qkv, vOff: (h.H + h.Hkv) * h.D, kvRowStride: W, out: want, lse: new Float32Array(h.H * T) });
    // the same rows through the decoder's kernels: appended one position at a time into slot 1 of 3
    const c = { kCache: new Float32Array(3 * 32 * h.Hkv * h.D), vCache: new Float32Array(3 * 32 * h.Hkv * h.D), slotStride: 32 * h.Hkv * h.D };
    const got = new Float32Array(T * h.H * h.D);
    const pos = Int32Array.from({ length: T }, (_, t) => t);
    refKernels.kvAppend({ n: T, ...h, qkv, qkvOff: 0, qkvRowStride: W, slot: new Int32Array(T).fill(1), pos, ropeBase: 0, ...c });
    refKernels.decodeAttention({ n: T, ...h, scale, q: qkv, qOff: 0, qRowStride: W, row: pos, slot: new Int32Array(T).fill(1), len: pos.map((t) => t + 1), out: got, ...c });
    expectClose(got, want, 1e-6, 1e-6, "decodeAttention vs attention");
  });
});
