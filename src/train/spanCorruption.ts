// T5's span-corruption objective on token shards (Raffel et al. 2020, §3.1.4; t5.data.preprocessors
// span_corruption): 15% of each window's tokens, in spans of mean length 3, are dropped from the
// encoder input, each span replaced by its own sentinel; the decoder target is every sentinel followed
// by the span it stands for, then end-of-sequence. A seeded, resumable batch source and the loss for
// the generic step loop (train/loop.ts).
import type { T5 } from "../model/t5.js";
import { crossEntropy, ids } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { type DataCursor, TokenDataLoader, type TokenArray } from "./dataLoader.js";
import type { BatchSource, EvalMetrics } from "./loop.js";

/** T5's names for padding (also the decoder's start token) and end of sequence. */
export const T5_PAD = "<pad>";
export const T5_EOS = "</s>";
/** The name of sentinel i, as in T5's SentencePiece vocabulary. */
export const sentinelToken = (i: number): string => `<extra_id_${i}>`;
/** Sentinels a T5 tokenizer gets (T5's own count). */
export const DEFAULT_SENTINELS = 100;

/** Ids of T5's special tokens in a tokenizer. */
export interface T5TokenIds {
  pad: number;
  eos: number;
  /** sentinels[i] is the id of <extra_id_i>. */
  sentinels: Int32Array;
}

export class SpanCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpanCorruptionError";
  }
}

/**
 * The tokenizer a T5 trains with and the ids of <pad>, </s> and the sentinels <extra_id_0>, ...
 * llmforge's tokenizers are byte-level BPE with GPT-style specials, so T5's are special tokens of the
 * tokenizer when it already declares them (a tokenizer.json with `<extra_id_0>` etc. among its added
 * tokens), and otherwise are added past the vocabulary ({@link Tokenizer.withSpecialTokens}): ids
 * vocabSize (<pad>), vocabSize + 1 (</s>), vocabSize + 2 + i (<extra_id_i>). (T5's SentencePiece
 * vocabulary counts its sentinels down from the top instead; only the names matter to a model.)
 * Shards written with the original tokenizer stay valid; the run folder keeps the grown tokenizer.json.
 */
export function t5Tokenizer(tok: Tokenizer, sentinels = DEFAULT_SENTINELS): { tokenizer: Tokenizer; special: T5TokenIds } {
  if (!Number.isInteger(sentinels) || sentinels < 1) throw new SpanCorruptionError(`sentinels must be a whole number >= 1, got ${sentinels}`);
  const names = Array.from({ length: sentinels }, (_, i) => sentinelToken(i));
  const tokenizer = tok.withSpecialTokens([T5_PAD, T5_EOS, ...names]);
  return {
    tokenizer,
    special: { pad: tokenizer.specialId(T5_PAD), eos: tokenizer.specialId(T5_EOS), sentinels: Int32Array.from(names, (n) => tokenizer.specialId(n)) },
  };
}

export interface SpanCorruptionOptions {
  /** Share of each window's tokens that are corrupted (default 0.15). */
  noiseDensity?: number;
  /** Mean length of a corrupted span (default 3). */
  meanSpanLength?: number;
}

/** Tokens and spans corrupted in a window of `length` tokens, and the resulting encoder and decoder lengths (both with </s>). */
export interface SpanLengths {
  noiseTokens: number;
  spans: number;
  inputLength: number;
  targetLength: number;
}

