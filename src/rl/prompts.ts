// The prompts of an RL run: a named task of the instruction mix (train and held-out items disjoint) or any SFT-format
// file (the last assistant turn is the reference answer), rendered with the chat template's generation prompt and
// encoded; and the seeded order in which a run visits them (its position is part of every checkpoint).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Conversation, Message } from "../data/formats/conversation.js";
import type { DataStats } from "../data/stats.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { buildInstructionMix, INSTRUCTION_TASKS } from "../sft/instructionMix.js";
import { readConversations } from "../sft/train.js";
import { Rng } from "../tensor/rng.js";
import { renderChat } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { RlDataError } from "./rewards.js";

/** A prompt (the conversation up to the answer) and what counts as a right answer. */
export interface TaskPrompt {
  messages: Message[];
  /** Every right answer (exact match after normalisation); empty when the reward does not use references. */
  accept: string[];
  task: string;
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

/** A run's prompts, where they came from, and what reading them left out. */
export interface TaskPromptData {
  train: TaskPrompt[];
  heldout: TaskPrompt[];
  source: string;
  /** What reading the files left out: malformed records (file:line in `stats`) and records with no prompt in them. */
  skipped: { stats: DataStats[]; malformed: number; noPrompt: number; noPromptAt: string[] };
}

const nothingSkipped = (): TaskPromptData["skipped"] => ({ stats: [], malformed: 0, noPrompt: 0, noPromptAt: [] });

/**
 * The prompts of a task: a named task of the instruction mix (its train and held-out items are disjoint), or SFT-format
 * files (any format `llmforge sft` reads, plus prompt-only records: `{"prompt": ...}` or messages ending with the user's
 * turn; the last assistant turn is the answer), split by `valFraction` when no held-out files are given. `label` names the
 * option in errors (`--task` by default).
 */
export async function readTaskPrompts(task: string, o: { valData?: string[]; valFraction: number; seed: number; perTask: number; label?: string }): Promise<TaskPromptData> {
  const named = task.split(",").map((t) => t.trim());
  if (named.every((t) => (INSTRUCTION_TASKS as readonly string[]).includes(t))) {
    const mix = buildInstructionMix({ tasks: named, perTask: o.perTask, seed: o.seed });
    const keep = (cs: Conversation[]) => cs.map(taskPromptOf).filter((p): p is TaskPrompt => p !== null);
    return { train: keep(mix.train), heldout: keep(mix.heldout), source: `instruction mix tasks ${named.join(", ")} (seed ${o.seed})`, skipped: nothingSkipped() };
  }
  // neither all task names nor files: say which names there are (a typo of a name reads like a missing file otherwise)
  const missing = named.filter((t) => !(INSTRUCTION_TASKS as readonly string[]).includes(t));
  if (!existsSync(task)) {
    throw new RlDataError(`${o.label ?? "--task"} ${missing.join(", ")}: neither a task name (${INSTRUCTION_TASKS.join(", ")}) nor an existing prompts file`);
  }
  const skipped = nothingSkipped();
  const read = async (files: string[], label: string) => {
    const { convs, stats } = await readConversations(files, label, { prompts: true });
    const out: TaskPrompt[] = [];
    for (const c of convs) {
      const p = taskPromptOf(c);
      if (p) out.push(p);
      else if (skipped.noPromptAt.length < 10) skipped.noPromptAt.push(`${c.meta?.file ?? files.join(", ")}:${c.meta?.line ?? "?"}`);
    }
    if (out.length === 0) throw new RlDataError(`${files.join(", ")}: no prompts (expected prompt-only records, conversations, question/answer or prompt/completion records; tasks by name: ${INSTRUCTION_TASKS.join(", ")})`);
    skipped.stats.push(stats);
    skipped.malformed += stats.rejectedCount();
    skipped.noPrompt += convs.length - out.length;
    return out;
  };
  const all = await read([task], o.label ?? "--task");
  if (o.valData && o.valData.length > 0) return { train: all, heldout: await read(o.valData, "--val-data"), source: task, skipped };
  // A seeded split by prompt text: the same prompt never lands on both sides.
  const key = (p: TaskPrompt) => JSON.stringify(p.messages);
  const keys = [...new Set(all.map(key))];
  const held = new Set(keys.filter((k) => hash01(k, o.seed) < o.valFraction));
  return { train: all.filter((p) => !held.has(key(p))), heldout: all.filter((p) => held.has(key(p))), source: task, skipped };
}

/**
 * Says what reading the prompt files left out, naming the first malformed record's file:line, and writes every reason
 * with examples to OUT/data_stats.md (files only; nothing for a named task). Returns the line said, or null.
 */
export function reportSkippedPrompts(data: TaskPromptData, out: string, stage: string, say: (s: string) => void): string | null {
  const { stats, malformed, noPrompt, noPromptAt } = data.skipped;
  if (stats.length === 0) return null;
  const listed = noPromptAt.length > 0 ? `\n### Records with no prompt (${noPrompt}; the first ${noPromptAt.length})\n\n${noPromptAt.map((w) => `- ${w}`).join("\n")}\n` : "";
  writeFileAtomicSync(join(out, "data_stats.md"), stats.map((s) => s.toMarkdown()).join("\n") + listed);
  if (malformed === 0 && noPrompt === 0) return null;
  const first = stats.flatMap((s) => Object.entries(s.rejected)).find(([, e]) => e.examples.length > 0);
  const parts = [
    malformed > 0 ? `${malformed} malformed record${malformed === 1 ? "" : "s"}${first ? ` (first: ${first[1].examples[0]}: ${first[0]})` : ""}` : "",
    noPrompt > 0 ? `${noPrompt} record${noPrompt === 1 ? "" : "s"} with no prompt (nothing before the last assistant turn, or a last turn that is neither the user's nor the assistant's; first: ${noPromptAt[0]})` : "",
  ].filter((x) => x);
  const line = `${stage}: skipped ${parts.join(" and ")}; every reason with file:line in ${join(out, "data_stats.md")}`;
  say(line);
  return line;
}

/** A stable number in [0, 1) from a string and a seed (FNV-1a). */
function hash01(s: string, seed: number): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h / 2 ** 32;
}

