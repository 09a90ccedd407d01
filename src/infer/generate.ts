// Autoregressive generation: prefill the prompt once into a KV cache, then decode one token
// at a time reusing cached keys/values; sampling options, stop tokens and stop strings,
// streaming (callback or async iterator), seeded, with tokens/s reported.
import type { GPT } from "../model/gpt.js";
import type { KVCache } from "../model/kvCache.js";
import { ids } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { BatchDecoder, batchDecoderUnsupported } from "./batchDecoder.js";
import { checkSamplingOptions, sampleToken, SamplingOptionError, type SamplingOptions } from "./sampling.js";

export interface GenerateOptions extends SamplingOptions {
  /** Most new tokens (default 256). */
  maxTokens?: number;
  /** Seed of the sampler (default 0); ignored when `rng` is given. */
  seed?: number;
  rng?: Rng;
  /** Stop when the decoded text contains one of these (the stop string is not returned). Needs `decode`. */
  stop?: readonly string[];
  /** Stop on these token ids (e.g. end-of-text); the stop token is not returned. */
  stopTokens?: readonly number[];
  /** Ids -> text, for stop strings and streamed text (e.g. `(ids) => tokenizer.decode(ids)`). */
  decode?: (ids: number[]) => string;
  /**
   * Only ids below this are sampled (default: the model's vocabulary). Set it to the
   * tokenizer's size when the model's vocabulary is padded beyond it.
   */
  vocabLimit?: number;
  /** Use the KV cache (default: when the model allows it). false recomputes the whole context every token. */
  useCache?: boolean;
  /**
   * With the cache, decode through a {@link BatchDecoder} (one slot; preallocated buffers, no tensors)
   * when the model allows it (default true); false keeps the tensor path, the decoder's definition.
   */
  fastDecode?: boolean;
  /** Called with each token as soon as it is chosen. */
  onToken?: (token: GeneratedToken) => void;
  /** Stops generation early (finishReason "abort"). */
  signal?: AbortSignal;
}

export interface GeneratedToken {
  id: number;
  /** Position among the generated tokens (0-based). */
  index: number;
  /** Text released by this token: may be empty while a multi-byte character or a possible stop string is pending. */
  text: string;
  /** Set on a last item that adds no token, only text held back until the end. */
  flush?: boolean;
}

export type FinishReason = "length" | "stop" | "stop_token" | "abort";

export interface GenerationResult {
  /** Generated ids (no prompt, no stop token). */
  tokens: number[];
  /** Decoded generated text, cut before a stop string ("" without `decode`). */
  text: string;
  finishReason: FinishReason;
  /** The stop token that ended generation (finishReason "stop_token"), else null. */
  stopToken: number | null;
  promptTokens: number;
  /** Prompt tokens dropped from the front because the prompt exceeded the block size. */
  promptTruncated: number;
  prefillMs: number;
  decodeMs: number;
  /** Generated tokens per second of decoding (after the prefill). */
  tokensPerSecond: number;
  prefillTokensPerSecond: number;
}

/**
 * Keeps streamed text clear of stop strings and of half-decoded multi-byte characters. Decodes incrementally: the
 * ids up to the last point where the text ended on a whole character are decoded once, and each push decodes only
 * the ids after it, so a long generation costs O(1) per token, not O(length). That needs `decode` to be a byte-level
 * decoder: decode(a ++ b) = decode(a) + decode(b) whenever decode(a) does not end in U+FFFD (the tokenizer's is).
 */
export class TextReleaser {
  private emitted = 0;
  private readonly maxStop: number;
  /** decode(tokens[0, settledIds)), which ended on a whole character. */
  private settled = "";
  private settledIds = 0;
  text = "";
  stopped = false;

