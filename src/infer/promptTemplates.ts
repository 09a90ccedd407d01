// Prompting templates as data: named recipes that turn a question (and k solved examples, for few-shot) into a chat
// or a plain-text prompt, optionally starting the reply with a reasoning prefix (zero-shot chain of thought), and say
// how the answer is read back from the reply. Built-ins here; users add their own from a JSON or YAML file.
import YAML from "yaml";
import { z } from "zod";
import { readFileChecked } from "../io/fsErrors.js";

/** One prompting recipe. `{question}` and `{answer}` are filled in; everything else is literal text. */
export interface PromptTemplate {
  name: string;
  description: string;
  /** "chat": shots become user/assistant turns rendered by the model's chat template; "text": one plain prompt to continue. */
  mode: "chat" | "text";
  /** Chat: a system message first. Text: a line before the examples. */
  system?: string;
  /** How a question is written (chat: the user turn; text: the question part of an example). */
  question: string;
  /** How a solved example's answer is written (chat: the assistant turn; text: appended to the question). */
  answer: string;
  /** Text mode: between examples (default "\n\n"). */
  separator?: string;
  /** Text the reply is made to start with, e.g. "Let's think step by step." (chain of thought). */
  reasoning?: string;
  /** Few-shot examples show worked reasoning (when the task has it) before their answer. */
  shotsReason?: boolean;
  /**
   * How the answer is read from the reply: "line" (its first line, default), "last-number", "whole", or a regular
   * expression whose first group is the answer (the whole match without a group).
   */
  extract?: string;
}

const templateSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "letters, digits, _ . or -"),
  description: z.string().default(""),
  mode: z.enum(["chat", "text"]),
  system: z.string().optional(),
  question: z.string().includes("{question}", { message: 'must contain "{question}"' }),
  answer: z.string().includes("{answer}", { message: 'must contain "{answer}"' }),
  separator: z.string().optional(),
  reasoning: z.string().optional(),
  shotsReason: z.boolean().optional(),
  extract: z.string().optional(),
});

/** A template file or template that cannot be used (naming the file and the field). */
export class PromptTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PromptTemplateError";
  }
}

const REASON = "Let's think step by step.";

/** The built-in templates. */
export const PROMPT_TEMPLATES: readonly PromptTemplate[] = [
  { name: "direct", mode: "chat", description: "the question as the user turn; shots as earlier turns", question: "{question}", answer: "{answer}" },
  { name: "cot", mode: "chat", description: `chat, the reply starts with "${REASON}"; shots show worked reasoning`, question: "{question}", answer: "{answer}", reasoning: REASON, shotsReason: true, extract: "last-number" },
  { name: "qa", mode: "text", description: "plain text 'Question: ... / Answer: ...' blocks for base models", question: "Question: {question}\nAnswer:", answer: " {answer}" },
  {
    name: "qa-cot", mode: "text", description: `plain text, the answer starts with "${REASON}"; shots show worked reasoning`, question: "Question: {question}\nAnswer:", answer: " {answer}",
    reasoning: ` ${REASON}`, shotsReason: true, extract: "last-number",
  },
];

/** Reads user templates from a JSON or YAML file: a list of templates, or `{templates: [...]}`. */
export function loadPromptTemplates(file: string): PromptTemplate[] {
  const text = readFileChecked(file, "a JSON or YAML file of prompt templates").toString("utf8");
  let doc: unknown;
  try {
    doc = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new PromptTemplateError(`${file}: not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"} (${err instanceof Error ? err.message : String(err)})`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { templates?: unknown } | null)?.templates;
  if (!Array.isArray(list)) throw new PromptTemplateError(`${file}: expected a list of templates or {"templates": [...]}`);
  return list.map((t, i) => {
    const r = templateSchema.safeParse(t);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new PromptTemplateError(`${file}: template ${i + 1}${issue.path.length ? ` field "${issue.path.join(".")}"` : ""}: ${issue.message}`);
    }
    const tpl = r.data as PromptTemplate;
    if (tpl.extract !== undefined) compileExtract(tpl.extract, `${file}: template ${tpl.name}`);
    return tpl;
  });
}

/** The template called `name` among the built-ins and `extra` (user templates win over built-ins of the same name). */
export function findPromptTemplate(name: string, extra: readonly PromptTemplate[] = []): PromptTemplate {
  const t = extra.find((x) => x.name === name) ?? PROMPT_TEMPLATES.find((x) => x.name === name);
  if (!t) throw new PromptTemplateError(`no prompt template "${name}"; known: ${[...new Set([...extra, ...PROMPT_TEMPLATES].map((x) => x.name))].join(", ")}`);
  return t;
}

/** A solved example: the question, its answer and (optionally) worked reasoning that ends in the answer. */
export interface Shot {
  question: string;
  answer: string;
  reasoning?: string;
}

/** A built prompt: chat messages (mode "chat") or text (mode "text"), and the text the reply is forced to start with. */
export type BuiltPrompt = { mode: "chat"; messages: { role: "system" | "user" | "assistant"; content: string }[]; prefix: string } | { mode: "text"; text: string; prefix: string };

const fill = (s: string, v: Record<string, string>): string => s.replace(/\{(question|answer)\}/g, (_, k: string) => v[k] ?? "");

/** The prompt of `question` with `shots` solved examples in front, as `t` writes it. */
export function buildPrompt(t: PromptTemplate, question: string, shots: readonly Shot[] = []): BuiltPrompt {
  const shotAnswer = (s: Shot) => (t.shotsReason && s.reasoning ? `${t.reasoning ? `${t.reasoning.trim()} ` : ""}${s.reasoning}` : s.answer);
  const prefix = t.reasoning ?? "";
  if (t.mode === "chat") {
    const messages: { role: "system" | "user" | "assistant"; content: string }[] = t.system ? [{ role: "system", content: t.system }] : [];
    for (const s of shots) messages.push({ role: "user", content: fill(t.question, { question: s.question }) }, { role: "assistant", content: fill(t.answer, { answer: shotAnswer(s) }) });
    messages.push({ role: "user", content: fill(t.question, { question }) });
    return { mode: "chat", messages, prefix };
  }
  const parts = shots.map((s) => fill(t.question, { question: s.question }) + fill(t.answer, { answer: shotAnswer(s) }));
  parts.push(fill(t.question, { question }));
  return { mode: "text", text: (t.system ? `${t.system}\n\n` : "") + parts.join(t.separator ?? "\n\n"), prefix };
}

function compileExtract(extract: string, where: string): RegExp | null {
  if (extract === "line" || extract === "last-number" || extract === "whole") return null;
  try {
    return new RegExp(extract);
  } catch (err) {
    throw new PromptTemplateError(`${where}: extract is not a valid regular expression (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The answer in a reply (the text generated after the prompt and its forced prefix), as `t.extract` says. */
export function extractAnswer(t: PromptTemplate, reply: string): string {
  const how = t.extract ?? "line";
  if (how === "whole") return reply.trim();
  if (how === "line") return reply.trim().split("\n")[0]?.trim() ?? "";
  if (how === "last-number") {
    // "the answer is N" when the reply says so, else its last number
    const said = /answer is\s*(-?\d+(?:\.\d+)?)/i.exec(reply);
    if (said) return said[1];
    const nums = reply.match(/-?\d+(?:\.\d+)?/g);
    return nums ? nums[nums.length - 1] : reply.trim();
  }
  const m = (compileExtract(how, `template ${t.name}`) as RegExp).exec(reply);
  return m ? (m[1] ?? m[0]).trim() : "";
}
