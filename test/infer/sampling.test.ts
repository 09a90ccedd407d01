// Whole-vocabulary sampling (temperature, no top-k/top-p), the serving and rollout hot path: with the native backend
// its softmax runs in the native kernel for vocabularies of 256 and more. The draws follow softmax(logits / t) there
// and on the double-precision path (small vocabularies), deterministically for a seed.
import { describe, expect, it } from "vitest";
import { sampleToken } from "../../src/infer/sampling.js";
import { Rng } from "../../src/tensor/rng.js";

/** Frequencies of `draws` samples against softmax(logits / t): the largest absolute gap. */
function maxGap(logits: Float32Array, t: number, draws: number, seed: number): number {
  const rng = new Rng(seed);
  const counts = new Float64Array(logits.length);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, { temperature: t }, rng)]++;
  let mx = Number.NEGATIVE_INFINITY;
  for (const l of logits) mx = Math.max(mx, l);
  let sum = 0;
  const p = Array.from(logits, (l) => {
    const e = Math.exp((l - mx) / t);
    sum += e;
    return e;
  });
  return Math.max(...p.map((e, i) => Math.abs(e / sum - counts[i] / draws)));
}

describe("sampleToken over the whole vocabulary", () => {
  for (const V of [50, 4096]) {
    it(`V = ${V}: frequencies follow softmax(logits / t) for t = 1 and t = 0.5, and a seed repeats its draws`, () => {
      const logits = new Float32Array(V).fill(-3);
      logits[7] = 2;
      logits[V - 1] = 1.5;
      logits[V >> 1] = 0.5;
      for (const t of [1, 0.5]) expect(maxGap(logits, t, 40_000, 3)).toBeLessThan(0.012);
      const a = new Rng(9);
      const b = new Rng(9);
      const draws = (r: Rng) => Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 0.7 }, r));
      expect(draws(a)).toEqual(draws(b));
    });
  }

  it("never draws a token whose probability is zero in f32", () => {
    const V = 1000;
    const logits = new Float32Array(V).fill(-1e4);
    logits[123] = 0;
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) expect(sampleToken(logits, { temperature: 1 }, rng)).toBe(123);
  });
});

describe("greedy (temperature 0)", () => {
  it("takes the first of tied maxima, on short and long rows (the native path from 256 tokens)", () => {
    for (const V of [10, 300, 4096]) {
      const logits = new Float32Array(V).map((_, i) => Math.sin(i));
      logits[V - 2] = 5;
      logits[V - 1] = 5;
      expect(sampleToken(logits, { temperature: 0 }, new Rng(1))).toBe(V - 2);
      logits[3] = Number.POSITIVE_INFINITY;
      expect(sampleToken(logits, { temperature: 0 }, new Rng(1))).toBe(3);
    }
  });
});
