// Held-out figures of a chat model: loss on the supervised tokens of held-out conversations, and
// greedy answers to held-out prompts scored by exact match (per task), with the share of answers
// the model closes with its end-of-turn token (a model that never stops is the classic SFT failure).
import type { Conversation } from "../data/formats/conversation.js";
import { sampleGroups } from "../infer/sampleGroups.js";
import type { GPT } from "../model/gpt.js";
import { ids } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { renderChat } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { exactMatch } from "./instructionMix.js";
import { SftBatches } from "./packing.js";
import type { TokenizedExample } from "./tokenizeChat.js";

/** Mean loss per supervised token over every held-out example (one pass, unshuffled, packed). */
export function heldoutLoss(model: GPT, examples: readonly TokenizedExample[], o: { seqLen: number; padId: number; batchSize: number }): number | null {
  if (examples.length === 0) return null;
  const batches = new SftBatches(examples, { seqLen: o.seqLen, padId: o.padId, batchSize: 1, packing: "bfd", shuffle: false });
  const wasTraining = model.training;
  model.eval();
  let sum = 0;
  let count = 0;
  for (let r = 0; r < batches.rows; r++) {
    const b = batches.next();
    if (b.tokens === 0) continue;
    sum += tidy(() => noGrad(() => model.loss(ids(b.inputs, [b.B, b.T]), b.targets, { docStart: b.docStart, reduction: "sum" }).item()));
    count += b.tokens;
  }
  model.train(wasTraining);
  return count > 0 ? sum / count : null;
}

export interface AnswerEvalOptions {
  template: string;
  /** The token that ends an assistant turn (default "<|im_end|>"). */
  eosToken?: string;
  /** Most tokens per answer (default 32). */
  maxTokens?: number;
  /** Evaluate at most this many prompts (default all). */
  limit?: number;
}

export interface AnswerEval {
  prompts: number;
  exactMatch: number;
  /** Share of answers that ended with the end-of-turn token (not cut by maxTokens or the context). */
  endedWithEos: number;
  perTask: Record<string, { prompts: number; exactMatch: number }>;
  samples: { prompt: string; answer: string; reference: string; match: boolean }[];
}

/**
 * Greedy answers to each conversation's last user turn (the conversation without its final
 * assistant message, rendered with the generation prompt), compared with the reference:
 * `meta.accept` (every right answer) or `meta.answer` or the final assistant message.
 */
export function evaluateAnswers(model: GPT, tok: Tokenizer, convs: readonly Conversation[], o: AnswerEvalOptions): AnswerEval {
  const eos = tok.specialId(o.eosToken ?? "<|im_end|>");
  const list = spreadOverTasks(convs, o.limit ?? convs.length);
  const perTask: AnswerEval["perTask"] = {};
  const samples: AnswerEval["samples"] = [];
  let matched = 0;
  let ended = 0;
  let n = 0;
  const wasTraining = model.training;
  model.eval();
  // Every prompt answered greedily in one batched pass (the batch decoder gives each row what it gives alone).
  const items = list.flatMap((conv) => {
    const last = conv.messages[conv.messages.length - 1];
    if (last?.role !== "assistant") return [];
    const prompt = renderChat(o.template, conv.messages.slice(0, -1), { addGenerationPrompt: true });
    const promptIds = tok.encode(prompt, { allowedSpecial: "all" });
    return promptIds.length < model.config.blockSize ? [{ conv, last, promptIds }] : [];
  });
  const sampled = items.length > 0
    ? sampleGroups(model, items.map((x) => x.promptIds), { maxTokens: o.maxTokens ?? 32, temperature: 0, stopTokens: [eos], vocabLimit: tok.vocabSize, rng: new Rng(0) }).completions
    : [];
  for (const [i, { conv, last }] of items.entries()) {
    const c = sampled[i][0];
    const answer = tok.decode(c.finish === "stop_token" ? c.tokens.slice(0, -1) : c.tokens, { skipSpecial: true });
    const meta = conv.meta ?? {};
    const refs = Array.isArray(meta.accept) ? (meta.accept as string[]) : [typeof meta.answer === "string" ? meta.answer : last.content];
    const match = exactMatch(answer, refs);
    const task = typeof meta.task === "string" ? meta.task : "all";
    const t = perTask[task] ?? { prompts: 0, exactMatch: 0 };
    perTask[task] = t;
    t.prompts++;
    if (match) {
      t.exactMatch++;
      matched++;
    }
    if (c.finish === "stop_token") ended++;
    n++;
    if (samples.length < 12) samples.push({ prompt: conv.messages[conv.messages.length - 2]?.content ?? "", answer, reference: refs[0], match });
  }
  model.train(wasTraining);
  for (const t of Object.values(perTask)) t.exactMatch = t.exactMatch / t.prompts;
  return { prompts: n, exactMatch: n > 0 ? matched / n : 0, endedWithEos: n > 0 ? ended / n : 0, perTask, samples };
}

/** Up to `limit` items taken round robin over their task (`meta.task` of a conversation by default), so every task is scored. */
export function spreadOverTasks<T>(items: readonly T[], limit: number, taskOf: (x: T) => string = (x) => taskOfMeta(x as { meta?: Record<string, unknown> })): T[] {
  if (limit >= items.length) return [...items];
  const byTask = new Map<string, T[]>();
  for (const c of items) {
    const t = taskOf(c);
    const list = byTask.get(t) ?? [];
    list.push(c);
    byTask.set(t, list);
  }
  const out: T[] = [];
  for (let i = 0; out.length < limit; i++) {
    for (const list of byTask.values()) if (i < list.length && out.length < limit) out.push(list[i]);
  }
  return out;
}

const taskOfMeta = (x: { meta?: Record<string, unknown> }): string => (typeof x.meta?.task === "string" ? x.meta.task : "");
