// Packing tokenised examples into (T)-position rows: targets shifted and masked, docStart per
// position, best-fit-decreasing properties (fast-check), and the seeded, resumable batch source.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IGNORE_INDEX, packExamples, type PackedRow, planRows, SftBatches, type TokenizedExample, tokenizeConversations } from "../../src/sft/index.js";
import { rng } from "../tokenizer/fixtures.js";
import { CONVERSATIONS, smallTokenizer } from "./fixtures.js";

const PAD = 999;

function synthetic(lengths: readonly number[], seed = 1): TokenizedExample[] {
  const r = rng(seed);
  return lengths.map((L, k) => {
    const ids = Int32Array.from({ length: L }, (_, i) => k * 1000 + i); // unique ids tell examples apart
    const supervised = Uint8Array.from({ length: L }, () => (r() < 0.6 ? 1 : 0));
    return { ids, supervised, truncated: false };
  });
}

/** Checks a packed row set against its (synthetic, pad-free) examples: documents, shifted targets, padding, each example once. */
function checkRows(rows: PackedRow[], examples: TokenizedExample[], T: number, padId: number): void {
  const placed = new Array(examples.length).fill(0);
  for (const row of rows) {
    expect(row.inputs.length).toBe(T);
    let t = 0;
    while (t < T) {
      const start = t;
      expect(row.docStart[t]).toBe(start);
      while (t < T && row.docStart[t] === start) t++;
      if (row.inputs[start] === padId) {
        // Padding: the row's tail, its own document, nothing learned.
        expect(t).toBe(T);
        expect([...row.inputs.subarray(start, t)].every((v) => v === padId)).toBe(true);
        expect([...row.targets.subarray(start, t)].every((v) => v === IGNORE_INDEX)).toBe(true);
        continue;
      }
      const k = Math.floor(row.inputs[start] / 1000);
      const ex = examples[k];
      expect(t - start).toBe(ex.ids.length - 1);
      for (let j = 0; j < t - start; j++) {
        expect(row.inputs[start + j]).toBe(ex.ids[j]);
        expect(row.targets[start + j]).toBe(ex.supervised[j + 1] ? ex.ids[j + 1] : IGNORE_INDEX);
      }
      placed[k]++;
    }
  }
  expect(placed.every((n) => n === 1)).toBe(true);
}

describe("packExamples", () => {
  it("none: one padded row per example, targets shifted and masked, padding its own document", () => {
    const ex = synthetic([4, 9]);
    const { rows, stats } = packExamples(ex, { seqLen: 8, padId: PAD, packing: "none" });
    expect(rows).toHaveLength(2);
    const r0 = rows[0];
    expect([...r0.inputs]).toEqual([0, 1, 2, PAD, PAD, PAD, PAD, PAD]);
    expect([...r0.targets]).toEqual([1, 2, 3].map((id, j) => (ex[0].supervised[j + 1] ? id : IGNORE_INDEX)).concat(Array(5).fill(IGNORE_INDEX)));
    expect([...r0.docStart]).toEqual([0, 0, 0, 3, 3, 3, 3, 3]);
    expect([...rows[1].docStart]).toEqual(Array(8).fill(0));
    expect(stats).toMatchObject({ examples: 2, rows: 2, filled: 11, seqLen: 8 });
    expect(stats.efficiency).toBeCloseTo(11 / 16);
    checkRows(rows, ex, 8, PAD);
  });

  it("bfd places each example in the fullest row it fits (hand-checked plan)", () => {
    // positions 7,5,4,3,1 into T=10: 7->new A(3 left) 5->new B(5) 4->B(1) 3->A(0) 1->B(0)
    expect(planRows([7, 5, 4, 3, 1], 10, "bfd")).toEqual([[0, 3], [1, 2, 4]]);
    expect(planRows([1, 3, 4, 5, 7], 10, "bfd")).toEqual([[4, 1], [3, 2, 0]]);
    expect(planRows([2, 2], 4, "none")).toEqual([[0], [1]]);
  });

  it("bfd: no row over T, every example once, docStart consistent, never more rows than none (fast-check)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 2, max: 41 }), { minLength: 1, maxLength: 60 }), (T, raw) => {
        const lengths = raw.map((l) => 2 + ((l - 2) % T));
        const ex = synthetic(lengths, lengths.length);
        const bfd = packExamples(ex, { seqLen: T, padId: PAD });
        checkRows(bfd.rows, ex, T, PAD);
        const total = lengths.reduce((a, l) => a + l - 1, 0);
        expect(bfd.rows.length).toBeGreaterThanOrEqual(Math.ceil(total / T));
        expect(bfd.rows.length).toBeLessThanOrEqual(ex.length);
        expect(bfd.stats.filled).toBe(total);
        for (const row of bfd.rows) {
          for (let t = 0; t < T; t++) {
            expect(row.docStart[t] <= t && (row.docStart[t] === t || row.docStart[t] === row.docStart[t - 1])).toBe(true);
          }
        }
        // Deterministic.
        expect(packExamples(ex, { seqLen: T, padId: PAD }).rows).toEqual(bfd.rows);
      }),
      { numRuns: 150 },
    );
  });

  it("packs real conversations tighter than one per row, and learns <|im_end|> even when pad = eos", () => {
    const tok = smallTokenizer();
    const eos = tok.specialId("<|im_end|>");
    const { examples } = tokenizeConversations(tok, CONVERSATIONS, { maxLen: 65 });
    const none = packExamples(examples, { seqLen: 64, padId: eos, packing: "none" });
    const bfd = packExamples(examples, { seqLen: 64, padId: eos });
    expect(bfd.rows.length).toBeLessThan(none.rows.length);
    expect(bfd.stats.efficiency).toBeGreaterThan(none.stats.efficiency);
    expect(bfd.stats.targets).toBe(none.stats.targets);
    const eosTargets = (rows: PackedRow[]) => rows.reduce((a, r) => a + r.targets.filter((v) => v === eos).length, 0);
    const closing = examples.reduce((a, e) => a + e.ids.filter((id, i) => id === eos && e.supervised[i] === 1 && i > 0).length, 0);
    expect(closing).toBeGreaterThanOrEqual(CONVERSATIONS.length);
    expect(eosTargets(bfd.rows)).toBe(closing);
    expect(eosTargets(none.rows)).toBe(closing);
  });

  it("says which example does not fit and how to fix it", () => {
    expect(() => packExamples(synthetic([4, 10]), { seqLen: 8, padId: PAD })).toThrow(/example 1 has 10 tokens.*maxLen = 9/);
    expect(() => packExamples(synthetic([1]), { seqLen: 8, padId: PAD })).toThrow(/at least 2/);
    expect(() => packExamples(synthetic([3]), { seqLen: 0, padId: PAD })).toThrow(/seqLen must be a positive integer/);
    expect(() => packExamples(synthetic([3]), { seqLen: 4, padId: PAD, packing: "ffd" as never })).toThrow(/packing must be/);
  });
});

