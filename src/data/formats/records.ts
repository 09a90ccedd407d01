// One supervised fine-tuning record (question/answer, OpenAI chat messages, ShareGPT, TRL prompt/completion,
// Alpaca, text/label, entity/facts) to conversations: per-format converters, detection by keys, exact renderings.
import type { Conversation, Message, Role } from "./conversation.js";

/** The record formats `--format` accepts (LLaMA-Factory folders are recognised by their `dataset_info.json`). */
export const FORMAT_NAMES = ["messages", "sharegpt", "prompt-completion", "alpaca", "qa", "classification", "knowledge"] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** A record that cannot become a conversation: `reason` is a stable category (a stats key), `detail` says where/what. */
export class RecordFormatError extends Error {
  constructor(
    readonly reason: string,
    readonly detail?: string,
  ) {
    super(detail ? `${reason} (${detail})` : reason);
    this.name = "RecordFormatError";
  }
}

export type Rec = Record<string, unknown>;
/** A converter's result: the format it read and one message list per conversation (Alpaca list outputs give several). */
export interface Converted {
  format: string;
  lists: Message[][];
}

export const fail = (reason: string, detail?: string): never => {
  throw new RecordFormatError(reason, detail);
};
export const isObj = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
export const kind = (v: unknown) => (v === undefined ? "missing" : v === null ? "null" : Array.isArray(v) ? "list" : typeof v);

