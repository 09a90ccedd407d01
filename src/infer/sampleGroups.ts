// Many completions of many prompts sampled together: one BatchDecoder over every sequence, each prompt prefilled
// once and its keys/values copied to the other slots of its group, no tape. RL rollouts, batched evaluation and
// best-of-n sampling call it; a seed gives the same completions.
import type { GPT } from "../model/gpt.js";
import type { Rng } from "../tensor/rng.js";
import { BatchDecoder, batchDecoderUnsupported } from "./batchDecoder.js";
import { generate } from "./generate.js";
import { checkSamplingOptions, type SamplingOptions, sampleToken } from "./sampling.js";

/** One sampled completion: its tokens (the stop token included when it ended with one) and why it ended ("length": maxTokens or the block). */
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
    if (p.length >= block) throw new RangeError(`prompt ${i} has ${p.length} tokens: it leaves no room for an answer in the block size ${block}`);
  }
  // a prompt near the end of the block gets fewer new tokens
  const roomOf = (p: readonly number[]) => Math.min(o.maxTokens, block - p.length);
  if (batchDecoderUnsupported(model) !== null) return sampleOneByOne(model, prompts, G, roomOf, o);
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
        else if (c.tokens.length < roomOf(round[Math.floor(s / G)])) {
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

/** The same through generate() one sequence at a time, for models the batch decoder cannot run (adapters, prefixes). */
function sampleOneByOne(model: GPT, prompts: readonly (readonly number[])[], G: number, roomOf: (p: readonly number[]) => number, o: SampleGroupsOptions): SampledGroups {
  const t0 = performance.now();
  let tokens = 0;
  const completions = prompts.map((p) =>
    Array.from({ length: G }, (): Completion => {
      const r = generate(model, p, { ...o, maxTokens: roomOf(p), stopTokens: [...o.stopTokens], rng: o.rng });
      // generate leaves the stop token out; a completion keeps it
      const stop = r.stopToken === null ? [] : [r.stopToken];
      tokens += r.tokens.length + stop.length;
      return { tokens: [...r.tokens, ...stop], finish: stop.length ? "stop_token" : "length" };
    }),
  );
  return { completions, tokens, seconds: (performance.now() - t0) / 1000 };
}
