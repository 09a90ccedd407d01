// The train-quality step: a per-source sample (each source its share, chosen by a seeded hash of the id, so shard
// order and sharding do not matter), held-out accuracy per source, and a refusal when a positive source would not
// pass the filter's threshold.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";
import { parseTrainQualityConfig, runTrainQuality, sampleKey, sourceShares } from "../../src/data/trainQuality.js";
import { DataConfigError, type DataDoc } from "../../src/data/types.js";

const PROSE = [
  "The committee met on Thursday to discuss the new budget for the city schools",
  "Several teachers spoke about the need for smaller classes in the district",
  "After a long debate the board decided to hold another public hearing",
  "The mayor said that she was pleased with the progress of the work",
  "Local newspapers reported that the meeting was one of the largest in years",
  "Officials expect the final budget to be published in the spring",
];
const HAM = ["Thanks for the notes from the meeting, I will send the revised draft tomorrow", "Can we move our call to Friday afternoon? The build is still failing on my side", "Here is the patch for the parser bug we talked about, tests pass now"];
const SPAM = ["BUY NOW cheap pills click here FREE money act fast", "You have WON a prize!!! claim your FREE gift card today", "LOWEST mortgage rates guaranteed, no credit check, click here"];

function pick<T>(xs: readonly T[], r: () => number): T {
  return xs[Math.floor(r() * xs.length)];
}

/** Documents of the three sources; `hamAsSpam` makes the ham read exactly like the spam. */
function corpus(nProse: number, nHam: number, nSpam: number, hamAsSpam = false): DataDoc[] {
  const r = mulberry32(7);
  const sent = (xs: readonly string[], n: number) => Array.from({ length: n }, () => pick(xs, r)).join(". ");
  const mail = (from: string, body: string) => `From: ${from} <user@example.com>\nTo: list@example.com\nSubject: re: notes\n\n${body}.`;
  const docs: DataDoc[] = [];
  for (let i = 0; i < nProse; i++) docs.push({ id: `prose/${i}`, text: `${sent(PROSE, 5)}.`, source: "prose", meta: {} });
  for (let i = 0; i < nHam; i++) docs.push({ id: `ham/${i}`, text: hamAsSpam ? mail("Offers", sent(SPAM, 3)) : mail("Ann", sent(HAM, 3)), source: "ham", meta: {} });
  for (let i = 0; i < nSpam; i++) docs.push({ id: `spam/${i}`, text: mail("Offers", sent(SPAM, 3)), source: "spam", meta: {} });
  return docs;
}

/** Writes `docs` into `parts` JSONL shards (round robin) under a new folder; returns the folder. */
function writeShards(docs: readonly DataDoc[], parts: number): string {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-tq-in-"));
  const lines: string[][] = Array.from({ length: parts }, () => []);
  docs.forEach((d, i) => {
    lines[i % parts].push(JSON.stringify(d));
  });
  lines.forEach((l, k) => {
    writeFileSync(join(dir, `shard-${k}.jsonl`), `${l.join("\n")}\n`);
  });
  return dir;
}

const out = () => join(mkdtempSync(join(tmpdir(), "llmforge-tq-out-")), "tq");
const base = { positiveSources: ["prose", "ham"], negativeSources: ["spam"], bits: 12, epochs: 3 };

describe("sampling", () => {
  it("shares a class's budget among its sources, a small source's rest going to the others", () => {
    expect(sourceShares({ a: 1000, b: 1000, c: 1000 }, 300)).toEqual({ a: 100, b: 100, c: 100 });
    expect(sourceShares({ small: 20, big: 1000, mid: 90 }, 300)).toEqual({ small: 20, mid: 90, big: 190 });
    expect(sourceShares({ a: 5, b: 7 }, 300)).toEqual({ a: 5, b: 7 });
  });

  it("keys documents by a seeded hash of the id, in [0, 1)", () => {
    expect(sampleKey("brown/ca01.txt", 42)).toBe(sampleKey("brown/ca01.txt", 42));
    expect(sampleKey("brown/ca01.txt", 42)).not.toBe(sampleKey("brown/ca01.txt", 43));
    const ks = Array.from({ length: 1000 }, (_, i) => sampleKey(`d/${i}`, 1));
    expect(Math.min(...ks)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ks)).toBeLessThan(1);
    expect(ks.reduce((s, k) => s + k, 0) / ks.length).toBeCloseTo(0.5, 1);
  });
});

