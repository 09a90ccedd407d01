// A ServingEngine without a model for server tests: every request is answered with `reply`, split into tokens of
// `pieceChars` characters (the whole reply as one token by default), and the prompts it got are kept.
import type { GenerationHandle, GenerationListener, GenerationOutcome } from "../../src/serve/engine.js";
import type { PromptInput, SequenceParams } from "../../src/serve/protocol.js";
import type { ServingEngine } from "../../src/serve/server.js";

export class ScriptedEngine implements ServingEngine {
  info: ServingEngine["info"];
  queued = 0;
  running = 0;
  failure: string | null = null;
  inFlight = 0;
  reply = "";
  prompts: PromptInput[] = [];

  private readonly pieceChars: number | undefined;
  /** Tokens in one event-loop turn (as a worker's backlog arrives) rather than one turn each (as decoding steps do). */
  sameTurn = false;

  constructor(o: { contextLength: number; vocabSize: number; pieceChars?: number }) {
    this.pieceChars = o.pieceChars;
    this.info = { contextLength: o.contextLength, vocabSize: o.vocabSize, hiddenSize: 8, flavour: "gpt2", chatUnavailable: null, maxBatch: 8, backend: "ref" };
  }

  generate(prompt: PromptInput, n: number, _params: SequenceParams, listener: GenerationListener = {}): GenerationHandle {
    this.prompts.push(prompt);
    this.inFlight++;
    const text = this.reply;
    const pieces = this.pieceChars === undefined ? [text] : (text.match(new RegExp(`[\\s\\S]{1,${this.pieceChars}}`, "g")) ?? []);
    const done = (async (): Promise<GenerationOutcome> => {
      await new Promise((r) => setTimeout(r, 5));
      const choices = [];
      for (let c = 0; c < n; c++) {
        const tokens = pieces.map((t, i) => ({ choice: c, token: i, text: t }));
        for (const t of tokens) {
          listener.onToken?.(t);
          if (!this.sameTurn) await new Promise((r) => setImmediate(r));
        }
        listener.onFinish?.(c, "stop", "");
        choices.push({ text, tokens, finishReason: "stop" as const, completionTokens: pieces.length });
      }
      this.inFlight--;
      return { promptTokens: 10, choices, firstTokenMs: 1 };
    })();
    return { accepted: Promise.resolve({ promptTokens: 10, maxTokens: 64 }), done, cancel: () => undefined };
  }

  embed(): Promise<{ vectors: Float32Array[]; tokens: number }> {
    return Promise.reject(new Error("no embeddings"));
  }

  async close(): Promise<void> {}
}
