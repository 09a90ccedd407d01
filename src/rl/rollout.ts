// What RL needs from the engine: many completions per prompt sampled together (one BatchDecoder over every
// sequence of the rollout, each prompt prefilled once and its keys/values copied to the group's other slots,
// no tape), and the per-token log-probs of given completions under a model in one padded forward pass.
import { BatchDecoder } from "../infer/batchDecoder.js";
import { checkSamplingOptions, type SamplingOptions, sampleToken } from "../infer/sampling.js";
import type { GPT } from "../model/gpt.js";
import { crossEntropy, ids, neg, reshape } from "../tensor/ops/index.js";
import type { Rng } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";

/** One sampled completion: its tokens (the stop token included when it ended with one) and why it ended. */
export interface Completion {
  tokens: number[];
  finish: "stop_token" | "length";
}

export interface SampleGroupsOptions extends SamplingOptions {
  /** Completions per prompt (default 1). */
  group?: number;
  /** Most new tokens per completion (the stop token counts). */
  maxTokens: number;
  /** Tokens that end a completion (kept as its last token). */
  stopTokens: readonly number[];
  /** Sampling stays below this id (a model vocabulary padded past the tokenizer's). */
  vocabLimit?: number;
  rng: Rng;
  /** Sequences decoded together at most (default 256); more prompts run in several rounds. */
  maxSequences?: number;
}

export interface SampledGroups {
  /** completions[p][g]: the g-th completion of prompt p. */
  completions: Completion[][];
  /** New tokens sampled, and the seconds it took (prefill included). */
  tokens: number;
  seconds: number;
}

/**
 * Samples `group` completions of each prompt with `model` (no gradient, no tape). Each prompt is prefilled once;
 * its group shares that prefill. Sampling draws from `rng` in a fixed order (step by step, sequence by sequence):
 * the same seed, prompts and options give the same completions.
 */
export function sampleGroups(model: GPT, prompts: readonly (readonly number[])[], o: SampleGroupsOptions): SampledGroups {
  checkSamplingOptions(o);
  const G = o.group ?? 1;
  if (!(Number.isInteger(G) && G >= 1)) throw new RangeError(`group must be a whole number >= 1, got ${G}`);
  if (!(Number.isInteger(o.maxTokens) && o.maxTokens >= 1)) throw new RangeError(`maxTokens must be a whole number >= 1, got ${o.maxTokens}`);
  const block = model.config.blockSize;
  const V = Math.min(o.vocabLimit ?? model.config.vocabSize, model.config.vocabSize);
  for (const [i, p] of prompts.entries()) {
    if (p.length === 0) throw new RangeError(`prompt ${i} is empty`);
    if (p.length + o.maxTokens > block) throw new RangeError(`prompt ${i} has ${p.length} tokens: with ${o.maxTokens} new tokens it exceeds the block size ${block}`);
  }
  const stops = new Set(o.stopTokens);
  const perRound = Math.max(1, Math.floor((o.maxSequences ?? 256) / G));
  const completions: Completion[][] = [];
  const t0 = performance.now();
  let tokens = 0;
  for (let start = 0; start < prompts.length; start += perRound) {
    const round = prompts.slice(start, start + perRound);
    const maxPrompt = Math.max(...round.map((p) => p.length));
    const dec = new BatchDecoder(model, { slots: round.length * G, maxLen: Math.min(block, maxPrompt + o.maxTokens) });
    const V0 = model.config.vocabSize;
    // Prefill every prompt of the round in one step (slot p·G), then share it with the group's other slots.
    const first = Float32Array.from(dec.step(round.map((p, i) => ({ slot: i * G, tokens: p }))));
    for (let i = 0; i < round.length; i++) for (let g = 1; g < G; g++) dec.copy(i * G, i * G + g);
    const out: Completion[][] = round.map(() => Array.from({ length: G }, () => ({ tokens: [] as number[], finish: "length" as Completion["finish"] })));
    let logitsOf = (s: number): Float32Array => first.subarray(Math.floor(s / G) * V0, Math.floor(s / G) * V0 + V);
    let step = Array.from({ length: round.length * G }, (_, s) => s);
    while (step.length > 0) {
      const live: number[] = [];
      const feed: { slot: number; tokens: number[] }[] = [];
      for (const s of step) {
        const c = out[Math.floor(s / G)][s % G];
        const tok = sampleToken(logitsOf(s), o, o.rng, o.repetitionPenalty ? [...round[Math.floor(s / G)], ...c.tokens] : []);
        c.tokens.push(tok);
        tokens++;
        if (stops.has(tok)) c.finish = "stop_token";
        else if (c.tokens.length < o.maxTokens) {
          live.push(s);
          feed.push({ slot: s, tokens: [tok] });
        }
      }
      if (feed.length === 0) break;
      const logits = dec.step(feed);
      const row = new Map(live.map((s, e) => [s, e]));
      logitsOf = (s: number) => {
        const e = row.get(s) as number;
        return logits.subarray(e * V0, e * V0 + V);
      };
      step = live;
    }
    completions.push(...out);
  }
  return { completions, tokens, seconds: (performance.now() - t0) / 1000 };
}

