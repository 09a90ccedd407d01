// Sequence-classification fine-tuning of a BERT (train/classify.ts) through the generic step loop:
// labelled JSONL in, held-out accuracy up, a BertForSequenceClassification folder out.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Bert } from "../../src/model/bert.js";
import { makeBertConfig } from "../../src/model/bertConfig.js";
import { loadBert, saveBert } from "../../src/model/bertFolder.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { classifyBatch, readClassifierLabels, trainClassifier } from "../../src/train/classify.js";
import { bertTokenizer } from "../../src/train/mlm.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-bert-cls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const words = "the a old big small red green park tree house road hill".split(" ");
const gen = new Rng(12345);
const rng = () => gen.uniform();
/** Label "animal" when the text names a cat or a dog somewhere among filler words, else "place". */
const records = Array.from({ length: 240 }, (_, i) => {
  const animal = i % 2 === 0;
  const body = Array.from({ length: 6 }, () => words[Math.floor(rng() * words.length)]);
  body.splice(Math.floor(rng() * 6), 0, animal ? (rng() < 0.5 ? "cat" : "dog") : (rng() < 0.5 ? "lake" : "town"));
  return { text: body.join(" "), label: animal ? "animal" : "place" };
});

function writeBase(): string {
  const base = Tokenizer.trainFromTexts(records.map((r) => r.text), { vocabSize: 300 });
  const { tokenizer } = bertTokenizer(base);
  const run = join(dir, "base");
  const config = makeBertConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 16, hiddenDropout: 0, attentionDropout: 0 });
  saveBert(join(run, "model"), new Bert(config, { seed: 1 }));
  writeFileSync(join(run, "model", "tokenizer.json"), tokenizer.toHuggingFaceJson());
  return join(run, "model");
}

describe("BERT sequence classification", () => {
  it("pads rows of a batch with [PAD] and masks them", () => {
    const b = classifyBatch([{ ids: Int32Array.from([1, 5, 2]), label: 0 }, { ids: Int32Array.from([1, 2]), label: 1 }], 9);
    expect(b.inputIds.shape).toEqual([2, 3]);
    expect(Array.from(b.inputIds.data)).toEqual([1, 5, 2, 1, 2, 9]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(b.labels)).toEqual([0, 1]);
  });

  it("fine-tunes on {text, label} JSONL and reaches high held-out accuracy", async () => {
    const model = writeBase();
    const data = join(dir, "train.jsonl");
    writeFileSync(data, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const out = join(dir, "cls");
    const r = await trainClassifier({ model, data, out, batchSize: 16, steps: 60, lr: 3e-3, evalEvery: 30, seed: 3, progress: false, backend: "ref" });
    expect(r.labels).toEqual(["animal", "place"]);
    expect(r.train + r.val).toBe(240);
    expect(r.summary.initialVal?.acc).toBeLessThan(0.75);
    expect(r.summary.val?.acc).toBeGreaterThan(0.9);
    const modelDir = r.modelDir ?? "";
    expect(JSON.parse(readFileSync(join(modelDir, "config.json"), "utf8"))).toMatchObject({ architectures: ["BertForSequenceClassification"], num_labels: 2, id2label: { 0: "animal", 1: "place" } });
    expect(readClassifierLabels(modelDir)).toEqual(["animal", "place"]);
    expect(loadBert(modelDir).classifier?.weight.shape).toEqual([2, 32]);
  }, 120_000);

  it("refuses a label outside --labels and a single-class file, naming the file and line", async () => {
    const model = join(dir, "base", "model");
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, '{"text": "a cat", "label": "animal"}\n{"text": "a lake", "label": "plant"}\n');
    await expect(trainClassifier({ model, data: bad, out: join(dir, "o1"), labels: ["animal", "place"], batchSize: 2, steps: 1, lr: 1e-3, progress: false }))
      .rejects.toThrow(/bad\.jsonl:2: label "plant" is not in the label set \(animal, place\)/);
    writeFileSync(bad, '{"text": "a cat", "label": "animal"}\n{"text": "a dog"}\n');
    await expect(trainClassifier({ model, data: bad, out: join(dir, "o2"), batchSize: 2, steps: 1, lr: 1e-3, progress: false }))
      .rejects.toThrow(/bad\.jsonl:2: "label" must be a string or a number/);
  });
});
