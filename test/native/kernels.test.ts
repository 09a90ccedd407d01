// Every non-GEMM native kernel against the reference backend on edge shapes (0, 1, odd, strided,
// broadcast, negative strides, NaN/-inf where the reference defines them) and on sizes large enough to
// run multi-threaded (work above 2 x parallelGrain() in native/addon.cc), under every SIMD level this
// CPU runs. Tolerances are stated per kernel.
import { describe, expect, it } from "vitest";
import type { BinaryOp, Kernels, UnaryOp } from "../../src/tensor/backend/kernels.js";
import { refKernels } from "../../src/tensor/backend/ref.js";
import { expectClose, native, randInts, randn, simdLevels, skipNative, withSimd } from "./helpers.js";

const ref: Kernels = refKernels;
const copy = (x: Float32Array) => Float32Array.from(x);

describe.skipIf(skipNative)("native kernels vs reference", () => {
  for (const level of simdLevels()) {
    describe(level, () => {
      const run = (fn: () => void) => () => withSimd(level, fn);

      it("copyStrided: transposed, broadcast, negative strides, empty, scalar (exact)", run(() => {
        const x = randn(4000, 1);
        const cases: [number, number[], number[]][] = [
          [0, [13, 1], [7, 13]],
          [0, [1, 7], [13, 7]],
          [5, [0, 1], [4, 9]],
          [90, [-9, 1], [10, 9]],
          [0, [60, 1, 12], [5, 12, 12]],
          [3, [], []],
          [0, [1], [0]],
          [0, [2], [1900]],
          [0, [1, 100], [100, 30]],
        ];
        for (const [off, strides, shape] of cases) {
          const n = shape.reduce((a, b) => a * b, 1);
          const want = new Float32Array(n);
          const got = new Float32Array(n);
          ref.copyStrided(x, off, strides, want, shape);
          native!.copyStrided(x, off, strides, got, shape);
          expectClose(got, want, 0, 0, `copyStrided ${shape} ${strides}`);
        }
        expect(() => native!.copyStrided(x, 0, [-1], new Float32Array(3), [3])).toThrow(/x view reaches elements \[-2, 0\]/);
      }));

      it("binary: every op on same-shape, row/column broadcast, scalar, transposed, empty, large (pow rtol 1e-6, else exact)", run(() => {
        const ops: BinaryOp[] = ["add", "sub", "mul", "div", "pow", "max", "min"];
        type Case = { shape: number[]; as: number[]; bs: number[]; aOff?: number; bOff?: number };
        const cases: Case[] = [
          { shape: [7, 13], as: [13, 1], bs: [13, 1] },
          { shape: [5, 3, 17], as: [51, 17, 1], bs: [0, 0, 1] },
          { shape: [6, 19], as: [19, 1], bs: [1, 0] },
          { shape: [4, 9], as: [1, 0], bs: [0, 1] },
          { shape: [6, 5], as: [1, 6], bs: [5, 1] },
          { shape: [0, 3], as: [3, 1], bs: [0, 1] },
          { shape: [], as: [], bs: [], aOff: 2, bOff: 3 },
          { shape: [1], as: [1], bs: [0] },
          { shape: [300, 257], as: [257, 1], bs: [257, 1] },
          { shape: [600000], as: [1], bs: [0] },
          { shape: [3, 200000], as: [1, 3], bs: [0, 1] },
        ];
        for (const op of ops) {
          for (const c of cases) {
            const a = randn(600010, 2, op === "pow" ? 0.1 : -2, 2);
            const b = randn(600010, 3, op === "div" ? 0.5 : -2, 2);
            if (op === "max" || op === "min") {
              for (let i = 0; i < 200; i += 7) b[i] = a[i];
              a[3] = Number.NaN;
              b[10] = Number.NaN;
              a[20] = -0;
              b[20] = 0;
            }
            const n = c.shape.reduce((x, y) => x * y, 1);
            const want = new Float32Array(n);
            const got = new Float32Array(n);
            ref.binary(op, a, c.aOff ?? 0, c.as, b, c.bOff ?? 0, c.bs, want, c.shape);
            native!.binary(op, a, c.aOff ?? 0, c.as, b, c.bOff ?? 0, c.bs, got, c.shape);
            expectClose(got, want, 0, op === "pow" ? 1e-6 : 0, `binary ${op} ${JSON.stringify(c)}`);
            if (op === "max" || op === "min") expect(Object.is(got[20], want[20]), `${op} signed zero`).toBe(true);
          }
        }
      }));

      it("unary and unaryBackward: every op, n = 0, 1, 17, 300007 (atol 1e-6, rtol 1e-5)", run(() => {
        const ops: UnaryOp[] = ["neg", "exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid", "relu", "gelu", "silu", "square", "recip"];
        for (const op of ops) {
          const positive = op === "log" || op === "sqrt" || op === "rsqrt" || op === "recip";
          for (const n of [0, 1, 17, 300007]) {
            const x = randn(n, 40 + n, positive ? 0.05 : -6, 6);
            if (!positive && n > 10) {
              x[0] = 0;
              x[1] = -30;
              x[2] = 30;
              x[3] = -90;
            }
            const gy = randn(n, 41 + n);
            for (const backward of [false, true]) {
              const want = new Float32Array(n);
              const got = new Float32Array(n);
              if (backward) {
                ref.unaryBackward(op, x, gy, want, n);
                native!.unaryBackward(op, x, gy, got, n);
              } else {
                ref.unary(op, x, want, n);
                native!.unary(op, x, got, n);
              }
              expectClose(got, want, 1e-6, 1e-5, `${backward ? "unaryBackward" : "unary"} ${op} n=${n}`);
            }
          }
        }
        const z = new Float32Array([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, Number.NaN, -200, 200]);
        const out = new Float32Array(5);
        native!.unary("exp", z, out, 5);
        expect(Array.from(out.slice(0, 2))).toEqual([0, Number.POSITIVE_INFINITY]);
        expect(Number.isNaN(out[2])).toBe(true);
      }));

      it("sumAxis and maxAxis over (outer, dim, inner) with ties, -inf and NaN (sum rtol 1e-5)", run(() => {
        const shapes: [number, number, number][] = [[3, 0, 4], [0, 3, 3], [1, 1, 1], [5, 37, 1], [2, 1000, 3], [4, 7, 600], [300, 2000, 1], [8, 100, 700]];
        for (const [o, d, i] of shapes) {
          const x = randn(o * d * i, o + d + i, -3, 3);
          for (let j = 0; j < x.length; j += 11) x[j] = 1.5;
          if (x.length > 50) {
            x[5] = Number.NaN;
            x[17] = Number.NEGATIVE_INFINITY;
          }
          const ws = new Float32Array(o * i), gs = new Float32Array(o * i);
          const clean = Float32Array.from(x, (v) => (Number.isFinite(v) ? v : 0));
          ref.sumAxis(clean, ws, o, d, i);
          native!.sumAxis(clean, gs, o, d, i);
          expectClose(gs, ws, 1e-5 * Math.sqrt(d + 1), 1e-5, `sumAxis ${o},${d},${i}`);
          const wm = new Float32Array(o * i), gm = new Float32Array(o * i);
          const wa = new Int32Array(o * i), ga = new Int32Array(o * i);
          ref.maxAxis(x, wm, wa, o, d, i);
          native!.maxAxis(x, gm, ga, o, d, i);
          expectClose(gm, wm, 0, 0, `maxAxis ${o},${d},${i}`);
          expect(Array.from(ga), `argmax ${o},${d},${i}`).toEqual(Array.from(wa));
        }
      }));

      it("softmax / log-softmax and backward, rows with -inf, wide rows (atol 1e-6, rtol 1e-5)", run(() => {
        for (const [rows, cols] of [[0, 5], [3, 1], [7, 31], [4, 1000], [300, 777]]) {
          const x = randn(rows * cols, rows + cols, -8, 8);
          if (cols > 3) x[2] = Number.NEGATIVE_INFINITY;
          const gy = randn(rows * cols, 9);
          for (const log of [false, true]) {
            const wy = new Float32Array(rows * cols), gyOut = new Float32Array(rows * cols);
            ref.softmax(x, wy, rows, cols, log);
            native!.softmax(x, gyOut, rows, cols, log);
            expectClose(gyOut, wy, 1e-6, 1e-5, `softmax log=${log} ${rows}x${cols}`);
            const y = log ? Float32Array.from(wy, (v) => (Number.isFinite(v) ? v : -1e30)) : wy;
            const wg = new Float32Array(rows * cols), gg = new Float32Array(rows * cols);
            ref.softmaxBackward(y, gy, wg, rows, cols, log);
            native!.softmaxBackward(y, gy, gg, rows, cols, log);
            expectClose(gg, wg, 1e-5, 1e-4, `softmaxBackward log=${log} ${rows}x${cols}`);
          }
        }
      }));

      it("layerNorm / rmsNorm and backward, with and without weight/bias; gw/gb accumulate (atol 1e-5, rtol 1e-4)", run(() => {
        for (const [rows, cols] of [[0, 4], [1, 1], [6, 33], [3, 64], [900, 300]]) {
          const x = randn(rows * cols, rows * 7 + cols, -2, 3);
          const w = randn(cols, 5, 0.5, 1.5), b = randn(cols, 6);
          const gy = randn(rows * cols, 8);
          for (const affine of [true, false]) {
            const W = affine ? w : null, Bb = affine ? b : null;
            const out = [new Float32Array(rows * cols), new Float32Array(rows * cols)];
            const mean = [new Float32Array(rows), new Float32Array(rows)];
            const rstd = [new Float32Array(rows), new Float32Array(rows)];
            ref.layerNorm(x, W, Bb, out[0], mean[0], rstd[0], rows, cols, 1e-5);
            native!.layerNorm(x, W, Bb, out[1], mean[1], rstd[1], rows, cols, 1e-5);
            expectClose(out[1], out[0], 1e-5, 1e-4, `layerNorm ${rows}x${cols}`);
            expectClose(mean[1], mean[0], 1e-6, 1e-5, "layerNorm mean");
            expectClose(rstd[1], rstd[0], 1e-6, 1e-5, "layerNorm rstd");
            const gx = [new Float32Array(rows * cols), new Float32Array(rows * cols)];
            const gw = [Float32Array.from(w), Float32Array.from(w)];
            const gb = [Float32Array.from(b), Float32Array.from(b)];
            ref.layerNormBackward(x, W, mean[0], rstd[0], gy, gx[0], affine ? gw[0] : null, affine ? gb[0] : null, rows, cols);
            native!.layerNormBackward(x, W, mean[0], rstd[0], gy, gx[1], affine ? gw[1] : null, affine ? gb[1] : null, rows, cols);
            expectClose(gx[1], gx[0], 1e-5, 1e-4, `layerNormBackward gx ${rows}x${cols}`);
            expectClose(gw[1], gw[0], 1e-4, 1e-4, "layerNormBackward gw");
            expectClose(gb[1], gb[0], 1e-4, 1e-4, "layerNormBackward gb");

            ref.rmsNorm(x, W, out[0], rstd[0], rows, cols, 1e-6);
            native!.rmsNorm(x, W, out[1], rstd[1], rows, cols, 1e-6);
            expectClose(out[1], out[0], 1e-5, 1e-4, `rmsNorm ${rows}x${cols}`);
            expectClose(rstd[1], rstd[0], 1e-6, 1e-5, "rmsNorm rstd");
            ref.rmsNormBackward(x, W, rstd[0], gy, gx[0], affine ? gw[0] : null, rows, cols);
            native!.rmsNormBackward(x, W, rstd[0], gy, gx[1], affine ? gw[1] : null, rows, cols);
            expectClose(gx[1], gx[0], 1e-5, 1e-4, `rmsNormBackward gx ${rows}x${cols}`);
            expectClose(gw[1], gw[0], 1e-4, 1e-4, "rmsNormBackward gw");
          }
        }
      }));

      it("embedding gather and scatter-add backward with repeated ids, threaded sizes (exact / atol 1e-5)", run(() => {
        for (const [vocab, n, dim] of [[1, 0, 4], [1, 3, 1], [10, 6, 7], [50, 10000, 64]]) {
          const w = randn(vocab * dim, 3);
          const ids = randInts(n, vocab, 4);
          const gy = randn(n * dim, 5);
          const wo = new Float32Array(n * dim), go = new Float32Array(n * dim);
          ref.embedding(w, ids, wo, n, dim);
          native!.embedding(w, ids, go, n, dim);
          expectClose(go, wo, 0, 0, `embedding ${vocab},${n},${dim}`);
          const wg = copy(w), gg = copy(w);
          ref.embeddingBackward(gy, ids, wg, n, dim);
          native!.embeddingBackward(gy, ids, gg, n, dim);
          expectClose(gg, wg, 1e-5, 1e-5, `embeddingBackward ${vocab},${n},${dim}`);
        }
        expect(() => native!.embedding(randn(20, 1), Int32Array.from([0, 5]), new Float32Array(8), 2, 4)).toThrow(/index 5 at position 1 is outside \[0, 5\)/);
      }));

      it("cross-entropy and backward with ignore index, vocab 1 and 4099 (atol 1e-5, rtol 1e-5)", run(() => {
        for (const [rows, vocab] of [[0, 3], [2, 1], [5, 7], [3, 4099], [300, 1000]]) {
          const x = randn(rows * vocab, rows + vocab, -6, 6);
          const t = randInts(rows, vocab, 7);
          if (rows > 1) t[1] = -100;
          const losses = [new Float32Array(rows), new Float32Array(rows)];
          const lse = [new Float32Array(rows), new Float32Array(rows)];
          ref.crossEntropy(x, t, losses[0], lse[0], rows, vocab, -100);
          native!.crossEntropy(x, t, losses[1], lse[1], rows, vocab, -100);
          expectClose(losses[1], losses[0], 1e-5, 1e-5, `crossEntropy ${rows}x${vocab}`);
          expectClose(lse[1], lse[0], 1e-5, 1e-5, "crossEntropy lse");
          const gl = randn(rows, 8);
          const g = [new Float32Array(rows * vocab).fill(9), new Float32Array(rows * vocab).fill(9)];
          ref.crossEntropyBackward(x, t, lse[0], gl, g[0], rows, vocab, -100);
          native!.crossEntropyBackward(x, t, lse[0], gl, g[1], rows, vocab, -100);
          expectClose(g[1], g[0], 1e-6, 1e-5, `crossEntropyBackward ${rows}x${vocab}`);
        }
        expect(() => native!.crossEntropy(randn(6, 1), Int32Array.from([0, 3]), new Float32Array(2), new Float32Array(2), 2, 3, -100)).toThrow(/index 3 at position 1/);
      }));

      it("rope forward and inverse, large positions (atol 1e-5, rtol 1e-5)", run(() => {
        for (const [B, T, H, D, pos0] of [[1, 1, 1, 2, 0], [2, 5, 3, 8, 7], [1, 33, 2, 64, 1000], [0, 3, 2, 4, 0], [4, 256, 4, 64, 3]]) {
          const x = randn(B * T * H * D, D + T);
          for (const inverse of [false, true]) {
            const w = new Float32Array(x.length), g = new Float32Array(x.length);
            ref.rope(x, w, B, T, H, D, 10000, pos0, inverse);
            native!.rope(x, g, B, T, H, D, 10000, pos0, inverse);
            expectClose(g, w, 1e-5, 1e-5, `rope ${B},${T},${H},${D} pos0=${pos0} inverse=${inverse}`);
          }
        }
      }));

      it("adamw in place over n = 0, 1, 1001, 300001 (rtol 1e-5)", run(() => {
        for (const n of [0, 1, 1001, 300001]) {
          const p = randn(n, 1), g = randn(n, 2), m = randn(n, 3, -0.1, 0.1), v = randn(n, 4, 0, 0.01);
          const args = { n, lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.95 ** 3 };
          const w = { ...args, param: copy(p), grad: g, m: copy(m), v: copy(v) };
          const o = { ...args, param: copy(p), grad: g, m: copy(m), v: copy(v) };
          ref.adamw(w);
          native!.adamw(o);
          expectClose(o.param, w.param, 1e-7, 1e-5, `adamw param n=${n}`);
          expectClose(o.m, w.m, 1e-7, 1e-5, "adamw m"); // f32 rounding of beta1*m + (1-beta1)*g, |g| ~ 1
          expectClose(o.v, w.v, 1e-8, 1e-5, "adamw v");
        }
      }));
    });
  }
});
