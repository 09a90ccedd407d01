// The server's handle on the generation worker: starts engineWorker (the compiled .js, or the .ts source through
// tsx in tests), sends it requests and routes the token events it streams back to each request's listener. Generation
// never runs on the thread that answers HTTP.
import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { siblingModule, startWorker } from "../io/workerPool.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { EngineWorkerInit, FromWorker, ModelInfo, PromptInput, RequestRefusal, SequenceEvent, SequenceParams, ToWorker, TokenLogprob } from "./protocol.js";

/** Options of {@link Engine.start}. */
export interface EngineOptions {
  /** Run folder (or model folder) as `llmforge generate --model` takes it. */
  run: string;
  tokenizer?: string;
  backend?: BackendName;
  /** Sequences decoded together (default 8). */
  maxBatch?: number;
  /** New tokens of a request that names no max_tokens (default 512, or what is left of the context). */
  maxTokens?: number;
  /** Threads of the native kernels in the generation worker (default: {@link defaultGenerationThreads}). */
  threads?: number;
}

/**
 * The generation worker's threads when none are given: $LLMFORGE_THREADS, else every core but one. The main thread
 * answers HTTP and writes every streamed chunk; generation threads on all cores take turns with it, and on 2 cores the
 * server then delivers fewer tokens at 16 streams than with one generation thread (bench/results/serve.md).
 */
export function defaultGenerationThreads(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  const n = Number(env.LLMFORGE_THREADS);
  return env.LLMFORGE_THREADS && Number.isInteger(n) && n >= 1 ? n : Math.max(1, cores - 1);
}

/** A request the engine refused: an HTTP status and OpenAI's error fields. */
export class EngineRequestError extends Error {
  constructor(readonly refusal: RequestRefusal) {
    super(refusal.message);
    this.name = "EngineRequestError";
  }
}

/** The worker could not load the model, or died. */
export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineError";
  }
}

/** One generated token as a listener sees it. */
export interface TokenEvent {
  choice: number;
  token: number;
  text: string;
  logprob?: TokenLogprob;
  top?: TokenLogprob[];
}

/** How a choice ended. */
export interface ChoiceResult {
  text: string;
  tokens: TokenEvent[];
  finishReason: "stop" | "length" | "abort";
  completionTokens: number;
}

/** What a generation request yields once every choice has finished. */
export interface GenerationOutcome {
  promptTokens: number;
  choices: ChoiceResult[];
  /** Milliseconds from the request to its first token (NaN when none came). */
  firstTokenMs: number;
}

/** Callbacks of a running request; `onFinish` gets the held-back tail text of the choice. */
export interface GenerationListener {
  onToken?: (ev: TokenEvent) => void;
  onFinish?: (choice: number, reason: ChoiceResult["finishReason"], tail: string) => void;
}

/** A submitted request: `accepted` settles once the worker has checked it (or refused it: EngineRequestError). */
export interface GenerationHandle {
  accepted: Promise<{ promptTokens: number; maxTokens: number }>;
  done: Promise<GenerationOutcome>;
  /** Stops the request at the next token boundary (its choices finish with "abort"). */
  cancel(): void;
}

interface Pending {
  listener: GenerationListener;
  accept: (v: { promptTokens: number; maxTokens: number }) => void;
  resolve: (o: GenerationOutcome) => void;
  reject: (e: Error) => void;
  promptTokens: number;
  choices: ChoiceResult[];
  open: number;
  t0: number;
  firstTokenMs: number;
}

/** Generation in a worker thread: continuous batching of every request the server passes in. */
export class Engine {
  /** Sequences waiting for a slot / decoding, as of the worker's last step. */
  queued = 0;
  running = 0;
  /** Null while the worker is healthy; why it is not otherwise. */
  failure: string | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly embeds = new Map<number, { resolve: (v: { vectors: Float32Array[]; tokens: number }) => void; reject: (e: Error) => void }>();
  private closing = false;

  private constructor(private readonly worker: Worker, readonly info: ModelInfo) {
    worker.on("message", (m: FromWorker) => this.onMessage(m));
    worker.on("error", (err) => this.fail(`the generation worker failed: ${err instanceof Error ? err.message : String(err)}`));
    worker.on("exit", (code) => {
      if (!this.closing) this.fail(`the generation worker exited (code ${code})`);
    });
  }

