// `llmforge serve`'s HTTP side: a Fastify app with OpenAI's API shape (models, chat completions, completions,
// embeddings; server-sent events when stream is true), /health, Prometheus /metrics and the chat page at /, bodies checked with zod,
// errors in OpenAI's JSON error shape, an optional API key, and a shutdown that lets running streams end cleanly.
// With a knowledge base, a chat request with `kb` is answered from retrieved passages (kb/rag.ts) with citations.
import { createHash, randomInt, randomUUID, timingSafeEqual } from "node:crypto";
import { basename, dirname, resolve } from "node:path";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from "fastify";
import { z } from "zod";
import { type Citation, type KbRetriever, markCited, NOTHING_FOUND, openKbRetriever, ragChatTurn } from "../kb/rag.js";
import { type ToolSchemas, ToolCallStream, toOpenAiToolCall } from "../kb/toolCalls.js";
import { argumentSchema } from "../kb/tools.js";
import { resolveRunPaths } from "../model/runFolder.js";
import { type ChatMessage, CHATML_TEMPLATE, readTokenizerConfig, renderChat } from "../tokenizer/chatTemplate.js";
import { Tokenizer } from "../tokenizer/index.js";
import { VERSION } from "../version.js";
import { chatPage } from "./chatPage.js";
import { Engine, EngineError, EngineRequestError, type EngineOptions, type GenerationHandle, type GenerationOutcome, type TokenEvent } from "./engine.js";
import { ServerMetrics } from "./metrics.js";
import type { PromptInput, SequenceParams } from "./protocol.js";

/** Options of {@link startServer}. */
export interface ServeOptions extends EngineOptions {
  /** The id clients pass as `model` (default: the run folder's name). */
  modelName?: string;
  /** Bearer token every /v1 request must carry (none: no check). */
  apiKey?: string;
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  bodyLimit?: number;
  /** Largest `n` (choices) of a request (default: maxBatch). */
  maxN?: number;
  /** Generation requests running or waiting at once (default 256); more get 429. */
  maxRequests?: number;
  /** Fastify's logger: true / pino options for JSON logs (default), false for none. */
  logger?: FastifyServerOptions["logger"];
  /** A started engine to serve instead of loading `run` in a worker (tests pass a scripted one). */
  engine?: ServingEngine;
  /**
   * A knowledge base (`llmforge kb add`) for chat requests with `"kb": true` or `{"k": N}`: the last user message is
   * answered from retrieved passages by kb/rag.ts's template, and the choice's message carries `citations`.
   */
  kb?: string;
}

/** What the HTTP side uses of an {@link Engine}. */
export type ServingEngine = Pick<Engine, "info" | "queued" | "running" | "failure" | "inFlight" | "generate" | "embed" | "close">;

/** An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly code: string | null = null, readonly param: string | null = null) {
    super(message);
    this.name = "ApiError";
  }

  get type(): string {
    return this.status === 401 ? "authentication_error" : this.status >= 500 ? "server_error" : "invalid_request_error";
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

// ---- request bodies (OpenAI's fields; unknown fields are ignored, as OpenAI-compatible servers do) ----

const stopField = z.union([z.string(), z.array(z.string()).max(4)]).nullish();
const sampling = {
  model: z.string(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  /** Extensions vLLM and llama.cpp accept too. */
  top_k: z.number().int().min(0).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  ignore_eos: z.boolean().nullish(),
  n: z.number().int().min(1).nullish(),
  stop: stopField,
  seed: z.number().int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
};
const textPart = z.object({ type: z.literal("text"), text: z.string() });
const toolCall = z.object({ id: z.string(), type: z.literal("function").optional(), function: z.object({ name: z.string(), arguments: z.string() }) });
const chatMessage = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().nullish(),
});
const toolDef = z.object({
  type: z.literal("function"),
  function: z.object({ name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ or -, at most 64"), description: z.string().nullish(), parameters: z.record(z.string(), z.unknown()).nullish() }),
});
const chatBody = z.object({
  ...sampling,
  messages: z.array(chatMessage).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: z.array(toolDef).max(128).nullish(),
  tool_choice: z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** llmforge's extension: answer from the server's knowledge base (true: 5 passages; {k}: k passages). */
  kb: z.union([z.boolean(), z.object({ k: z.number().int().min(1).max(50).nullish() })]).nullish(),
});
const tokenIds = z.array(z.number().int().min(0));
const completionBody = z.object({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds.min(1), z.array(tokenIds.min(1)).min(1)]),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().min(1).nullish(),
});
const embeddingBody = z.object({
  model: z.string(),
  input: z.union([z.string(), z.array(z.string()).min(1), tokenIds.min(1), z.array(tokenIds.min(1)).min(1)]),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.number().int().nullish(),
  user: z.string().nullish(),
});

