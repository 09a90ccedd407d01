// Tool calls read back from a model's text: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (the Hermes /
// Qwen convention the chat template writes), each checked against the tools on offer (known name, arguments passing the
// tool's zod schema). Garbage never throws: a malformed call becomes an error entry the caller can report to the model.
import type { z } from "zod";
import { formatToolCall } from "../tokenizer/chatTemplate.js";

/** The tag pair that wraps one call. */
export const TOOL_CALL_OPEN = "<tool_call>";
export const TOOL_CALL_CLOSE = "</tool_call>";

/** A call that parsed and passed its tool's schema; `arguments` are the schema's output. */
export interface ParsedToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  /** Where the call stands in the text (the tags included): `text.slice(start, end)`. */
  start: number;
  end: number;
}

/** Why a call was refused: not closed, not JSON, not `{name, arguments}`, a tool not on offer, arguments the schema refuses, too many. */
export type ToolCallErrorKind = "unclosed" | "json" | "shape" | "unknown_tool" | "arguments" | "too_many";

/** A malformed call, with a message meant for the model (and the user). */
export interface ToolCallError {
  kind: ToolCallErrorKind;
  message: string;
  /** The tool's name when one could be read. */
  name?: string;
  /** The text between the tags (at most 200 characters of it). */
  raw: string;
  start: number;
  end: number;
}

/** What {@link parseToolCalls} found. */
export interface ParsedOutput {
  /** The text outside every call block (both valid and malformed ones), trimmed. */
  content: string;
  calls: ParsedToolCall[];
  errors: ToolCallError[];
}

/** The tools a parse checks against: name -> zod schema of its arguments (null: any JSON object). */
export type ToolSchemas = ReadonlyMap<string, z.ZodType | null>;

/** Options of {@link parseToolCalls}. */
export interface ParseToolCallsOptions {
  /** Ids of the calls, by position among the valid ones (default `call_0`, `call_1`, ...). */
  idFor?: (index: number) => string;
  /** More calls than this in one output are refused (default 16). */
  maxCalls?: number;
  /** Also take a whole output that is one bare `{"name": ..., "arguments": ...}` object naming a known tool (default true). */
  bareJson?: boolean;
}

const snippet = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}...` : s);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The issues of a failed schema check as one line: `path: message; ...`. */
export function describeZodIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join(".") : "(arguments)"}: ${i.message}`)
    .join("; ");
}

/** One call's body (the text between the tags) checked: a {@link ParsedToolCall} minus id and span, or an error. */
function readCall(body: string, tools: ToolSchemas | undefined): { name: string; arguments: Record<string, unknown> } | { kind: ToolCallErrorKind; message: string; name?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    return { kind: "json", message: `the tool call is not valid JSON (${err instanceof Error ? err.message : String(err)}); write {"name": "...", "arguments": {...}}` };
  }
  // OpenAI's own shape {"type": "function", "function": {...}} is accepted too
  if (isObject(doc) && isObject(doc.function) && doc.name === undefined) doc = doc.function;
  if (!isObject(doc)) return { kind: "shape", message: `a tool call must be a JSON object {"name": "...", "arguments": {...}}, got ${Array.isArray(doc) ? "a list" : typeof doc}` };
  const name = doc.name;
  if (typeof name !== "string" || name === "") return { kind: "shape", message: 'the tool call has no "name" string' };
  let args: unknown = doc.arguments ?? doc.parameters ?? {};
  if (typeof args === "string") {
    try {
      args = args.trim() === "" ? {} : JSON.parse(args);
    } catch {
      return { kind: "json", name, message: `the arguments of ${name} are a string that is not JSON: ${JSON.stringify(snippet(args as string))}` };
    }
  }
  if (!isObject(args)) return { kind: "shape", name, message: `the arguments of ${name} must be a JSON object, got ${Array.isArray(args) ? "a list" : JSON.stringify(args)}` };
  if (tools !== undefined) {
    if (!tools.has(name)) {
      const known = [...tools.keys()].join(", ") || "(none)";
      return { kind: "unknown_tool", name, message: `there is no tool named ${JSON.stringify(snippet(name))}; the tools are: ${known}` };
    }
    const schema = tools.get(name);
    if (schema) {
      const r = schema.safeParse(args);
      if (!r.success) return { kind: "arguments", name, message: `the arguments of ${name} do not fit its parameters: ${describeZodIssues(r.error)}` };
      if (!isObject(r.data)) return { kind: "arguments", name, message: `the parameters of ${name} must describe an object` };
      args = r.data;
    }
  }
  return { name, arguments: args as Record<string, unknown> };
}

/**
 * Extracts the tool calls of a model's output. Every `<tool_call>...</tool_call>` block becomes a call or an error
 * (a block the output ends inside is "unclosed"); the rest of the text is `content`. With `tools`, a call must name
 * one of them and its arguments must pass that tool's schema. Never throws, whatever `text` holds.
 */