  constructor(private readonly decode: ((ids: number[]) => string) | undefined, private readonly stops: readonly string[]) {
    this.maxStop = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Text newly safe to show after `tokens` (all generated ids so far: the ids of earlier pushes, then new ones). */
  push(tokens: number[]): string {
    if (!this.decode) return "";
    if (tokens.length < this.settledIds) throw new Error(`TextReleaser: ${tokens.length} ids after ${this.settledIds} were pushed`);
    const full = this.settled + this.decode(tokens.slice(this.settledIds));
    if (full.charCodeAt(full.length - 1) !== 0xfffd) {
      this.settled = full;
      this.settledIds = tokens.length;
    }
    let cut = -1;
    const from = Math.max(0, this.emitted - this.maxStop);
    for (const s of this.stops) {
      const i = full.indexOf(s, from);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.text = full.slice(0, cut);
      return this.release(full, cut);
    }
    this.text = full;
    let safe = full.length;
    while (safe > this.emitted && full.charCodeAt(safe - 1) === 0xfffd) safe--;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, full.length); k > 0; k--) {
        if (full.endsWith(s.slice(0, k))) {
          safe = Math.min(safe, full.length - k);
          break;
        }
      }
    }
    return this.release(full, Math.max(safe, this.emitted));
  }

  /** Everything not yet released (at the end of generation). */
  flush(): string {
    return this.release(this.text, this.text.length);
  }

  private release(full: string, end: number): string {
    const out = full.slice(this.emitted, end);
    this.emitted = Math.max(this.emitted, end);
    return out;
  }
}

/** Logits of the last position as a plain array; every tensor of the step is freed. */
function lastLogits(model: GPT, feed: number[], cache: KVCache | undefined): Float32Array | Float64Array {
  return tidy(() => noGrad(() => model.forward(ids(feed, [1, feed.length]), { cache, lastOnly: true }).toTypedArray()));
}

/**
 * The generation loop as a generator: yields each token, returns the summary. With the cache,
 * when the context reaches the block size the cache is rebuilt from the last 3/4 of the block
 * (a sliding window); without it, every step sees the last blockSize tokens.
 */