/** Parses `body` with `schema`, or throws a 400 naming the first field at fault (OpenAI's "Missing required parameter" wording). */
function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ApiError(400, "the request body must be a JSON object", "invalid_request_body");
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.map(String).join(".");
  let at: unknown = body;
  for (const k of issue.path) at = at !== null && typeof at === "object" ? (at as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
  if (at === undefined && issue.code === "invalid_type") throw new ApiError(400, `Missing required parameter: '${param}'.`, "missing_required_parameter", param);
  throw new ApiError(400, `Invalid value for '${param}': ${issue.message}`, "invalid_value", param || null);
}

type CommonBody = z.infer<z.ZodObject<typeof sampling>>;

/** OpenAI's sampling fields as the engine's parameters. */
function sequenceParams(b: CommonBody, maxTokens: number | null | undefined, logprobs: number | null): SequenceParams {
  return {
    maxTokens: maxTokens ?? undefined,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    topK: b.top_k ?? 0,
    repetitionPenalty: b.repetition_penalty ?? 1,
    presencePenalty: b.presence_penalty ?? 0,
    frequencyPenalty: b.frequency_penalty ?? 0,
    seed: b.seed ?? randomInt(2 ** 31),
    stop: b.stop === undefined || b.stop === null ? [] : typeof b.stop === "string" ? [b.stop] : b.stop,
    logprobs,
    ignoreEos: b.ignore_eos ?? false,
  };
}

/** A finished chat choice as OpenAI's `message` and `finish_reason`: with tools, valid calls become `tool_calls` ("tool_calls"). */
function chatChoiceMessage(c: GenerationOutcome["choices"][number], filter: ToolCallStream | null) {
  if (!filter) return { message: { role: "assistant", content: c.text, refusal: null }, finish_reason: c.finishReason };
  const before = filter.push(c.text);
  const { content, calls } = filter.finish();
  if (calls.length === 0) return { message: { role: "assistant", content: filter.fullText, refusal: null }, finish_reason: c.finishReason };
  const text = before + content;
  return {
    message: { role: "assistant", content: text.trim() === "" ? null : text.trim(), refusal: null, tool_calls: calls.map(toOpenAiToolCall) },
    finish_reason: c.finishReason === "stop" ? "tool_calls" : c.finishReason,
  };
}

/** A citation as the response carries it: [n] -> the source's path and character offsets, and whether the answer cites it. */
const citationJson = (c: Citation) => ({ n: c.n, path: c.path, start: c.start, end: c.end, score: c.score, trimmed: c.trimmed, cited: c.cited });

/**
 * The server's knowledge base, opened with what measures a chat prompt in the main thread: the run's tokenizer and
 * chat template (as the worker renders it).
 */
function openServerKb(opts: ServeOptions & { kb: string }): { retriever: KbRetriever; count: (t: string) => number; conversationTokens: (m: readonly ChatMessage[]) => number } {
  const paths = resolveRunPaths(opts.run, opts.tokenizer);
  const tok = Tokenizer.fromFile(paths.tokenizerFile);
  const template = readTokenizerConfig(dirname(paths.tokenizerFile))?.chatTemplate ?? CHATML_TEMPLATE;
  return {
    retriever: openKbRetriever(opts.kb),
    count: (t) => tok.encode(t).length,
    conversationTokens: (m) => tok.encode(renderChat(template, m, { addGenerationPrompt: true }), { allowedSpecial: "all" }).length,
  };
}

/** A chat choice's message with the knowledge-base passages its prompt held, each marked `cited` when the answer uses [n]. */
function withCitations<M extends { message: { content: string | null } }>(m: M, citations: Citation[] | null): M {
  return citations ? { ...m, message: { ...m.message, citations: markCited(citations, m.message.content ?? "").map(citationJson) } } : m;
}

/** Compares a client's credentials in time that does not depend on where they differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Tool calls of a chat request: the tools' argument schemas and the text a forced call starts with. */
interface ChatToolMode {
  schemas: ToolSchemas;
  prefix: string;
}

