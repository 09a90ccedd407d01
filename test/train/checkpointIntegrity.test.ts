// Checkpoint integrity: state.json records the sha256 of both weight files; loading verifies them;
// resume falls back to the newest checkpoint that verifies, saying which it skipped; random bytes in
// optimizer state are caught even in old checkpoints without checksums; killed writes leave no litter.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, writeFileSync, writeSync, cpSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { removeOrphanedTemps, writeFileAtomicSync } from "../../src/io/atomicWrite.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { AdamW } from "../../src/optim/optimizers.js";
import { readTokenShard, Tokenizer, writeTokenShard } from "../../src/tokenizer/index.js";
import { CheckpointError, latestValidCheckpoint, listCheckpoints, loadCheckpoint, verifyCheckpoint } from "../../src/train/checkpoint.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { train, type TrainOptions } from "../../src/train/trainer.js";

const V = 48;
const config = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: V, dropout: 0.1 });
const tmp = (): string => mkdtempSync(join(tmpdir(), "llmforge-ckpt-"));

function setup(dir: string): { train: string; val: string } {
  const tokens = Array.from({ length: 3000 }, (_, i) => (i % 12 === 0 ? (i * 31) % V : (i * 5) % 12));
  const s = { train: join(dir, "train_000000.bin"), val: join(dir, "val_000000.bin") };
  writeTokenShard(s.train, tokens.slice(0, 2500), V);
  writeTokenShard(s.val, tokens.slice(2500), V);
  return s;
}

const options = (out: string, s: { train: string; val: string }, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  outDir: out, trainShards: [s.train], valShards: [s.val], readShard: (p) => readTokenShard(p).tokens,
  batchSize: 4, seqLen: 8, totalBatchTokens: 64, maxSteps: 10, maxLr: 3e-3, warmupSteps: 2,
  evalEvery: 5, evalBatches: 2, checkpointEvery: 3, keepCheckpoints: 2, seed: 1, progress: false, ...extra,
});

/** Overwrites `n` bytes of a safetensors file's tensor data (past its header) at `at` with `fill` (random when omitted). */
function damage(file: string, at = 16, n = 64, fill?: number): void {
  const fd = openSync(file, "r+");
  const len = Buffer.alloc(8);
  readSync(fd, len, 0, 8, 0);
  const bytes = fill === undefined ? Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256))) : Buffer.alloc(n, fill);
  writeSync(fd, bytes, 0, n, 8 + Number(len.readBigUInt64LE(0)) + at);
  closeSync(fd);
}

const modelAndOpt = () => {
  const model = new GPT(config, { seed: 5, backend: "ref" });
  return { model, opt: new AdamW(model.parameters(), { lr: 1e-3 }) };
};

/** A process id that is not running (a child that has exited). */
const deadPid = (): number => spawnSync(process.execPath, ["-e", ""]).pid as number;

afterEach(() => vi.restoreAllMocks());

