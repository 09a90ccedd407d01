import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { readTokenShard, writeTokenShard } from "../../src/tokenizer/index.js";
import { latestCheckpoint, listCheckpoints } from "../../src/train/checkpoint.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { readTensorBoardScalars } from "../../src/train/tensorboard.js";
import { NonFiniteLossError, train, type TrainOptions } from "../../src/train/trainer.js";

const V = 48;
const config = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: V, dropout: 0.1 });

function makeShards(dir: string): { train: string; val: string } {
  // A learnable sequence: a repeating pattern with a little noise.
  const tokens = Array.from({ length: 3000 }, (_, i) => (i % 12 === 0 ? (i * 31) % V : (i * 5) % 12));
  const trainPath = join(dir, "train_000000.bin");
  const valPath = join(dir, "val_000000.bin");
  writeTokenShard(trainPath, tokens.slice(0, 2500), V);
  writeTokenShard(valPath, tokens.slice(2500), V);
  return { train: trainPath, val: valPath };
}

function options(dir: string, shards: { train: string; val: string }, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir: dir, trainShards: [shards.train], valShards: [shards.val], readShard: (p) => readTokenShard(p).tokens,
    batchSize: 4, seqLen: 8, totalBatchTokens: 64, maxSteps: 10, maxLr: 3e-3, warmupSteps: 2,
    evalEvery: 5, evalBatches: 2, checkpointEvery: 3, keepCheckpoints: 2, seed: 1, progress: false, ...extra,
  };
}

describe("trainer", () => {
  it("lowers the loss, logs JSONL and TensorBoard, keeps the last K checkpoints", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-train-"));
    const shards = makeShards(dir);
    const run = join(dir, "run");
    const s = await train(new GPT(config, { seed: 1, backend: "ref" }), options(run, shards, { maxSteps: 30, checkpointEvery: 10 }));
    expect(s.steps).toBe(30);
    expect(s.val!.loss).toBeLessThan(s.initialVal!.loss - 0.5);
    const recs = new MetricsLog(join(run, "metrics.jsonl")).read();
    expect(recs.filter((r) => "loss" in r)).toHaveLength(30);
    const tbFile = readdirSync(join(run, "tb"))[0];
    const scalars = readTensorBoardScalars(join(run, "tb", tbFile));
    expect(scalars.filter((x) => x.tag === "train/loss")).toHaveLength(30);
    expect(listCheckpoints(join(run, "checkpoints")).map((p) => p.slice(-13))).toEqual(["step_00000020", "step_00000030"]);
  });

  it("trains in bf16 mixed precision about as well as in f32", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-bf16-"));
    const shards = makeShards(dir);
    const run = (precision: "f32" | "bf16") =>
      train(new GPT(config, { seed: 1 }), options(join(dir, precision), shards, { maxSteps: 30, checkpointEvery: 100, precision }));
    const f = await run("f32");
    const b = await run("bf16");
    expect(b.val!.loss).toBeLessThan(b.initialVal!.loss - 0.5);
    expect(Math.abs(b.val!.loss - f.val!.loss)).toBeLessThan(0.15);
  });

  it("stops cleanly with a checkpoint when its signal aborts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-abort-"));
    const shards = makeShards(dir);
    const stop = new AbortController();
    const run = join(dir, "run");
    const s = await train(new GPT(config, { seed: 1, backend: "ref" }), options(run, shards, {
      signal: stop.signal,
      onStep: (step) => {
        if (step === 4) stop.abort();
      },
    }));
    expect(s.stoppedBy).toBe("interrupted");
    expect(s.steps).toBe(4);
    expect(latestCheckpoint(join(run, "checkpoints"))).toMatch(/step_00000004$/);
  });

  it("resumes bit-identically after a crash mid-run, ignoring a torn checkpoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-resume-"));
    const shards = makeShards(dir);
    const full = join(dir, "full");
    await train(new GPT(config, { seed: 2, backend: "ref" }), options(full, shards));
    const cut = join(dir, "cut");
    await expect(
      train(new GPT(config, { seed: 2, backend: "ref" }), options(cut, shards, {
        onStep: (step) => {
          if (step === 7) throw new Error("simulated kill");
        },
      })),
    ).rejects.toThrow("simulated kill");
    expect(latestCheckpoint(join(cut, "checkpoints"))).toMatch(/step_00000006$/);
    // A checkpoint write killed half-way leaves a temp folder and no state.json: both are ignored.
    mkdirSync(join(cut, "checkpoints", ".step_00000009.tmp-999"), { recursive: true });
    mkdirSync(join(cut, "checkpoints", "step_00000009"), { recursive: true });
    writeFileSync(join(cut, "checkpoints", "step_00000009", "model.safetensors"), "torn");
    await train(new GPT(config, { seed: 99, backend: "ref" }), options(cut, shards, { resume: true }));
    const losses = (p: string) => new MetricsLog(join(p, "metrics.jsonl")).read().map((r) => [r.step, r.loss ?? r.val_loss]);
    expect(losses(cut)).toEqual(losses(full));
  });

  it("stops on a non-finite loss without writing a poisoned checkpoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-nan-"));
    const shards = makeShards(dir);
    const model = new GPT(config, { seed: 3, backend: "ref" });
    const run = join(dir, "run");
    await expect(
      train(model, options(run, shards, {
        onStep: (step) => {
          if (step === 4) model.parameters()[0].data[0] = Number.NaN;
        },
      })),
    ).rejects.toThrow(NonFiniteLossError);
    expect(latestCheckpoint(join(run, "checkpoints"))).toMatch(/step_00000003$/);
  });
});