export function optStr(rec: Rec, key: string): string | undefined {
  const v = rec[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : fail(`field "${key}" must be a string`, `got ${kind(v)}`);
}

function reqStr(rec: Rec, key: string): string {
  return optStr(rec, key) ?? fail(`missing string field "${key}"`);
}

/** Prepends a system message unless the list already starts with one. */
export function withSystem(system: string | undefined, msgs: Message[]): Message[] {
  return system && msgs[0]?.role !== "system" ? [{ role: "system", content: system }, ...msgs] : msgs;
}

const own = <T>(map: Record<string, T>, key: unknown): T | undefined => (typeof key === "string" && Object.hasOwn(map, key) ? map[key] : undefined);
const OPENAI_ROLES: Record<string, Role> = { system: "system", developer: "system", user: "user", assistant: "assistant", tool: "tool", function: "tool" };

function textContent(c: unknown, at: string): string | undefined {
  if (typeof c === "string") return c;
  if (c === null || c === undefined) return undefined;
  if (Array.isArray(c)) return c.map((p) => (isObj(p) && p.type === "text" && typeof p.text === "string" ? p.text : fail("message has a non-text content part", at))).join("\n");
  return fail("message content must be a string, a list of text parts or null", `${at}: ${kind(c)}`);
}

/**
 * OpenAI chat messages to {@link Message}s. Roles: `developer` becomes `system`, legacy `function` becomes `tool`.
 * Content given as text parts is joined with "\n". An assistant message with `tool_calls` (or legacy
 * `function_call`) gets the calls appended to its content (after a "\n" when it has text) as the JSON text
 * `[{"name": ..., "arguments": ...}]`, arguments kept as given (usually a JSON string), the rendering
 * LLaMA-Factory uses. A `tool` message keeps its `name`, or takes the name of the call its `tool_call_id` answers.
 */
export function openaiMessages(list: unknown, field: string): Message[] {
  if (!Array.isArray(list)) return fail(`field "${field}" must be a list of messages`, `got ${kind(list)}`);
  const callNames = new Map<string, string>();
  return list.map((m, i) => {
    const at = `${field}[${i}]`;
    if (!isObj(m)) return fail("message is not an object", at);
    const role = own(OPENAI_ROLES, m.role) ?? fail("unknown message role", `${at}.role: ${JSON.stringify(m.role)}`);
    let content = textContent(m.content, at);
    const calls = Array.isArray(m.tool_calls) ? m.tool_calls : isObj(m.function_call) ? [{ function: m.function_call }] : [];
    if (calls.length > 0) {
      const fns = calls.map((c) => {
        const f = isObj(c) && isObj(c.function) && typeof c.function.name === "string" ? c.function : fail("tool call without a function name", at);
        if (typeof c.id === "string") callNames.set(c.id, String(f.name));
        return { name: f.name, arguments: f.arguments };
      });
      content = [content, JSON.stringify(fns)].filter(Boolean).join("\n");
    }
    if (content === undefined) return fail("message has no content", at);
    const msg: Message = { role, content };
    const name = typeof m.name === "string" ? m.name : typeof m.tool_call_id === "string" ? callNames.get(m.tool_call_id) : undefined;
    if (role === "tool" && name) msg.name = name;
    return msg;
  });
}

/** ShareGPT field and role names (LLaMA-Factory's `tags`). */
export interface ShareGptTags {
  roleTag: string;
  contentTag: string;
  roles: Record<string, Role>;
}

/** Plain ShareGPT: `from` human|user, gpt|assistant|chatgpt, system, tool|observation (tool), function_call (assistant). */
export const SHAREGPT_TAGS: ShareGptTags = {
  roleTag: "from",
  contentTag: "value",
  roles: { human: "user", user: "user", gpt: "assistant", assistant: "assistant", chatgpt: "assistant", system: "system", tool: "tool", observation: "tool", function_call: "assistant" },
};

/** ShareGPT turns to messages; a `function_call` turn's value (the call, as JSON text) becomes the assistant content. */
export function sharegptMessages(list: unknown, field: string, tags: ShareGptTags = SHAREGPT_TAGS): Message[] {
  if (!Array.isArray(list)) return fail(`field "${field}" must be a list of turns`, `got ${kind(list)}`);
  return list.map((t, i) => {
    const at = `${field}[${i}]`;
    if (!isObj(t)) return fail("turn is not an object", at);
    const from = t[tags.roleTag];
    const role = own(tags.roles, from) ?? fail("unknown ShareGPT role", `${at}.${tags.roleTag}: ${JSON.stringify(from)}`);
    const value = t[tags.contentTag];
    if (typeof value !== "string") return fail("ShareGPT turn value must be a string", `${at}.${tags.contentTag}: ${kind(value)}`);
    return role === "tool" && typeof t.name === "string" ? { role, content: value, name: t.name } : { role, content: value };
  });
}

/** Alpaca column names (LLaMA-Factory's `columns`). */
export interface AlpacaColumns {
  prompt: string;
  query: string;
  response: string;
  system?: string;
  history?: string;
}

export const ALPACA_COLUMNS: AlpacaColumns = { prompt: "instruction", query: "input", response: "output", system: "system", history: "history" };

/**
 * Alpaca: [system], history pairs as user/assistant turns, then user = instruction and input joined by "\n"
 * (empty parts left out, as LLaMA-Factory does), assistant = output. A list `output` gives one conversation per output.
 */
export function alpacaLists(rec: Rec, cols: AlpacaColumns = ALPACA_COLUMNS): Message[][] {
  const head: Message[] = [];
  const system = cols.system ? optStr(rec, cols.system) : undefined;
  if (system) head.push({ role: "system", content: system });
  const hist = cols.history ? rec[cols.history] : undefined;
  if (hist !== undefined && hist !== null) {
    const bad = `field "${cols.history}" must be a list of [question, answer] string pairs`;
    if (!Array.isArray(hist)) fail(bad, `got ${kind(hist)}`);
    for (const [i, p] of (hist as unknown[]).entries()) {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string" || typeof p[1] !== "string") fail(bad, `${cols.history}[${i}]`);
      head.push({ role: "user", content: (p as string[])[0] }, { role: "assistant", content: (p as string[])[1] });
    }
  }
  const user = [optStr(rec, cols.prompt), optStr(rec, cols.query)].filter(Boolean).join("\n");
  if (!user) fail(`empty user turn: "${cols.prompt}" and "${cols.query}" are both empty or missing`);
  const out = rec[cols.response];
  const outs = typeof out === "string" ? [out] : Array.isArray(out) && out.length > 0 && out.every((o) => typeof o === "string") ? (out as string[]) : fail(`field "${cols.response}" must be a string or a non-empty list of strings`, `got ${kind(out)}`);
  return outs.map((o) => [...head, { role: "user", content: user }, { role: "assistant", content: o }]);
}

/** Question/answer field pairs, in the order they are looked for. */
export const QA_FIELDS = [
  ["question", "answer"],
  ["q", "a"],
  ["query", "response"],
  ["prompt", "response"],
  ["input", "output"],
] as const;

/** User prompt of a text/label record; the label set is listed when known. */
export function classificationPrompt(text: string, labels?: readonly string[]): string {
  const ask = labels?.length ? `Answer with one of these labels: ${labels.join(", ")}.` : "Answer with its label.";
  return `Classify the following text. ${ask}\n\nText: ${text}`;
}

/** User prompt of an entity/facts record; the assistant answers with the facts, one per line. */
export const knowledgePrompt = (entity: string) => `What do you know about ${entity}?`;

function classification(rec: Rec, labels?: readonly string[]): Message[] {
  const text = reqStr(rec, "text");
  const l = rec.label;
  let label: string;
  if (typeof l === "number" && labels?.length) label = (Number.isInteger(l) ? labels[l] : undefined) ?? fail("numeric label is not an index into the label set", `${l}, labels: ${labels.join(", ")}`);
  else if (typeof l === "string" || (typeof l === "number" && Number.isFinite(l))) label = String(l);
  else return fail('field "label" must be a string or a number', `got ${kind(l)}`);
  if (labels?.length && !labels.includes(label)) fail("label is not in the label set", `${JSON.stringify(label)}, labels: ${labels.join(", ")}`);
  return [
    { role: "user", content: classificationPrompt(text, labels) },
    { role: "assistant", content: label },
  ];
}

function knowledge(rec: Rec): Message[] {
  const entity = reqStr(rec, "entity");
  const facts = rec.facts !== undefined ? rec.facts : rec.fact !== undefined ? [rec.fact] : fail('missing field "facts" (or "fact")');
  if (!Array.isArray(facts) || facts.length === 0 || !facts.every((f) => typeof f === "string")) fail('"facts" must be a non-empty list of strings ("fact" a string)', `got ${kind(facts)}`);
  return [
    { role: "user", content: knowledgePrompt(entity) },
    { role: "assistant", content: (facts as string[]).join("\n") },
  ];
}

function promptCompletion(rec: Rec): Message[] {
  const { prompt: p, completion: c } = rec;
  // a prompt-only record (RL prompts): the user turn alone (`llmforge sft` removes it as having no answer)
  if (c === undefined && typeof p === "string") return [{ role: "user", content: p }];
  if (c === undefined && Array.isArray(p)) return openaiMessages(p, "prompt");
  if (typeof p === "string" && typeof c === "string") {
    return [
      { role: "user", content: p },
      { role: "assistant", content: c },
    ];
  }
  if (Array.isArray(p) && Array.isArray(c)) return [...openaiMessages(p, "prompt"), ...openaiMessages(c, "completion")];
  return fail('"prompt" and "completion" must both be strings or both message lists', `got ${kind(p)} and ${kind(c)}`);
}

const has = (rec: Rec, ...keys: string[]) => keys.every((k) => rec[k] !== undefined);

/**
 * The format of a record, by its keys, checked in this order: `chosen`+`rejected` (preference data: an error),
 * `messages`/`conversations` list (ShareGPT when its first turn has `from` and no `role`, else messages),
 * `prompt`+`completion`, `instruction`+`output` (Alpaca), a question/answer pair ({@link QA_FIELDS}),
 * `text`+`label`, `entity`+`facts`|`fact`, a lone `prompt` (prompt-only, for RL); a lone `text` (language-modelling data) and anything else are errors.
 */
export function detectFormat(rec: Rec): FormatName {
  if (has(rec, "chosen", "rejected")) fail("preference record (chosen/rejected) is not a conversation; use it for reward modelling or DPO");
  for (const k of ["messages", "conversations"]) {
    const list = rec[k];
    if (Array.isArray(list)) return isObj(list[0]) && "from" in list[0] && !("role" in list[0]) ? "sharegpt" : "messages";
  }
  if (has(rec, "prompt", "completion")) return "prompt-completion";
  if (has(rec, "instruction", "output")) return "alpaca";
  if (QA_FIELDS.some(([q, a]) => has(rec, q, a))) return "qa";
  if (has(rec, "text", "label")) return "classification";
  if (has(rec, "entity") && (has(rec, "facts") || has(rec, "fact"))) return "knowledge";
  if (has(rec, "prompt")) return "prompt-completion"; // prompt-only (RL prompts)
  if (has(rec, "text")) fail('language-modelling record {"text"} is not a conversation; use it for pretraining (llmforge data ingest)');
  return fail("unknown record shape", `keys: ${Object.keys(rec).slice(0, 8).join(", ") || "none"}`);
}

/** Options of the record converters. */
export interface RecordOptions {
  /** Record format, or `auto` (default) to detect it per record with {@link detectFormat}. */
  format?: FormatName | "auto";
  /** Label set of text/label records: listed in the prompt, checked, and indexed by numeric labels. */
  labels?: readonly string[];
}

const chatField = (rec: Rec) => (rec.messages !== undefined ? "messages" : "conversations");

/** Converts one record to message lists with the given or detected format (throws {@link RecordFormatError}). */
export function convertRaw(rec: unknown, opts: RecordOptions = {}): Converted {
  if (!isObj(rec)) return fail("record is not a JSON object", `got ${kind(rec)}`);
  const format = !opts.format || opts.format === "auto" ? detectFormat(rec) : opts.format;
  const system = format === "messages" || format === "sharegpt" || format === "qa" ? optStr(rec, "system") : undefined;
  const one = (m: Message[]) => [withSystem(system, m)];
  switch (format) {
    case "messages":
      return { format, lists: one(openaiMessages(rec[chatField(rec)], chatField(rec))) };
    case "sharegpt":
      return { format, lists: one(sharegptMessages(rec[chatField(rec)], chatField(rec))) };
    case "prompt-completion":
      return { format, lists: [promptCompletion(rec)] };
    case "alpaca":
      return { format, lists: alpacaLists(rec) };
    case "qa": {
      const [q, a] = QA_FIELDS.find(([q, a]) => has(rec, q, a)) ?? fail("missing question/answer fields", `expected one of ${QA_FIELDS.map((p) => p.join("/")).join(", ")}`);
      return { format, lists: one([{ role: "user", content: reqStr(rec, q) }, { role: "assistant", content: reqStr(rec, a) }]) };
    }
    case "classification":
      return { format, lists: [classification(rec, opts.labels)] };
    case "knowledge":
      return { format, lists: [knowledge(rec)] };
  }
}

/** Wraps message lists as conversations; `meta` keeps the record's own `meta`, `id` and `tools`, then the format. */
export function toConversations(rec: Rec, c: Converted, extra: Record<string, unknown> = {}, toolsField = "tools"): Conversation[] {
  const meta: Record<string, unknown> = { ...(isObj(rec.meta) ? rec.meta : {}), format: c.format, ...extra };
  if (typeof rec.id === "string" || typeof rec.id === "number") meta.id = rec.id;
  if (rec[toolsField] !== undefined && rec[toolsField] !== null && rec[toolsField] !== "") meta.tools = rec[toolsField];
  return c.lists.map((messages, i) => ({ messages, meta: c.lists.length > 1 ? { ...meta, output_index: i } : meta }));
}

/**
 * Converts one parsed record to conversations (several for an Alpaca record whose `output` is a list).
 * Throws {@link RecordFormatError} when the record fits no format or has a field of the wrong type.
 */
export function convertRecord(rec: unknown, opts: RecordOptions = {}): { format: FormatName; conversations: Conversation[] } {
  const c = convertRaw(rec, opts);
  return { format: c.format as FormatName, conversations: toConversations(rec as Rec, c) };
}
