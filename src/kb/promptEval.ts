// Measures prompting and tool use on a task with a verifiable answer: the instruction mix's held-out questions answered
// with a prompt template (0 or k solved examples, with or without a reasoning prefix), or through the agent loop with
// tools, scored by exact match. What `llmforge prompt --task` runs.
import type { Conversation } from "../data/formats/conversation.js";
import { mulberry32 } from "../data/filters/qualityClassifier.js";
import { hashUnit } from "../data/mix.js";
import { generate } from "../infer/generate.js";
import { type BuiltPrompt, buildPrompt, extractAnswer, type PromptTemplate, type Shot } from "../infer/promptTemplates.js";
import type { GPT } from "../model/gpt.js";
import { buildInstructionMix, exactMatch, INSTRUCTION_TASKS } from "../sft/instructionMix.js";
import { renderChat } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { chatModel, runAgent } from "./agent.js";
import type { Tool } from "./tools.js";

/** One question with every right answer, and worked reasoning when the task has it. */
export interface TaskItem extends Shot {
  accept: string[];
  kind: string;
}

/** Worked reasoning for an arithmetic item of the instruction mix, ending "The answer is N." (undefined for other kinds). */
export function arithmeticReasoning(kind: string, vars: Record<string, string>): string | undefined {
  const a = Number(vars.a);
  const b = Number(vars.b);
  if (!Number.isInteger(a) || !Number.isInteger(b)) return undefined;
  const tens = b - (b % 10);
  const ones = b % 10;
  if (kind === "arithmetic.add") {
    const r = a + b;
    return tens > 0 && ones > 0 ? `${a} + ${tens} = ${a + tens}, ${a + tens} + ${ones} = ${r}. The answer is ${r}.` : `${a} + ${b} = ${r}. The answer is ${r}.`;
  }
  if (kind === "arithmetic.sub") {
    const r = a - b;
    return tens > 0 && ones > 0 ? `${a} - ${tens} = ${a - tens}, ${a - tens} - ${ones} = ${r}. The answer is ${r}.` : `${a} - ${b} = ${r}. The answer is ${r}.`;
  }
  if (kind === "arithmetic.mul") return `${a} * ${b} = ${a * b}. The answer is ${a * b}.`;
  return undefined;
}

function itemOf(c: Conversation): TaskItem | null {
  const msgs = c.messages;
  const last = msgs[msgs.length - 1];
  const q = msgs[msgs.length - 2];
  if (last?.role !== "assistant" || q?.role !== "user") return null;
  const meta = c.meta ?? {};
  const kind = typeof meta.kind === "string" ? meta.kind : "";
  const accept = Array.isArray(meta.accept) ? (meta.accept as string[]) : [last.content];
  return { question: q.content, answer: accept[0], accept, kind, reasoning: arithmeticReasoning(kind, (meta.vars ?? {}) as Record<string, string>) };
}

/**
 * The held-out questions of an instruction-mix task (the items `llmforge sft` held out with the same seed; single
 * turn: the last question of each record) and its train questions as the few-shot pool.
 */
export function instructionTask(task: string, o: { seed?: number; limit?: number } = {}): { heldout: TaskItem[]; pool: TaskItem[] } {
  if (!(INSTRUCTION_TASKS as readonly string[]).includes(task)) throw new Error(`unknown task "${task}"; expected one of: ${INSTRUCTION_TASKS.join(", ")}`);
  const limit = o.limit ?? 200;
  const mix = buildInstructionMix({ seed: o.seed ?? 1234, tasks: [task], perTask: 400, heldoutPerTask: limit });
  const take = (cs: Conversation[]) => cs.flatMap((c) => itemOf(c) ?? []);
  return { heldout: take(mix.heldout).slice(0, limit), pool: take(mix.train) };
}

/** `k` shots for the item at `index`, drawn without replacement from `pool` (seeded by item and seed; never the question itself). */
export function pickShots(pool: readonly TaskItem[], k: number, index: number, question: string, seed: number): TaskItem[] {
  const cands = pool.filter((p) => p.question !== question);
  if (k > cands.length) throw new Error(`${k} shots asked but the pool has ${cands.length} examples`);
  const rand = mulberry32(Math.floor(hashUnit(`shots:${index}`, seed) * 2 ** 32));
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(rand() * cands.length));
  return [...picked].map((i) => cands[i]);
}

/** Options of {@link evaluatePrompting}. */
export interface PromptEvalOptions {
  template: PromptTemplate;
  /** The model's chat template (for chat-mode prompt templates and tools). */
  chatTemplate: string;
  shots?: number;
  seed?: number;
  /** Most new tokens per reply (default 48). */
  maxTokens?: number;
  /** Answer through the agent loop with these tools (chat-mode templates only). */
  tools?: readonly Tool[];
  maxSteps?: number;
  /** Render the tools block (default true; false for models trained without it). */
  describeTools?: boolean;
}

