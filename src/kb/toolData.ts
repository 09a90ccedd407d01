// Synthetic, offline SFT data that teaches a small model to call the calculator: the instruction mix's arithmetic
// questions (same item split, same phrasings) answered as user -> assistant tool call -> tool result -> assistant
// answer, plus some plain instruction records answered directly, so the model also learns when not to call.
import type { Conversation, Message } from "../data/formats/conversation.js";
import { mulberry32 } from "../data/filters/qualityClassifier.js";
import { hashUnit } from "../data/mix.js";
import { writeJsonlSplits } from "../io/jsonl.js";
import { buildInstructionMix, InstructionMixError, isHeldoutItem, TEMPLATES } from "../sft/instructionMix.js";
import { VERSION } from "../version.js";
import { toolCallsText } from "./toolCalls.js";
import { calculate } from "./tools.js";

/** Options of {@link buildToolCallMix}. */
export interface ToolCallMixOptions {
  /** The instruction mix's seed: held-out items are the ones that mix holds out (default 1234). */
  seed?: number;
  /** Tool-call conversations in train (default 2000). */
  train?: number;
  /** Held-out tool-call conversations (default 200). */
  heldout?: number;
  /** Plain (no tool) instruction records added to train, as a share of `train` (default 0.2). */
  plainRate?: number;
}

const KINDS = [
  { kind: "arithmetic.add", op: "+", as: 100, bs: () => 100 },
  { kind: "arithmetic.sub", op: "-", as: 100, bs: (a: number) => a + 1 },
  { kind: "arithmetic.mul", op: "*", as: 13, bs: () => 13 },
] as const;

/** One arithmetic question answered through the calculator, in OpenAI's message shape rendered as the chat template writes it. */
export function toolCallConversation(question: string, expression: string): Message[] {
  const result = calculate(expression);
  return [
    { role: "user", content: question },
    { role: "assistant", content: toolCallsText([{ name: "calculator", arguments: { expression } }]) },
    { role: "tool", content: result, name: "calculator" },
    { role: "assistant", content: result },
  ];
}

/**
 * Builds the tool-call mix: train conversations on the arithmetic items the instruction mix (of `seed`) trains on,
 * with its train phrasings; held-out ones on its held-out items, half phrased by its held-out-only templates. Each
 * record's meta holds task, kind, item, split, answer, expression.
 */
export function buildToolCallMix(opts: ToolCallMixOptions = {}): { train: Conversation[]; heldout: Conversation[]; stats: Record<string, number> } {
  const seed = opts.seed ?? 1234;
  const nTrain = opts.train ?? 2000;
  const nHeld = opts.heldout ?? 200;
  const plainRate = opts.plainRate ?? 0.2;
  for (const [k, v] of [["train", nTrain], ["heldout", nHeld]] as const) if (!(Number.isInteger(v) && v >= 1)) throw new InstructionMixError(`${k} must be a positive integer, got ${v}`);
  if (!(plainRate >= 0 && plainRate <= 1)) throw new InstructionMixError(`plainRate must be in [0, 1], got ${plainRate}`);
  const rand = mulberry32(Math.floor(hashUnit("tool-calls", seed) * 2 ** 32));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const out = { train: [] as Conversation[], heldout: [] as Conversation[] };
  for (const split of ["train", "heldout"] as const) {
    const want = split === "train" ? nTrain : nHeld;
    const seen = new Set<string>();
    for (let tries = 0; out[split].length < want && tries < want * 50; tries++) {
      const k = pick(KINDS);
      const a = Math.floor(rand() * k.as);
      const b = Math.floor(rand() * k.bs(a));
      const key = `${a}${k.op}${b}`;
      if (isHeldoutItem("arithmetic", key, seed) !== (split === "heldout")) continue;
      const phrasings = TEMPLATES[k.kind];
      const newTemplate = split === "heldout" && rand() < 0.5;
      const ti = newTemplate ? phrasings.length - 1 : Math.floor(rand() * (phrasings.length - 1));
      if (split === "heldout") {
        if (seen.has(`${key}|${ti}`)) continue;
        seen.add(`${key}|${ti}`);
      }
      const question = phrasings[ti].replace("{a}", String(a)).replace("{b}", String(b));
      const expression = `${a} ${k.op} ${b}`;
      const messages = toolCallConversation(question, expression);
      const answer = messages[messages.length - 1].content;
      out[split].push({ messages, meta: { task: "arithmetic", kind: k.kind, template: `${k.kind}.${ti}`, item: key, split, answer, accept: [answer], expression, newTemplate, tools: ["calculator"] } });
    }
  }
  const tools = out.train.length;
  const nPlain = Math.round(nTrain * plainRate);
  if (nPlain > 0) {
    const tasks = ["counting", "spelling", "capital", "sentiment"];
    const plain = buildInstructionMix({ seed, perTask: Math.ceil(nPlain / tasks.length), tasks }).train;
    out.train.push(...plain.slice(0, nPlain));
    // interleave deterministically so packing and shuffling see a mixed file
    for (let i = out.train.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [out.train[i], out.train[j]] = [out.train[j], out.train[i]];
    }
  }
  return { ...out, stats: { seed, train: out.train.length, trainToolCalls: tools, trainPlain: out.train.length - tools, heldout: out.heldout.length } };
}

/** Builds the mix and writes `train.jsonl`, `heldout.jsonl` and `mix.json` (format/version header) under `outDir`. */
export function writeToolCallMix(outDir: string, opts: ToolCallMixOptions = {}): { train: string; heldout: string; mix: string; stats: Record<string, number> } {
  const m = buildToolCallMix(opts);
  const paths = writeJsonlSplits(outDir, { train: m.train, heldout: m.heldout }, { format: "llmforge-tool-call-mix", version: 1, writtenBy: `llmforge ${VERSION}`, tools: ["calculator"], ...m.stats });
  return { ...paths, stats: m.stats };
}
