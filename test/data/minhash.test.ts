import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runDedup } from "../../src/data/dedup/index.js";
import { estimateJaccard, exactJaccard, lshCandidateProbability, lshThreshold, minhashSignature, shingleHashes } from "../../src/data/dedup/minhash.js";
import { JsonlWriter } from "../../src/io/jsonl.js";

/** A document of n distinct pseudo-random words (seeded). */
function words(n: number, seed: number): string[] {
  let s = seed >>> 0;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(`w${s.toString(36)}`);
  }
  return out;
}

/**
 * Builds a near-duplicate of `base` whose 5-gram shingle set has Jaccard similarity close to `target`:
 * replacing every k-th word breaks the 5 shingles covering it. Returns the text and its exact Jaccard.
 */
function nearDuplicate(base: string[], target: number): { text: string; j: number } {
  // similarity grows with k (fewer replaced words); stop at the first k that reaches the target
  let prev = { text: "", j: -1 };
  for (let k = 2; k <= base.length; k++) {
    const text = base.map((w, i) => (i % k === k - 1 ? `x${i}` : w)).join(" ");
    const j = exactJaccard(base.join(" "), text, 5);
    if (j >= target) return Math.abs(j - target) <= Math.abs(prev.j - target) ? { text, j } : prev;
    prev = { text, j };
  }
  return prev;
}

describe("MinHash signatures", () => {
  const base = words(1000, 7);
  const params = { ngram: 5, bands: 14, rows: 9, seed: 1 };
  it("word 5-gram shingles", () => {
    expect(shingleHashes("a b c d e f", 5).length).toBe(2);
    expect(shingleHashes("A b, c d e!", 5)).toEqual(shingleHashes("a b c d e", 5));
    expect(shingleHashes("short text", 5).length).toBe(1);
  });
  it("estimates known Jaccard similarities (averaged over seeds, and per seed within 4 sigma)", () => {
    for (const target of [0.95, 0.8, 0.6, 0.4, 0.25]) {
      const { text, j } = nearDuplicate(base, target);
      expect(Math.abs(j - target)).toBeLessThan(0.05);
      let sum = 0;
      const seeds = 20;
      for (let seed = 1; seed <= seeds; seed++) {
        const p = { ...params, seed };
        const est = estimateJaccard(minhashSignature(base.join(" "), p), minhashSignature(text, p));
        const sigma = Math.sqrt((j * (1 - j)) / 126);
        expect(Math.abs(est - j)).toBeLessThan(4 * sigma + 0.01);
        sum += est;
      }
      expect(Math.abs(sum / seeds - j)).toBeLessThan(0.03);
    }
  });
  it("identical texts have identical signatures; disjoint texts share almost nothing", () => {
    const a = base.join(" ");
    expect(estimateJaccard(minhashSignature(a, params), minhashSignature(a, params))).toBe(1);
    expect(estimateJaccard(minhashSignature(a, params), minhashSignature(words(1000, 99).join(" "), params))).toBeLessThan(0.05);
  });
  it("LSH S-curve with explicit bands and rows", () => {
    expect(lshThreshold(14, 9)).toBeCloseTo(0.746, 2);
    expect(lshCandidateProbability(0.9, 14, 9)).toBeGreaterThan(0.998);
    expect(lshCandidateProbability(0.5, 14, 9)).toBeLessThan(0.03);
  });
});

describe("dedup step", () => {
  it("removes exact and near duplicates across shards, keeps far ones and the first of each cluster", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-dedup-"));
    const base = words(400, 11);
    const docs = [
      { id: "a", text: base.join(" ") },
      { id: "b", text: words(400, 12).join(" ") },
      { id: "a-exact", text: base.join(" ").toUpperCase().replace(/ /g, ",  ") }, // same after normalisation
      { id: "a-near95", text: nearDuplicate(base, 0.95).text },
      { id: "a-near88", text: nearDuplicate(base, 0.88).text },
      { id: "a-far40", text: nearDuplicate(base, 0.4).text },
      { id: "c", text: words(400, 13).join(" ") },
    ];
    // two shards
    for (const [i, part] of [docs.slice(0, 3), docs.slice(3)].entries()) {
      const w = new JsonlWriter(join(dir, "in", `part-${i}.jsonl`));
      for (const d of part) w.write({ ...d, source: "t", meta: {} });
      w.close();
    }
    const r = await runDedup({}, { inputs: [join(dir, "in")], outDir: join(dir, "out"), workers: 2, progress: false });
    const kept = r.outputs.flatMap((f) => readFileSync(f, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).id));
    expect(kept).toEqual(["a", "b", "a-far40", "c"]);
    expect(r.stats.removed["dedup.exact"].count).toBe(1);
    expect(r.stats.removed["dedup.near_duplicate"].count).toBe(2);
    expect(r.stats.removed["dedup.near_duplicate"].examples[0]).toContain("duplicate of t/a".replace("t/", ""));
    expect(r.stats.accounted()).toBe(true);
    const first = JSON.parse(readFileSync(r.outputs[0], "utf8").split("\n")[0]);
    expect(first.meta.duplicates).toBe(3);
  });
});