describe("train-quality", () => {
  it("samples every source (not the first documents in shard order) and reports held-out accuracy and pass rate per source", async () => {
    // prose comes first and would fill a first-N sample of 60 positives on its own
    const input = writeShards(corpus(200, 120, 100), 1);
    const r = await runTrainQuality({ positive: [input], negative: [input], ...base, maxDocsPerClass: 60, outDir: out() });
    const src = r.stats.toJSON().sources ?? {};
    expect(src.prose.extra).toMatchObject({ class: "positive", docs: 200, sampled: 30, train: 24, held_out: 6 });
    expect(src.ham.extra).toMatchObject({ class: "positive", docs: 120, sampled: 30, train: 24, held_out: 6 });
    expect(src.spam.extra).toMatchObject({ class: "negative", docs: 100, sampled: 60, train: 48, held_out: 12 });
    // every document not trained on is scored
    expect(src.ham.extra.scored).toBe(120 - 24);
    expect(src.ham.extra.pass_rate).toBeGreaterThanOrEqual(0.9);
    expect(src.spam.extra.pass_rate).toBeLessThanOrEqual(0.1);
    expect(src.ham.extra.held_out_accuracy).toBeGreaterThanOrEqual(0.8);
    expect(r.model.metrics.sources?.ham).toMatchObject({ label: 1, trainDocs: 24, heldOutDocs: 6 });
    const md = readFileSync(r.statsMarkdownPath, "utf8");
    expect(md).toContain("| source | class | docs | sampled | train | held_out | held_out_accuracy | scored | pass_rate |");
    expect(md).toMatch(/\| ham \| positive \| 120 \| 30 \| 24 \| 6 \|/);
  });

  it("gives the same model byte for byte whatever the shard order and sharding", async () => {
    const docs = corpus(80, 60, 60);
    const r = mulberry32(3);
    const shuffled = [...docs].sort(() => r() - 0.5);
    const a = await runTrainQuality({ positive: [writeShards(docs, 1)], negative: [writeShards(docs, 1)], ...base, maxDocsPerClass: 50, outDir: out() });
    const bIn = writeShards(shuffled, 3);
    const b = await runTrainQuality({ positive: [bIn], negative: [bIn], ...base, maxDocsPerClass: 50, outDir: out() });
    expect(readFileSync(b.modelPath).equals(readFileSync(a.modelPath))).toBe(true);
    const norm = (p: string) => JSON.stringify({ ...JSON.parse(readFileSync(p, "utf8")), seconds: 0 });
    expect(norm(b.statsJsonPath)).toBe(norm(a.statsJsonPath));
  });

  it("refuses, naming the source and its pass rate, when a positive source would be filtered out", async () => {
    // the "ham" here reads like the spam: whatever the classifier learns, it cannot keep it
    const input = writeShards(corpus(100, 40, 100, true), 2);
    const dir = out();
    const run = () => runTrainQuality({ positive: [input], negative: [input], ...base, maxDocsPerClass: 60, outDir: dir });
    await expect(run()).rejects.toThrow(DataConfigError);
    await expect(run()).rejects.toThrow(/positive source "ham" passes \d+\.\d% \(\d+ of \d+ documents not trained on score >= 0\.5\), below the floor minPassRate 0\.8/);
    // the floor and the threshold are the user's to set: 0 turns the check off
    const r = await runTrainQuality({ positive: [input], negative: [input], ...base, maxDocsPerClass: 60, minPassRate: 0, outDir: dir });
    expect(r.stats.toJSON().sources?.ham.extra.pass_rate).toBeLessThan(0.8);
  });

  it("counts a malformed line once (not once per pass over the shards)", async () => {
    const input = writeShards(corpus(20, 20, 20), 1);
    writeFileSync(join(input, "shard-bad.jsonl"), '{"text": "fine", "source": "spam", "id": "x"}\nnot json\n');
    const r = await runTrainQuality({ positive: [input], negative: [input], ...base, outDir: out() });
    expect(r.stats.rejectedCount()).toBe(1);
    expect(r.stats.docsIn).toBe(62);
    expect(r.stats.accounted()).toBe(true);
  });

  it("validates its options and the classes", async () => {
    expect(() => parseTrainQualityConfig({ positive: ["a"], negative: ["b"], threshold: 1.5 })).toThrow(/threshold/);
    expect(() => parseTrainQualityConfig({ positive: ["a"], negative: ["b"], maxDocsPerClas: 5 })).toThrow(/maxDocsPerClas/);
    const input = writeShards(corpus(10, 10, 10), 1);
    await expect(runTrainQuality({ positive: [input], negative: [input], outDir: out() })).rejects.toThrow(/both positive and negative/);
    await expect(runTrainQuality({ positive: [input], negative: [input], positiveSources: ["prose"], negativeSources: ["nothing"], outDir: out() })).rejects.toThrow(
      /found 0 negative documents/,
    );
  });
});
