// Rewards for RL on verifiable tasks: prompts with their right answers (a named task of the instruction mix, or
// any SFT-format file whose last assistant turn is the answer), the exact-match reward, and a user's JavaScript
// module `reward(prompt, completion, record)`. A reward that throws or is not a finite number is counted, not used.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Conversation, Message } from "../data/formats/conversation.js";
import { exactMatch, INSTRUCTION_TASKS, buildInstructionMix } from "../sft/instructionMix.js";
import { readConversations } from "../sft/train.js";

/** Bad input for an RL run's prompts or reward; the message says what was expected. */
export class RlDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RlDataError";
  }
}

/** A prompt (the conversation up to the answer) and what counts as a right answer. */
export interface TaskPrompt {
  messages: Message[];
  /** Every right answer (exact match after normalisation); empty when the reward does not use references. */
  accept: string[];
  task: string;
}

/** What a reward function sees: the prompt's last user turn, the completion's text and the whole record. */
export type RewardFn = (prompt: string, completion: string, record: TaskPrompt) => number;

/** Rewards named on the command line. */
export const NAMED_REWARDS = ["exact"] as const;

/** 1 when the completion equals one of the record's right answers after normalisation, else 0. */
export const exactMatchReward: RewardFn = (_prompt, completion, record) => (exactMatch(completion, record.accept) ? 1 : 0);

/**
 * A reward by name ("exact") or from a JavaScript module file (`export function reward(prompt, completion, record)`
 * returning a number, or a default export of that function).
 */
export async function loadReward(spec: string): Promise<{ name: string; fn: RewardFn }> {
  if (spec === "exact") return { name: "exact", fn: exactMatchReward };
  if (!/\.(mjs|cjs|js)$/.test(spec)) throw new RlDataError(`reward "${spec}" is neither a named reward (${NAMED_REWARDS.join(", ")}) nor a JavaScript module (.js, .mjs)`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(spec)).href)) as Record<string, unknown>;
  } catch (e) {
    throw new RlDataError(`cannot load the reward module ${spec}: ${(e as Error).message}`);
  }
  const fn = typeof mod.reward === "function" ? mod.reward : typeof mod.default === "function" ? mod.default : null;
  if (!fn) throw new RlDataError(`${spec} exports no function \`reward(prompt, completion, record)\` (named export "reward" or default export)`);
  return { name: spec, fn: fn as RewardFn };
}

/** Scores one completion; a throw or a non-finite result gives null and its reason. */
export function safeReward(fn: RewardFn, prompt: string, completion: string, record: TaskPrompt): { value: number | null; error?: string } {
  try {
    const v = fn(prompt, completion, record);
    if (typeof v !== "number" || !Number.isFinite(v)) return { value: null, error: `returned ${typeof v === "number" ? v : typeof v}` };
    return { value: v };
  } catch (e) {
    return { value: null, error: `threw ${(e as Error)?.message ?? String(e)}` };
  }
}

/** A conversation ending with the assistant's answer as a prompt + right answers (meta.accept, meta.answer or that turn). */
export function taskPromptOf(conv: Conversation): TaskPrompt | null {
  const n = conv.messages.length;
  const last = conv.messages[n - 1];
  const meta = conv.meta ?? {};
  const task = typeof meta.task === "string" ? meta.task : "file";
  if (last?.role === "assistant") {
    const accept = Array.isArray(meta.accept) ? meta.accept.filter((a): a is string => typeof a === "string") : [typeof meta.answer === "string" ? meta.answer : last.content];
    return n >= 2 ? { messages: conv.messages.slice(0, -1), accept, task } : null;
  }
  if (last?.role === "user") return { messages: conv.messages, accept: typeof meta.answer === "string" ? [meta.answer] : [], task };
  return null;
}

/**
 * The prompts of a task: a named task of the instruction mix (its train and held-out items are disjoint), or SFT-format
 * files (any format `llmforge sft` reads; the last assistant turn is the answer), split by `valFraction` when no
 * held-out files are given.
 */
export async function readTaskPrompts(task: string, o: { valData?: string[]; valFraction: number; seed: number; perTask: number }): Promise<{ train: TaskPrompt[]; heldout: TaskPrompt[]; source: string }> {
  const named = task.split(",").map((t) => t.trim());
  if (named.every((t) => (INSTRUCTION_TASKS as readonly string[]).includes(t))) {
    const mix = buildInstructionMix({ tasks: named, perTask: o.perTask, seed: o.seed });
    const keep = (cs: Conversation[]) => cs.map(taskPromptOf).filter((p): p is TaskPrompt => p !== null);
    return { train: keep(mix.train), heldout: keep(mix.heldout), source: `instruction mix tasks ${named.join(", ")} (seed ${o.seed})` };
  }
  const read = async (files: string[], label: string) => {
    const { convs } = await readConversations(files, label);
    const out = convs.map(taskPromptOf).filter((p): p is TaskPrompt => p !== null);
    if (out.length === 0) throw new RlDataError(`${files.join(", ")}: no prompts (expected conversations, question/answer or prompt/completion records; tasks by name: ${INSTRUCTION_TASKS.join(", ")})`);
    return out;
  };
  const all = await read([task], "--task");
  if (o.valData && o.valData.length > 0) return { train: all, heldout: await read(o.valData, "--val-data"), source: task };
  // A seeded split by prompt text: the same prompt never lands on both sides.
  const key = (p: TaskPrompt) => JSON.stringify(p.messages);
  const keys = [...new Set(all.map(key))];
  const held = new Set(keys.filter((k) => hash01(k, o.seed) < o.valFraction));
  return { train: all.filter((p) => !held.has(key(p))), heldout: all.filter((p) => held.has(key(p))), source: task };
}

/** A stable number in [0, 1) from a string and a seed (FNV-1a). */
function hash01(s: string, seed: number): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h / 2 ** 32;
}
