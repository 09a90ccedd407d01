// The generation worker thread: loads a run's model and tokenizer, turns requests into token ids (chat template,
// context limits), runs the continuous-batching loop (scheduler.ts) and posts each step's token events back, so the
// server's event loop never waits on the model. Started by engine.ts; speaks the messages of protocol.ts.
import { dirname } from "node:path";
import { parentPort } from "node:worker_threads";
import { meanPooledEmbeddings } from "../kb/embed.js";
import { loadRun } from "../model/runFolder.js";
import { nativeKernels, setNativeThreads } from "../tensor/backend/native.js";
import { CHATML_TEMPLATE, readTokenizerConfig, renderChat, requireChatTokens } from "../tokenizer/chatTemplate.js";
import type { EngineWorkerInit, FromWorker, PromptInput, RequestRefusal, SequenceEvent, ToWorker } from "./protocol.js";
import { BatchScheduler } from "./scheduler.js";
import { modelStopTokens } from "./stopTokens.js";

/** The special token llmforge documents start with; completions and generation start from it too. */
const DOC_TOKEN = "<|endoftext|>";
/** The token that ends an assistant turn in the ChatML template. */
const CHAT_EOS = "<|im_end|>";
/** Longest wait, in milliseconds, before a step's token events are posted to the main thread. */
const POST_MS = 4;

if (!parentPort) throw new Error("engineWorker.ts must be started as a worker thread (by serve/engine.ts)");
const port = parentPort;
const post = (m: FromWorker) => port.postMessage(m);

/** A request the worker refuses, as the HTTP error it becomes. */
class Refusal extends Error {
  constructor(readonly refusal: RequestRefusal) {
    super(refusal.message);
  }
}
const badRequest = (message: string, code: string | null = null, param: string | null = null) => new Refusal({ status: 400, message, code, param });

