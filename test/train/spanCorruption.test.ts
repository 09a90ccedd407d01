// T5 span corruption: T5's counts, masks that start kept and hold the asked spans, inputs + targets that
// put the window back together, seeded and resumable batches, and sentinel ids from the tokenizer.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Rng } from "../../src/tensor/rng.js";
import { readTokenShard, Tokenizer } from "../../src/tokenizer/index.js";
import {
  corruptSpans, randomSpansNoiseMask, SpanCorruptionBatches, spanCorruptionLengths, t5Tokenizer, type T5TokenIds,
} from "../../src/train/spanCorruption.js";
import { writeTinyShards } from "../helpers/tinyShards.js";

const special: T5TokenIds = { pad: 1000, eos: 1001, sentinels: Int32Array.from({ length: 100 }, (_, i) => 1002 + i) };

/** The window back from a corrupted pair: each sentinel of the input replaced by what follows it in the target. */
function reassemble(input: number[], target: number[]): number[] {
  const spans = new Map<number, number[]>();
  let cur: number[] | null = null;
  for (const t of target.slice(0, -1)) {
    if (t >= 1002) {
      cur = [];
      spans.set(t, cur);
    } else cur?.push(t);
  }
  return input.slice(0, -1).flatMap((t) => (t >= 1002 ? (spans.get(t) ?? []) : [t]));
}

describe("span corruption", () => {
  it("uses T5's counts: 15% noise in spans of mean 3, lengths with </s>", () => {
    expect(spanCorruptionLengths(100)).toEqual({ noiseTokens: 15, spans: 5, inputLength: 91, targetLength: 21 });
    expect(spanCorruptionLengths(512)).toEqual({ noiseTokens: 77, spans: 26, inputLength: 462, targetLength: 104 });
    expect(spanCorruptionLengths(4)).toEqual({ noiseTokens: 1, spans: 1, inputLength: 5, targetLength: 3 });
    expect(() => spanCorruptionLengths(1)).toThrow(/too short/);
    expect(() => spanCorruptionLengths(10, { noiseDensity: 0.9, meanSpanLength: 1 })).toThrow(/leaves 1 kept tokens for 9 spans/);
  });

  it("masks hold the noise tokens in the asked number of spans, never at position 0, seeded", () => {
    let spanTokens = 0;
    let spanCount = 0;
    for (let s = 0; s < 50; s++) {
      const m = randomSpansNoiseMask(64, new Rng(s));
      expect(m[0]).toBe(0);
      expect(m.reduce((a, b) => a + b, 0)).toBe(10);
      const runs = m.filter((x, i) => x === 1 && (i === 0 || m[i - 1] === 0)).length;
      expect(runs).toBe(3);
      spanTokens += 10;
      spanCount += runs;
    }
    expect(spanTokens / spanCount).toBeCloseTo(10 / 3, 5);
    expect(Array.from(randomSpansNoiseMask(64, new Rng(3)))).toEqual(Array.from(randomSpansNoiseMask(64, new Rng(3))));
    expect(Array.from(randomSpansNoiseMask(64, new Rng(3)))).not.toEqual(Array.from(randomSpansNoiseMask(64, new Rng(4))));
  });

  it("input = kept tokens with a sentinel per span + </s>; target = sentinels and spans + </s>; together the window", () => {
    const tokens = Array.from({ length: 12 }, (_, i) => 10 + i);
    const mask = Uint8Array.from([0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1]);
    const { input, target } = corruptSpans(tokens, mask, special);
    expect(input).toEqual([10, 11, 1002, 14, 15, 16, 1003, 18, 19, 1004, 1001]);
    expect(target).toEqual([1002, 12, 13, 1003, 17, 1004, 20, 21, 1001]);
    for (let s = 0; s < 20; s++) {
      const window = Array.from({ length: 40 }, (_, i) => (i * 7 + s) % 97);
      const r = corruptSpans(window, randomSpansNoiseMask(40, new Rng(s)), special);
      expect(reassemble(r.input, r.target)).toEqual(window);
    }
  });

  describe("batches from token shards", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-span-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const { tok, shards } = writeTinyShards(dir);
    const grown = t5Tokenizer(tok, 8);
    const src = () => new SpanCorruptionBatches([join(shards, "train_000000.bin")], (p) => readTokenShard(p).tokens, {
      batchSize: 3, windowLength: 30, special: grown.special, seed: 11,
    });

    it("sentinels past the tokenizer's vocabulary unless it declares them", () => {
      expect(grown.special.pad).toBe(tok.vocabSize);
      expect(grown.special.eos).toBe(tok.vocabSize + 1);
      expect(Array.from(grown.special.sentinels)).toEqual(Array.from({ length: 8 }, (_, i) => tok.vocabSize + 2 + i));
      expect(grown.tokenizer.vocabSize).toBe(tok.vocabSize + 10);
      const again = t5Tokenizer(Tokenizer.fromHuggingFaceJson(grown.tokenizer.toHuggingFaceJson()), 8);
      expect(again.tokenizer.vocabSize).toBe(grown.tokenizer.vocabSize);
      expect(Array.from(again.special.sentinels)).toEqual(Array.from(grown.special.sentinels));
    });

    it("fixed shapes, sentinels from the tokenizer, and the same batches after restoring a cursor", () => {
      const a = src();
      const first = a.next();
      expect(first).toMatchObject({ B: 3, inputLength: 30 - 4 + 1 + 1, targetLength: 4 + 1 + 1 });
      expect(first.inputIds.length).toBe(3 * first.inputLength);
      expect(first.labels[0]).toBe(grown.special.sentinels[0]);
      expect(first.labels[first.targetLength - 1]).toBe(grown.special.eos);
      a.next();
      const cursor = a.getCursor();
      const third = a.next();
      const b = src();
      b.setCursor(cursor);
      expect(b.next()).toEqual(third);
      expect(src().next()).toEqual(first);
    });
  });
});
