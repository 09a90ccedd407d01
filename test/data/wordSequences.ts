// Random word-id sequences for the n-gram counters' tests: short ones over a few words (many repeats), long ones
// over many (few repeats, most n-grams leave early), and some with ids far apart or negative (not a word table's).
import { mulberry32 } from "../../src/data/filters/qualityClassifier.js";

/** `count` sequences of word ids with word lengths, deterministic by `seed`. */
export function randomWordSequences(seed: number, count: number): Array<{ ids: Int32Array; lens: Int32Array }> {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, (_, k) => {
    const long = k % 4 === 0;
    const len = Math.floor(rand() * (long ? 3000 : 120));
    const vocab = 1 + Math.floor(rand() * (long ? 3000 : 12));
    const sparse = k % 5 === 1;
    const ids = Int32Array.from({ length: len }, () => {
      const w = Math.floor(rand() * vocab);
      return sparse ? w * 100003 - 50000 : w;
    });
    const lens = Int32Array.from({ length: len }, (_, i) => 1 + (Math.abs(ids[i] * 7) % 9));
    return { ids, lens };
  });
}
