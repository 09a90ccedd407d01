// Token shards: header and contents read back, <|endoftext|> before every document, the
// train/val split, identical output with 1 or 2 workers, resume after an interruption, uint32 shards.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  readTokenShard,
  readTokenShardHeader,
  TOKEN_SHARD_MAGIC,
  TokenShardError,
  Tokenizer,
  trainTokenizer,
  writeTokenShard,
  writeTokenShards,
} from "../../src/tokenizer/index.js";
import { cjkParagraphs, englishParagraphs } from "./fixtures.js";

let dir: string;
let jsonl: string;
let textFile: string;
let docs: string[];
let tok: Tokenizer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-shards-"));
  docs = [...englishParagraphs(6), ...cjkParagraphs(100)];
  jsonl = join(dir, "corpus.jsonl");
  writeFileSync(jsonl, `${docs.map((text, i) => JSON.stringify({ text, meta: { i } })).join("\n")}\n`);
  textFile = join(dir, "book.txt");
  writeFileSync(textFile, englishParagraphs(2).join("\n\n"));
  const r = await trainTokenizer([jsonl], { vocabSize: 1024, outDir: join(dir, "tok"), workers: 1 });
  tok = Tokenizer.fromFile(r.tokenizerPath as string);
});

function concat(files: string[]): number[] {
  const out: number[] = [];
  for (const f of files) out.push(...readTokenShard(f).tokens);
  return out;
}

describe("trainTokenizer", () => {
  it("learns the same tokenizer counting on two worker threads as on one, and reports held-out bytes/token", async () => {
    const one = await trainTokenizer([jsonl, textFile], { vocabSize: 900, workers: 1, holdoutEvery: 10 });
    const two = await trainTokenizer([jsonl, textFile], { vocabSize: 900, workers: 2, holdoutEvery: 10 });
    expect(two.tokenizer.toHuggingFaceJson()).toBe(one.tokenizer.toHuggingFaceJson());
    expect(one.report.heldOutDocuments).toBeGreaterThan(10);
    expect(one.report.bytesPerToken).toBeGreaterThan(1.5);
    expect(one.report.bytesPerTokenOn).toBe("held-out");
    expect(one.report.documents).toBe(docs.length + 1);
  });
});

