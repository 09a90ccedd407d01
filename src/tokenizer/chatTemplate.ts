// Chat templates (Jinja, as Hugging Face tokenizers ship them) rendered with @huggingface/jinja,
// the check that a tokenizer has the template's special tokens, and tokenizer_config.json /
// special_tokens_map.json written and read the way `transformers` does.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { TokenizerError, TokenizerFileError } from "./errors.js";
import type { Tokenizer } from "./tokenizer.js";

/** Opening of the tools block of {@link CHATML_TEMPLATE}'s system turn (Qwen2.5 / Hermes wording); each tool follows as one JSON line. */
export const TOOLS_PREAMBLE =
  "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>";
/** Closing of the tools block: how the model is told to write a call. */
export const TOOLS_POSTAMBLE =
  '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';

/** Jinja string literal of `s` (single-quoted, backslash escapes). */
const jinjaString = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;

/**
 * ChatML as Qwen2-style tokenizers ship it (no default system prompt): `<|im_start|>{role}\n{content}<|im_end|>\n` per message.
 * Without `tools` and `tool_calls` it renders exactly as plain ChatML did. With a `tools` variable (OpenAI's
 * `[{"type": "function", "function": {...}}]`), the system turn gets a tools block (a system message's content first);
 * an assistant message's `tool_calls` are written `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` after its
 * content (the Hermes / Qwen convention); tool results stay a `tool` turn.
 */
export const CHATML_TEMPLATE =
  "{% if tools %}{{ '<|im_start|>system\\n' }}{% if messages|length > 0 and messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% endif %}" +
  `{{ ${jinjaString(TOOLS_PREAMBLE)} }}{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}{{ ${jinjaString(TOOLS_POSTAMBLE)} + '<|im_end|>\\n' }}{% endif %}` +
  "{% for message in messages %}{% if not (tools and loop.first and message['role'] == 'system') %}" +
  "{{'<|im_start|>' + message['role'] + '\\n'}}{% if message['content'] %}{{ message['content'] }}{% endif %}" +
  "{% if message['tool_calls'] is defined and message['tool_calls'] %}{% for tc in message['tool_calls'] %}" +
  "{% set fn = tc['function'] if tc['function'] is defined else tc %}{% if not loop.first or message['content'] %}{{ '\\n' }}{% endif %}" +
  "{{ '<tool_call>\\n{\"name\": \"' + fn['name'] + '\", \"arguments\": ' }}{% if fn['arguments'] is string %}{{ fn['arguments'] }}{% else %}{{ fn['arguments'] | tojson }}{% endif %}{{ '}\\n</tool_call>' }}" +
  "{% endfor %}{% endif %}{{ '<|im_end|>' + '\\n' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** One tool call of an assistant message in OpenAI's shape (`arguments` a JSON string, or an object). */
export interface ChatToolCall {
  id?: string;
  type?: "function";
  function: { name: string; arguments: string | Record<string, unknown> };
}

/** A chat message as templates see it (`role`, `content`, optional tool `name`, an assistant's `tool_calls`, a tool result's `tool_call_id`). */
export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

