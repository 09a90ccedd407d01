// After warm-up, repeated forward + backward + optimizer steps take every buffer from the pool
// (no fresh allocation), and resident memory stays flat over 50 steps.
import { describe, expect, it } from "vitest";
import { Embedding, LayerNorm, Linear } from "../../src/nn/layers.js";
import { AdamW } from "../../src/optim/optimizers.js";
import * as ops from "../../src/tensor/ops/index.js";
import { bufferPool } from "../../src/tensor/pool.js";
import { Rng } from "../../src/tensor/rng.js";
import { tidy } from "../../src/tensor/tensor.js";

describe("memory", () => {
  it("a training step allocates nothing new after warm-up; RSS does not grow over 50 steps", () => {
    const rng = new Rng(3);
    const B = 2, T = 16, C = 32, H = 4, V = 50;
    const emb = new Embedding(V, C, { rng });
    const ln = new LayerNorm(C);
    const qkv = new Linear(C, 3 * C, { rng });
    const proj = new Linear(C, C, { rng });
    const head = new Linear(C, V, { rng });
    const params = [emb, ln, qkv, proj, head].flatMap((m) => m.parameters());
    const opt = new AdamW(params, { lr: 1e-3 });
    const idx = ops.ids(Array.from({ length: B * T }, (_, i) => (i * 7) % V), [B, T]);
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 1) % V);
    const step = (): number => {
      const loss = tidy(() => {
        const x = emb.forward(idx);
        const [q, k, v] = ops.split(qkv.forward(ln.forward(x)), [C, C, C], 2).map((t) => ops.reshape(t, [B, T, H, C / H]));
        const y = ops.add(x, proj.forward(ops.reshape(ops.causalAttention(q, k, v), [B, T, C])));
        const l = ops.crossEntropy(head.forward(y), targets);
        l.backward();
        return l.item();
      });
      opt.step();
      opt.zeroGrad();
      return loss;
    };
    for (let i = 0; i < 5; i++) step();
    const missesAfterWarmup = bufferPool.misses;
    globalThis.gc?.();
    const rss0 = process.memoryUsage().rss;
    let last = 0;
    for (let i = 0; i < 50; i++) last = step();
    const rss1 = process.memoryUsage().rss;
    expect(Number.isFinite(last)).toBe(true);
    expect(bufferPool.misses - missesAfterWarmup).toBe(0);
    expect(rss1 - rss0).toBeLessThan(64 * 1024 * 1024);
  });
});
