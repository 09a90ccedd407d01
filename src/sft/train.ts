// Supervised fine-tuning as one library call (what `llmforge sft` and the quickstart run): reads
// conversations in any supported format, renders them with the chat template into ids + loss masks,
// packs them, trains with the generic step loop (full or parameter-efficient), evaluates held-out
// loss and exact match before and after, and writes a model folder with tokenizer and template.
// The run folder is locked for the whole run; resuming follows train/resume.ts.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Conversation } from "../data/formats/conversation.js";
import { convertToConversations } from "../data/formats/convert.js";
import { DataStats } from "../data/stats.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { withFolderLock } from "../io/runLock.js";
import { formatCount } from "../model/config.js";
import type { GPT } from "../model/gpt.js";
import { baseModelOf, saveAdapter } from "../model/peftFormat.js";
import { applyPeft, type PeftConfigInput } from "../nn/peft.js";
import { loadRun } from "../model/runFolder.js";
import { saveModel } from "../model/serialize.js";
import { ids, } from "../tensor/ops/index.js";
import { CHATML_TEMPLATE, chatTemplateSpecialTokens, readTokenizerConfig, requireChatTokens, writeTokenizerConfig } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { completedSummary, markRunCompleted, planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import { type AnswerEval, evaluateAnswers, heldoutLoss } from "./evaluate.js";
import { type PackingMode, SftBatches, type SftBatch } from "./packing.js";
import { type LossOn, SftConfigError, tokenizeConversations, type TokenizeReport } from "./tokenizeChat.js";

export interface SftOptions extends StageRunOptions {
  /** Base model: a run folder (RUN/model + RUN/tokenizer) or a model folder with tokenizer.json. */
  model: string;
  /** Training conversations: files or folders in any format `llmforge data convert` reads. */
  data: string[];
  /** Held-out conversations; default: `valFraction` of the training data, chosen by seed. */
  valData?: string[];
  valFraction?: number;
  /** Run folder of the fine-tuned model. */
  out: string;
  /**
   * When the tokenizer lacks the chat template's special tokens: add them (and grow the model's
   * vocabulary) instead of stopping with an error.
   */
  addChatTokens?: boolean;
  /** Full fine-tuning (default) or a parameter-efficient method: LoRA, bottleneck adapters, prefix tuning, freezing. */
  peft?: PeftConfigInput;
  lossOn?: LossOn;
  maskHistory?: boolean;
  packing?: PackingMode;
  truncation?: "skip" | "right";
  accumulation?: number;
  /** Held-out prompts answered greedily for exact match, before and after (default 200; 0 = none). */
  evalPrompts?: number;
}

export interface SftSummary {
  out: string;
  /** OUT/model; null when the run was stopped by its signal (a half-trained model is not written). */
  modelDir: string | null;
  train: TokenizeReport;
  heldout: TokenizeReport;
  packing: { rows: number; efficiency: number };
  params: { trainable: number; total: number };
  training: StepLoopSummary;
  before: { loss: number | null; answers: AnswerEval | null };
  after: { loss: number | null; answers: AnswerEval | null };
}

/** Reads every conversation of the inputs (any supported format; bad records are counted and reported). */
export async function readConversations(inputs: readonly string[], label: string, o: { prompts?: boolean } = {}): Promise<{ convs: Conversation[]; stats: DataStats }> {
  for (const f of inputs) if (!existsSync(f)) throw new SftConfigError(`${label}: ${f} not found`);
  const stats = new DataStats("convert");
  const convs: Conversation[] = [];
  for await (const c of convertToConversations(inputs, { stats, onError: "skip", prompts: o.prompts })) convs.push(c);
  if (convs.length === 0) throw new SftConfigError(`${label}: no usable conversation in ${inputs.join(", ")} (see \`llmforge data convert\` for the formats read)`);
  return { convs, stats };
}

/** Deterministic split: every k-th conversation of a seeded order goes to held-out. */
function splitHeldout(convs: Conversation[], fraction: number, seed: number): { train: Conversation[]; heldout: Conversation[] } {
  const n = convs.length;
  const k = Math.max(1, Math.round(n * fraction));
  const order = convs.map((_, i) => i).sort((a, b) => hash(a, seed) - hash(b, seed));
  const held = new Set(order.slice(0, Math.min(k, n - 1)));
  return { train: convs.filter((_, i) => !held.has(i)), heldout: convs.filter((_, i) => held.has(i)) };
}

function hash(i: number, seed: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed, 0xc2b2ae35);
  h ^= h >>> 13;
  return Math.imul(h, 0x27d4eb2f) >>> 0;
}