/** JSON as Jinja's `tojson` filter writes it (Python's `json.dumps` defaults: `", "` and `": "` separators, non-ASCII kept). */
export function pythonJson(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return `[${v.map(pythonJson).join(", ")}]`;
  if (typeof v === "object") {
    return `{${Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}: ${pythonJson(x)}`).join(", ")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** The text {@link CHATML_TEMPLATE} writes for one tool call (without the newline between calls). */
export function formatToolCall(call: { name: string; arguments: string | Record<string, unknown> }): string {
  const args = typeof call.arguments === "string" ? call.arguments : pythonJson(call.arguments);
  return `<tool_call>\n{"name": "${call.name}", "arguments": ${args}}\n</tool_call>`;
}

/** Whether a template renders `tool_calls` itself (else {@link renderChat} writes them into the content, Hermes style). */
export const templateKnowsToolCalls = (template: string): boolean => template.includes("tool_calls");

/** Options of {@link renderChat}; names follow `apply_chat_template`. */
export interface RenderChatOptions {
  /** Append the header that starts an assistant reply (`add_generation_prompt`). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  /** More template variables (e.g. `tools`, `date_string`). */
  variables?: Record<string, unknown>;
}

/** A chat template that does not parse or fails while rendering. */
export class ChatTemplateError extends TokenizerError {}

/** The tokenizer lacks special tokens that the chat template writes. */
export class MissingChatTokensError extends TokenizerError {
  constructor(readonly missing: readonly string[]) {
    super(
      `the tokenizer has no special token ${missing.map((m) => JSON.stringify(m)).join(", ")} that the chat template uses; ` +
        `add them with tok.withSpecialTokens(${JSON.stringify(missing)}) (the model's embedding then grows to the new vocabSize), ` +
        "or re-train the tokenizer with these in specialTokens",
    );
  }
}

const compiled = new Map<string, Template>();

/** Parses a template once (cached by source text). */
function compile(source: string): Template {
  let t = compiled.get(source);
  if (t === undefined) {
    try {
      t = new Template(source);
    } catch (err) {
      throw new ChatTemplateError(`chat template does not parse: ${err instanceof Error ? err.message : String(err)} (template starts ${JSON.stringify(source.slice(0, 80))})`);
    }
    if (compiled.size >= 64) compiled.clear();
    compiled.set(source, t);
  }
  return t;
}

/** Renders `messages` with a Jinja chat template, as `tokenizer.apply_chat_template(..., tokenize=False)` does. */
export function renderChat(template: string, messages: readonly ChatMessage[], options: RenderChatOptions = {}): string {
  const t = compile(template);
  const native = templateKnowsToolCalls(template);
  const msgs = messages.map((m) => {
    const out: Record<string, unknown> = { role: m.role, content: m.content };
    if (m.name !== undefined) out.name = m.name;
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    if (m.tool_calls !== undefined && m.tool_calls.length > 0) {
      if (native) out.tool_calls = m.tool_calls;
      else out.content = [m.content, ...m.tool_calls.map((c) => formatToolCall(c.function))].filter((x) => x).join("\n");
    }
    return out;
  });
  try {
    return t.render({
      ...options.variables,
      messages: msgs,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: options.bosToken ?? "",
      eos_token: options.eosToken ?? "",
      pad_token: options.padToken ?? "",
    });
  } catch (err) {
    const roles = msgs.map((m) => m.role).join(",") || "(none)";
    throw new ChatTemplateError(`chat template failed to render messages with roles [${roles}]: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The `<|...|>` special tokens a template writes literally, in order of first appearance. */
export function chatTemplateSpecialTokens(template: string): string[] {
  return [...new Set(template.match(/<\|[A-Za-z0-9_.:-]+\|>/g) ?? [])];
}

/**
 * Throws {@link MissingChatTokensError} when `tok` lacks a special token that `template` writes
 * (or one of `extra`, e.g. the eos token), so they would encode as plain text.
 */
export function requireChatTokens(tok: Tokenizer, template: string, extra: readonly string[] = []): void {
  const missing = [...new Set([...chatTemplateSpecialTokens(template), ...extra])].filter((s) => !tok.specialTokens.has(s));
  if (missing.length > 0) throw new MissingChatTokensError(missing);
}

/** What {@link writeTokenizerConfig} writes beside tokenizer.json. */
export interface TokenizerConfigOptions {
  chatTemplate?: string;
  /** Default: "<|im_end|>" when a chat template is given, else "<|endoftext|>". */
  eosToken?: string;
  /** Default: "<|pad|>" when the tokenizer has it, else the eos token. */
  padToken?: string;
  /** Default: null (ChatML models have none). */
  bosToken?: string | null;
  /** Longest sequence the model takes (omitted: transformers assumes no limit). */
  modelMaxLength?: number;
}

/** What {@link readTokenizerConfig} found in a tokenizer directory. */
export interface TokenizerConfig {
  chatTemplate?: string;
  eosToken?: string;
  padToken?: string;
  bosToken?: string;
  modelMaxLength?: number;
  tokenizerClass?: string;
  /** From `added_tokens_decoder`, ordered by id. */
  addedTokens: { id: number; content: string; special: boolean }[];
}

const TOKEN_FLAGS = { lstrip: false, normalized: false, rstrip: false, single_word: false };

/**
 * Writes `tokenizer_config.json` and `special_tokens_map.json` into `dir` (atomically), so that
 * `AutoTokenizer.from_pretrained(dir)` finds the chat template and the eos/pad tokens. tokenizer.json is written separately.
 */
export function writeTokenizerConfig(dir: string, tok: Tokenizer, options: TokenizerConfigOptions = {}): void {
  const eos = options.eosToken ?? (options.chatTemplate !== undefined ? "<|im_end|>" : "<|endoftext|>");
  const pad = options.padToken ?? (tok.specialTokens.has("<|pad|>") ? "<|pad|>" : eos);
  const bos = options.bosToken ?? null;
  for (const [what, t] of [["eosToken", eos], ["padToken", pad], ["bosToken", bos]] as const) {
    if (t !== null && !tok.specialTokens.has(t)) {
      const known = [...tok.specialTokens.keys()].join(", ") || "(none)";
      throw new TokenizerError(`${what} ${JSON.stringify(t)} is not a special token of this tokenizer (it has: ${known}); add it with tok.withSpecialTokens([${JSON.stringify(t)}])`);
    }
  }
  if (options.chatTemplate !== undefined) {
    compile(options.chatTemplate);
    requireChatTokens(tok, options.chatTemplate);
  }
  const mml = options.modelMaxLength;
  if (mml !== undefined && (!Number.isInteger(mml) || mml < 1)) throw new TokenizerError(`modelMaxLength must be a positive integer, got ${mml}`);
  const specials = [...tok.specialTokens].sort((a, b) => a[1] - b[1]);
  const decoder: Record<string, unknown> = {};
  for (const [content, id] of specials) decoder[String(id)] = { content, ...TOKEN_FLAGS, special: true };
  const named = new Set([eos, pad, bos]);
  const additional = specials.map(([c]) => c).filter((c) => !named.has(c));
  const config: Record<string, unknown> = {
    added_tokens_decoder: decoder,
    additional_special_tokens: additional,
    bos_token: bos,
    ...(options.chatTemplate !== undefined ? { chat_template: options.chatTemplate } : {}),
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    ...(mml !== undefined ? { model_max_length: mml } : {}),
    pad_token: pad,
    split_special_tokens: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    unk_token: null,
  };
  const tokenEntry = (c: string) => ({ content: c, ...TOKEN_FLAGS });
  const map: Record<string, unknown> = { additional_special_tokens: additional, eos_token: tokenEntry(eos), pad_token: tokenEntry(pad) };
  if (bos !== null) map.bos_token = tokenEntry(bos);
  writeFileAtomicSync(join(dir, "tokenizer_config.json"), `${JSON.stringify(config, null, 2)}\n`);
  writeFileAtomicSync(join(dir, "special_tokens_map.json"), `${JSON.stringify(map, null, 2)}\n`);
}

/**
 * Reads `dir/tokenizer_config.json` as transformers does (also a `chat_template.jinja` file beside it,
 * and the list form `[{name, template}]` of chat_template, taking "default"). Null when neither file exists.
 */
export function readTokenizerConfig(dir: string): TokenizerConfig | null {
  const file = join(dir, "tokenizer_config.json");
  const jinjaFile = join(dir, "chat_template.jinja");
  const out: TokenizerConfig = { addedTokens: [] };
  const fail = (why: string): never => {
    throw new TokenizerFileError(file, why);
  };
  if (existsSync(file)) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      fail(`not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) fail("expected a JSON object");
    const d = doc as Record<string, unknown>;
    const tokenName = (key: string): string | undefined => {
      const v = d[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v === "string") return v;
      if (typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
      return fail(`"${key}" must be a string, {"content": string} or null, got ${JSON.stringify(v).slice(0, 80)}`);
    };
    out.eosToken = tokenName("eos_token");
    out.padToken = tokenName("pad_token");
    out.bosToken = tokenName("bos_token");
    const ct = d.chat_template;
    if (typeof ct === "string") out.chatTemplate = ct;
    else if (Array.isArray(ct)) {
      const entry = ct.find((e) => e?.name === "default") ?? ct[0];
      if (typeof entry?.template !== "string") fail('"chat_template" list entries must be {"name": string, "template": string}');
      out.chatTemplate = entry.template;
    } else if (ct !== undefined && ct !== null) fail(`"chat_template" must be a string or a list of {name, template}, got ${typeof ct}`);
    if (typeof d.model_max_length === "number") out.modelMaxLength = d.model_max_length;
    if (typeof d.tokenizer_class === "string") out.tokenizerClass = d.tokenizer_class;
    const dec = d.added_tokens_decoder ?? {};
    if (typeof dec !== "object" || dec === null || Array.isArray(dec)) fail('"added_tokens_decoder" must be an object {id: {content, ...}}');
    for (const [k, v] of Object.entries(dec as Record<string, { content?: unknown; special?: unknown }>)) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0 || typeof v?.content !== "string") fail(`added_tokens_decoder[${JSON.stringify(k)}] needs an integer id key and a string "content"`);
      out.addedTokens.push({ id, content: v.content as string, special: v.special !== false });
    }
    out.addedTokens.sort((a, b) => a.id - b.id);
  } else if (!existsSync(jinjaFile)) return null;
  if (out.chatTemplate === undefined && existsSync(jinjaFile)) out.chatTemplate = readFileSync(jinjaFile, "utf8");
  return out;
}
