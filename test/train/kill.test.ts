// `llmforge train` killed with SIGKILL mid-run, then resumed, logs the same losses bit for bit as
// a run that was never interrupted; bad setups fail before anything is written.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { CLI, ROOT, writeTinyShards } from "../helpers/tinyShards.js";

const cli = CLI;
const root = ROOT;

function setup(): { dir: string; tok: string; shards: string } {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-kill-"));
  const { tokPath, shards } = writeTinyShards(dir);
  return { dir, tok: tokPath, shards };
}

const trainArgs = (s: { tok: string; shards: string }, out: string) => [
  ...cli, "train", "--data", s.shards, "--tokenizer", s.tok, "--out", out, "--preset", "tiny", "--block", "16", "--batch", "4",
  "--steps", "40", "--ckpt-every", "5", "--eval-every", "10", "--eval-batches", "2", "--lr", "0.003", "--dropout", "0.1",
];

function losses(run: string): string {
  return readFileSync(join(run, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .map((r) => `${r.step}:${r.loss ?? r.val_loss}`)
    .join("\n");
}

describe("train CLI", () => {
  it("resumes bit-identically after kill -9", async () => {
    const s = setup();
    const full = join(s.dir, "full");
    expect(spawnSync(process.execPath, trainArgs(s, full), { cwd: root, encoding: "utf8" }).status).toBe(0);

    const cut = join(s.dir, "cut");
    const child = spawn(process.execPath, trainArgs(s, cut), { cwd: root, stdio: "ignore" });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(join(cut, "checkpoints", "step_00000010", "state.json"))) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, 5);
    });
    await new Promise((r) => child.once("exit", r));
    const resumed = spawnSync(process.execPath, [...trainArgs(s, cut), "--resume"], { cwd: root, encoding: "utf8" });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*step_000000(1|2|3)\d/);
    expect(losses(cut)).toBe(losses(full));
  }, 120_000);

  it("refuses a tokenizer that does not match the shards, a bad config, and a damaged checkpoint", () => {
    const s = setup();
    const other = Tokenizer.trainFromTexts(["completely different words here"], { vocabSize: 280 });
    const otherPath = join(s.dir, "other.json");
    writeFileSync(otherPath, other.toHuggingFaceJson());
    const out = join(s.dir, "bad");
    const r1 = spawnSync(process.execPath, trainArgs({ ...s, tok: otherPath }, out), { cwd: root, encoding: "utf8" });
    expect(r1.status).not.toBe(0);
    expect(r1.stderr).toMatch(/token id \d+ is outside the model vocabulary/);
    expect(existsSync(join(out, "checkpoints"))).toBe(false);

    const cfg = join(s.dir, "cfg.json");
    writeFileSync(cfg, JSON.stringify({ nLayer: 2, nHead: 3, nEmbd: 64, blockSize: 16 }));
    const r2 = spawnSync(process.execPath, [...trainArgs(s, out), "--config", cfg], { cwd: root, encoding: "utf8" });
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toMatch(/64.*3|divisible/);

    const run = join(s.dir, "run");
    expect(spawnSync(process.execPath, [...trainArgs(s, run), "--steps", "5"], { cwd: root }).status).toBe(0);
    writeFileSync(join(run, "checkpoints", "step_00000005", "model.safetensors"), "garbage");
    const r3 = spawnSync(process.execPath, [...trainArgs(s, run), "--resume", "--extend"], { cwd: root, encoding: "utf8" });
    expect(r3.status).not.toBe(0);
    expect(r3.stderr).toMatch(/step_00000005.*model\.safetensors/);
  }, 120_000);
});