export function parseToolCalls(text: string, tools?: ToolSchemas, opts: ParseToolCallsOptions = {}): ParsedOutput {
  const idFor = opts.idFor ?? ((i: number) => `call_${i}`);
  const maxCalls = opts.maxCalls ?? 16;
  const calls: ParsedToolCall[] = [];
  const errors: ToolCallError[] = [];
  const outside: string[] = [];
  let blocks = 0;
  const take = (body: string, start: number, end: number, unclosed: boolean) => {
    blocks++;
    const raw = snippet(body.trim());
    if (blocks > maxCalls) {
      errors.push({ kind: "too_many", message: `more than ${maxCalls} tool calls in one reply; the rest were not run`, raw, start, end });
      return;
    }
    const r = readCall(body.trim(), tools);
    if ("kind" in r) errors.push({ ...r, raw, start, end });
    else if (unclosed) errors.push({ kind: "unclosed", name: r.name, message: `the tool call of ${r.name} was not closed with ${TOOL_CALL_CLOSE}`, raw, start, end });
    else calls.push({ id: idFor(calls.length), name: r.name, arguments: r.arguments, start, end });
  };
  let at = 0;
  for (;;) {
    const open = text.indexOf(TOOL_CALL_OPEN, at);
    if (open < 0) break;
    outside.push(text.slice(at, open));
    const bodyStart = open + TOOL_CALL_OPEN.length;
    const close = text.indexOf(TOOL_CALL_CLOSE, bodyStart);
    // a block cut short runs to the end of the text, or up to the next opening tag
    const next = text.indexOf(TOOL_CALL_OPEN, bodyStart);
    if (close < 0 || (next >= 0 && next < close)) {
      const end = next >= 0 ? next : text.length;
      const body = text.slice(bodyStart, end);
      if (body.trim() === "") errors.push({ kind: "unclosed", message: `an empty ${TOOL_CALL_OPEN} with no call in it`, raw: "", start: open, end });
      else take(body, open, end, true);
      at = end;
      continue;
    }
    take(text.slice(bodyStart, close), open, close + TOOL_CALL_CLOSE.length, false);
    at = close + TOOL_CALL_CLOSE.length;
  }
  outside.push(text.slice(at));
  let content = outside.join("").replaceAll(TOOL_CALL_CLOSE, "").trim();
  if (blocks === 0 && (opts.bareJson ?? true) && tools !== undefined && content.startsWith("{") && content.endsWith("}")) {
    const r = readCall(content, tools);
    if (!("kind" in r)) {
      calls.push({ id: idFor(0), name: r.name, arguments: r.arguments, start: 0, end: text.length });
      content = "";
    }
  }
  return { content, calls, errors };
}

/** `text` without the spans of the given calls (e.g. the valid ones, leaving malformed blocks as text), trimmed. */
export function textWithout(text: string, spans: readonly { start: number; end: number }[]): string {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let out = "";
  let at = 0;
  for (const s of sorted) {
    if (s.start < at) continue;
    out += text.slice(at, s.start);
    at = s.end;
  }
  return (out + text.slice(at)).trim();
}

/** A parsed call in OpenAI's message shape (`arguments` as a JSON string). */
export function toOpenAiToolCall(c: Pick<ParsedToolCall, "id" | "name" | "arguments">): { id: string; type: "function"; function: { name: string; arguments: string } } {
  return { id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } };
}

/** The text a model would write for these calls (what the default chat template renders), one per block. */
export function toolCallsText(calls: readonly { name: string; arguments: Record<string, unknown> | string }[]): string {
  return calls.map((c) => formatToolCall(c)).join("\n");
}

/**
 * Where text may still grow into a tool call: the index of the first `<tool_call>` in `text`, or of a tail that is a
 * prefix of it (`"<tool"`), or -1. A stream sends what comes before it and holds the rest.
 */
export function toolCallHoldFrom(text: string): number {
  const open = text.indexOf(TOOL_CALL_OPEN);
  if (open >= 0) return open;
  for (let k = Math.min(TOOL_CALL_OPEN.length - 1, text.length); k > 0; k--) {
    if (TOOL_CALL_OPEN.startsWith(text.slice(text.length - k))) return text.length - k;
  }
  return -1;
}

/**
 * Streams a reply's text while holding back tool calls: {@link push} returns the text that can be sent now (everything
 * before a `<tool_call>` or a tail that may grow into one), {@link finish} parses what was held and returns the rest of
 * the content and the valid calls (a malformed block is returned as content, as written). `prefix` is text the reply
 * was forced to start with (a `tool_choice` naming a function); it is held from the start.
 */
export class ToolCallStream {
  private text: string;
  private sent = 0;
  private holding: boolean;

  constructor(private readonly tools: ToolSchemas | undefined, readonly prefix = "", private readonly idFor?: (index: number) => string) {
    this.text = prefix;
    this.holding = prefix.includes(TOOL_CALL_OPEN);
  }

  /** Adds generated text; returns what can be sent as content now. */
  push(delta: string): string {
    this.text += delta;
    if (this.holding) return "";
    const rest = this.text.slice(this.sent);
    const h = toolCallHoldFrom(rest);
    if (h >= 0 && rest.includes(TOOL_CALL_OPEN)) this.holding = true;
    const upto = h < 0 ? this.text.length : this.sent + h;
    const out = this.text.slice(this.sent, upto);
    this.sent = upto;
    return out;
  }

  /** The whole reply (prefix included). */
  get fullText(): string {
    return this.text;
  }

  /** Parses the held text: the content still to send and the calls (none when the reply held no valid one). */
  finish(): { content: string; calls: ParsedToolCall[] } {
    const held = this.text.slice(this.sent);
    const parsed = parseToolCalls(held, this.tools, { idFor: this.idFor, bareJson: this.sent === 0 });
    this.sent = this.text.length;
    return { content: parsed.calls.length > 0 ? textWithout(held, parsed.calls) : held, calls: parsed.calls };
  }
}
