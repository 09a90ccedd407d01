// Bad input gives a clear error: empty corpus, vocab smaller than 256 + specials, corrupt
// tokenizer.json, unknown ids in decode, bad JSONL lines (file:line).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputLineError } from "../../src/io/jsonl.js";
import {
  EmptyCorpusError,
  Tokenizer,
  TokenizerConfigError,
  TokenizerFileError,
  trainTokenizer,
  UnknownTokenIdError,
} from "../../src/tokenizer/index.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-tokerr-"));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("bad input", () => {
  it("an empty corpus", async () => {
    await expect(trainTokenizer([file("empty.txt", "")], { vocabSize: 300 })).rejects.toThrow(EmptyCorpusError);
    await expect(trainTokenizer([file("blank.jsonl", '{"text": "   "}\n\n')], { vocabSize: 300 })).rejects.toThrow(/corpus is empty/);
    expect(() => Tokenizer.trainFromTexts([], { vocabSize: 300 })).toThrow(EmptyCorpusError);
  });

  it("a vocab size smaller than 256 + special tokens", () => {
    expect(() => Tokenizer.trainFromTexts(["abc"], { vocabSize: 263 })).toThrow(TokenizerConfigError);
    expect(() => Tokenizer.trainFromTexts(["abc"], { vocabSize: 263 })).toThrow(/>= 264 \(256 byte tokens \+ 8 special tokens\)/);
    expect(() => Tokenizer.trainFromTexts(["abc"], { vocabSize: 256, specialTokens: [], reservedSpecialTokens: 0 })).not.toThrow();
  });

  it("a corrupt or unsupported tokenizer.json", () => {
    expect(() => Tokenizer.fromFile(file("bad.json", '{"model": {'))).toThrow(/bad\.json: not valid JSON/);
    expect(() => Tokenizer.fromFile(join(dir, "missing.json"))).toThrow(TokenizerFileError);
    const good = JSON.parse(Tokenizer.trainFromTexts(["hello world"], { vocabSize: 270 }).toHuggingFaceJson());
    const wp = { ...good, model: { ...good.model, type: "WordPiece" } };
    expect(() => Tokenizer.fromHuggingFaceJson(JSON.stringify(wp), "wp.json")).toThrow(/wp\.json: model\.type is "WordPiece"/);
    const badMerge = { ...good, model: { ...good.model, merges: ["h zz"] } };
    expect(() => Tokenizer.fromHuggingFaceJson(JSON.stringify(badMerge), "m.json")).toThrow(/merges\[0\].*not in model\.vocab/);
    const noByte = { ...good, model: { ...good.model, vocab: { a: 0 }, merges: [] } };
    expect(() => Tokenizer.fromHuggingFaceJson(JSON.stringify(noByte), "v.json")).toThrow(/no token for byte/);
  });

  it("an unknown id in decode", () => {
    const tok = Tokenizer.trainFromTexts(["hello world"], { vocabSize: 270 });
    expect(() => tok.decode([104, 270])).toThrow(UnknownTokenIdError);
    expect(() => tok.decode([104, -1])).toThrow(/unknown token id -1 at position 1: ids must be integers in \[0, 270\)/);
    expect(() => tok.decode([1.5])).toThrow(UnknownTokenIdError);
  });

  it("a JSONL line that is not an object with a text field names file and line (skipped and counted, or fatal)", async () => {
    const p = file("bad.jsonl", '{"text": "ok"}\n{"body": "no text"}\n');
    await expect(trainTokenizer([p], { vocabSize: 300, workers: 1, onError: "fail" })).rejects.toThrow(InputLineError);
    await expect(trainTokenizer([p], { vocabSize: 300, workers: 1, onError: "fail" })).rejects.toThrow(/bad\.jsonl:2: expected a JSON object with a string "text" field/);
    const r = await trainTokenizer([p], { vocabSize: 300, workers: 1 });
    expect(r.report.skipped).toEqual({ 'expected a JSON object with a string "text" field': { count: 1, example: `${p}:2` } });
  });
});
