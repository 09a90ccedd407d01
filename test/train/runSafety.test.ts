// Run folders driven through the CLI in child processes, as a user would: one writer per folder
// (train, sft, quickstart, peft merge), SIGINT/SIGTERM stop with a checkpoint and exit 130/143 without
// writing the model, bounded NaN skips, resume that keeps, refuses or extends, options refused at the edge.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LOCK_FILE, lockFolder } from "../../src/io/runLock.js";
import { readSafetensors, type WritableTensor, writeSafetensors } from "../../src/io/safetensors.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { CLI, ROOT, writeTinyShards } from "../helpers/tinyShards.js";
import { latestCheckpoint } from "../../src/train/checkpoint.js";

const cli = CLI;
const root = ROOT;
const dir = mkdtempSync(join(tmpdir(), "llmforge-runsafety-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { tok, tokPath, shards } = writeTinyShards(dir);

const train = (out: string, ...extra: string[]): string[] => [
  ...cli, "train", "--data", shards, "--tokenizer", tokPath, "--out", out, "--preset", "tiny", "--block", "16", "--batch", "4",
  "--eval-batches", "2", "--lr", "0.003", ...extra,
];

interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(args: string[]): Child {
  const proc = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout?.on("data", (b) => (out += String(b)));
  proc.stderr?.on("data", (b) => (err += String(b)));
  const exit = new Promise<number | null>((resolve) => proc.once("close", (code) => resolve(code)));
  return { proc, stdout: () => out, stderr: () => err, exit };
}

async function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const c = start(args);
  const status = await c.exit;
  return { status, stdout: c.stdout(), stderr: c.stderr() };
}

/** Resolves when `ready()` holds (polled every 5 ms); fails if the child exits first. */
async function until(c: Child, ready: () => boolean): Promise<void> {
  for (;;) {
    if (ready()) return;
    if (c.proc.exitCode !== null) throw new Error(`child exited with ${c.proc.exitCode} first: ${c.stderr()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const read = (f: string): string => (existsSync(f) ? readFileSync(f, "utf8") : "");
const trainedSteps = (out: string): number => read(join(out, "metrics.jsonl")).split("\n").filter((l) => l.includes('"loss"')).length;

describe("run folders through the CLI", () => {
  it("one writer per run: a second `train` on the same --out is refused naming the first's pid; Ctrl-C then stops the first with exit 130 and no model", async () => {
    const out = join(dir, "busy");
    const first = start(train(out, "--steps", "100000", "--ckpt-every", "5", "--eval-every", "100000"));
    await until(first, () => existsSync(join(out, "checkpoints", "step_00000005", "state.json")));
    const second = await run(train(out, "--steps", "10"));
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^llmforge: ${out} is in use by pid ${first.proc.pid} on .*\\(llmforge train, since`));
    first.proc.kill("SIGINT");
    expect(await first.exit).toBe(130);
    expect(first.stdout()).toMatch(/^stopped at step \d+; checkpoint .*step_\d+; no model written; continue with the same command and --resume/);
    expect(existsSync(join(out, "model"))).toBe(false);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    expect(latestCheckpoint(join(out, "checkpoints"))).toMatch(new RegExp(`step_${String(trainedSteps(out)).padStart(8, "0")}$`));
  }, 60_000);

  it("SIGTERM stops with a checkpoint and exit 143, writes no model; the resumed run logs what an uninterrupted one does", async () => {
    const args = ["--steps", "120", "--ckpt-every", "1000", "--eval-every", "50", "--dropout", "0.1"];
    const full = join(dir, "full");
    expect((await run(train(full, ...args))).status).toBe(0);
    const cut = join(dir, "cut");
    const child = start(train(cut, ...args));
    await until(child, () => trainedSteps(cut) >= 2);
    child.proc.kill("SIGTERM");
    expect(await child.exit).toBe(143);
    expect(child.stderr()).toContain("SIGTERM: finishing this step and writing a checkpoint");
    expect(existsSync(join(cut, "model"))).toBe(false);
    const at = trainedSteps(cut);
    expect(at).toBeLessThan(120);
    expect(latestCheckpoint(join(cut, "checkpoints"))).toMatch(new RegExp(`step_${String(at).padStart(8, "0")}$`));
    const resumed = await run([...train(cut, ...args), "--resume"]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming ${cut} at step ${at} of 120`);
    expect(read(join(cut, "metrics.jsonl")).replace(/"(tokens_per_s|ms)":\d+,?/g, "")).toBe(read(join(full, "metrics.jsonl")).replace(/"(tokens_per_s|ms)":\d+,?/g, ""));
    expect(existsSync(join(cut, "model", "model.safetensors"))).toBe(true);
  }, 60_000);

  it("a second signal quits at once", async () => {
    const src = `import { abortOnSignals } from ${JSON.stringify(join(root, "src", "cli", "options.ts"))};
const s = abortOnSignals(); s.addEventListener("abort", () => console.log("stopping " + s.reason)); console.log("ready"); setInterval(() => {}, 1000);`;
    const c = start(["--import", "tsx", "--input-type=module", "-e", src]);
    await until(c, () => c.stdout().includes("ready"));
    c.proc.kill("SIGTERM");
    await until(c, () => c.stdout().includes("stopping SIGTERM"));
    c.proc.kill("SIGINT");
    expect(await c.exit).toBe(130);
  }, 30_000);

  it("--on-nan skip stops after --max-skips non-finite steps in a row (exit 1) and writes no model", async () => {
    const out = join(dir, "nan");
    const r = await run(train(out, "--steps", "50", "--lr", "1e9", "--on-nan", "skip", "--max-skips", "3"));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\nllmforge: step \d+: loss \(NaN\) is not finite, 3 steps in a row; stopping: the weights have likely diverged/);
    expect(existsSync(join(out, "model"))).toBe(false);
  }, 30_000);

  it("eval and generate refuse a model with non-finite weights, naming the tensor; saveModel never writes one", async () => {
    const m = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize: tok.vocabSize }), { seed: 1 });
    const bad = join(dir, "nan-model");
    saveModel(bad, m);
    const file = join(bad, "model.safetensors");
    const tensors = new Map<string, WritableTensor>();
    for (const [n, t] of readSafetensors(file).tensors) tensors.set(n, { shape: t.shape, data: Float32Array.from(t.data as Float32Array) });
    const [name, victim] = [...tensors][2];
    (victim.data as Float32Array)[3] = Number.NaN;
    writeSafetensors(file, tensors);
    const want = new RegExp(`^llmforge: ${file}: tensor "${name.replace(/\./g, "\\.")}" holds NaN at element 3; the model is unusable`);
    const [e, g] = await Promise.all([
      run([...cli, "eval", "--model", bad, "--data", join(shards, "val_000000.bin")]),
      run([...cli, "generate", "--model", bad, "--tokenizer", tokPath, "--prompt", "the cat"]),
    ]);
    expect(e.status).toBe(1);
    expect(e.stderr).toMatch(want);
    expect(g.status).toBe(1);
    expect(g.stderr).toMatch(want);
    expect(g.stdout).toBe("");

    const [pname, p] = m.namedParameters()[1];
    p.data[p.offset + 5] = Number.POSITIVE_INFINITY;
    expect(() => saveModel(join(dir, "inf-model"), m)).toThrow(new RegExp(`not saving the model in .*inf-model: tensor "${pname}" holds Infinity at element 5`));
    expect(existsSync(join(dir, "inf-model", "model.safetensors"))).toBe(false);
  }, 30_000);

  it("resume keeps the schedule, refuses data/seed/batch changes, extends only with --extend, and refuses to redo a finished run", async () => {
    const out = join(dir, "resume");
    expect((await run(train(out, "--steps", "5", "--eval-every", "100"))).status).toBe(0);
    const runJson = read(join(out, "run.json"));
    const metrics = read(join(out, "metrics.jsonl"));

    const again = await run(train(out, "--steps", "8", "--lr", "0.01", "--resume"));
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^llmforge: .*resume: already finished at step 5 \(its model is in .*model\); nothing to resume\. To train it further pass --extend with --steps above 5/);
    const otherData = join(dir, "shards-copy");
    cpSync(shards, otherData, { recursive: true });
    const changed = await run([...train(out, "--steps", "8", "--seed", "7", "--batch", "2", "--resume", "--extend"), "--data", otherData]);
    expect(changed.status).toBe(1);
    expect(changed.stderr).toMatch(/run\.json: the run was started with --data .*shards \(now .*shards-copy\); --seed 1337 \(now 7\); --batch 4 \(now 2\)\. These cannot change when a run resumes/);
    const noResume = await run(train(out, "--steps", "8", "--extend"));
    expect(noResume.stderr).toMatch(/--extend lengthens a run that is resumed: pass it together with --resume/);
    const shorter = await run(train(out, "--steps", "5", "--resume", "--extend"));
    expect(shorter.stderr).toMatch(/--extend: --steps 5 does not lengthen the run .* which has 5 steps/);
    expect(noResume.status).toBe(1);
    expect(shorter.status).toBe(1);
    // Nothing was trained, logged or recorded by the refused runs.
    expect(read(join(out, "run.json"))).toBe(runJson);
    expect(read(join(out, "metrics.jsonl"))).toBe(metrics);

    const ext = await run(train(out, "--steps", "8", "--lr", "0.01", "--resume", "--extend", "--eval-every", "100"));
    expect(ext.status, ext.stderr).toBe(0);
    expect(ext.stderr).toMatch(/resuming .*resume at step 5 of 8 \(schedule lengthened from 5 steps\); kept from the run: its schedule \(--lr 0\.003, --weight-decay 0\.1, --eval-batches 2\); not used: --lr 0\.01/);
    const recs = read(join(out, "metrics.jsonl")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
    expect(recs.filter((r) => "loss" in r).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(recs.filter((r) => "val_loss" in r).map((r) => r.step)).toEqual([0, 5, 8]);
    const rec = JSON.parse(read(join(out, "run.json")));
    expect([rec.options.steps, rec.options.lr, rec.completed.step]).toEqual([8, 0.003, 8]);
  }, 60_000);

  it("refuses bad options at the edge, naming the option, before writing anything", async () => {
    const out = join(dir, "bad-options");
    const shard = join(shards, "val_000000.bin");
    const cases: Array<[string[], RegExp]> = [
      [train(out, "--steps", "-1"), /option '--steps <n>' argument '-1' is invalid\. expected a positive whole number/],
      [train(out, "--total-batch-tokens", "0"), /'--total-batch-tokens <n>' argument '0' is invalid/],
      [train(out, "--total-batch-tokens", "100"), /--total-batch-tokens 100 is not a multiple of batch × block = 4 × 16/],
      [train(out, "--batch", "-4"), /'--batch <n>' argument '-4' is invalid/],
      [train(out, "--lr", "-1"), /'--lr <lr>' argument '-1' is invalid\. expected a number >= 0/],
      [train(out, "--block", "0"), /'--block <n>' argument '0' is invalid\. expected a positive whole number/],
      [train(out, "--on-nan", "ignore"), /'--on-nan <what>' argument 'ignore' is invalid\. expected one of stop, skip/],
      [train(out, "--precision", "fp8"), /expected one of f32, bf16/],
      [train(out, "--max-skips", "0"), /'--max-skips <n>' argument '0' is invalid/],
      [[...cli, "eval", "--model", out, "--data", shard, "--batches", "-3"], /'--batches <n>' argument '-3' is invalid/],
      [[...cli, "eval", "--model", out, "--data", shard, "--batch", "0"], /'--batch <n>' argument '0' is invalid/],
      [[...cli, "sft", "--model", out, "--data", shard, "--out", out, "--lr", "-1"], /'--lr <lr>' argument '-1' is invalid/],
      [[...cli, "quickstart", "--out", out, "--minutes", "0"], /'--minutes <m>' argument '0' is invalid\. expected a number > 0/],
      [[...cli, "generate", "--model", out, "--prompt", "x", "--temperature", "-1"], /'--temperature <t>' argument '-1' is invalid/],
    ];
    const results: Awaited<ReturnType<typeof run>>[] = [];
    for (let i = 0; i < cases.length; i += 4) results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => run(args)))));
    results.forEach((r, i) => {
      expect(r.status, cases[i][0].slice(3).join(" ")).toBe(1);
      expect(r.stderr).toMatch(cases[i][1]);
    });
    expect(existsSync(out)).toBe(false);
  }, 180_000);

  it("--precision bf16 where bf16 products are unavailable says it runs them in f32", async () => {
    const r = await run(train(join(dir, "bf16"), "--steps", "1", "--backend", "ref", "--precision", "bf16"));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("precision bf16: bf16 matrix products need the native backend on a CPU with avx512_bf16, not available here; running them in f32");
  }, 30_000);

  it("sft, peft merge and quickstart take the lock of their output folder", async () => {
    const out = join(dir, "held");
    mkdirSync(out);
    const lock = lockFolder(out, "test holder");
    try {
      const fix = join(root, "test", "fixtures");
      const results = await Promise.all([
        run([...cli, "sft", "--model", join(dir, "resume"), "--data", join(dir, "none.jsonl"), "--out", out]),
        run([...cli, "peft", "merge", "--model", join(fix, "gpt2_golden"), "--adapter", join(fix, "peft_lora", "gpt2"), "--out", out]),
        run([...cli, "quickstart", "--out", out]),
      ]);
      for (const r of results) {
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`is in use by pid ${process.pid} .*\\(test holder, since`));
      }
    } finally {
      lock.release();
    }
  }, 60_000);
});