/**
 * OpenAI's `tools` / `tool_choice` as what the prompt renders and how replies are read: "none" (or no tools) renders
 * no tools and parses nothing; "auto" offers them all; "required" and a named function start the reply with the call
 * (`<tool_call>` and, for a name, its name), so the model can only fill in the arguments.
 */
function chatToolMode(b: z.infer<typeof chatBody>): { tools: unknown[]; mode: ChatToolMode } | null {
  const tools = b.tools ?? [];
  const choice = b.tool_choice ?? "auto";
  if (tools.length === 0) {
    if (choice !== "none" && choice !== "auto") throw new ApiError(400, "tool_choice needs tools: the request has none", "invalid_value", "tool_choice");
    return null;
  }
  if (choice === "none") return null;
  const named = typeof choice === "object" ? choice.function.name : null;
  const offered = named === null ? tools : tools.filter((t) => t.function.name === named);
  if (named !== null && offered.length === 0) throw new ApiError(400, `tool_choice names the function ${JSON.stringify(named)}, which is not in tools`, "invalid_value", "tool_choice");
  const schemas: ToolSchemas = new Map(offered.map((t) => [t.function.name, t.function.parameters ? argumentSchema({ name: t.function.name, parameters: t.function.parameters }) : null]));
  const prefix = named !== null ? `<tool_call>\n{"name": ${JSON.stringify(named)}, "arguments": ` : choice === "required" ? "<tool_call>\n" : "";
  return { tools: offered, mode: { schemas, prefix } };
}

/** A running server: the Fastify app, the engine, and a graceful {@link RunningServer.shutdown}. */
export interface RunningServer {
  app: FastifyInstance;
  engine: ServingEngine;
  metrics: ServerMetrics;
  modelName: string;
  /** Stops taking requests (503), lets running ones finish for up to `graceMs` (then ends them cleanly), stops the worker. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Loads the model in a worker and builds the app (not yet listening: call `app.listen`). */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  // the knowledge base opens first: a bad --kb fails before a worker is started
  const kb = opts.kb !== undefined ? openServerKb({ ...opts, kb: opts.kb }) : null;
  let engine: ServingEngine;
  try {
    engine = opts.engine ?? (await Engine.start(opts));
  } catch (err) {
    kb?.retriever.close();
    throw err;
  }
  const modelName = opts.modelName ?? basename(resolve(opts.run));
  const created = Math.floor(Date.now() / 1000);
  const maxN = opts.maxN ?? engine.info.maxBatch;
  const maxRequests = opts.maxRequests ?? 256;
  const metrics = new ServerMetrics({ queued: () => engine.queued, running: () => engine.running });
  const app = Fastify({ logger: opts.logger ?? true, bodyLimit: opts.bodyLimit ?? 1 << 20, return503OnClosing: false, forceCloseConnections: "idle" });
  const active = new Set<GenerationHandle>();
  let draining = false;

