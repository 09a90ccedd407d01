// `llmforge classify train|predict`: a tiny BERT pretrained by `llmforge train --flavour bert` is fine-tuned on
// labelled JSONL whose label is decidable from the text (an animal word or a place word), reaches high held-out
// accuracy and macro-F1, and labels new records with probabilities; text pairs get segment ids; bad records,
// a GPT run and a BERT without a classification head are refused with file:line or by name before training.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tokenizer, writeTokenShard } from "../../src/tokenizer/index.js";
import { classifyBatch, encodeExamples, encodeInput, labelSetOf, predictClassifier, readLabelled, trainClassifier } from "../../src/train/classify.js";
import { bertTokenizer } from "../../src/train/mlm.js";
import { CLI } from "../helpers/tinyShards.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-classify-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FILL = "the a old big small red green near by on in with and".split(" ");
const ANIMALS = ["cat", "dog", "bird", "horse"];
const PLACES = ["park", "town", "lake", "hill"];
const gen = new Rng(2024);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(gen.uniform() * xs.length)];
/** Six filler words with `key` (if any) at a random place among them. */
function sentence(key?: string): string {
  const w = Array.from({ length: 6 }, () => pick(FILL));
  if (key) w.splice(Math.floor(gen.uniform() * 7), 0, key);
  return w.join(" ");
}
/** Records labelled "animal" or "place" by the one key word of their text (or of their pair text, with `pair`). */
function records(n: number, pair = false): { text: string; text_pair?: string; label: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const animal = i % 2 === 0;
    const key = pick(animal ? ANIMALS : PLACES);
    const label = animal ? "animal" : "place";
    return pair ? { text: sentence(), text_pair: sentence(key), label } : { text: sentence(key), label };
  });
}
const jsonl = (file: string, recs: readonly unknown[]): string => {
  writeFileSync(file, recs.map((r) => `${JSON.stringify(r)}\n`).join(""));
  return file;
};
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const trainFile = jsonl(join(dir, "train.jsonl"), records(200));
const testFile = jsonl(join(dir, "test.jsonl"), records(40));
const base = join(dir, "base");

beforeAll(() => {
  // A corpus of the same sentences (no labels) for masked-LM pretraining: tokenizer, shards, then 10 steps.
  const texts = Array.from({ length: 300 }, () => sentence(pick([...ANIMALS, ...PLACES])));
  const tok = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
  const tokPath = join(dir, "tokenizer.json");
  writeFileSync(tokPath, tok.toHuggingFaceJson());
  const eot = tok.specialId("<|endoftext|>");
  const ids = texts.flatMap((t) => [eot, ...tok.encode(t)]);
  const shards = join(dir, "shards");
  mkdirSync(shards, { recursive: true });
  const cut = Math.floor(ids.length * 0.9);
  writeTokenShard(join(shards, "train_000000.bin"), ids.slice(0, cut), tok.vocabSize);
  writeTokenShard(join(shards, "val_000000.bin"), ids.slice(cut), tok.vocabSize);
  const r = cli(["train", "--flavour", "bert", "--data", shards, "--tokenizer", tokPath, "--preset", "tiny", "--block", "32", "--batch", "8", "--steps", "10", "--eval-batches", "1", "--dropout", "0", "--out", base]);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(0);
}, 60_000);

