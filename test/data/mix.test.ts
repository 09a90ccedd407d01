// The mix step's epoch cap (≤ 2 by default, capped sources reported), its unique-vs-repeated report per source and in
// total, and a validation split that follows train's sampling (down-sampled sources alike, excluded ones absent).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { countWords, parseMixConfig, planMix, runMix } from "../../src/data/mix.js";
import type { DataDoc } from "../../src/data/types.js";
import { readDocs as lines, tmp, writeShard } from "../helpers/dataFiles.js";

const docsOf = (source: string, n: number, words: number): DataDoc[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${source}${i}`, source, text: Array.from({ length: words }, (_, k) => `w${k}`).join(" "), meta: {} }));

describe("mix: epoch cap", () => {
  it("caps a weight that would repeat a source more than twice, and says what it asked for", () => {
    const cfg = parseMixConfig({ weights: { big: 1, small: 1 } });
    expect(cfg.maxEpochs).toBe(2);
    // target 1100 bytes split 1:1 → small asks 550/100 = 5.5 epochs
    const p = planMix({ big: { docs: 10, bytes: 1000 }, small: { docs: 1, bytes: 100 } }, cfg);
    expect(p.sources.small.epochs).toBe(2);
    expect(p.sources.small.requestedEpochs).toBeCloseTo(5.5);
    expect(p.sources.small.capped).toBe(true);
    expect(p.sources.big.epochs).toBeCloseTo(0.55);
    expect(p.sources.big.capped).toBe(false);
  });

  it("caps explicit epochs too, at a configured maximum", () => {
    const p = planMix({ a: { docs: 1, bytes: 10 } }, parseMixConfig({ epochs: { a: 4 }, maxEpochs: 3 }));
    expect(p.sources.a).toMatchObject({ epochs: 3, requestedEpochs: 4, capped: true });
  });

  it("counts whitespace-separated words", () => {
    expect(countWords("")).toBe(0);
    expect(countWords("  one\ttwo\n\nthree  ")).toBe(3);
  });
});

describe("mix: report and validation split", () => {
  it("reports unique and repeated train text per source and in total; val follows train's sampling", async () => {
    const d = tmp("mix");
    const input = join(d, "in", "docs.jsonl");
    writeShard(input, [...docsOf("rep", 200, 10), ...docsOf("half", 200, 5), ...docsOf("off", 100, 3)]);
    const r = await runMix({ weights: { rep: 1 }, epochs: { half: 0.5 }, totalBytes: 1e6, valFraction: 0.2, seed: 3 }, { inputs: [input], outDir: join(d, "out"), progress: false });
    expect(r.stats.accounted()).toBe(true);
    const train = lines(r.train);
    const val = lines(r.val);
    // a source with weight 0 is in neither split
    expect(train.some((x) => x.source === "off")).toBe(false);
    expect(val.some((x) => x.source === "off")).toBe(false);
    // "rep" asks for far more than 2 epochs: capped, every train document exactly twice, reported
    expect(r.plan.sources.rep.capped).toBe(true);
    const repTrain = train.filter((x) => x.source === "rep");
    const repIds = new Set(repTrain.map((x) => x.id));
    expect(repTrain.length).toBe(2 * repIds.size);
    expect(String(r.stats.extra.capped_sources)).toMatch(/^rep \(asked \d+\.\d+ epochs, capped at 2\)$/);
    const rep = r.stats.sources.rep.extra;
    expect(rep.epochs).toBe(2);
    expect(rep.unique_words).toBe(10 * repIds.size);
    expect(rep.repeated_words).toBe(10 * repIds.size);
    expect(rep.unique_bytes).toBe(repTrain.filter((x) => x.meta.epoch === undefined).reduce((s, x) => s + Buffer.byteLength(x.text), 0));
    // "half": about half of its documents in train and, likewise, about half of its would-be validation documents
    const half = r.stats.sources.half.extra;
    expect(half.repeated_words).toBe(0);
    const halfTrain = train.filter((x) => x.source === "half").length;
    const halfVal = val.filter((x) => x.source === "half").length;
    const repVal = val.filter((x) => x.source === "rep").length;
    expect(halfTrain).toBeGreaterThan(50);
    expect(halfTrain).toBeLessThan(110);
    expect(halfVal).toBeLessThan(repVal);
    expect(halfVal).toBeGreaterThan(5);
    // totals are the sums over sources; the unit is named
    expect(r.stats.extra.train_unique_words).toBe(Number(rep.unique_words) + Number(half.unique_words));
    expect(r.stats.extra.train_repeated_words).toBe(Number(rep.repeated_words));
    expect(String(r.stats.extra.count_unit)).toContain("tokens are not known at mix time");
    expect(Number(rep.train_share_words) + Number(half.train_share_words)).toBeCloseTo(1, 3);
    const md = readFileSync(join(d, "out", "stats.md"), "utf8");
    expect(md).toContain("unique_words");
    expect(md).toContain("capped_sources");
  });
});