describe("checkpoint checksums", () => {
  it("records sha256 of both files; a damaged newest checkpoint is skipped on resume, which continues bit-identically from the one before", async () => {
    const dir = tmp();
    const s = setup(dir);
    const full = join(dir, "full");
    await train(new GPT(config, { seed: 2, backend: "ref" }), options(full, s));
    const cut = join(dir, "cut");
    await expect(
      train(new GPT(config, { seed: 2, backend: "ref" }), options(cut, s, { onStep: (step) => { if (step === 7) throw new Error("killed"); } })),
    ).rejects.toThrow("killed");
    const ckDir = join(cut, "checkpoints");
    const [older, newest] = listCheckpoints(ckDir);
    expect(newest).toMatch(/step_00000006$/);
    const state = JSON.parse(readFileSync(join(newest, "state.json"), "utf8"));
    expect(Object.keys(state.sha256).sort()).toEqual(["model.safetensors", "optimizer.safetensors"]);
    expect(verifyCheckpoint(newest)).toEqual({ checksummed: true });

    damage(join(newest, "optimizer.safetensors"));
    expect(() => verifyCheckpoint(newest)).toThrow(/step_00000006\/optimizer\.safetensors: damaged: sha256 .* differs/);
    const { model, opt } = modelAndOpt();
    expect(() => loadCheckpoint(newest, model, opt)).toThrow(CheckpointError);

    const said: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((l) => said.push(String(l)) > 0);
    await train(new GPT(config, { seed: 99, backend: "ref" }), options(cut, s, { resume: true }));
    vi.restoreAllMocks();
    expect(said.join("")).toMatch(/skipping checkpoint .*step_00000006: .*optimizer\.safetensors: damaged/);
    expect(older).toMatch(/step_00000003$/);
    const losses = (p: string) => new MetricsLog(join(p, "metrics.jsonl")).read().map((r) => [r.step, r.loss ?? r.val_loss]);
    expect(losses(cut)).toEqual(losses(full));
  }, 60_000);

  it("refuses to resume when no checkpoint verifies, naming each", async () => {
    const dir = tmp();
    const out = join(dir, "run");
    await train(new GPT(config, { seed: 2, backend: "ref" }), options(out, setup(dir), { maxSteps: 6 }));
    const cks = listCheckpoints(join(out, "checkpoints"));
    for (const c of cks) damage(join(c, "model.safetensors"));
    const warn = vi.fn();
    expect(() => latestValidCheckpoint(join(out, "checkpoints"), warn)).toThrow(/no checkpoint in .* verifies \(.*step_00000006.*; .*step_00000003.*\)/s);
    expect(warn).toHaveBeenCalledTimes(cks.length);
    expect(latestValidCheckpoint(join(dir, "nothing-here"), warn)).toBeNull();
  }, 60_000);

  it("an old checkpoint without checksums loads with one note; random bytes in its optimizer state are still refused", async () => {
    const dir = tmp();
    const out = join(dir, "run");
    await train(new GPT(config, { seed: 2, backend: "ref" }), options(out, setup(dir), { maxSteps: 3 }));
    const ck = listCheckpoints(join(out, "checkpoints"))[0];
    const state = JSON.parse(readFileSync(join(ck, "state.json"), "utf8"));
    delete state.sha256;
    writeFileSync(join(ck, "state.json"), JSON.stringify(state));
    const said: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((l) => said.push(String(l)) > 0);
    const a = modelAndOpt();
    expect(loadCheckpoint(ck, a.model, a.opt).step).toBe(3);
    loadCheckpoint(ck, a.model, a.opt);
    expect(said.filter((l) => l.includes("has no checksums")).length).toBe(1);
    expect(verifyCheckpoint(ck)).toEqual({ checksummed: false });

    const old = join(dir, "old");
    cpSync(ck, old, { recursive: true });
    damage(join(old, "optimizer.safetensors"), 0, 4096, 0xff); // NaN bit patterns
    const b = modelAndOpt();
    expect(() => loadCheckpoint(old, b.model, b.opt)).toThrow(/optimizer\.safetensors: [mv]\..*\[\d+\] is NaN, not a valid AdamW moment/);
  }, 60_000);
});