/** One scored answer. */
export interface PromptEvalSample {
  question: string;
  reply: string;
  answer: string;
  reference: string;
  match: boolean;
  /** With tools: calls the loop ran (valid and malformed). */
  toolCalls?: number;
  /** How the answer ended: the agent loop's stop reason, or "context" when the prompt did not fit. */
  stopped?: string;
}

/** What {@link evaluatePrompting} measured. */
export interface PromptEvalResult {
  template: string;
  shots: number;
  tools: string[];
  items: number;
  exactMatch: number;
  /** Items whose prompt (or conversation, with tools) outgrew the model's context; scored as wrong. */
  tooLong: number;
  /** Exact match over the items that fitted the context (null when none did). */
  exactMatchFitted: number | null;
  /** With tools: share of items where the model called a tool at least once, and share of calls that were malformed. */
  calledTool?: number;
  malformedCalls?: number;
  samples: PromptEvalSample[];
}

/** The token ids of a built prompt (chat: rendered with the model's chat template) with its forced reply prefix. */
export function promptIds(tok: Tokenizer, chatTemplate: string, p: BuiltPrompt): number[] {
  if (p.mode === "chat") return tok.encode(renderChat(chatTemplate, p.messages, { addGenerationPrompt: true }) + p.prefix, { allowedSpecial: "all" });
  const doc = tok.specialTokens.get("<|endoftext|>");
  return [...(doc !== undefined ? [doc] : []), ...tok.encode(p.text + p.prefix)];
}

/** Answers every item greedily with the template (or the agent loop with tools) and scores exact match. */
export async function evaluatePrompting(model: GPT, tok: Tokenizer, items: readonly TaskItem[], pool: readonly TaskItem[], o: PromptEvalOptions): Promise<PromptEvalResult> {
  const t = o.template;
  const shots = o.shots ?? 0;
  const seed = o.seed ?? 1234;
  const tools = o.tools ?? [];
  if (tools.length > 0 && t.mode !== "chat") throw new Error(`tools need a chat-mode template; "${t.name}" is plain text`);
  const eos = tok.specialTokens.get("<|im_end|>");
  const doc = tok.specialTokens.get("<|endoftext|>");
  const stopTokens = [eos, doc].filter((x): x is number => x !== undefined);
  const samples: PromptEvalSample[] = [];
  let matched = 0;
  let tooLong = 0;
  let called = 0;
  let calls = 0;
  let malformed = 0;
  const agentModel = chatModel(model, tok, { template: o.chatTemplate, maxTokens: o.maxTokens ?? 48, describeTools: o.describeTools });
  for (const [i, item] of items.entries()) {
    const built = buildPrompt(t, item.question, pickShots(pool, shots, i, item.question, seed));
    let reply = "";
    const s: PromptEvalSample = { question: item.question, reply: "", answer: "", reference: item.accept[0], match: false };
    if (tools.length > 0 && built.mode === "chat") {
      const r = await runAgent(agentModel, built.messages, { tools, maxSteps: o.maxSteps ?? 3 });
      reply = r.answer;
      s.toolCalls = r.toolRuns.length;
      s.stopped = r.stopped;
      if (r.toolRuns.length > 0) called++;
      calls += r.toolRuns.length;
      malformed += r.malformed.length;
      if (r.stopped === "context") tooLong++;
    } else {
      const ids = promptIds(tok, o.chatTemplate, built);
      const room = model.config.blockSize - ids.length;
      if (room < 1) {
        tooLong++;
        s.stopped = "context";
      } else {
        reply = generate(model, ids, {
          maxTokens: Math.min(o.maxTokens ?? 48, room), temperature: 0, stopTokens, stop: built.mode === "text" ? ["\n\n", "\nQuestion:"] : [],
          decode: (x) => tok.decode(x), vocabLimit: tok.vocabSize,
        }).text;
      }
    }
    s.reply = reply;
    s.answer = extractAnswer(t, reply);
    s.match = exactMatch(s.answer, item.accept);
    if (s.match) matched++;
    samples.push(s);
  }
  const n = items.length;
  return {
    template: t.name, shots, tools: tools.map((x) => x.name), items: n, exactMatch: n > 0 ? matched / n : 0, tooLong,
    exactMatchFitted: n - tooLong > 0 ? matched / (n - tooLong) : null,
    ...(tools.length > 0 ? { calledTool: n > 0 ? called / n : 0, malformedCalls: calls > 0 ? malformed / calls : 0 } : {}),
    samples,
  };
}