describe("writeTokenShards", () => {
  it("writes llm.c shards whose tokens are the documents, each after <|endoftext|>, split train/val", async () => {
    const r = await writeTokenShards({ inputs: [jsonl], tokenizer: tok, outDir: join(dir, "s1"), shardTokens: 10_000, valFraction: 0.1, workers: 1 });
    expect(r.complete).toBe(true);
    expect(r.trainFiles.length).toBeGreaterThan(2);
    const h = readTokenShardHeader(r.trainFiles[0]);
    expect(h).toEqual({ magic: TOKEN_SHARD_MAGIC, version: 1, tokenCount: 10_000 });
    const raw = new Int32Array(readFileSync(r.trainFiles[0]).buffer.slice(0, 1024));
    expect([raw[0], raw[1], raw[2]]).toEqual([20240520, 1, 10_000]);
    expect(raw.slice(3).every((x) => x === 0)).toBe(true);
    const eot = tok.specialId("<|endoftext|>");
    const train: number[] = [];
    const val: number[] = [];
    docs.forEach((d, i) => {
      const isVal = Math.floor((i + 1) * 0.1) > Math.floor(i * 0.1);
      (isVal ? val : train).push(eot, ...tok.encode(d));
    });
    expect(concat(r.trainFiles)).toEqual(train);
    expect(concat(r.valFiles)).toEqual(val);
    expect(r.trainTokens).toBe(train.length);
    expect(r.valTokens).toBe(val.length);
    expect(r.documents).toBe(docs.length);
  });

  it("gives the same bytes with two worker threads", async () => {
    const a = await writeTokenShards({ inputs: [jsonl, textFile], tokenizer: tok, outDir: join(dir, "w1"), shardTokens: 50_000, workers: 1, batchChars: 50_000 });
    const b = await writeTokenShards({ inputs: [jsonl, textFile], tokenizer: tok, outDir: join(dir, "w2"), shardTokens: 50_000, workers: 2, batchChars: 50_000 });
    expect(b.trainFiles.length).toBe(a.trainFiles.length);
    for (let i = 0; i < a.trainFiles.length; i++) expect(readFileSync(b.trainFiles[i]).equals(readFileSync(a.trainFiles[i]))).toBe(true);
    for (let i = 0; i < a.valFiles.length; i++) expect(readFileSync(b.valFiles[i]).equals(readFileSync(a.valFiles[i]))).toBe(true);
  });

  it("resumes an interrupted run and ends with the same shards as an uninterrupted one", async () => {
    const opts = { inputs: [jsonl], tokenizer: tok, shardTokens: 7_000, valFraction: 0.05, workers: 1, batchChars: 20_000 };
    const whole = await writeTokenShards({ ...opts, outDir: join(dir, "whole") });
    const out = join(dir, "resumed");
    const first = await writeTokenShards({ ...opts, outDir: out, stopAfterBatches: 1 });
    expect(first.complete).toBe(false);
    const second = await writeTokenShards({ ...opts, outDir: out });
    expect(second.resumed).toBe(true);
    expect(second.complete).toBe(true);
    expect(concat(second.trainFiles)).toEqual(concat(whole.trainFiles));
    expect(concat(second.valFiles)).toEqual(concat(whole.valFiles));
    // A finished run is not redone; a different configuration is refused.
    expect((await writeTokenShards({ ...opts, outDir: out })).resumed).toBe(true);
    await expect(writeTokenShards({ ...opts, shardTokens: 9_000, outDir: out })).rejects.toThrow(/different run/);
    expect((await writeTokenShards({ ...opts, shardTokens: 9_000, outDir: out, overwrite: true })).resumed).toBe(false);
  });

  it("uses llm.c's uint32 layout (magic 20240801, version 7) above 65536 ids, reads llmforge 0.1's, and rejects corrupt shards", () => {
    const p = join(dir, "big.bin");
    writeTokenShard(p, [0, 65535, 70_000, 123_456], 200_000);
    const s = readTokenShard(p);
    expect(s.header).toEqual({ magic: 20240801, version: 7, tokenCount: 4 });
    const head = readFileSync(p);
    expect([0, 4, 8].map((o) => head.readInt32LE(o))).toEqual([20240801, 7, 4]);
    expect(s.tokens).toBeInstanceOf(Uint32Array);
    expect(Array.from(s.tokens)).toEqual([0, 65535, 70_000, 123_456]);
    // llmforge 0.1 wrote uint32 tokens as magic 20240520 version 2: still read
    const legacy = Buffer.from(readFileSync(p));
    legacy.writeInt32LE(20240520, 0);
    legacy.writeInt32LE(2, 4);
    writeFileSync(join(dir, "legacy.bin"), legacy);
    expect(Array.from(readTokenShard(join(dir, "legacy.bin")).tokens)).toEqual([0, 65535, 70_000, 123_456]);
    // a version that does not go with its magic
    legacy.writeInt32LE(20240801, 0);
    writeFileSync(join(dir, "mixed.bin"), legacy);
    expect(() => readTokenShard(join(dir, "mixed.bin"))).toThrow(/unsupported version 2 for magic 20240801: expected 7/);
    const small = join(dir, "small.bin");
    writeTokenShard(small, [1, 2, 3], 50_000);
    expect(readTokenShard(small).tokens).toBeInstanceOf(Uint16Array);
    const bytes = readFileSync(small);
    writeFileSync(join(dir, "trunc.bin"), bytes.subarray(0, bytes.length - 2));
    expect(() => readTokenShard(join(dir, "trunc.bin"))).toThrow(/truncated or corrupt/);
    const bad = Buffer.from(bytes);
    bad.writeInt32LE(123, 0);
    writeFileSync(join(dir, "magic.bin"), bad);
    expect(() => readTokenShard(join(dir, "magic.bin"))).toThrow(TokenShardError);
  });
});