  app.addHook("onRequest", async (req, reply) => {
    if (draining) {
      reply.header("connection", "close");
      throw new ApiError(503, "the server is shutting down", "server_shutting_down");
    }
    if (opts.apiKey !== undefined && req.url.startsWith("/v1/")) {
      const auth = req.headers.authorization ?? "";
      if (!sameSecret(auth, `Bearer ${opts.apiKey}`)) {
        throw new ApiError(401, auth ? "Incorrect API key provided." : "Missing API key: send it as 'Authorization: Bearer KEY'.", "invalid_api_key");
      }
    }
  });
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unknown";
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe(reply.elapsedTime / 1000, { route });
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err instanceof EngineRequestError) e = new ApiError(err.refusal.status, err.message, err.refusal.code, err.refusal.param);
    else if (err instanceof EngineError) e = new ApiError(503, err.message, "engine_unavailable");
    else if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") e = new ApiError(413, `the request body is larger than the server's limit of ${app.initialConfig.bodyLimit} bytes`, "request_too_large");
    else if (err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError) {
      e = new ApiError(400, `We could not parse the JSON body of your request: ${err.message}`, "invalid_json");
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) e = new ApiError(err.statusCode, err.message, err.code ?? null);
    else e = new ApiError(500, "The server had an error while processing your request.", "internal_error");
    if (e.status >= 500 && !(err instanceof EngineError)) req.log.error({ err }, e.message);
    reply.status(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(new ApiError(404, `Unknown request URL: ${req.method} ${req.url.split("?")[0]}`, "unknown_url").body());
  });

  const checkModel = (model: string) => {
    if (model !== modelName) throw new ApiError(404, `The model '${model}' does not exist: this server serves '${modelName}'.`, "model_not_found", "model");
  };

  // the chat page is outside /v1, so it loads without the key; it asks the user for the key and never contains it
  const page = chatPage({ keyRequired: opts.apiKey !== undefined });
  app.get("/", async (_req, reply) =>
    reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", page.csp)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("cache-control", "no-cache")
      .send(page.html),
  );
  app.get("/health", async (_req, reply) => {
    if (engine.failure) return reply.status(503).send({ status: "error", error: engine.failure });
    return { status: draining ? "draining" : "ok", model: modelName, queued: engine.queued, running: engine.running };
  });
  app.get("/metrics", async (_req, reply) => reply.type("text/plain; version=0.0.4; charset=utf-8").send(metrics.render()));
  app.get("/v1/models", async () => ({
    object: "list",
    data: [{ id: modelName, object: "model", created, owned_by: "llmforge", max_model_len: engine.info.contextLength }],
  }));
  app.get("/v1/models/:id", async (req) => {
    checkModel((req.params as { id: string }).id);
    return { id: modelName, object: "model", created, owned_by: "llmforge", max_model_len: engine.info.contextLength };
  });

  /** Runs one request of `prompts.length × n` choices, streamed as SSE or answered as one JSON body. */
  const runGeneration = async (
    req: FastifyRequest,
    reply: FastifyReply,
    kind: "chat" | "text",
    prompts: PromptInput[],
    n: number,
    params: SequenceParams,
    stream: { on: boolean; includeUsage: boolean },
    tools: ChatToolMode | null = null,
    citations: Citation[] | null = null,
  ) => {
    if (n > maxN) throw new ApiError(400, `n = ${n} is more than this server allows (${maxN})`, "invalid_value", "n");
    if (engine.inFlight + prompts.length > maxRequests) {
      throw new ApiError(429, `the server is busy: ${engine.inFlight} requests are running or waiting (--max-requests ${maxRequests}); retry later`, "server_busy");
    }
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replace(/-/g, "")}`;
    const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    const route = req.routeOptions.url ?? "unknown";
    const t0 = performance.now();
    let firstToken = false;
    const raw = reply.raw;
    const queue: string[] = [];
    let sending = false;
    const send = (data: unknown) => {
      const line = `data: ${JSON.stringify(data)}\n\n`;
      if (!sending) queue.push(line);
      else if (!raw.destroyed && !raw.writableEnded) {
        // the chunks of one batch of worker events leave in one socket write
        if (raw.writableCorked === 0) {
          raw.cork();
          process.nextTick(() => raw.uncork());
        }
        raw.write(line);
      }
    };
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      send({ id, object, created: Math.floor(Date.now() / 1000), model: modelName, system_fingerprint: `llmforge-${VERSION}`, choices, ...extra });
    // Text without logprobs is coalesced per choice until the event loop has handled every worker message that was
    // waiting: one token per chunk while the server keeps up, several when it falls behind (fewer chunks to encode,
    // send and parse exactly when the main thread is the bottleneck). Every other chunk flushes the text first.
    const pendingText = new Map<number, string>();
    let flushScheduled = false;
    const flushText = () => {
      flushScheduled = false;
      for (const [index, text] of pendingText) {
        chunk(kind === "chat" ? [{ index, delta: { content: text }, logprobs: null, finish_reason: null }] : [{ index, text, logprobs: null, finish_reason: null }]);
      }
      pendingText.clear();
    };
    const textChunk = (index: number, text: string) => {
      pendingText.set(index, (pendingText.get(index) ?? "") + text);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushText);
      }
    };
    const lpChat = (t: TokenEvent) =>
      t.logprob
        ? { content: [{ token: t.logprob.token, logprob: t.logprob.logprob, bytes: t.logprob.bytes, top_logprobs: (t.top ?? []).map((x) => ({ token: x.token, logprob: x.logprob, bytes: x.bytes })) }] }
        : null;
    const lpText = (ts: TokenEvent[], offset0: number) => {
      let off = offset0;
      const text_offset = ts.map((t) => {
        const o = off;
        off += t.text.length;
        return o;
      });
      return {
        tokens: ts.map((t) => t.logprob?.token ?? ""),
        token_logprobs: ts.map((t) => t.logprob?.logprob ?? null),
        // tokens whose text is the same (e.g. parts of one character) share a key: the most likely one is kept
        top_logprobs: ts.map((t) => {
          const o: Record<string, number> = {};
          for (const x of t.top ?? []) if (!(x.token in o)) o[x.token] = x.logprob;
          return o;
        }),
        text_offset,
      };
    };
    // with tools, each choice's text passes through a filter that holds back tool calls until the choice ends
    const callId = () => `call_${randomUUID().replace(/-/g, "").slice(0, 24)}`;
    const filters = tools ? prompts.map(() => Array.from({ length: n }, () => new ToolCallStream(tools.schemas, tools.prefix, callId))) : null;
    const handles = prompts.map((prompt, p) =>
      engine.generate(prompt, n, params, {
        onToken: (t) => {
          metrics.generatedTokens.inc();
          if (!firstToken) {
            firstToken = true;
            metrics.firstToken.observe((performance.now() - t0) / 1000, { route });
          }
          if (!stream.on || (t.text === "" && !t.logprob)) return;
          const index = p * n + t.choice;
          const text = filters ? filters[p][t.choice].push(t.text) : t.text;
          if (filters && text === "" && !t.logprob) return;
          if (!t.logprob) return textChunk(index, text);
          flushText();
          if (kind === "chat") chunk([{ index, delta: { content: text }, logprobs: lpChat(t), finish_reason: null }]);
          else chunk([{ index, text: t.text, logprobs: lpText([t], 0), finish_reason: null }]);
        },
        onFinish: (choice, reason, tail) => {
          metrics.finished.inc({ reason });
          if (!stream.on) return;
          flushText();
          const index = p * n + choice;
          if (kind === "chat" && filters) {
            const f = filters[p][choice];
            const before = f.push(tail);
            const { content, calls } = f.finish();
            if (before + content) chunk([{ index, delta: { content: before + content }, logprobs: null, finish_reason: null }]);
            // the calls leave as one delta once the choice has ended
            if (calls.length > 0) chunk([{ index, delta: { tool_calls: calls.map((c, i) => ({ index: i, ...toOpenAiToolCall(c) })) }, logprobs: null, finish_reason: null }]);
            chunk([{ index, delta: {}, logprobs: null, finish_reason: calls.length > 0 && reason === "stop" ? "tool_calls" : reason }]);
          } else if (kind === "chat") {
            if (tail) chunk([{ index, delta: { content: tail }, logprobs: null, finish_reason: null }]);
            chunk([{ index, delta: {}, logprobs: null, finish_reason: reason }]);
          } else chunk([{ index, text: tail, logprobs: null, finish_reason: reason }]);
        },
      }),
    );
    for (const h of handles) active.add(h);
    const cancelAll = () => {
      for (const h of handles) h.cancel();
    };
    // a client that goes away stops its generation (its slots are freed at the next token boundary)
    raw.on("close", () => {
      if (raw.writableFinished) return; // answered: counted by the onResponse hook
      cancelAll();
      metrics.requests.inc({ route, status: "499" }); // nginx's "client closed request"
      metrics.latency.observe((performance.now() - t0) / 1000, { route });
    });
    try {
      let accepted: { promptTokens: number }[];
      try {
        accepted = await Promise.all(handles.map((h) => h.accepted));
      } catch (err) {
        cancelAll();
        throw err;
      }
      const promptTokens = accepted.reduce((s, a) => s + a.promptTokens, 0);
      metrics.promptTokens.inc({}, promptTokens);
      if (stream.on) {
        reply.hijack();
        raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: draining ? "close" : "keep-alive", "x-accel-buffering": "no" });
        if (kind === "chat") {
          // OpenAI's first chunk of each choice carries the role
          const delta = { role: "assistant", content: "", ...(citations ? { citations: citations.map(citationJson) } : {}) };
          const first = prompts.flatMap((_, p) => Array.from({ length: n }, (_, c) => ({ index: p * n + c, delta, logprobs: null, finish_reason: null })));
          const roles = queue.splice(0);
          chunk(first);
          queue.push(...roles);
        }
        sending = true;
        for (const line of queue.splice(0)) if (!raw.destroyed) raw.write(line);
      }
      let outcomes: GenerationOutcome[];
      try {
        outcomes = await Promise.all(handles.map((h) => h.done));
      } catch (err) {
        if (!stream.on) throw err;
        // headers are sent: report the failure in the stream, then end it
        req.log.error({ err }, "generation failed mid-stream");
        send({ error: new ApiError(500, err instanceof Error ? err.message : String(err), "internal_error").body().error });
        raw.end();
        return;
      }
      const completionTokens = outcomes.reduce((s, o) => s + o.choices.reduce((t, c) => t + c.completionTokens, 0), 0);
      const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      if (stream.on) {
        if (stream.includeUsage) chunk([], { usage });
        const aborted = raw.destroyed && !raw.writableFinished;
        if (!aborted && !raw.writableEnded) raw.end("data: [DONE]\n\n");
        req.log.info({ id, promptTokens, completionTokens, ms: Math.round(performance.now() - t0), aborted }, "stream ended");
        return;
      }
      const choices = outcomes.flatMap((o, p) =>
        o.choices.map((c, ci) =>
          kind === "chat"
            ? {
                index: p * n + ci,
                ...withCitations(chatChoiceMessage(c, filters?.[p][ci] ?? null), citations),
                logprobs: params.logprobs === null ? null : { content: c.tokens.map((t) => lpChat(t)?.content[0]) },
              }
            : { index: p * n + ci, text: c.text, logprobs: params.logprobs === null ? null : lpText(c.tokens, 0), finish_reason: c.finishReason },
        ),
      );
      return {
        id, object: kind === "chat" ? "chat.completion" : "text_completion", created: Math.floor(Date.now() / 1000), model: modelName,
        system_fingerprint: `llmforge-${VERSION}`, choices, usage,
      };
    } finally {
      for (const h of handles) active.delete(h);
    }
  };

  /** A chat answer given without the model (the knowledge base had nothing relevant), in the shapes of a generated one. */
  const answerWithoutModel = (reply: FastifyReply, content: string, n: number, stream: { on: boolean; includeUsage: boolean }) => {
    const head = { id: `chatcmpl-${randomUUID().replace(/-/g, "")}`, created: Math.floor(Date.now() / 1000), model: modelName, system_fingerprint: `llmforge-${VERSION}` };
    const usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    const each = <T>(f: (index: number) => T) => Array.from({ length: n }, (_, index) => f(index));
    if (!stream.on) {
      return {
        ...head, object: "chat.completion", usage,
        choices: each((index) => ({ index, message: { role: "assistant", content, refusal: null, citations: [] }, logprobs: null, finish_reason: "stop" })),
      };
    }
    const chunk = (choices: unknown[], extra = {}) => `data: ${JSON.stringify({ ...head, object: "chat.completion.chunk", choices, ...extra })}\n\n`;
    const body = [
      chunk(each((index) => ({ index, delta: { role: "assistant", content: "", citations: [] }, logprobs: null, finish_reason: null }))),
      chunk(each((index) => ({ index, delta: { content }, logprobs: null, finish_reason: null }))),
      chunk(each((index) => ({ index, delta: {}, logprobs: null, finish_reason: "stop" }))),
      ...(stream.includeUsage ? [chunk([], { usage })] : []),
      "data: [DONE]\n\n",
    ];
    return reply.type("text/event-stream; charset=utf-8").header("cache-control", "no-cache").send(body.join(""));
  };

  app.post("/v1/chat/completions", async (req, reply) => {
    const b = parseBody(chatBody, req.body);
    checkModel(b.model);
    const messages = b.messages.map((m) => ({
      role: m.role === "developer" ? "system" : m.role,
      content: typeof m.content === "string" ? m.content : (m.content ?? []).map((p) => p.text).join(""),
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.tool_calls ? { tool_calls: m.tool_calls.map((c) => ({ id: c.id, type: "function" as const, function: c.function })) } : {}),
      ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
    }));
    const tooling = chatToolMode(b);
    const logprobs = b.logprobs ? (b.top_logprobs ?? 0) : null;
    if (!b.logprobs && b.top_logprobs) throw new ApiError(400, "top_logprobs needs logprobs: true", "invalid_value", "top_logprobs");
    const params = sequenceParams(b, b.max_completion_tokens ?? b.max_tokens, logprobs);
    const stream = { on: b.stream ?? false, includeUsage: b.stream_options?.include_usage ?? false };
    let citations: Citation[] | null = null;
    let promptMessages: ChatMessage[] = messages;
    if (b.kb) {
      // the last user message is answered from the knowledge base: its passages go in by rag.ts's template
      if (!kb) throw new ApiError(400, "this server has no knowledge base: start it with --kb KB.sqlite to use kb", "invalid_value", "kb");
      if (messages.at(-1)?.role !== "user") throw new ApiError(400, "with kb, the last message must be the user's question", "invalid_value", "messages");
      let turn: ReturnType<typeof ragChatTurn>;
      try {
        turn = ragChatTurn(kb.retriever, messages, {
          k: typeof b.kb === "object" ? (b.kb.k ?? 5) : 5, contextTokens: engine.info.contextLength, answerTokens: params.maxTokens, count: kb.count,
          conversationTokens: kb.conversationTokens,
        });
      } catch (err) {
        if (err instanceof RangeError) throw new ApiError(400, err.message, "context_length_exceeded", "messages");
        throw err;
      }
      if (turn.rag.nothingFound) return answerWithoutModel(reply, NOTHING_FOUND, b.n ?? 1, stream);
      promptMessages = turn.messages;
      citations = turn.rag.citations;
    }
    const prompt: PromptInput = { kind: "chat", messages: promptMessages, ...(tooling ? { tools: tooling.tools, prefix: tooling.mode.prefix || undefined } : {}) };
    return runGeneration(req, reply, "chat", [prompt], b.n ?? 1, params, stream, tooling?.mode ?? null, citations);
  });

  app.post("/v1/completions", async (req, reply) => {
    const b = parseBody(completionBody, req.body);
    checkModel(b.model);
    if (b.echo) throw new ApiError(400, "echo is not supported by this server", "unsupported_parameter", "echo");
    if (b.suffix) throw new ApiError(400, "suffix (fill-in-the-middle) is not supported by this server", "unsupported_parameter", "suffix");
    if (b.best_of !== undefined && b.best_of !== null && b.best_of !== (b.n ?? 1)) throw new ApiError(400, "best_of other than n is not supported", "unsupported_parameter", "best_of");
    const p = b.prompt;
    const prompts: PromptInput[] =
      typeof p === "string"
        ? [{ kind: "text", text: p }]
        : typeof p[0] === "string"
          ? (p as string[]).map((text) => ({ kind: "text", text }))
          : typeof p[0] === "number"
            ? [{ kind: "ids", ids: p as number[] }]
            : (p as number[][]).map((ids) => ({ kind: "ids", ids }));
    if (prompts.length * (b.n ?? 1) > maxN) throw new ApiError(400, `${prompts.length} prompts × n = ${b.n ?? 1} choices are more than this server allows at once (${maxN})`, "invalid_value", "prompt");
    const params = sequenceParams(b, b.max_tokens ?? 16, b.logprobs ?? null);
    return runGeneration(req, reply, "text", prompts, b.n ?? 1, params, { on: b.stream ?? false, includeUsage: b.stream_options?.include_usage ?? false });
  });

  app.post("/v1/embeddings", async (req) => {
    const b = parseBody(embeddingBody, req.body);
    checkModel(b.model);
    if (b.dimensions !== undefined && b.dimensions !== null && b.dimensions !== engine.info.hiddenSize) {
      throw new ApiError(400, `this model's embeddings have ${engine.info.hiddenSize} dimensions, not ${b.dimensions}`, "invalid_value", "dimensions");
    }
    const x = b.input;
    const inputs: (string | number[])[] = typeof x === "string" ? [x] : typeof x[0] === "number" ? [x as number[]] : (x as (string | number[])[]);
    const { vectors, tokens } = await engine.embed(inputs);
    const base64 = b.encoding_format === "base64";
    return {
      object: "list",
      data: vectors.map((v, index) => ({
        object: "embedding",
        index,
        embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") : Array.from(v),
      })),
      model: modelName,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  });

  const shutdown = async (graceMs = 30_000) => {
    if (draining) return;
    draining = true;
    app.log.info({ running: active.size, graceMs }, "shutting down: no new requests; running ones may finish");
    // streams still running after the grace period are stopped at a token boundary and end with [DONE]
    const timer = setTimeout(() => {
      for (const h of active) h.cancel();
    }, graceMs);
    // a connection whose response ended stays open for keep-alive; close each as soon as it is idle
    const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
    try {
      await app.close();
    } finally {
      clearTimeout(timer);
      clearInterval(reaper);
      await engine.close();
      kb?.retriever.close();
    }
  };
  return { app, engine, metrics, modelName, shutdown };
}