export function* generateSteps(model: GPT, prompt: ArrayLike<number>, opts: GenerateOptions = {}): Generator<GeneratedToken, GenerationResult> {
  checkSamplingOptions(opts);
  const maxTokens = opts.maxTokens ?? 256;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new SamplingOptionError(`maxTokens must be a whole number >= 0, got ${maxTokens}`);
  if (prompt.length === 0) throw new SamplingOptionError("the prompt is empty: give at least one token (e.g. a beginning-of-text token)");
  const stops = (opts.stop ?? []).filter((s) => s.length > 0);
  if (stops.length > 0 && !opts.decode) throw new SamplingOptionError("stop strings need a decode function (ids -> text)");
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const V = model.config.vocabSize;
  const limit = opts.vocabLimit ?? V;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= V)) throw new SamplingOptionError(`vocabLimit must be a whole number in [1, ${V}], got ${limit}`);
  const stopTokens = new Set(opts.stopTokens ?? []);
  const block = model.config.blockSize;
  const useCache = opts.useCache ?? model.cacheable;
  const wasTraining = model.training;
  model.eval();
  // The cache holds the whole generation when it fits in the block; otherwise the block, slid as needed.
  const cacheLen = Math.min(block, Math.min(prompt.length, block) + maxTokens);
  const session = useCache && (opts.fastDecode ?? true) && batchDecoderUnsupported(model) === null ? new BatchDecoder(model, { maxLen: cacheLen }) : null;
  const cache = useCache && !session ? model.createCache(1, cacheLen) : undefined;
  /** Logits after feeding `feed` (from scratch when `fresh`), through the session, the cache or the whole context. */
  const feedTokens = (feed: number[], fresh: boolean): Float32Array | Float64Array => {
    if (!session) {
      if (fresh) cache?.reset();
      return lastLogits(model, feed, cache);
    }
    if (fresh) session.truncate(0);
    return session.step([{ slot: 0, tokens: feed }]);
  };
  const cacheFull = () => (session ? session.length(0) >= session.maxLen : cache ? cache.length >= cache.maxLen : false);
  const releaser = new TextReleaser(opts.decode, stops);
  const history = Array.from(prompt);
  const promptTruncated = Math.max(0, history.length - block);
  const generated: number[] = [];
  let finishReason: FinishReason = "length";
  let stopToken: number | null = null;
  const t0 = performance.now();
  let prefillMs = 0;
  try {
    let logits = feedTokens(history.slice(promptTruncated), true);
    prefillMs = performance.now() - t0;
    while (generated.length < maxTokens) {
      if (opts.signal?.aborted) {
        finishReason = "abort";
        break;
      }
      const next = sampleToken(limit < V ? logits.subarray(0, limit) : logits, opts, rng, history);
      if (stopTokens.has(next)) {
        finishReason = "stop_token";
        stopToken = next;
        break;
      }
      generated.push(next);
      history.push(next);
      const text = releaser.push(generated);
      const token: GeneratedToken = { id: next, index: generated.length - 1, text };
      opts.onToken?.(token);
      yield token;
      if (releaser.stopped) {
        finishReason = "stop";
        break;
      }
      if (generated.length >= maxTokens) break;
      if (!useCache) logits = feedTokens(history.slice(-block), false);
      else if (!cacheFull()) logits = feedTokens([next], false);
      else logits = feedTokens(history.slice(-Math.max(1, Math.floor((3 * block) / 4))), true);
    }
  } finally {
    cache?.dispose();
    model.train(wasTraining);
  }
  const tail = finishReason === "stop" ? "" : releaser.flush();
  if (tail && opts.onToken && generated.length > 0) {
    // The held-back tail (pending stop-string prefix or trailing bytes) belongs to the last token.
    const last: GeneratedToken = { id: generated[generated.length - 1], index: generated.length - 1, text: tail, flush: true };
    opts.onToken(last);
    yield last;
  }
  const decodeMs = performance.now() - t0 - prefillMs;
  const promptTokens = prompt.length - promptTruncated;
  return {
    tokens: generated,
    text: releaser.text,
    finishReason,
    stopToken,
    promptTokens,
    promptTruncated,
    prefillMs,
    decodeMs,
    tokensPerSecond: decodeMs > 0 ? (generated.length * 1000) / decodeMs : 0,
    prefillTokensPerSecond: prefillMs > 0 ? (promptTokens * 1000) / prefillMs : 0,
  };
}

/** Generates synchronously (tokens also go to `opts.onToken` as they come). */
export function generate(model: GPT, prompt: ArrayLike<number>, opts: GenerateOptions = {}): GenerationResult {
  const it = generateSteps(model, prompt, opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/**
 * Streams tokens as an async iterator, yielding to the event loop between tokens
 * (for servers and UIs). The iterator's return value is the {@link GenerationResult}.
 */
export async function* generateStream(model: GPT, prompt: ArrayLike<number>, opts: GenerateOptions = {}): AsyncGenerator<GeneratedToken, GenerationResult> {
  const it = generateSteps(model, prompt, opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    yield r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Text in, text out: what a tokenizer must offer (src/tokenizer's Tokenizer fits). */
export interface TextCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** When given, sampling stays below it (a model vocabulary padded past the tokenizer's). */
  readonly vocabSize?: number;
}

/** Encodes `prompt`, generates with decode wired to the codec, and returns the result. */
export function generateText(model: GPT, codec: TextCodec, prompt: string, opts: Omit<GenerateOptions, "decode"> = {}): GenerationResult {
  const vocabLimit = opts.vocabLimit ?? (codec.vocabSize !== undefined ? Math.min(codec.vocabSize, model.config.vocabSize) : undefined);
  return generate(model, codec.encode(prompt), { ...opts, vocabLimit, decode: (t) => codec.decode(t) });
}
