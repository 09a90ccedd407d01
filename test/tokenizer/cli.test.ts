// The CLI end to end (train -> encode -> decode -> shard) through src/cli/main.ts, and text-file
// chunking: cutting a long text file into chunks does not change its tokens.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readTokenShard, readTokenizerCorpus, Tokenizer } from "../../src/tokenizer/index.js";
import { cjkParagraphs, englishParagraphs } from "./fixtures.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cli = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), "tokenizer", ...args], { cwd: root, input, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe("llmforge tokenizer CLI", () => {
  it("trains, encodes, decodes and shards", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tokcli-"));
    const corpus = join(dir, "c.jsonl");
    writeFileSync(corpus, `${[...englishParagraphs(3), ...cjkParagraphs(50)].map((text) => JSON.stringify({ text })).join("\n")}\n`);
    const train = cli(["train", "--vocab-size", "600", "--out", join(dir, "tok"), "--quiet", corpus]);
    expect(train.err).toBe("");
    expect(train.code).toBe(0);
    expect(train.out).toMatch(/vocab size\s+600/);
    expect(train.out).toMatch(/bytes per token\s+\d+\.\d+ on \d+ held-out documents/);
    const report = JSON.parse(readFileSync(join(dir, "tok", "train_report.json"), "utf8"));
    expect(report.vocabSize).toBe(600);

    const text = "Hello, 世界! <|endoftext|>\n";
    const enc = cli(["encode", "--tokenizer", join(dir, "tok"), "--allow-special", "all"], text);
    expect(enc.code).toBe(0);
    const ids = JSON.parse(enc.out) as number[];
    const tok = Tokenizer.fromFile(join(dir, "tok", "tokenizer.json"));
    expect(ids).toEqual(tok.encode(text, { allowedSpecial: "all" }));
    expect(cli(["decode", "--tokenizer", join(dir, "tok")], enc.out).out).toBe(text);

    const bad = cli(["decode", "--tokenizer", join(dir, "tok")], "[1, 600]");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/unknown token id 600 at position 1/);

    const sh = cli(["shard", "--tokenizer", join(dir, "tok"), "--out", join(dir, "shards"), "--shard-tokens", "5000", "--quiet", corpus]);
    expect(sh.code).toBe(0);
    expect(sh.out).toMatch(/train tokens in \d+ shard/);
    expect(existsSync(join(dir, "shards", "train_000000.bin"))).toBe(true);
    expect(readTokenShard(join(dir, "shards", "train_000000.bin")).header.tokenCount).toBe(5000);
  });

  it("rejects a vocab size below 256 + specials with a clear message", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tokcli-"));
    writeFileSync(join(dir, "a.txt"), "some text");
    const r = cli(["train", "--vocab-size", "100", "--out", join(dir, "t"), join(dir, "a.txt")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/vocab size 100 is too small: it must be an integer >= 264/);
  });
});

describe("text file chunking", () => {
  it("cuts long text files only where the pre-tokenizer would cut anyway", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tokchunk-"));
    const text = `${englishParagraphs(2).join("\n\n")}\nline\n  indented\nnext\n`;
    const p = join(dir, "t.txt");
    writeFileSync(p, text);
    const tok = Tokenizer.trainFromTexts([text], { vocabSize: 700 });
    const gpt2 = Tokenizer.trainFromTexts([text], { vocabSize: 700, style: "gpt2" });
    const chunks: string[] = [];
    for await (const d of readTokenizerCorpus([p], { chunkChars: 2000 })) chunks.push(d.text);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.join("")).toBe(text);
    for (const t of [tok, gpt2]) expect(chunks.flatMap((c) => t.encode(c))).toEqual(t.encode(text));
  });
});