describe("SftBatches", () => {
  const ex = synthetic(Array.from({ length: 37 }, (_, i) => 2 + ((i * 7) % 15)), 5);
  const opts = { seqLen: 16, batchSize: 3, padId: PAD, seed: 42 };

  it("gives (B, T) batches covering every row once per epoch, in a new seeded order each epoch", () => {
    const src = new SftBatches(ex, opts);
    const R = src.rows;
    expect(R).toBe(src.stats.rows);
    const rowKey = (b: { inputs: Int32Array }, i: number) => b.inputs.subarray(i * 16, (i + 1) * 16).join(",");
    const seen: string[] = [];
    let tokens = 0;
    while (seen.length < 3 * R) {
      const b = src.next();
      expect([b.B, b.T, b.inputs.length, b.targets.length, b.docStart.length]).toEqual([3, 16, 48, 48, 48]);
      expect(b.tokens).toBe(b.targets.filter((v) => v !== IGNORE_INDEX).length);
      tokens += b.tokens;
      for (let i = 0; i < 3; i++) seen.push(rowKey(b, i));
    }
    const epochs = [0, 1, 2].map((e) => seen.slice(e * R, (e + 1) * R));
    const rows = packExamples(ex, opts).rows.map((r) => r.inputs.join(","));
    for (const e of epochs) expect([...e].sort()).toEqual([...rows].sort());
    expect(epochs[0]).not.toEqual(epochs[1]);
    expect(epochs[0]).not.toEqual(rows);
    expect(src.epoch).toBe(Math.floor(seen.length / R));
    expect(tokens).toBeGreaterThan(0);
    // Same seed, same stream; other seed, other order.
    const again = new SftBatches(ex, opts);
    const other = new SftBatches(ex, { ...opts, seed: 43 });
    const a = again.next();
    expect(a).toEqual(new SftBatches(ex, opts).next());
    expect(other.next().inputs).not.toEqual(a.inputs);
    // Unshuffled keeps the packing order.
    const plain = new SftBatches(ex, { ...opts, shuffle: false }).next();
    expect(rowKey(plain, 0)).toBe(rows[0]);
  });

  it("resumes from a JSON cursor with exactly the same next batches, across epoch ends", () => {
    const src = new SftBatches(ex, opts);
    for (let i = 0; i < 7; i++) src.next();
    const cursor = JSON.parse(JSON.stringify(src.getCursor()));
    const expected = Array.from({ length: 12 }, () => src.next());
    const resumed = new SftBatches(ex, opts);
    resumed.setCursor(cursor);
    expect(resumed.epoch).toBe(cursor.epoch);
    expect(Array.from({ length: 12 }, () => resumed.next())).toEqual(expected);
  });

  it("refuses a cursor from other data or settings, and bad input", () => {
    const cursor = new SftBatches(ex, opts).getCursor();
    expect(() => new SftBatches(ex, { ...opts, seed: 1 }).setCursor(cursor)).toThrow(/other data or settings/);
    expect(() => new SftBatches(ex.slice(1), opts).setCursor(cursor)).toThrow(/other data or settings/);
    expect(() => new SftBatches(ex, opts).setCursor({ epoch: 0 })).toThrow(/not an SFT batch cursor/);
    expect(() => new SftBatches(ex, opts).setCursor({ ...cursor, pos: 10_000 })).toThrow(/out of range/);
    expect(() => new SftBatches([], opts)).toThrow(/no training examples/);
    expect(() => new SftBatches(ex, { ...opts, batchSize: 0 })).toThrow(/batchSize/);
  });
});
