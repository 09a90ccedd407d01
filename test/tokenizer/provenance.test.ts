// Token shard folders: one `tokenizer shard` writer at a time, and `train` (CLI, child processes) refuses shards
// written by another tokenizer of the same size, a set a killed run left incomplete, or one missing its manifest.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { LOCK_FILE } from "../../src/io/runLock.js";
import { TokenShardError, Tokenizer, trainTokenizer, verifyShardSet, writeTokenShard, writeTokenShards } from "../../src/tokenizer/index.js";
import { englishParagraphs } from "./fixtures.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const args = (a: string[]) => ["--import", "tsx", join(root, "src/cli/main.ts"), ...a];
const cli = (a: string[]) => {
  const r = spawnSync(process.execPath, args(a), { cwd: root, encoding: "utf8" });
  return { code: r.status, err: r.stderr };
};
const trainArgs = (data: string, tok: string, out: string) => ["train", "--data", data, "--tokenizer", tok, "--out", out, "--depth", "1", "--block", "32", "--steps", "2"];

let dir: string;
let corpus: string;
let tokA: string;
let tokB: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-prov-"));
  corpus = join(dir, "a.jsonl");
  writeFileSync(corpus, `${englishParagraphs(4).map((text) => JSON.stringify({ text })).join("\n")}\n`);
  const other = join(dir, "b.jsonl");
  writeFileSync(other, `${englishParagraphs(4).map((text) => JSON.stringify({ text: text.toUpperCase() })).join("\n")}\n`);
  tokA = (await trainTokenizer([corpus], { vocabSize: 400, outDir: join(dir, "tokA"), workers: 1 })).tokenizerPath as string;
  tokB = (await trainTokenizer([other], { vocabSize: 400, outDir: join(dir, "tokB"), workers: 1 })).tokenizerPath as string;
});

describe("shard provenance checked by train", () => {
  it("refuses shards written by another tokenizer of the same vocabulary size, before writing anything", async () => {
    const shards = join(dir, "shardsA");
    await writeTokenShards({ inputs: [corpus], tokenizer: Tokenizer.fromFile(tokA), outDir: shards, shardTokens: 2000, valFraction: 0.2, workers: 1 });
    expect(() => verifyShardSet(shards, Tokenizer.fromFile(tokA), tokA)).not.toThrow();
    const run = join(dir, "runB");
    const r = cli(trainArgs(shards, tokB, run));
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(new RegExp(`^llmforge: ${join(shards, "shards.json")}: shards were written with another tokenizer \\(sha256 [0-9a-f]{12}…\\) than ${tokB} `));
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(existsSync(run)).toBe(false); // no run folder, no copied tokenizer
  }, 60_000);

  it("refuses a folder of shards next to a partial one but no manifest; writing refuses foreign shards", async () => {
    const d = join(dir, "bare");
    mkdirSync(d);
    writeTokenShard(join(d, "train_000000.bin"), [1, 2, 3], 400);
    expect(() => verifyShardSet(d, Tokenizer.fromFile(tokA), tokA)).not.toThrow(); // plain llm.c shards
    await expect(writeTokenShards({ inputs: [corpus], tokenizer: Tokenizer.fromFile(tokA), outDir: d, workers: 1 })).rejects.toThrow(/holds token shards but no shards\.json/);
    writeFileSync(join(d, ".train_000001.bin.partial"), "");
    expect(() => verifyShardSet(d, Tokenizer.fromFile(tokA), tokA)).toThrow(TokenShardError);
    expect(() => verifyShardSet(d, Tokenizer.fromFile(tokA), tokA)).toThrow(/shards\.json: missing: the folder holds an unfinished `tokenizer shard` run/);
  });
});

describe.skipIf(process.platform === "win32")("one `tokenizer shard` writer per folder (CLI)", () => {
  it("refuses a second writer; a killed run's set is refused by train as incomplete", async () => {
    const fifo = join(dir, "pipe.jsonl");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const out = join(dir, "shardsK");
    const child = spawn(process.execPath, args(["tokenizer", "shard", fifo, "--tokenizer", tokA, "--out", out, "--workers", "1", "--quiet"]), { cwd: root, stdio: "ignore" });
    const exited = new Promise((r) => child.on("exit", r));
    for (let t = 0; t < 600 && !existsSync(join(out, "shards.json")); t++) await new Promise((r) => setTimeout(r, 50));
    const second = cli(["tokenizer", "shard", corpus, "--tokenizer", tokA, "--out", out, "--quiet"]);
    expect(second.code).toBe(1);
    expect(second.err.trim()).toMatch(new RegExp(`^llmforge: ${out} is in use by pid ${child.pid} `));
    const fd = openSync(fifo, "w");
    writeSync(fd, `${JSON.stringify({ text: "Some text the killed run has read." })}\n`);
    child.kill("SIGKILL");
    await exited;
    closeSync(fd);
    expect(existsSync(join(out, LOCK_FILE))).toBe(true);
    const run = join(dir, "runK");
    const r = cli(trainArgs(out, tokA, run));
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(
      `llmforge: ${join(out, "shards.json")}: "complete": false: the \`tokenizer shard\` run that writes these shards has not finished; rerun the same command to resume it`,
    );
    rmSync(join(out, "shards.json"));
    const m = cli(trainArgs(out, tokA, run));
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/shards\.json: missing: the folder holds an unfinished `tokenizer shard` run/);
    expect(existsSync(run)).toBe(false);
  }, 60_000);
});