/** A prompt ready to sample from: its token ids, its last user turn (what a reward function is shown) and its record. */
export interface EncodedPrompt {
  ids: number[];
  text: string;
  record: TaskPrompt;
}

/** Renders and encodes prompts; those that leave fewer than `room` tokens of the block are counted and left out. */
export function encodePrompts(tok: Tokenizer, template: string, prompts: readonly TaskPrompt[], blockSize: number, room: number): { prompts: EncodedPrompt[]; tooLong: number } {
  let tooLong = 0;
  const out = prompts.flatMap((record) => {
    const ids = tok.encode(renderChat(template, record.messages, { addGenerationPrompt: true }), { allowedSpecial: "all" });
    if (ids.length + room > blockSize) {
      tooLong++;
      return [];
    }
    return [{ ids, text: record.messages[record.messages.length - 1]?.content ?? "", record }];
  });
  return { prompts: out, tooLong };
}

/** n prompts visited in a seeded random order per epoch; the cursor (epoch, position) goes into checkpoints. */
export class PromptOrder {
  private epoch = 0;
  private pos = 0;
  private order: Int32Array | null = null;
  constructor(readonly n: number, private readonly seed: number) {}

  /** The next k prompt indices (wrapping into the next epoch). */
  take(k: number): number[] {
    const index: number[] = [];
    while (index.length < k) {
      if (this.pos >= this.n) {
        this.epoch++;
        this.pos = 0;
        this.order = null;
      }
      this.order ??= new Rng(this.seed + 7919 * this.epoch).permutation(this.n);
      index.push(this.order[this.pos++]);
    }
    return index;
  }

  getCursor(): { epoch: number; pos: number; n: number } {
    return { epoch: this.epoch, pos: this.pos, n: this.n };
  }

  setCursor(c: { epoch?: number; pos?: number; n?: number }): void {
    if (c.n !== this.n) throw new RlDataError(`the checkpoint was saved for ${c.n} training prompts, the task now gives ${this.n}; resume with the same prompts`);
    this.epoch = c.epoch ?? 0;
    this.pos = c.pos ?? 0;
    this.order = null;
  }
}
