// The messages between the server's main thread (engine.ts) and the generation worker (engineWorker.ts): what a
// request asks for, and the token / finish / error events streamed back. Plain structured-clone data, no classes.
import type { BackendName } from "../tensor/backend/index.js";
import type { ChatMessage } from "../tokenizer/chatTemplate.js";

/** What the worker is started with (its first message). */
export interface EngineWorkerInit {
  /** Run folder (or model folder). */
  run: string;
  tokenizer?: string;
  backend?: BackendName;
  maxBatch: number;
  /** Default and cap of a request's new tokens when it names none. */
  maxTokens: number;
  /** Native kernel threads in the worker; undefined: the backend's default. */
  threads?: number;
}

/** Sampling and stopping settings of one request (OpenAI names mapped to llmforge's). */
export interface SequenceParams {
  /** Most new tokens; undefined: what is left of the context, capped by the server's limit. */
  maxTokens?: number;
  temperature: number;
  topP: number;
  topK: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** Seed of choice 0; choice i samples with seed + i. */
  seed: number;
  stop: string[];
  /** Keep going past the end-of-text / end-of-turn tokens (vLLM's ignore_eos; for benchmarks). */
  ignoreEos: boolean;
  /** null: no log-probabilities; k >= 0: the chosen token's and the k most likely alternatives'. */
  logprobs: number | null;
}

/** A prompt as the client gave it: chat messages (rendered with the chat template), text, or token ids. */
export type PromptInput =
  /** `tools`: OpenAI tool definitions for the template; `prefix`: text the reply is made to start with (a forced tool call). */
  | { kind: "chat"; messages: ChatMessage[]; tools?: unknown[]; prefix?: string }
  | { kind: "text"; text: string }
  | { kind: "ids"; ids: number[] };

/** Log-probability of one token, with its text and bytes (for OpenAI's logprobs objects). */
export interface TokenLogprob {
  id: number;
  token: string;
  bytes: number[];
  logprob: number;
}

/** Events of a running request, in order per choice. */
export type SequenceEvent =
  | { kind: "token"; id: number; choice: number; token: number; text: string; logprob?: TokenLogprob; top?: TokenLogprob[] }
  /** The last event of a choice; `text` is what was held back until the end (a pending stop-string prefix, bytes). */
  | { kind: "finish"; id: number; choice: number; reason: "stop" | "length" | "abort"; text: string; completionTokens: number }
  | { kind: "error"; id: number; message: string };

/** Main thread -> worker; "init" comes first, once. */
export type ToWorker =
  | { type: "init"; init: EngineWorkerInit }
  | { type: "generate"; id: number; prompt: PromptInput; n: number; params: SequenceParams }
  | { type: "cancel"; id: number }
  | { type: "embed"; id: number; inputs: (string | number[])[] };

/** A request the worker refused before it ran (prompt too long, no chat template): an HTTP status and OpenAI's fields. */
export interface RequestRefusal {
  status: number;
  message: string;
  code: string | null;
  param: string | null;
}

/** What the worker tells about the model once loaded. */
export interface ModelInfo {
  /** Context length (the model's block size). */
  contextLength: number;
  vocabSize: number;
  /** Width of the hidden states (the embedding size). */
  hiddenSize: number;
  flavour: string;
  /** Null when the tokenizer lacks the chat template's special tokens (chat completions are then refused). */
  chatUnavailable: string | null;
  maxBatch: number;
  /** The tensor backend the model runs on ("native" or "ref"). */
  backend: string;
}

/** Worker -> main thread. */
export type FromWorker =
  | { type: "ready"; info: ModelInfo }
  | { type: "failed"; message: string }
  | { type: "accepted"; id: number; promptTokens: number; maxTokens: number }
  | { type: "refused"; id: number; refusal: RequestRefusal }
  | { type: "events"; events: SequenceEvent[]; queued: number; running: number }
  | { type: "embedded"; id: number; vectors: Float32Array[]; tokens: number }
  | { type: "embedFailed"; id: number; refusal: RequestRefusal };