/** The chat template of a run's tokenizer folder (tokenizer_config.json), or ChatML. */
function templateOf(tokenizerFile: string): string {
  return readTokenizerConfig(dirname(tokenizerFile))?.chatTemplate ?? CHATML_TEMPLATE;
}

/**
 * Writes the tokenizer files (tokenizer.json + tokenizer_config.json with the template) into dir:
 * the base run's tokenizer.json as it was, or `json` when tokens were added to it.
 */
export function writeChatTokenizer(dir: string, tok: Tokenizer, tokenizerFile: string, template: string, blockSize: number, json: string | null = null): void {
  mkdirSync(dir, { recursive: true });
  if (json !== null) writeFileAtomicSync(join(dir, "tokenizer.json"), json);
  else copyFileSync(tokenizerFile, join(dir, "tokenizer.json"));
  writeTokenizerConfig(dir, tok, { chatTemplate: template, modelMaxLength: blockSize });
}

/** What {@link finishChatRun} writes: the run folder, the stage's name and the model with its tokenizer and template. */
export interface ChatRunOutput {
  out: string;
  /** "dpo", "grpo", "ppo"...: the summary goes to OUT/<stage>.json with format llmforge-<stage>-summary. */
  stage: string;
  model: GPT;
  tok: Tokenizer;
  tokenizerFile: string;
  template: string;
  blockSize: number;
  steps: number;
}

/**
 * Ends a post-training run that trained a chat model: OUT/model (model folder with the tokenizer and template),
 * OUT/tokenizer, OUT/<stage>.json (the summary `make` returns for that model folder, with a format header), and the
 * run marked completed at `steps` (so a rerun knows it is finished).
 */
export function finishChatRun<S extends object>(o: ChatRunOutput, make: (modelDir: string) => S): S {
  const modelDir = join(o.out, "model");
  saveChatModel(modelDir, o.model, o.tok, o.tokenizerFile, o.template);
  writeChatTokenizer(join(o.out, "tokenizer"), o.tok, o.tokenizerFile, o.template, o.blockSize);
  const summary = make(modelDir);
  const header = { format: `llmforge-${o.stage}-summary`, version: 1, writer: `llmforge ${VERSION}` };
  writeFileAtomicSync(join(o.out, `${o.stage}.json`), `${JSON.stringify({ ...header, ...summary }, null, 2)}\n`);
  markRunCompleted(o.out, o.steps);
  return summary;
}

/** Fine-tunes a base model on conversations holding the lock of OUT; see {@link SftOptions}. */
export async function sft(o: SftOptions): Promise<SftSummary> {
  return withFolderLock(o.out, "llmforge sft", () => sftLocked(o));
}

/** The summary {@link sft} wrote for the finished run in `out` (OUT/sft.json), or null. */
export function completedSft(out: string): SftSummary | null {
  return completedSummary<SftSummary>(out, "sft.json");
}

