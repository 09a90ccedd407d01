// The one preference type every reward-model format is converted to: a prompt (chat messages),
// K candidate answers, and what people said of them (pairwise preferences with optional margins,
// scores per named dimension, or desirable/undesirable labels), kept together per prompt.
import type { Message } from "./conversation.js";

export interface PreferencePair {
  /** Index (into `responses`) of the preferred answer. */
  better: number;
  /** Index of the other answer. */
  worse: number;
  /** How much better (score difference, ranking distance...), for margin losses; absent = none. */
  margin?: number;
}

/**
 * One prompt with its candidate answers and the human judgements of them (one JSON object per
 * JSONL line when written). Rankings of K answers expand to their C(K, 2) pairs here, kept in one
 * record so that training can average over a prompt's pairs (InstructGPT) instead of shuffling them apart.
 */
export interface PreferenceRecord {
  /** The conversation before the answers (system / user / earlier turns), ending where the answer starts. */
  prompt: Message[];
  /** K >= 1 candidate assistant answers. */
  responses: string[];
  /** Pairwise preferences between responses (may be empty for score- or label-only records). */
  pairs: PreferencePair[];
  /** Scores per named dimension, one per response (e.g. `{ helpfulness: [4, 2, 5] }`), on the source's scale. */
  scores?: Record<string, number[]>;
  /** Unpaired (KTO) labels: true = desirable answer, one per response. */
  labels?: boolean[];
  /** Where it came from: format, file, line, task, split... */
  meta?: Record<string, unknown>;
}
