// BPE core: the heap merge equals the scan merge, incremental training equals a naive
// recount-every-merge trainer, training is deterministic, and long runs stay fast.
import { describe, expect, it } from "vitest";
import { MergeRules, mergeSymbols } from "../../src/tokenizer/bpeMerge.js";
import { trainBpeMerges } from "../../src/tokenizer/bpeTrainer.js";
import { utf8Bytes } from "../../src/tokenizer/byteLevel.js";
import { compilePretokenizer, countPretokens, pretokenizerPattern } from "../../src/tokenizer/pretokenize.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { englishParagraphs, rng } from "./fixtures.js";

/** Reference trainer: recounts every pair of every word for every merge. */
function naiveTrain(counts: Map<string, number>, numMerges: number): number[] {
  const words = [...counts].map(([w, c]) => ({ syms: Array.from(utf8Bytes(w)), c }));
  const merges: number[] = [];
  for (let m = 0; m < numMerges; m++) {
    const pc = new Map<string, number>();
    for (const { syms, c } of words) for (let i = 0; i + 1 < syms.length; i++) pc.set(`${syms[i]},${syms[i + 1]}`, (pc.get(`${syms[i]},${syms[i + 1]}`) ?? 0) + c);
    let best: [number, number] | null = null;
    let bestC = 0;
    for (const [k, c] of pc) {
      const [a, b] = k.split(",").map(Number);
      if (c > bestC || (c === bestC && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestC = c;
      }
    }
    if (!best) break;
    const z = 256 + m;
    merges.push(best[0], best[1], z);
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === best[0] && w.syms[i + 1] === best[1]) {
          out.push(z);
          i++;
        } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return merges;
}

describe("bpe training", () => {
  const re = compilePretokenizer(pretokenizerPattern());
  const counts = new Map<string, number>();
  for (const p of englishParagraphs(2)) countPretokens(re, p, counts);
  counts.set("aaaaaaa", 40); // overlapping pairs
  counts.set("abababab", 30);

  it("incremental pair counts give the same merges as recounting the corpus each merge", () => {
    const fast = trainBpeMerges(counts, { numMerges: 300 });
    expect(Array.from(fast.merges)).toEqual(naiveTrain(counts, 300));
  });

  it("is deterministic and independent of map insertion order", () => {
    const reversed = new Map([...counts].reverse());
    const a = trainBpeMerges(counts, { numMerges: 400 });
    const b = trainBpeMerges(reversed, { numMerges: 400 });
    expect(Array.from(b.merges)).toEqual(Array.from(a.merges));
  });

  it("stops at minFrequency", () => {
    const r = trainBpeMerges(counts, { numMerges: 100_000, minFrequency: 50 });
    expect(r.mergeCounts.length).toBeGreaterThan(10);
    expect(Math.min(...r.mergeCounts)).toBeGreaterThanOrEqual(50);
    const all = trainBpeMerges(counts, { numMerges: 100_000 });
    expect(all.merges.length).toBeGreaterThan(r.merges.length);
  });
});

describe("bpe merge within a word", () => {
  it("heap path and scan path agree on random words", () => {
    const tok = Tokenizer.trainFromTexts(englishParagraphs(3), { vocabSize: 1500 });
    const rules = new MergeRules(1);
    const m = tok.spec.merges;
    for (let k = 0; k < m.length; k += 3) rules.add(m[k], m[k + 1], k / 3, m[k + 2]);
    const r = rng(3);
    const alphabet = "aaabbcde thnrsio'";
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(r() * 120);
      const syms = new Int32Array(n);
      for (let i = 0; i < n; i++) syms[i] = alphabet.charCodeAt(Math.floor(r() * alphabet.length));
      const scan = mergeSymbols(syms.slice(), n, rules, 1 << 30);
      const heap = mergeSymbols(syms.slice(), n, rules, 2);
      expect(Array.from(heap)).toEqual(Array.from(scan));
    }
  });

  it("encodes a 200k-character run of one letter (and of spaces) in well under a second", () => {
    const tok = Tokenizer.trainFromTexts(["a".repeat(5000), "hello world ".repeat(100)], { vocabSize: 400 });
    for (const s of ["a".repeat(200_000), " ".repeat(200_000), "ab".repeat(100_000)]) {
      const t0 = performance.now();
      const ids = tok.encode(s);
      const ms = performance.now() - t0;
      expect(tok.decode(ids)).toBe(s);
      expect(ms).toBeLessThan(1500);
    }
  });
});