function main(init: EngineWorkerInit): void {
  let loaded: ReturnType<typeof loadRun>;
  try {
    if (init.threads !== undefined && nativeKernels) setNativeThreads(init.threads); // the reference backend runs on one thread anyway
    loaded = loadRun(init.run, { tokenizer: init.tokenizer, backend: init.backend });
  } catch (err) {
    post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
    return;
  }
  const { model, tokenizer, paths } = loaded;
  model.eval();
  // a .gguf file carries its own template; a tokenizer_config.json beside it belongs to some other model
  const gguf = paths.tokenizerFile === paths.modelDir;
  const vocabLimit = Math.min(tokenizer.vocabSize, model.config.vocabSize);
  let tokConfig: ReturnType<typeof readTokenizerConfig>;
  let stops: number[];
  try {
    tokConfig = gguf ? null : readTokenizerConfig(dirname(paths.tokenizerFile));
    // chat and text completions stop at the same tokens (see stopTokens.ts)
    stops = modelStopTokens(tokenizer, { modelDir: paths.modelDir, eosToken: tokConfig?.eosToken, vocabLimit });
  } catch (err) {
    post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
    return;
  }
  const template = tokConfig?.chatTemplate ?? loaded.chatTemplate ?? CHATML_TEMPLATE;
  let chatUnavailable: string | null = null;
  try {
    requireChatTokens(tokenizer, template, [CHAT_EOS]);
  } catch (err) {
    chatUnavailable = err instanceof Error ? err.message : String(err);
  }
  const docId = tokenizer.specialTokens.get(DOC_TOKEN);
  const scheduler = new BatchScheduler(model, {
    maxBatch: init.maxBatch,
    vocabLimit,
    decode: (t) => tokenizer.decode(t),
    tokenInfo: (id) => ({ token: tokenizer.decode([id]), bytes: Array.from(tokenizer.tokenToBytes(id)) }),
  });
  const ctx = scheduler.contextLength;

  /** Token ids of a prompt (chat: rendered with the template; text: after the document token). */
  const promptIds = (p: PromptInput): number[] => {
    if (p.kind === "chat") {
      if (chatUnavailable) throw badRequest(`this model cannot chat: ${chatUnavailable}; use /v1/completions`, "chat_unavailable");
      const vars = p.tools && p.tools.length > 0 ? { tools: p.tools } : {};
      const text = renderChat(template, p.messages, { addGenerationPrompt: true, eosToken: tokConfig?.eosToken, bosToken: tokConfig?.bosToken, variables: vars }) + (p.prefix ?? "");
      return tokenizer.encode(text, { allowedSpecial: "all" });
    }
    if (p.kind === "text") return [...(docId !== undefined ? [docId] : []), ...tokenizer.encode(p.text)];
    const bad = p.ids.find((t) => !(Number.isInteger(t) && t >= 0 && t < vocabLimit));
    if (bad !== undefined) throw badRequest(`token id ${bad} in the prompt is outside the vocabulary 0..${vocabLimit - 1}`, "invalid_token", "prompt");
    if (p.ids.length === 0) throw badRequest("the prompt has no tokens", null, "prompt");
    return p.ids;
  };

  const contextError = (prompt: number, asked: number | undefined, what: string) =>
    badRequest(
      `This model's maximum context length is ${ctx} tokens. However, you requested ${prompt + (asked ?? 0)} tokens (${prompt} in the ${what}, ${asked ?? 0} for the completion). ` +
        "Please reduce the length of the messages or completion.",
      "context_length_exceeded",
      what === "messages" ? "messages" : "prompt",
    );

  const onGenerate = (m: Extract<ToWorker, { type: "generate" }>) => {
    const ids = promptIds(m.prompt);
    const what = m.prompt.kind === "chat" ? "messages" : "prompt";
    if (ids.length >= ctx) throw contextError(ids.length, m.params.maxTokens, what);
    if (m.params.maxTokens !== undefined && ids.length + m.params.maxTokens > ctx) throw contextError(ids.length, m.params.maxTokens, what);
    if (m.n > init.maxBatch) throw badRequest(`n = ${m.n} is more than the server decodes at once (--max-batch ${init.maxBatch})`, null, "n");
    const maxTokens = m.params.maxTokens ?? Math.min(init.maxTokens, ctx - ids.length);
    scheduler.submit({ id: m.id, prompt: ids, n: m.n, params: { ...m.params, maxTokens }, stopTokens: m.params.ignoreEos ? [] : stops });
    post({ type: "accepted", id: m.id, promptTokens: ids.length, maxTokens });
  };

  /** Mean over positions of the final hidden states (after the last norm): one vector of hiddenSize per input. */
  const onEmbed = (m: Extract<ToWorker, { type: "embed" }>) => {
    const all = m.inputs.map((x, i) => {
      const ids = typeof x === "string" ? tokenizer.encode(x) : x;
      if (ids.length === 0) throw badRequest(`input ${i} is empty`, null, "input");
      if (ids.length > ctx) throw badRequest(`input ${i} has ${ids.length} tokens; this model's maximum context length is ${ctx} tokens`, "context_length_exceeded", "input");
      const bad = ids.find((t) => !(Number.isInteger(t) && t >= 0 && t < vocabLimit));
      if (bad !== undefined) throw badRequest(`token id ${bad} in input ${i} is outside the vocabulary 0..${vocabLimit - 1}`, "invalid_token", "input");
      return ids;
    });
    const vectors = meanPooledEmbeddings(model, all, { normalize: false });
    post({ type: "embedded", id: m.id, vectors, tokens: all.reduce((s, x) => s + x.length, 0) });
  };

  let wake: (() => void) | null = null;
  port.on("message", (m: ToWorker) => {
    try {
      if (m.type === "generate") onGenerate(m);
      else if (m.type === "cancel") scheduler.cancel(m.id);
      else if (m.type === "embed") onEmbed(m);
    } catch (err) {
      const refusal = err instanceof Refusal ? err.refusal : { status: 500, message: err instanceof Error ? err.message : String(err), code: null, param: null };
      if (m.type === "embed") post({ type: "embedFailed", id: m.id, refusal });
      else if (m.type === "generate") post({ type: "refused", id: m.id, refusal });
    }
    wake?.();
  });

  const pending: SequenceEvent[] = [];
  let lastPost = 0;
  const loop = async () => {
    // runs until the main thread terminates the worker
    for (;;) {
      if (scheduler.idle) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
        continue;
      }
      try {
        pending.push(...scheduler.step());
      } catch (err) {
        // a bug, not a request's fault: fail the running requests, keep serving
        const message = err instanceof Error ? err.message : String(err);
        pending.push(...scheduler.failAll().map((id): SequenceEvent => ({ kind: "error", id, message })));
      }
      // a small model steps in well under a millisecond: events go out in batches, at most POST_MS apart, so the
      // main thread handles a few hundred messages a second, not thousands
      const now = performance.now();
      if (scheduler.idle || now - lastPost >= POST_MS) {
        post({ type: "events", events: pending.splice(0), queued: scheduler.queued, running: scheduler.active });
        lastPost = now;
      }
      // let messages (new requests, cancellations) in between steps
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  };
  post({
    type: "ready",
    info: {
      contextLength: ctx, vocabSize: vocabLimit, hiddenSize: model.config.nEmbd, flavour: model.config.flavour, chatUnavailable, maxBatch: init.maxBatch,
      backend: model.wte.weight.backend.name,
    },
  });
  void loop();
}

port.once("message", (m: ToWorker) => {
  if (m.type === "init") main(m.init);
  else post({ type: "failed", message: `expected an init message first, got ${m.type}` });
});
