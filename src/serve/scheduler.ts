// Continuous batching over a BatchDecoder: requests wait in a queue, join the running batch at a token boundary
// (their prompt fed as one entry of the same step as the other sequences' next tokens), and leave it when they
// stop, freeing their slot for the next. Each sequence samples with its own seeded Rng, so its tokens do not depend
// on its batch-mates. Runs in the generation worker (engineWorker.ts); no threads or I/O here.
import { BatchDecoder } from "../infer/batchDecoder.js";
import { TextReleaser } from "../infer/generate.js";
import { sampleToken, topKIndices } from "../infer/sampling.js";
import type { GPT } from "../model/gpt.js";
import { Rng } from "../tensor/rng.js";
import type { SequenceEvent, SequenceParams, TokenLogprob } from "./protocol.js";

/** A request as the scheduler takes it: token ids, `n` choices, and resolved limits. */
export interface ScheduledRequest {
  id: number;
  prompt: number[];
  n: number;
  params: SequenceParams & { maxTokens: number };
  /** Token ids that end a choice (not returned): end of text, end of an assistant turn. */
  stopTokens: number[];
}

/** What the scheduler needs besides the model. */
export interface SchedulerOptions {
  /** Sequences decoded together (slots of the decoder). */
  maxBatch: number;
  /** Only ids below this are sampled (the tokenizer's size when the model's vocabulary is padded). */
  vocabLimit: number;
  decode: (ids: number[]) => string;
  /** Text and bytes of one token, for log-probabilities. */
  tokenInfo: (id: number) => { token: string; bytes: number[] };
}

/** One choice of a request, decoding in its own slot. */
interface Sequence {
  req: ScheduledRequest;
  choice: number;
  slot: number;
  rng: Rng;
  history: number[];
  generated: number[];
  counts: Map<number, number>;
  releaser: TextReleaser;
  /** The last sampled token, fed at the next step. */
  pending: number;
  stopTokens: Set<number>;
}

/** Queue + running batch of one model; {@link step} advances every running sequence by one token. */
export class BatchScheduler {
  readonly decoder: BatchDecoder;
  private readonly free: number[];
  private readonly queue: ScheduledRequest[] = [];
  private running: Sequence[] = [];
  private readonly cancelled = new Set<number>();

  constructor(model: GPT, private readonly opts: SchedulerOptions) {
    this.decoder = new BatchDecoder(model, { slots: opts.maxBatch });
    this.free = Array.from({ length: opts.maxBatch }, (_, i) => opts.maxBatch - 1 - i);
  }

  /** Positions of a slot (the model's context length). */
  get contextLength(): number {
    return this.decoder.maxLen;
  }

  /** Sequences waiting for a slot. */
  get queued(): number {
    return this.queue.reduce((s, r) => s + r.n, 0);
  }

  /** Sequences in the running batch. */
  get active(): number {
    return this.running.length;
  }

  /** Nothing to do until a request comes. */
  get idle(): boolean {
    return this.queue.length === 0 && this.running.length === 0;
  }

  /** Slots taken (for tests: a cancelled or finished request gives its slots back). */
  get slotsInUse(): number {
    return this.opts.maxBatch - this.free.length;
  }

  /** Queues a request; it joins the batch at the next step with `n` free slots (in arrival order). */
  submit(req: ScheduledRequest): void {
    if (!(req.n >= 1 && req.n <= this.opts.maxBatch)) throw new Error(`n = ${req.n} is outside 1..${this.opts.maxBatch} (the server's --max-batch)`);
    if (req.prompt.length + req.params.maxTokens > this.decoder.maxLen) throw new Error(`prompt of ${req.prompt.length} + ${req.params.maxTokens} new tokens exceed the context of ${this.decoder.maxLen}`);
    this.queue.push(req);
  }

  /** Stops request `id` at the next step (its choices finish with reason "abort"), or drops it from the queue. */
  cancel(id: number): void {
    this.cancelled.add(id);
  }

  /** Drops every queued and running request (after an internal error), freeing their slots; their ids. */
  failAll(): number[] {
    const ids = new Set([...this.queue.map((r) => r.id), ...this.running.map((s) => s.req.id)]);
    for (const s of this.running) {
      this.decoder.truncate(s.slot);
      this.free.push(s.slot);
    }
    this.queue.length = 0;
    this.running = [];
    return [...ids];
  }