  /** Starts the worker and waits until it has loaded the model (rejects with its load error). */
  static async start(opts: EngineOptions): Promise<Engine> {
    const init: EngineWorkerInit = { run: opts.run, tokenizer: opts.tokenizer, backend: opts.backend, maxBatch: opts.maxBatch ?? 8, maxTokens: opts.maxTokens ?? 512, threads: opts.threads ?? defaultGenerationThreads() };
    if (!(Number.isInteger(init.maxBatch) && init.maxBatch >= 1)) throw new EngineError(`maxBatch must be a whole number >= 1, got ${init.maxBatch}`);
    if (init.threads !== undefined && !(Number.isInteger(init.threads) && init.threads >= 1)) throw new EngineError(`threads must be a whole number >= 1, got ${init.threads}`);
    // startWorker (shared with the data pipeline's pools) takes no workerData: the settings are the first message
    const worker = startWorker(siblingModule(import.meta.url, "engineWorker"));
    worker.postMessage({ type: "init", init } satisfies ToWorker);
    const info = await new Promise<ModelInfo>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === "ready") resolve(m.info);
        else if (m.type === "failed") reject(new EngineError(m.message));
        else return;
        worker.off("message", onMessage);
        worker.off("error", onError);
      };
      const onError = (err: unknown) => reject(new EngineError(`the generation worker failed to start: ${err instanceof Error ? err.message : String(err)}`));
      worker.on("message", onMessage);
      worker.once("error", onError);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    return new Engine(worker, info);
  }

  /** Submits a request of `n` choices; tokens go to `listener` as the worker produces them. */
  generate(prompt: PromptInput, n: number, params: SequenceParams, listener: GenerationListener = {}): GenerationHandle {
    const id = this.nextId++;
    let accept!: Pending["accept"];
    let rejectAccepted!: (e: Error) => void;
    const accepted = new Promise<{ promptTokens: number; maxTokens: number }>((res, rej) => {
      accept = res;
      rejectAccepted = rej;
    });
    accepted.catch(() => undefined); // also surfaced through `done`
    const done = new Promise<GenerationOutcome>((resolve, reject) => {
      const choices = Array.from({ length: n }, (): ChoiceResult => ({ text: "", tokens: [], finishReason: "abort", completionTokens: 0 }));
      this.pending.set(id, {
        listener, accept, resolve, promptTokens: 0, choices, open: n, t0: performance.now(), firstTokenMs: Number.NaN,
        reject: (e) => {
          rejectAccepted(e);
          reject(e);
        },
      });
    });
    done.catch(() => undefined); // a caller awaiting only `accepted` still sees the error there
    if (this.failure) this.pending.get(id)?.reject(new EngineError(this.failure));
    else this.post({ type: "generate", id, prompt, n, params });
    return { accepted, done, cancel: () => this.pending.has(id) && this.post({ type: "cancel", id }) };
  }

  /** Mean-pooled final hidden states of each input (see engineWorker.ts), and the tokens read. */
  embed(inputs: (string | number[])[]): Promise<{ vectors: Float32Array[]; tokens: number }> {
    if (this.failure) return Promise.reject(new EngineError(this.failure));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.embeds.set(id, { resolve, reject });
      this.post({ type: "embed", id, inputs });
    });
  }

  /** Requests not yet finished. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Stops the worker (requests still running fail). */
  async close(): Promise<void> {
    this.closing = true;
    this.fail("the server is shutting down");
    await this.worker.terminate();
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private fail(message: string): void {
    if (!this.closing) this.failure = message;
    for (const p of this.pending.values()) p.reject(new EngineError(message));
    for (const e of this.embeds.values()) e.reject(new EngineError(message));
    this.pending.clear();
    this.embeds.clear();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === "events") {
      this.queued = m.queued;
      this.running = m.running;
      for (const ev of m.events) this.onEvent(ev);
    } else if (m.type === "accepted") {
      const p = this.pending.get(m.id);
      if (!p) return;
      p.promptTokens = m.promptTokens;
      p.accept({ promptTokens: m.promptTokens, maxTokens: m.maxTokens });
    } else if (m.type === "refused") {
      this.pending.get(m.id)?.reject(new EngineRequestError(m.refusal));
      this.pending.delete(m.id);
    } else if (m.type === "embedded") {
      this.embeds.get(m.id)?.resolve({ vectors: m.vectors, tokens: m.tokens });
      this.embeds.delete(m.id);
    } else if (m.type === "embedFailed") {
      this.embeds.get(m.id)?.reject(new EngineRequestError(m.refusal));
      this.embeds.delete(m.id);
    }
  }

  private onEvent(ev: SequenceEvent): void {
    const p = this.pending.get(ev.id);
    if (!p) return;
    if (ev.kind === "error") {
      this.pending.delete(ev.id);
      p.reject(new EngineError(`generation failed: ${ev.message}`));
      return;
    }
    const c = p.choices[ev.choice];
    if (ev.kind === "token") {
      if (Number.isNaN(p.firstTokenMs)) p.firstTokenMs = performance.now() - p.t0;
      const t: TokenEvent = { choice: ev.choice, token: ev.token, text: ev.text, logprob: ev.logprob, top: ev.top };
      c.text += ev.text;
      c.tokens.push(t);
      p.listener.onToken?.(t);
      return;
    }
    c.text += ev.text;
    c.finishReason = ev.reason;
    c.completionTokens = ev.completionTokens;
    p.listener.onFinish?.(ev.choice, ev.reason, ev.text);
    if (--p.open === 0) {
      this.pending.delete(ev.id);
      p.resolve({ promptTokens: p.promptTokens, choices: p.choices, firstTokenMs: p.firstTokenMs });
    }
  }
}
