// Validation as logged and as evaluated: every validation point of metrics.jsonl (step 0 and the last step included,
// with bits per byte) is in TensorBoard too, and an evaluation asked for more batches than the shards hold counts
// each batch once.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { readTokenShard, writeTokenShard } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { readTensorBoardScalars } from "../../src/train/tensorboard.js";
import { evaluate, train } from "../../src/train/trainer.js";

const V = 40;
const config = makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: V });

function shard(dir: string, name: string, n: number): string {
  const p = join(dir, name);
  writeTokenShard(p, Array.from({ length: n }, (_, i) => (i * 7 + (i >> 3)) % V), V);
  return p;
}

describe("validation counts and logs", () => {
  it("an evaluation past the end of the shards counts each batch once", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-evalcount-"));
    const B = 2;
    const T = 8;
    const val = shard(dir, "val_000000.bin", 3 * B * T + 5); // 3 whole batches
    const model = new GPT(config, { seed: 3, backend: "ref" });
    const read = (p: string) => readTokenShard(p).tokens;
    const bytes = (ids: Int32Array) => ids.length * 2;
    const exact = evaluate(model, [val], read, B, T, 3, bytes);
    const past = evaluate(model, [val], read, B, T, 50, bytes);
    expect(exact.tokens).toBe(3 * B * T);
    expect(past).toEqual(exact);
    const two = evaluate(model, [val], read, B, T, 2, bytes);
    expect(two.tokens).toBe(2 * B * T);
    expect(two.loss).not.toBe(exact.loss);
  });

  it("TensorBoard has every validation point of metrics.jsonl, step 0 and bits per byte included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tbval-"));
    const trainShard = shard(dir, "train_000000.bin", 2000);
    const val = shard(dir, "val_000000.bin", 400);
    const run = join(dir, "run");
    await train(new GPT(config, { seed: 1, backend: "ref" }), {
      outDir: run, trainShards: [trainShard], valShards: [val], readShard: (p) => readTokenShard(p).tokens, tokenBytes: (ids) => ids.length * 2,
      batchSize: 2, seqLen: 8, maxSteps: 7, maxLr: 1e-3, evalEvery: 3, evalBatches: 2, checkpointEvery: 100, seed: 1, progress: false,
    });
    const logged = new MetricsLog(join(run, "metrics.jsonl")).read().filter((r) => "val_loss" in r);
    expect(logged.map((r) => r.step)).toEqual([0, 3, 6, 7]);
    const tb = readTensorBoardScalars(join(run, "tb", readdirSync(join(run, "tb"))[0]));
    for (const tag of ["loss", "bpb"]) {
      const points = tb.filter((x) => x.tag === `val/${tag}`);
      expect(points.map((p) => p.step)).toEqual(logged.map((r) => r.step));
      for (const [i, p] of points.entries()) expect(p.value).toBeCloseTo(logged[i][`val_${tag}`] as number, 5);
    }
  });
});