describe("llmforge classify", () => {
  it("fine-tunes a BERT run on labelled JSONL (held-out accuracy and macro-F1) and predicts labels with probabilities", () => {
    const out = join(dir, "cls");
    const r = cli(["classify", "train", "--model", base, "--data", trainFile, "--out", out, "--steps", "60", "--lr", "3e-3", "--batch", "16", "--eval-every", "30", "--val-fraction", "0.2"]);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const m = r.out.match(/fine-tuned 60 steps .* on 160 records, labels animal, place; held-out \(40 records\): accuracy ([\d.]+)% -> ([\d.]+)%, macro-F1 ([\d.]+) -> ([\d.]+); classifier in /);
    expect(m).not.toBeNull();
    const [before, after, f1] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[4])];
    expect(after).toBeGreaterThanOrEqual(90);
    expect(after).toBeGreaterThan(before);
    expect(f1).toBeGreaterThanOrEqual(0.9);
    const cfg = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
    expect(cfg).toMatchObject({ model_type: "bert", architectures: ["BertForSequenceClassification"], num_labels: 2, id2label: { 0: "animal", 1: "place" }, label2id: { animal: 0, place: 1 } });
    expect(existsSync(join(out, "tokenizer", "tokenizer.json"))).toBe(true);
    const evals = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((l) => "val_acc" in l);
    expect(evals.map((e) => e.step)).toEqual([0, 30, 60]);
    expect(evals[2].val_macro_f1).toBeCloseTo(f1, 3);
    const report = JSON.parse(readFileSync(join(out, "classify.json"), "utf8"));
    expect(report).toMatchObject({ format: "llmforge-classify", labels: ["animal", "place"], train: 160, val: 40 });
    expect(report.after.acc).toBeCloseTo(after / 100, 3);

    // predict: every record comes back with its fields, a label and probabilities summing to 1; labelled records are scored.
    const preds = join(dir, "preds.jsonl");
    const p = cli(["classify", "predict", "--model", out, "--data", testFile, "--out", preds]);
    expect(p.code).toBe(0);
    const acc = Number(p.err.match(/classified 40 records -> .*; accuracy ([\d.]+)%, macro-F1 [\d.]+ over the 40 labelled records/)?.[1]);
    expect(acc).toBeGreaterThanOrEqual(85);
    const lines = readFileSync(preds, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const gold = readFileSync(testFile, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(40);
    lines.forEach((l, i) => {
      expect(l.text).toBe(gold[i].text);
      expect(["animal", "place"]).toContain(l.prediction);
      expect(Object.keys(l.probabilities)).toEqual(["animal", "place"]);
      expect(l.probabilities.animal + l.probabilities.place).toBeCloseTo(1, 9);
      expect(l.probabilities[l.prediction]).toBeGreaterThanOrEqual(0.5);
    });
    expect(lines.filter((l, i) => l.prediction === gold[i].label).length / 40).toBeCloseTo(acc / 100, 3);

    // Unlabelled records, no --out: JSONL on standard output, nothing scored.
    const bare = jsonl(join(dir, "bare.jsonl"), [{ text: "a big dog on the hill" }, { text: "the old town by the lake" }]);
    const s = cli(["classify", "predict", "--model", out, "--data", bare]);
    expect(s.code).toBe(0);
    const rows = s.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((x) => x.text)).toEqual(["a big dog on the hill", "the old town by the lake"]);
    expect(s.err).toMatch(/classified 2 records\n/);
  }, 60_000);

  it("encodes text pairs as [CLS] a [SEP] b [SEP] with segment ids, cutting the longer text first, and learns from the second text", async () => {
    const { tokenizer, special } = bertTokenizer(Tokenizer.fromFile(join(base, "tokenizer", "tokenizer.json")));
    const a = tokenizer.encode("the red cat");
    const b = tokenizer.encode("a big old green town near the lake");
    const full = encodeInput(tokenizer, special, "the red cat", "a big old green town near the lake", 64);
    expect(Array.from(full.ids)).toEqual([special.cls, ...a, special.sep, ...b, special.sep]);
    expect(Array.from(full.types ?? [])).toEqual([...Array(a.length + 2).fill(0), ...Array(b.length + 1).fill(1)]);
    // Longest first: two long texts are cut to 2 tokens each; a long one beside a short one loses its own tokens only.
    expect(Array.from(encodeInput(tokenizer, special, "the red cat", "a big old green town near the lake", 7).ids)).toEqual([special.cls, ...a.slice(0, 2), special.sep, ...b.slice(0, 2), special.sep]);
    const d = tokenizer.encode("a");
    expect(d.length).toBe(1);
    expect(Array.from(encodeInput(tokenizer, special, "a big old green town near the lake", "a", 5 + d.length).ids)).toEqual([special.cls, ...b.slice(0, 2), special.sep, ...d, special.sep]);
    expect(encodeInput(tokenizer, special, "the red cat", undefined, 64).types).toBeUndefined();
    const batch = classifyBatch([{ ...full, label: 0 }, { ...encodeInput(tokenizer, special, "a dog", undefined, 64), label: 1 }], special.pad);
    const T = full.ids.length;
    expect(Array.from(batch.tokenTypeIds?.subarray(0, T) ?? [])).toEqual(Array.from(full.types ?? []));
    expect(Array.from(batch.tokenTypeIds?.subarray(T) ?? [])).toEqual(Array(T).fill(0));

    const data = jsonl(join(dir, "pairs.jsonl"), records(200, true));
    const r = await trainClassifier({ model: base, data, out: join(dir, "pairs"), valFraction: 0.2, batchSize: 16, steps: 60, lr: 3e-3, evalEvery: 60, seed: 5, progress: false });
    expect(r.summary.val?.acc).toBeGreaterThanOrEqual(0.9);
    const pred = await predictClassifier({ model: join(dir, "pairs"), data: jsonl(join(dir, "pairs-test.jsonl"), records(20, true)) });
    expect(pred.scores?.acc).toBeGreaterThanOrEqual(0.85);
  }, 30_000);

  it("reads numeric labels as names, or as indices into --labels when they name no class", async () => {
    const { tokenizer, special } = bertTokenizer(Tokenizer.fromFile(join(base, "tokenizer", "tokenizer.json")));
    const file = jsonl(join(dir, "numeric.jsonl"), [{ text: "a cat", label: 1 }, { text: "a town", label: 0 }, { text: "a dog", label: 10 }, { text: "a bird", label: "2" }]);
    const recs = await readLabelled(file);
    expect(labelSetOf(recs)).toEqual(["0", "1", "2", "10"]);
    expect(encodeExamples(recs, tokenizer, special, labelSetOf(recs), false, 16).map((e) => e.label)).toEqual([1, 0, 3, 2]);
    expect(encodeExamples(recs.slice(0, 2), tokenizer, special, ["neg", "pos"], true, 16).map((e) => e.label)).toEqual([1, 0]);
    expect(() => encodeExamples(recs, tokenizer, special, ["neg", "pos"], true, 16)).toThrow(/numeric\.jsonl:3: label 10 is not in the label set \(neg, pos\) nor an index into it/);
  });

  it("refuses bad records with file:line, a GPT run and a BERT without a classification head, before anything is written", async () => {
    const bad = [
      { lines: ['{"text": "a cat", "label": "animal"}', '{"text": "a lake", "label": "plant"}'], labels: ["animal", "place"], msg: /bad0\.jsonl:2: label "plant" is not in the label set \(animal, place\)/ },
      { lines: ['{"text": "a cat", "label": "animal"}', '{"text": "  ", "label": "place"}'], msg: /bad1\.jsonl:2: "text" is empty/ },
      { lines: ['{"text": "a cat", "label": "animal"}', "", '{"text": "a lake"}'], msg: /bad2\.jsonl:3: "label" must be a string or a number, but the record has no "label" field \(--label-field/ },
      { lines: ['{"text": "a cat", "label": "animal"}', '{"text": "a lake", "label": "place"'], msg: /bad3\.jsonl:2: malformed JSON line/ },
      { lines: ['{"sentence": "a cat", "label": "animal"}'], msg: /bad4\.jsonl:1: expected a string field "text" \(the text to classify; --text-field names another field\), got missing/ },
      { lines: ['{"text": "a cat", "text_pair": 3, "label": "animal"}'], msg: /bad5\.jsonl:1: "text_pair" \(the second text of a pair\) must be a string, got number/ },
      { lines: ['{"text": "a cat", "label": ["animal"]}'], msg: /bad6\.jsonl:1: "label" must be a string or a number, got \["animal"\]/ },
      { lines: ['{"text": "a cat", "label": "animal"}', '{"text": "a dog", "label": "animal"}'], msg: /bad7\.jsonl: 1 distinct label\(s\); classification needs at least 2/ },
    ];
    for (const [i, b] of bad.entries()) {
      const data = join(dir, `bad${i}.jsonl`);
      writeFileSync(data, `${b.lines.join("\n")}\n`);
      const out = join(dir, `bad-out${i}`);
      await expect(trainClassifier({ model: base, data, out, labels: b.labels, batchSize: 2, steps: 1, lr: 1e-3, progress: false })).rejects.toThrow(b.msg);
      expect(existsSync(out)).toBe(false);
    }
    // The same through the CLI: one line naming file:line, exit 1, no stack, no run folder.
    const out = join(dir, "bad-cli");
    const r = cli(["classify", "train", "--model", base, "--data", join(dir, "bad2.jsonl"), "--out", out]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^llmforge: .*bad2\.jsonl:3: "label" must be a string or a number/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);

    const gpt = join(dir, "gpt");
    saveModel(join(gpt, "model"), new GPT(makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize: 304 })));
    writeFileSync(join(gpt, "tokenizer.json"), readFileSync(join(base, "tokenizer", "tokenizer.json")));
    const g = cli(["classify", "train", "--model", gpt, "--data", trainFile, "--out", join(dir, "gpt-cls")]);
    expect(g.code).toBe(1);
    expect(g.err).toMatch(/^llmforge: .*this folder holds a "gpt2" model, not a bert model; give a BERT run/);
    expect(existsSync(join(dir, "gpt-cls"))).toBe(false);
    await expect(predictClassifier({ model: base, data: testFile })).rejects.toThrow(/holds a BERT without a classification head \(BertForPreTraining\): fine-tune one first with `llmforge classify train/);
  }, 30_000);
});