/** Rounds half to even, as numpy's round that T5's preprocessors use (round(4.5) = 4). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** T5's counts for a window: round(length · density) noise tokens (at least 1, at most length - 1) in round(noise / mean) spans (at least 1). */
export function spanCorruptionLengths(length: number, o: SpanCorruptionOptions = {}): SpanLengths {
  const density = o.noiseDensity ?? 0.15;
  const mean = o.meanSpanLength ?? 3;
  if (!(density > 0 && density < 1)) throw new SpanCorruptionError(`noise density must be in (0, 1), got ${density}`);
  if (!(mean >= 1)) throw new SpanCorruptionError(`mean span length must be at least 1, got ${mean}`);
  if (!Number.isInteger(length) || length < 2) throw new SpanCorruptionError(`a window of ${length} tokens is too short to corrupt (at least 2)`);
  const noiseTokens = Math.min(Math.max(roundHalfEven(length * density), 1), length - 1);
  const spans = Math.max(roundHalfEven(noiseTokens / mean), 1);
  if (length - noiseTokens < spans) {
    throw new SpanCorruptionError(`a window of ${length} tokens leaves ${length - noiseTokens} kept tokens for ${spans} spans: lower the noise density or use longer windows`);
  }
  return { noiseTokens, spans, inputLength: length - noiseTokens + spans + 1, targetLength: noiseTokens + spans + 1 };
}

/** A random split of n items into k non-empty segments: their lengths (T5's _random_segmentation). */
function randomSegmentation(n: number, k: number, rng: Rng): number[] {
  // k - 1 cut points among the n - 1 gaps, chosen uniformly without replacement.
  const gaps = Array.from({ length: n - 1 }, (_, i) => i < k - 1);
  for (let i = gaps.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [gaps[i], gaps[j]] = [gaps[j], gaps[i]];
  }
  const lengths: number[] = [1];
  for (const cut of gaps) {
    if (cut) lengths.push(1);
    else lengths[lengths.length - 1]++;
  }
  return lengths;
}

/**
 * T5's random_spans_noise_mask: 1 for corrupted positions of a window of `length` tokens. Kept and
 * corrupted spans alternate, starting with a kept span, so the window never starts corrupted.
 */
export function randomSpansNoiseMask(length: number, rng: Rng, o: SpanCorruptionOptions = {}): Uint8Array {
  const { noiseTokens, spans } = spanCorruptionLengths(length, o);
  const noise = randomSegmentation(noiseTokens, spans, rng);
  const kept = randomSegmentation(length - noiseTokens, spans, rng);
  const mask = new Uint8Array(length);
  let p = 0;
  for (let s = 0; s < spans; s++) {
    p += kept[s];
    mask.fill(1, p, p + noise[s]);
    p += noise[s];
  }
  return mask;
}

/**
 * Applies a noise mask: input = kept tokens with each corrupted span replaced by its sentinel, then
 * </s>; target = each sentinel followed by its span, then </s>.
 */
export function corruptSpans(tokens: ArrayLike<number>, mask: Uint8Array, special: T5TokenIds): { input: number[]; target: number[] } {
  const input: number[] = [];
  const target: number[] = [];
  let span = -1;
  for (let i = 0; i < tokens.length; i++) {
    if (mask[i]) {
      if (i === 0 || !mask[i - 1]) {
        span++;
        if (span >= special.sentinels.length) {
          throw new SpanCorruptionError(`a window needs more than the tokenizer's ${special.sentinels.length} sentinels: use shorter windows or a tokenizer with more <extra_id_N> tokens`);
        }
        input.push(special.sentinels[span]);
        target.push(special.sentinels[span]);
      }
      target.push(tokens[i]);
    } else {
      input.push(tokens[i]);
    }
  }
  input.push(special.eos);
  target.push(special.eos);
  return { input, target };
}

/** B rows of corrupted windows: encoder inputs (B, inputLength), decoder labels (B, targetLength). */
export interface SpanBatch {
  B: number;
  inputLength: number;
  targetLength: number;
  inputIds: Int32Array;
  labels: Int32Array;
}

export interface SpanSourceOptions extends SpanCorruptionOptions {
  batchSize: number;
  /** Tokens of text per row before corruption. */
  windowLength: number;
  special: T5TokenIds;
  /** Seeds the window order and the noise (each batch's noise follows from the seed and the cursor alone). */
  seed: number;
  /** Windows in a seeded random order (default true) or in order (validation). */
  shuffle?: boolean;
}