async function sftLocked(o: SftOptions): Promise<SftSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  // the records first: a mistake in --data is reported before the model is loaded
  const data = await readConversations(o.data, "--data");
  let trainConvs = data.convs;
  let heldConvs: Conversation[];
  if (o.valData && o.valData.length > 0) heldConvs = (await readConversations(o.valData, "--val-data")).convs;
  else ({ train: trainConvs, heldout: heldConvs } = splitHeldout(data.convs, o.valFraction ?? 0.05, seed));
  const run = loadRun(o.model, { backend: o.backend });
  const { paths } = run;
  let { model, tokenizer: tok } = run;
  const template = templateOf(paths.tokenizerFile);
  let tokenizerJson: string | null = null; // set when tokens were added: the run's tokenizer.json is rewritten
  const missing = [...new Set([...chatTemplateSpecialTokens(template), "<|im_end|>"])].filter((t) => !tok.specialTokens.has(t));
  if (missing.length > 0 && o.addChatTokens) {
    tok = tok.withSpecialTokens(missing);
    if (tok.vocabSize > model.config.vocabSize) model = model.withVocabSize(tok.vocabSize);
    tokenizerJson = tok.toHuggingFaceJson();
    say(`sft: added ${missing.join(", ")} to the tokenizer (vocabulary ${tok.vocabSize})`);
  }
  requireChatTokens(tok, template, ["<|im_end|>"]);
  const T = model.config.blockSize;
  const modelDir = join(o.out, "model");
  const peft = applyPeft(model, o.peft ?? { method: "none" });
  say(`sft: ${peft.config.method === "none" ? "full fine-tuning" : peft.config.method}: ${peft.summary()}`);
  const padId = tok.specialTokens.get("<|pad|>") ?? tok.specialId("<|im_end|>");

  // Recorded with their defaults, so the API and the CLI describe one run alike.
  const recorded = {
    ...o, model: resolve(o.model), data: o.data.map((f) => resolve(f)), valData: o.valData?.map((f) => resolve(f)),
    peft: o.peft ?? { method: "none" }, lossOn: o.lossOn ?? "assistant", maskHistory: o.maskHistory ?? false, packing: o.packing ?? "bfd",
    truncation: o.truncation ?? "skip", valFraction: o.valFraction ?? 0.05, seed, accumulation: o.accumulation ?? 1,
    addChatTokens: o.addChatTokens ?? false, weightDecay: o.weightDecay ?? 0, signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: {
      model: "--model", data: "--data", valData: "--val-data", valFraction: "--val-fraction", peft: "--peft", lossOn: "--loss-on",
      maskHistory: "--mask-history", packing: "--packing", truncation: "--truncation", seed: "--seed", batchSize: "--batch",
      accumulation: "--accumulation", addChatTokens: "--add-chat-tokens",
    },
    kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes" },
  });
  const ckpt = plan.checkpoint;
  const e = plan.options;

  const tokOpts = { template, lossOn: o.lossOn, maskHistory: o.maskHistory, maxLen: T + 1, truncation: o.truncation };
  const train = tokenizeConversations(tok, trainConvs, tokOpts);
  const held = tokenizeConversations(tok, heldConvs, tokOpts);
  const skipped = Object.entries(train.report.skipped).map(([r, n]) => `${n} ${r}`).join(", ");
  say(`sft: ${train.report.kept} training conversations (${formatCount(train.report.targets)} supervised tokens)` +
    `${skipped ? `, skipped ${skipped}` : ""}; ${held.report.kept} held out`);
  const rejected = data.stats.rejectedCount();
  if (rejected > 0) say(`sft: ${rejected} malformed records skipped (file:line in ${join(o.out, "data_stats.md")})`);

  const batches = new SftBatches(train.examples, { seqLen: T, padId, batchSize: o.batchSize, packing: o.packing ?? "bfd", seed });
  say(`sft: ${batches.rows} rows of ${T} positions (${o.packing ?? "bfd"} packing, ${(batches.stats.efficiency * 100).toFixed(1)}% filled)`);
  const params = { trainable: peft.trainable, total: peft.total };

  mkdirSync(o.out, { recursive: true });
  // Adapters and prefixes cannot be merged: the model folder holds the (frozen) base weights and the adapter beside them.
  const unmergeable = peft.config.method === "adapter" || peft.config.method === "prefix";
  writeFileAtomicSync(join(o.out, "data_stats.md"), data.stats.toMarkdown());
  if (!ckpt || plan.extendTo) {
    // A resumed run keeps its run.json; a lengthened one records its new length.
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-sft-run", version: 1, writer: `llmforge ${VERSION}`, base: e.model, config: model.config, options: e, completed: undefined });
  }

  const evalN = o.evalPrompts ?? 200;
  const heldLoss = () => heldoutLoss(model, held.examples, { seqLen: T, padId, batchSize: o.batchSize });
  const answers = () => (evalN > 0 ? evaluateAnswers(model, tok, heldConvs, { template, limit: evalN }) : null);
  const before = ckpt ? { loss: null, answers: null } : { loss: heldLoss(), answers: answers() };
  if (before.answers) say(`sft: before: held-out loss ${before.loss?.toFixed(3)}, exact match ${(before.answers.exactMatch * 100).toFixed(1)}%, answers ending with <|im_end|> ${(before.answers.endedWithEos * 100).toFixed(1)}%`);

  const training = await runStepLoop<SftBatch>({
    outDir: o.out, model, batches, label: "sft",
    lossOf: (b) => model.loss(ids(b.inputs, [b.B, b.T]), b.targets, { docStart: b.docStart }),
    weightOf: (b) => b.tokens,
    tokensOf: (b) => b.B * b.T,
    accumulation: o.accumulation, maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr,
    warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, ema: e.ema, gradClip: e.gradClip, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
    evaluate: held.examples.length > 0 ? () => ({ loss: heldLoss() }) : undefined,
    evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed, resume: ckpt !== null,
    extendTo: plan.extendTo, progress: o.progress, precision: o.precision, signal: o.signal, meta: { config: model.config },
  });
  const packing = { rows: batches.rows, efficiency: batches.stats.efficiency };
  if (training.stoppedBy === "interrupted") {
    return { out: o.out, modelDir: null, train: train.report, heldout: held.report, packing, params, training, before, after: { loss: null, answers: null } };
  }

  const after = { loss: training.val?.loss ?? heldLoss(), answers: answers() };
  if (after.answers) say(`sft: after: held-out loss ${after.loss?.toFixed(3)}, exact match ${(after.answers.exactMatch * 100).toFixed(1)}%, answers ending with <|im_end|> ${(after.answers.endedWithEos * 100).toFixed(1)}%`);
  if (peft.config.method === "lora") {
    saveAdapter(join(o.out, "adapter"), model, peft, { baseModel: o.model });
    writeChatTokenizer(join(o.out, "adapter"), tok, paths.tokenizerFile, template, T, tokenizerJson);
    peft.mergeInto?.();
  }
  if (unmergeable) {
    saveChatModel(modelDir, baseModelOf(model), tok, paths.tokenizerFile, template, tokenizerJson);
    saveAdapter(modelDir, model, peft, { baseModel: o.model });
  } else {
    saveChatModel(modelDir, model, tok, paths.tokenizerFile, template, tokenizerJson);
  }
  writeChatTokenizer(join(o.out, "tokenizer"), tok, paths.tokenizerFile, template, T, tokenizerJson);
  const summary: SftSummary = {
    out: o.out, modelDir, train: train.report, heldout: held.report,
    packing, params, training, before, after,
  };
  const header = { format: "llmforge-sft-summary", version: 1, writer: `llmforge ${VERSION}` };
  writeFileAtomicSync(join(o.out, "sft.json"), `${JSON.stringify({ ...header, ...summary }, null, 2)}\n`);
  markRunCompleted(o.out, training.steps);
  return summary;
}

/** A model folder a chat client loads as is: weights + config.json + tokenizer files with the template. */
export function saveChatModel(dir: string, model: GPT, tok: Tokenizer, tokenizerFile: string, template: string, tokenizerJson: string | null = null): void {
  saveModel(dir, model);
  writeChatTokenizer(dir, tok, tokenizerFile, template, model.config.blockSize, tokenizerJson);
  const cfgPath = join(dir, "config.json");
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
  cfg.eos_token_id = tok.specialId("<|im_end|>");
  writeFileAtomicSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
}
