// Times SFT steps beside pretraining steps at one size: rows from the real batch source (documents
// of random lengths packed best-fit-decreasing or padded one per row, targets masked to the
// assistant part), attention restricted to each document. Same B, T, model and optimizer as
// `llmforge bench train`, so the ratio is the cost of masking and packing.
import { type BenchTrainOptions, type BenchTrainResult, benchTrain } from "../train/benchTrain.js";
import type { Rng } from "../tensor/rng.js";
import { type PackingMode, SftBatches } from "./packing.js";
import type { TokenizedExample } from "./tokenizeChat.js";

export interface BenchSftOptions extends BenchTrainOptions {
  packing: PackingMode;
  /** Share of each document's tokens that are learned (the assistant answer at its end; default 0.4). */
  supervisedShare?: number;
}

/** Synthetic chat examples: lengths uniform in [T/8, T], the last `share` of each learned. */
function syntheticExamples(rng: Rng, n: number, T: number, V: number, share: number): TokenizedExample[] {
  return Array.from({ length: n }, () => {
    const len = Math.max(2, Math.floor(T / 8 + rng.uniform() * (T - T / 8)));
    const ids = Int32Array.from({ length: len }, () => rng.int(V));
    const supervised = new Uint8Array(len);
    supervised.fill(1, Math.floor(len * (1 - share)));
    return { ids, supervised, truncated: false };
  });
}

export function benchSft(o: BenchSftOptions): BenchTrainResult & { packing_efficiency: number; supervised_share: number } {
  let batches: SftBatches | null = null;
  let share = 0;
  const r = benchTrain({
    ...o,
    makeBatch: (rng, B, T, V) => {
      if (!batches) {
        batches = new SftBatches(syntheticExamples(rng, 64 * B, T, V, o.supervisedShare ?? 0.4), { seqLen: T, padId: 0, batchSize: B, packing: o.packing, seed: 1 });
      }
      const b = batches.next();
      share = b.tokens / (B * T);
      return { x: b.inputs, y: b.targets, docStart: b.docStart };
    },
  });
  return { ...r, packing_efficiency: batches ? (batches as SftBatches).stats.efficiency : 0, supervised_share: share };
}