describe("leftovers of killed writes", () => {
  it("the next writer removes temp files and folders of dead writers, keeps live ones, and puts a checkpoint moved aside back", () => {
    const dir = tmp();
    const dead = deadPid();
    const ck = join(dir, "checkpoints");
    mkdirSync(join(ck, `.step_00000009.tmp-${dead}`), { recursive: true });
    writeFileSync(join(ck, `.step_00000009.tmp-${dead}`, "model.safetensors"), "half");
    mkdirSync(join(ck, `.step_00000012.tmp-${process.ppid}`)); // a live writer's
    mkdirSync(join(ck, `step_00000006.old-${dead}`));
    writeFileSync(join(ck, `step_00000006.old-${dead}`, "state.json"), "{}");
    // Sweeps first; the folder put back is then checked like any other (this one is a stub).
    expect(() => latestValidCheckpoint(ck, () => {})).toThrow(/step_00000006\/state\.json: not an llmforge checkpoint/);
    expect(readdirSync(ck).sort()).toEqual([`.step_00000012.tmp-${process.ppid}`, "step_00000006"]);

    const other = join(dir, "run");
    mkdirSync(other);
    writeFileSync(join(other, `.run.json.tmp-${dead}-abc12`), "torn");
    writeFileSync(join(other, `.metrics.jsonl.tmp-${process.ppid}-x1`), "live");
    writeFileSync(join(other, "notes.tmp-1"), "not ours");
    writeFileSync(join(other, `.part-00000.jsonl.partial`), "not a temp file of this kind");
    writeFileAtomicSync(join(other, "run.json"), "{}");
    expect(readdirSync(other).sort()).toEqual([`.metrics.jsonl.tmp-${process.ppid}-x1`, ".part-00000.jsonl.partial", "notes.tmp-1", "run.json"]);
    expect(removeOrphanedTemps(other)).toEqual([]); // once per folder per process
  });
});

describe("train and eval CLI", () => {
  const root = join(import.meta.dirname, "..", "..");
  const cli = ["--import", "tsx", join(root, "src", "cli", "main.ts")];

  it("resume after kill -9 skips a damaged newest checkpoint, says so, removes orphaned temps, and finishes", async () => {
    const dir = tmp();
    const words = "the cat sat on a mat and the dog ran to the park while birds sang in the old tree".split(" ");
    const texts = Array.from({ length: 300 }, (_, i) => Array.from({ length: 12 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
    const tok = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
    writeFileSync(join(dir, "tokenizer.json"), tok.toHuggingFaceJson());
    const ids = texts.flatMap((t) => tok.encode(` ${t}`));
    writeTokenShard(join(dir, "shards", "train_000000.bin"), ids.slice(0, 3000), tok.vocabSize);
    writeTokenShard(join(dir, "shards", "val_000000.bin"), ids.slice(3000), tok.vocabSize);
    const out = join(dir, "run");
    const args = [...cli, "train", "--data", join(dir, "shards"), "--tokenizer", join(dir, "tokenizer.json"), "--out", out, "--preset", "tiny",
      "--block", "16", "--batch", "4", "--steps", "60", "--ckpt-every", "2", "--eval-every", "100", "--eval-batches", "1"];
    const child = spawn(process.execPath, args, { cwd: root, stdio: "ignore" });
    const ckDir = join(out, "checkpoints");
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(join(ckDir, "step_00000006", "state.json"))) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, 5);
    });
    await new Promise((r) => child.once("exit", r));
    const cks = listCheckpoints(ckDir);
    const newest = cks[cks.length - 1];
    damage(join(newest, "optimizer.safetensors"));
    const orphan = join(ckDir, `.step_00000099.tmp-${deadPid()}`);
    mkdirSync(orphan);
    const r = spawnSync(process.execPath, [...args, "--resume"], { cwd: root, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`skipping checkpoint ${newest}: ${join(newest, "optimizer.safetensors")}: damaged: sha256`);
    expect(r.stderr).toMatch(new RegExp(`resumed from ${cks[cks.length - 2].replace(/[/.]/g, "\\$&")} at step`));
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(join(out, "model", "model.safetensors"))).toBe(true);
    // A folder where a shard file is expected: one line naming it, not a raw EISDIR.
    const e = spawnSync(process.execPath, [...cli, "eval", "--model", out, "--data", join(dir, "shards")], { cwd: root, encoding: "utf8" });
    expect(e.status).toBe(1);
    expect(e.stderr.trim()).toBe(`llmforge: ${join(dir, "shards")}: is a folder, not a file; expected a token shard file (.bin) from \`llmforge tokenizer shard\``);
  }, 300_000);
});
