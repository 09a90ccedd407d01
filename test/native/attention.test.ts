// Native flash-style causal attention (forward: online softmax over key tiles; backward: recomputed
// probabilities from the saved lse, key-block and query-block passes) against the reference, including
// GQA, T = 1, tile-edge T (63/64/65, 130), D not a multiple of the vector width, strided fused-QKV rows.
import { describe, it } from "vitest";
import type { AttentionBackwardArgs } from "../../src/tensor/backend/kernels.js";
import { refKernels } from "../../src/tensor/backend/ref.js";
import { setNativeThreads, nativeInfo } from "../../src/tensor/backend/native.js";
import { expectClose, native, randn, simdLevels, skipNative, withSimd } from "./helpers.js";

interface Shape {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  D: number;
  fused?: boolean;
}

/** q, k, v either separate contiguous tensors or column slices of one fused (B, T, (H + 2 Hkv) D) tensor. */
function makeArgs(s: Shape, seed: number): AttentionBackwardArgs {
  const { B, T, H, Hkv, D } = s;
  const rows = B * T;
  const scale = 1 / Math.sqrt(Math.max(D, 1));
  const base = {
    B, T, H, Hkv, D, scale,
    out: new Float32Array(rows * H * D), lse: new Float32Array(B * H * T),
    gout: randn(rows * H * D, seed + 9),
    gq: new Float32Array(rows * H * D), gk: new Float32Array(rows * Hkv * D), gv: new Float32Array(rows * Hkv * D),
  };
  if (s.fused) {
    const stride = (H + 2 * Hkv) * D + 3;
    const qkv = randn(rows * stride + 5, seed, -2, 2);
    return { ...base, q: qkv, qOff: 1, qRowStride: stride, k: qkv, kOff: 1 + H * D, v: qkv, vOff: 1 + (H + Hkv) * D, kvRowStride: stride };
  }
  return {
    ...base,
    q: randn(rows * H * D, seed, -2, 2), qOff: 0, qRowStride: H * D,
    k: randn(rows * Hkv * D, seed + 1, -2, 2), kOff: 0,
    v: randn(rows * Hkv * D, seed + 2), vOff: 0, kvRowStride: Hkv * D,
  };
}

function check(s: Shape, seed: number, label: string): void {
  const p = makeArgs(s, seed);
  const want = { ...p, out: new Float32Array(p.out.length), lse: new Float32Array(p.lse.length) };
  const got = { ...p, out: new Float32Array(p.out.length), lse: new Float32Array(p.lse.length) };
  refKernels.attention(want);
  native!.attention(got);
  expectClose(got.out, want.out, 2e-5, 1e-4, `${label} out ${JSON.stringify(s)}`);
  expectClose(got.lse, want.lse, 2e-5, 1e-5, `${label} lse ${JSON.stringify(s)}`);
  const gw = { ...want, gq: new Float32Array(p.gq.length), gk: new Float32Array(p.gk.length), gv: new Float32Array(p.gv.length) };
  // Garbage in the native gradients: they must be overwritten.
  const gg = { ...want, gq: new Float32Array(p.gq.length).fill(7), gk: new Float32Array(p.gk.length).fill(7), gv: new Float32Array(p.gv.length).fill(7) };
  refKernels.attentionBackward(gw);
  native!.attentionBackward(gg);
  const tol = 5e-5 * Math.sqrt(s.T);
  expectClose(gg.gq, gw.gq, tol, 1e-4, `${label} gq ${JSON.stringify(s)}`);
  expectClose(gg.gk, gw.gk, tol, 1e-4, `${label} gk ${JSON.stringify(s)}`);
  expectClose(gg.gv, gw.gv, tol, 1e-4, `${label} gv ${JSON.stringify(s)}`);
}

const shapes: Shape[] = [
  { B: 1, T: 1, H: 1, Hkv: 1, D: 1 },
  { B: 0, T: 4, H: 2, Hkv: 2, D: 8 },
  { B: 2, T: 9, H: 3, Hkv: 3, D: 8 },
  { B: 1, T: 17, H: 4, Hkv: 2, D: 16 },
  { B: 1, T: 65, H: 2, Hkv: 1, D: 20 },
  { B: 2, T: 11, H: 3, Hkv: 3, D: 8, fused: true },
  { B: 1, T: 130, H: 4, Hkv: 2, D: 32, fused: true },
];

describe.skipIf(skipNative)("native attention vs reference (out/lse atol 2e-5; grads atol 5e-5*sqrt(T), rtol 1e-4)", () => {
  for (const level of simdLevels()) {
    it(`${level}: edge shapes, GQA, fused QKV rows`, () => {
      withSimd(level, () => {
        shapes.forEach((s, i) => {
          check(s, 10 * i + 1, level);
        });
      });
    });
  }
  it("tile edges T = 63, 64, 128, 200 with D = 64, both backward schedules, one and two threads", () => {
    const before = nativeInfo().threads;
    try {
      for (const threads of [1, 2]) {
        setNativeThreads(threads);
        // B*Hkv < 4*threads: the two-pass backward (key blocks, then query blocks) ...
        for (const T of [63, 64, 128, 200]) check({ B: 1, T, H: 2, Hkv: 1, D: 64 }, T, `threads=${threads}`);
        // ... and enough (b, kv head) groups for the fused one-pass backward.
        check({ B: 4, T: 70, H: 4, Hkv: 2, D: 32 }, 5, `threads=${threads} fused`);
      }
    } finally {
      setNativeThreads(before);
    }
  });
});