/**
 * Span-corrupted batches from token shards: windows from {@link TokenDataLoader}, a noise mask per row
 * from a generator seeded by (seed, cursor), so a resumed run (which restores the cursor) sees exactly
 * the batches an uninterrupted one would.
 */
export class SpanCorruptionBatches implements BatchSource<SpanBatch> {
  readonly lengths: SpanLengths;
  private readonly loader: TokenDataLoader;

  constructor(shards: readonly string[], readShard: (path: string) => TokenArray, private readonly o: SpanSourceOptions) {
    this.lengths = spanCorruptionLengths(o.windowLength, o);
    if (this.lengths.spans > o.special.sentinels.length) {
      throw new SpanCorruptionError(`windows of ${o.windowLength} tokens have ${this.lengths.spans} spans but the tokenizer has ${o.special.sentinels.length} sentinels`);
    }
    this.loader = new TokenDataLoader(shards, o.batchSize, o.windowLength, readShard, (o.shuffle ?? true) ? o.seed : null);
  }

  next(): SpanBatch {
    const c = this.loader.getCursor();
    const rng = new Rng((this.o.seed ^ Math.imul(c.epoch + 1, 0x9e3779b1) ^ Math.imul(c.shard + 1, 0x85ebca6b) ^ Math.imul(c.pos + 1, 0xc2b2ae35)) >>> 0);
    const { inputs } = this.loader.next();
    const { B, T } = this.loader;
    const { inputLength, targetLength } = this.lengths;
    const inputIds = new Int32Array(B * inputLength);
    const labels = new Int32Array(B * targetLength);
    for (let b = 0; b < B; b++) {
      const row = inputs.subarray(b * T, (b + 1) * T);
      const { input, target } = corruptSpans(row, randomSpansNoiseMask(T, rng, this.o), this.o.special);
      inputIds.set(input, b * inputLength);
      labels.set(target, b * targetLength);
    }
    return { B, inputLength, targetLength, inputIds, labels };
  }

  getCursor(): DataCursor {
    return this.loader.getCursor();
  }

  setCursor(cursor: unknown): void {
    this.loader.setCursor(cursor as DataCursor);
  }
}

/** The model's batch for a span batch: no padding (every row has the same lengths), decoder inputs shifted from the labels. */
function t5Batch(b: SpanBatch) {
  return { inputIds: ids(b.inputIds, [b.B, b.inputLength]), labels: b.labels };
}

/** The loss for the step loop: mean cross-entropy over the target tokens (sentinels, spans, </s>). */
export function spanLossOf(model: T5): (b: SpanBatch) => Tensor {
  return (b) => model.loss(t5Batch(b));
}

/** Validation: mean target loss, perplexity and greedy next-token accuracy over the first `batches` batches (deterministic). */
export function evaluateSpan(model: T5, source: () => SpanCorruptionBatches, batches: number): EvalMetrics {
  const src = source();
  const wasTraining = model.training;
  model.eval();
  let loss = 0;
  let correct = 0;
  let tokens = 0;
  let done = 0;
  for (; done < batches; done++) {
    const b = src.next();
    if (src.getCursor().epoch > 0 && done > 0) break; // wrapped: the validation shards are done
    const r = noGrad(() => tidy(() => {
      const logits = model.forward(t5Batch(b)); // (B, T, V)
      const V = logits.shape[2];
      const l = logits.contiguousData();
      let hit = 0;
      for (let i = 0; i < b.labels.length; i++) {
        let best = 0;
        for (let v = 1; v < V; v++) if (l[i * V + v] > l[i * V + best]) best = v;
        if (best === b.labels[i]) hit++;
      }
      return { loss: crossEntropy(logits, b.labels).item(), hit };
    }));
    loss += r.loss * b.labels.length;
    correct += r.hit;
    tokens += b.labels.length;
  }
  model.train(wasTraining);
  return { loss: loss / tokens, ppl: Math.exp(loss / tokens), acc: correct / tokens, tokens };
}
