import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AUDIT_FILE, runDedup } from "../../src/data/dedup/index.js";
import { brownDocuments } from "../../src/data/embedded.js";
import { hamBodies } from "../../src/data/dedup/holdout.js";
import {
  estimateJaccard,
  exactJaccard,
  exactKey,
  exactKeyOf,
  lshCandidateProbability,
  lshThreshold,
  minhashIsNative,
  minhashSeeds,
  minhashSignature,
  minhashSignatureTs,
  shingleHashes,
} from "../../src/data/dedup/minhash.js";
import { textAddon } from "../../src/data/nativeText.js";
import { listShards } from "../../src/data/shards.js";
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
  it("exact keys compare the word sequence (case, punctuation and whitespace ignored)", () => {
    expect(exactKey("A b, c  d e!")).toBe(exactKey("a b c d e"));
    expect(exactKey("Ünïcode TEXT")).toBe(exactKey("ünïcode text"));
    expect(exactKey("a b c d e")).not.toBe(exactKey("a b c e d"));
    expect(exactKey("ab c")).not.toBe(exactKey("a bc"));
    expect(exactKey("")).toBe(exactKey(" ,.; "));
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

// The contract between native/text.cc minhashSignature and its TypeScript twin (the definition): the same bits on
// every text, including non-ASCII (lower-cased the Unicode way before the kernel), empty, one-word and astral text.
describe.skipIf(!textAddon)("native MinHash signatures", () => {
  const tricky = [
    "",
    " ",
    "word",
    "two words",
    "a b c d",
    "A b, c d e!",
    "İstanbul'da ŞEHİR ve KIZ — “quoted” it’s 'ok' – done",
    "Straße GRÜSSE ÆØÅ æøå Ωμέγα ΣΟΦΙΑ ﬁne ǅemal",
    "日本語のテキストです。中文文本，没有空格。한국어 텍스트",
    "emoji 😀 in 😀😀 the 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 text 🇫🇷 flags",
    "tabs\tand\r\nnewlines\u00a0nbsp\u2028line sep\u200bzero width",
    "UPPER lower MiXeD 123 4.5 6,7 x=y+z (paren) [brack] {brace} a_b c-d e/f",
    "\ud800 lone surrogates \udfff here",
    "Ā".repeat(50),
    Array.from({ length: 300 }, (_, i) => String.fromCharCode(32 + ((i * 7919) % 1200))).join(""),
  ];
  const brown = brownDocuments(30).map((d) => d.text);
  const emails = hamBodies(30, 20);
  const texts = [...tricky, ...brown, ...emails, ...brown.slice(0, 10).map((t) => t.toUpperCase())];
  it("uses the kernel", () => {
    expect(minhashIsNative).toBe(true);
  });
  for (const p of [
    { ngram: 5, bands: 16, rows: 7, seed: 1 },
    { ngram: 5, bands: 14, rows: 9, seed: 42 },
    { ngram: 1, bands: 3, rows: 1, seed: 7 },
    { ngram: 13, bands: 20, rows: 9, seed: -5 },
  ]) {
    it(`gives the TypeScript twin's signatures (ngram ${p.ngram}, ${p.bands}×${p.rows}, seed ${p.seed})`, () => {
      const wantKey = new Uint32Array(2);
      const gotKey = new Uint32Array(2);
      for (const t of texts) {
        const want = minhashSignatureTs(t, p, undefined, wantKey);
        const got = minhashSignature(t, p, undefined, gotKey);
        if (!want.every((v, i) => v === got[i])) throw new Error(`signatures differ on ${JSON.stringify(t.slice(0, 80))}`);
        if (wantKey[0] !== gotKey[0] || wantKey[1] !== gotKey[1]) throw new Error(`exact keys differ on ${JSON.stringify(t.slice(0, 80))}`);
        expect(exactKeyOf(gotKey)).toBe(exactKey(t));
      }
    });
  }
  it("writes into a given buffer and rejects bad arguments with a TypeError", () => {
    const p = { ngram: 5, bands: 16, rows: 7, seed: 1 };
    const buf = new Uint32Array(200).fill(3);
    minhashSignature(brown[0], p, buf.subarray(10, 122));
    expect(buf[9]).toBe(3);
    expect(buf[122]).toBe(3);
    expect([...buf.subarray(10, 122)]).toEqual([...minhashSignatureTs(brown[0], p)]);
    const { xa, ma } = minhashSeeds(p);
    expect(() => textAddon?.minhashSignature("x", false, 5, xa, ma, new Uint32Array(3))).toThrow(TypeError);
    expect(() => textAddon?.minhashSignature("x", false, 0, xa, ma, new Uint32Array(112))).toThrow(/ngram/);
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
    // the audit: every removed id -> the kept id, in input order
    const audit = readFileSync(join(r.outDir, AUDIT_FILE), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(audit.map((a) => [a.id, a.kept, a.reason])).toEqual([
      ["a-exact", "a", "exact"],
      ["a-near95", "a", "near"],
      ["a-near88", "a", "near"],
    ]);
    expect(audit[0].estimated_jaccard).toBe(1);
    // the audit is not read as a shard when the step folder is the next step's input
    expect(listShards([r.outDir])).toEqual(r.outputs);
    expect(audit[2].estimated_jaccard).toBeGreaterThan(0.75);
  });
});