  /** One decoding step over the running batch (admitting queued requests first); the events it produced. */
  step(): SequenceEvent[] {
    const events: SequenceEvent[] = [];
    this.dropCancelled(events);
    // (entry, sequences sampling from its logits row): a fresh request's choices share its prompt's row
    const entries: { slot: number; tokens: number[] }[] = [];
    const groups: Sequence[][] = [];
    while (this.queue.length > 0 && this.queue[0].n <= this.free.length) {
      const req = this.queue.shift() as ScheduledRequest;
      const seqs = Array.from({ length: req.n }, (_, choice) => this.startSequence(req, choice));
      this.decoder.truncate(seqs[0].slot);
      entries.push({ slot: seqs[0].slot, tokens: req.prompt });
      groups.push(seqs);
    }
    for (const s of this.running) {
      entries.push({ slot: s.slot, tokens: [s.pending] });
      groups.push([s]);
    }
    if (entries.length === 0) return events;
    const logits = this.decoder.step(entries); // (entries, V)
    const V = this.decoder.vocabSize;
    const next: Sequence[] = [];
    for (let e = 0; e < entries.length; e++) {
      const g = groups[e];
      for (let i = 1; i < g.length; i++) this.decoder.copy(g[0].slot, g[i].slot); // n > 1: one prefill, copied
      const row = logits.subarray(e * V, e * V + this.opts.vocabLimit);
      for (const s of g) if (this.advance(s, row, events)) next.push(s);
    }
    this.running = next;
    return events;
  }

  private startSequence(req: ScheduledRequest, choice: number): Sequence {
    const slot = this.free.pop() as number;
    const stops = req.params.stop.filter((s) => s.length > 0);
    return {
      req, choice, slot, rng: new Rng(req.params.seed + choice), history: [...req.prompt], generated: [], counts: new Map(),
      releaser: new TextReleaser(this.opts.decode, stops), pending: -1, stopTokens: new Set(req.stopTokens),
    };
  }

  private dropCancelled(events: SequenceEvent[]): void {
    if (this.cancelled.size === 0) return;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const r = this.queue[i];
      if (!this.cancelled.has(r.id)) continue;
      this.queue.splice(i, 1);
      for (let c = 0; c < r.n; c++) events.push({ kind: "finish", id: r.id, choice: c, reason: "abort", text: "", completionTokens: 0 });
    }
    this.running = this.running.filter((s) => {
      if (!this.cancelled.has(s.req.id)) return true;
      this.finish(s, "abort", "", events);
      return false;
    });
    this.cancelled.clear();
  }

  /** Samples `s`'s next token from its logits row; false when the sequence finished (its slot is freed). */
  private advance(s: Sequence, row: Float32Array, events: SequenceEvent[]): boolean {
    const p = s.req.params;
    let l: Float32Array = row;
    if (p.presencePenalty !== 0 || p.frequencyPenalty !== 0) {
      // OpenAI's penalties over the generated tokens: logit -= count · frequency + (count > 0) · presence
      l = Float32Array.from(row);
      for (const [tok, c] of s.counts) l[tok] -= c * p.frequencyPenalty + p.presencePenalty;
    }
    const tok = sampleToken(l, { temperature: p.temperature, topP: p.topP, topK: p.topK, repetitionPenalty: p.repetitionPenalty }, s.rng, s.history);
    if (s.stopTokens.has(tok)) {
      this.finish(s, "stop", s.releaser.flush(), events);
      return false;
    }
    s.generated.push(tok);
    s.history.push(tok);
    s.counts.set(tok, (s.counts.get(tok) ?? 0) + 1);
    const text = s.releaser.push(s.generated);
    const ev: SequenceEvent = { kind: "token", id: s.req.id, choice: s.choice, token: tok, text };
    if (p.logprobs !== null) Object.assign(ev, this.logprobs(l, tok, p.logprobs));
    events.push(ev);
    if (s.releaser.stopped) this.finish(s, "stop", "", events);
    else if (s.generated.length >= p.maxTokens || this.decoder.length(s.slot) >= this.decoder.maxLen) this.finish(s, "length", s.releaser.flush(), events);
    else {
      s.pending = tok;
      return true;
    }
    return false;
  }

  private finish(s: Sequence, reason: "stop" | "length" | "abort", text: string, events: SequenceEvent[]): void {
    this.decoder.truncate(s.slot);
    this.free.push(s.slot);
    events.push({ kind: "finish", id: s.req.id, choice: s.choice, reason, text, completionTokens: s.generated.length });
  }

  /** The chosen token's log-probability and the k most likely tokens' (log-softmax of the logits after penalties, before temperature). */
  private logprobs(l: Float32Array, tok: number, k: number): { logprob: TokenLogprob; top: TokenLogprob[] } {
    const n = l.length;
    let mx = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) if (l[i] > mx) mx = l[i];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(l[i] - mx);
    const lse = mx + Math.log(sum);
    const entry = (id: number): TokenLogprob => ({ id, ...this.opts.tokenInfo(id), logprob: l[id] - lse });
    const top = k > 0 ? Array.from(topKIndices(Float64Array.from(l), Math.min(k, n)), entry) : [];
    return { logprob: entry(tok), top };
  }
}
