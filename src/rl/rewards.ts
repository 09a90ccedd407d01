// Reward functions for RL: the exact-match reward of verifiable tasks and a user's JavaScript module
// `reward(prompt, completion, record)`. A reward that throws or is not a finite number is counted, not used.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { exactMatch } from "../sft/instructionMix.js";
import type { TaskPrompt } from "./prompts.js";

/** Bad input for an RL run's prompts or reward; the message says what was expected. */
export class RlDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RlDataError";
  }
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