/** A prompt and a completion of it, as token ids. */
export interface PromptCompletion {
  prompt: readonly number[];
  completion: readonly number[];
}

export interface CompletionLogps {
  /** (B, T) log-prob of the token each position predicts; only the completion's positions count. */
  logp: Tensor;
  /** (B, T, V) the logits it came from. */
  logits: Tensor;
  /** (B·T) 1 where a position predicts a completion token, else 0. */
  mask: Float64Array;
  B: number;
  T: number;
}

/**
 * The model inputs of prompt + completion rows, right-padded with `padId`: by default each row without its last
 * token (position t predicts token t+1) with the targets and the completion mask, `width` wide (default the longest
 * row - 1); with `full` the whole rows (for a reward model read at the last real token, `lengths`).
 */
export function rowInputs(rows: readonly PromptCompletion[], padId: number, o: { full?: boolean; width?: number } = {}) {
  const B = rows.length;
  if (B === 0) throw new RangeError("no rows");
  const cut = o.full ? 0 : 1;
  const T = o.width ?? Math.max(...rows.map((r) => r.prompt.length + r.completion.length)) - cut;
  const input = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(-100);
  const mask = new Float64Array(B * T);
  const lengths = new Int32Array(B);
  rows.forEach((r, b) => {
    const seq = [...r.prompt, ...r.completion];
    if (seq.length - cut > T) throw new RangeError(`a row of ${seq.length} tokens does not fit ${T + cut}`);
    lengths[b] = seq.length - cut;
    for (let t = 0; t < seq.length - cut; t++) input[b * T + t] = seq[t];
    if (o.full) return;
    for (let t = r.prompt.length - 1; t < seq.length - 1; t++) {
      targets[b * T + t] = seq[t + 1];
      mask[b * T + t] = 1;
    }
  });
  return { input, targets, mask, lengths, B, T };
}

/**
 * Log-probs of every completion token under `model`: rows prompt + completion, right-padded with `padId` (the
 * causal mask keeps padding out of real positions), one forward pass; position t holds log p(token t+1). Records
 * the tape unless called under noGrad.
 */
export function completionLogps(model: GPT, rows: readonly PromptCompletion[], padId: number, o: { width?: number } = {}): CompletionLogps {
  const x = rowInputs(rows, padId, o);
  if (x.T + 1 > model.config.blockSize) throw new RangeError(`completionLogps: a row of ${x.T + 1} tokens exceeds the block size ${model.config.blockSize}`);
  const logits = model.forward(ids(x.input, [x.B, x.T])); // (B, T, V)
  const nll = crossEntropy(logits, x.targets, { reduction: "none" }); // (B·T), 0 where ignored
  return { logp: reshape(neg(nll), [x.B, x.T]), logits, mask: x.mask, B: x.B, T: x.T };
}
