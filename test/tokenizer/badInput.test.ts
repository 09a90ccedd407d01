// `tokenizer train` and `tokenizer shard` treat bad bytes as `data ingest` does (one policy): binary,
// UTF-16 and invalid UTF-8 files are skipped with file:line and counted, or stop the run with
// --on-error fail; nothing is decoded as U+FFFD. Missing or folder inputs get one line naming the path.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTokenShard, Tokenizer } from "../../src/tokenizer/index.js";

const root = join(import.meta.dirname, "..", "..");
const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root, encoding: "utf8" });

function inputs(): { dir: string; good: string; bad: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-tokbad-"));
  const w = (name: string, data: string | Buffer) => {
    writeFileSync(join(dir, name), data);
    return join(dir, name);
  };
  const good = w("good.txt", "The quick brown fox jumps over the lazy dog. ".repeat(40));
  const bad = [
    w("bin.txt", Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3, 0xff, 0xfe])),
    w("u16.txt", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("hello world text\n", "utf16le")])),
    w("bad8.txt", Buffer.concat([Buffer.from("line one\nline two\nbad "), Buffer.from([0xc3, 0x28]), Buffer.from(" here\n")])),
    w("mix.jsonl", Buffer.concat([Buffer.from('{"text":"fine doc"}\n{"text":"bad '), Buffer.from([0xff]), Buffer.from('"}\nnot json\n')])),
  ];
  return { dir, good, bad };
}

const SKIPS = [
  /1 × binary file \(e\.g\. \S*bin\.txt\)/,
  /1 × UTF-16 text \(e\.g\. \S*u16\.txt \(UTF-16LE/,
  /2 × invalid UTF-8 \(e\.g\. \S*bad8\.txt:3\)/, // bad8.txt, and mix.jsonl:2
  /1 × malformed JSON line \(e\.g\. \S*mix\.jsonl:3 /,
];

describe("tokenizer input policy", () => {
  it("train skips and counts bad files and lines with file:line, or stops on --on-error fail", () => {
    const { dir, good, bad } = inputs();
    const r = cli(["tokenizer", "train", "--vocab-size", "300", "--out", join(dir, "tok"), "--quiet", good, ...bad]);
    expect(r.status, r.stderr).toBe(0);
    for (const re of SKIPS) expect(r.stdout).toMatch(re);
    const report = JSON.parse(readFileSync(join(dir, "tok", "train_report.json"), "utf8"));
    expect(report.documents).toBe(2); // good.txt and the one good JSONL line
    expect(report.skipped["invalid UTF-8"].count).toBe(2); // bad8.txt and mix.jsonl:2
    const vocab = JSON.stringify(JSON.parse(readFileSync(join(dir, "tok", "tokenizer.json"), "utf8")).model.vocab);
    expect(vocab).not.toContain("ï¿½"); // U+FFFD's bytes in byte-level form: nothing was decoded with replacement

    const f = cli(["tokenizer", "train", "--vocab-size", "300", "--out", join(dir, "tok2"), "--quiet", "--on-error", "fail", good, bad[2]]);
    expect(f.status).toBe(1);
    expect(f.stderr.trim()).toBe(`llmforge: ${bad[2]}:3: invalid UTF-8`);
    expect(existsSync(join(dir, "tok2", "tokenizer.json"))).toBe(false);
  }, 60_000);

  it("shard skips the same input (recorded in shards.json), writes no replacement characters, and fails on --on-error fail", () => {
    const { dir, good, bad } = inputs();
    const tokDir = join(dir, "tok");
    expect(cli(["tokenizer", "train", "--vocab-size", "300", "--out", tokDir, "--quiet", good]).status).toBe(0);
    const out = join(dir, "shards");
    const r = cli(["tokenizer", "shard", "--tokenizer", tokDir, "--out", out, "--quiet", "--val-fraction", "0", good, ...bad]);
    expect(r.status, r.stderr).toBe(0);
    for (const re of SKIPS) expect(r.stderr).toMatch(re);
    expect(r.stdout).toMatch(/^2 documents/);
    const manifest = JSON.parse(readFileSync(join(out, "shards.json"), "utf8"));
    expect(Object.keys(manifest.skipped).sort()).toEqual(["UTF-16 text", "binary file", "invalid UTF-8", "malformed JSON line"]);
    const tok = Tokenizer.fromFile(join(tokDir, "tokenizer.json"));
    const text = tok.decode([...readTokenShard(join(out, "train_000000.bin")).tokens]);
    expect(text).not.toContain("\ufffd");
    expect(text).toContain("fine doc");

    const f = cli(["tokenizer", "shard", "--tokenizer", tokDir, "--out", join(dir, "s2"), "--quiet", "--on-error", "fail", good, bad[1]]);
    expect(f.status).toBe(1);
    expect(f.stderr.trim()).toBe(`llmforge: ${bad[1]}: UTF-16 text (UTF-16LE; convert it to UTF-8, e.g. with iconv -f UTF-16 -t UTF-8)`);
  }, 60_000);

  it("data ingest rejects the same files for the same reasons", () => {
    const { dir, bad } = inputs();
    const r = cli(["data", "ingest", ...bad, "-o", join(dir, "ing"), "-q"]);
    expect(r.status, r.stderr).toBe(0);
    const rejected = JSON.parse(readFileSync(join(dir, "ing", "stats.json"), "utf8")).rejected;
    expect(Object.keys(rejected).sort()).toEqual(["UTF-16 text", "binary file", "invalid UTF-8", "malformed JSON line"]);
    expect(rejected["invalid UTF-8"].examples.join(" ")).toContain("bad8.txt:3");
  }, 60_000);

  it("a missing file or a folder given as input: one line naming the path, nothing written", () => {
    const { dir, good } = inputs();
    const tokDir = join(dir, "tok");
    expect(cli(["tokenizer", "train", "--vocab-size", "300", "--out", tokDir, "--quiet", good]).status).toBe(0);
    const missing = join(dir, "missing.jsonl");
    const m = cli(["tokenizer", "shard", "--tokenizer", tokDir, "--out", join(dir, "s"), "--quiet", missing]);
    expect(m.status).toBe(1);
    expect(m.stderr.trim()).toBe(`llmforge: ${missing}: no such file or folder; expected a JSONL or text file`);
    const d = cli(["tokenizer", "train", "--vocab-size", "300", "--out", join(dir, "t2"), "--quiet", dir]);
    expect(d.status).toBe(1);
    expect(d.stderr.trim()).toBe(`llmforge: ${dir}: is a folder; expected a JSONL or text file`);
    const o = cli(["tokenizer", "train", "--vocab-size", "300", "--out", good, "--quiet", good]);
    expect(o.status).toBe(1);
    expect(o.stderr.trim()).toBe(`llmforge: ${good}: exists and is a file, not a folder`);
    expect(existsSync(join(dir, "s"))).toBe(false);
  }, 60_000);
});
