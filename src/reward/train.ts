// Reward-model training as one library call (what `llmforge reward` runs): preference records in any
// supported format -> the SFT model's trunk with a scalar head, trained with Bradley-Terry and/or MSE
// through the generic step loop; held-out pair accuracy, mean margin and score MSE before, during and
// after; written as a Hugging Face sequence-classification model folder with tokenizer and template.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { convertToPreferences } from "../data/formats/convertPreferences.js";
import type { PreferenceRecord } from "../data/formats/preference.js";
import { DataStats } from "../data/stats.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { withFolderLock } from "../io/runLock.js";
import { GPT } from "../model/gpt.js";
import { RewardModel, saveRewardModel, trunkOf } from "../model/heads.js";
import { loadRun, runChatTemplate } from "../model/runFolder.js";
import { applyPeft, formatTrainable, PeftError, type PeftConfigInput, parsePeftConfig } from "../nn/peft.js";
import { writeChatTokenizer } from "../sft/train.js";
import { ids, } from "../tensor/ops/index.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import { CHATML_TEMPLATE, requireChatTokens } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { type BatchSource, CurriculumBatches, runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { markRunCompleted, planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import { makeRewardBatch, RewardBatches, RewardDataError, type RewardBatch, type RewardDataReport, type RewardExample, type RewardTruncation, tokenizePreferences } from "./data.js";
import { pairStats, rewardLoss, type RewardLossKind, type RewardLossOptions } from "./losses.js";

export interface RewardOptions extends StageRunOptions {
  /** The policy to start from: an SFT run folder (RUN/model + tokenizer with the chat template) or a model folder. */
  model: string;
  /** Training preference records: files or folders in any format `llmforge data convert --to preferences` reads. */
  data: string[];
  /** Held-out records; default: `valFraction` of the training prompts (split by prompt). */
  valData?: string[];
  valFraction?: number;
  /** Run folder; the reward model goes to OUT/model. */
  out: string;
  /** "bt" (default): Bradley-Terry on pairs; "mse": regression on scores; "bt+mse": both. */
  loss?: RewardLossKind;
  /** Multiplies pair margins in Bradley-Terry (default 1; 0 ignores them). */
  marginScale?: number;
  /** Reward centering coefficient (default 0 = off; 0.01 in Eisenstein et al.). */
  centerCoef?: number;
  /** Weight of the MSE term with "bt+mse" (default 1). */
  mseCoef?: number;
  /** Source scale of scores (default [1, 5]), mapped to [-1, 1]; scores outside it are refused. */
  scoreRange?: [number, number];
  /** Weights of score dimensions (default 1 each), in the pair order and in the regression target. */
  scoreWeights?: Record<string, number>;
  truncation?: RewardTruncation;
  accumulation?: number;
  /** Dropout in the trunk while training (embeddings, attention, residual; default 0): a regulariser against memorising answers. */
  dropout?: number;
  /**
   * What of the trunk is trained (the scalar head always is), through the same PEFT code as `llmforge sft`: full (default),
   * "freeze" (e.g. only the last N blocks: `trainLastLayers`) or "lora" (merged into the saved model). Adapters and prefixes
   * are refused: a reward model folder holds plain weights.
   */
  peft?: PeftConfigInput;
  /**
   * A curriculum's first phase: preference records (as `data`) that the first `curriculumSteps` optimizer steps train on,
   * before every later step trains on `data`. With the offline mix, its records that ask for the positive polarity
   * (`llmforge data preferences --curriculum`) teach answer valence as a main effect first, from which the polarity × valence
   * interaction the mixed records need is learnt early and on every seed tried, instead of after a seed-dependent plateau.
   */
  curriculumData?: string[];
  curriculumSteps?: number;
}

/** Pair accuracy, mean margin (r_better - r_worse) and score MSE of a model on a set of prompts. */
export interface RewardEval {
  prompts: number;
  pairs: number;
  /** Share of pairs ranked right (ties count half); null without pairs. */
  pairAccuracy: number | null;
  meanMargin: number | null;
  scored: number;
  /** Mean squared error of the reward against the normalised score targets in [-1, 1]; null without scores. */
  scoreMse: number | null;
  /** The training loss on these prompts. */
  loss: number;
  /** Pair accuracy per `meta.task` of the records, when they name tasks. */
  byTask?: Record<string, { pairs: number; pairAccuracy: number | null }>;
}

export interface RewardSummary {
  out: string;
  /** OUT/model; null when the run was stopped by its signal (no half-trained model is written). */
  modelDir: string | null;
  train: RewardDataReport;
  heldout: RewardDataReport;
  /** Records the converter rejected or removed (file:line in OUT/data_stats.md). */
  rejected: number;
  training: StepLoopSummary;
  before: RewardEval | null;
  after: RewardEval | null;
  /** The final model on (up to 1000 of) the training prompts, to compare with held-out. */
  trainEval: RewardEval | null;
  /** Parameters trained (trunk + head) and in all. */
  params: { trainable: number; total: number };
}

/** Reads preference records (any supported format); bad ones are counted in the returned stats. */
export async function readPreferences(inputs: readonly string[], label: string, o: { scoreRange?: [number, number]; scoreWeights?: Record<string, number> } = {}): Promise<{ records: PreferenceRecord[]; stats: DataStats }> {
  const stats = new DataStats("convert");
  const records: PreferenceRecord[] = [];
  for await (const r of convertToPreferences(inputs, { stats, onError: "skip", scoreRange: o.scoreRange, scoreWeights: o.scoreWeights })) records.push(r);
  if (records.length === 0) throw new RewardDataError(`${label}: no usable preference record in ${inputs.join(", ")} (see \`llmforge data convert --to preferences\` for the formats read)`);
  return { records, stats };
}

/** Held-out split by prompt: every record of a prompt lands on the same side (seeded hash of the prompt). */
export function splitByPrompt(records: readonly PreferenceRecord[], fraction: number, seed: number): { train: PreferenceRecord[]; heldout: PreferenceRecord[] } {
  const train: PreferenceRecord[] = [];
  const heldout: PreferenceRecord[] = [];
  for (const r of records) {
    let h = (0x811c9dc5 ^ seed) >>> 0;
    for (const ch of JSON.stringify(r.prompt)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    (h / 2 ** 32 < fraction ? heldout : train).push(r);
  }
  return { train, heldout };
}

/** The rewards (N,) of a batch's answers, read where each ends. */
export function batchRewards(rm: RewardModel, b: RewardBatch): Tensor {
  return rm.rewardsAt(ids(b.ids, [b.rows, b.T]), b.ends, b.docStart ?? undefined);
}

/** Evaluates `rm` on examples (no gradients, eval mode; the mode is restored). */
export function evaluateRewards(rm: RewardModel, examples: readonly RewardExample[], o: { batchSize: number; padId: number; loss?: RewardLossOptions }): RewardEval {
  const wasTraining = rm.training;
  rm.eval();
  const s = { pairs: 0, correct: 0, marginSum: 0, scored: 0, squaredError: 0, loss: 0 };
  const tasks = new Map<string, { pairs: number; correct: number }>();
  try {
    for (let i = 0; i < examples.length; i += o.batchSize) {
      const chunk = examples.slice(i, i + o.batchSize);
      const b = makeRewardBatch(chunk, o.padId, rm.config.blockSize);
      tidy(() => noGrad(() => {
        const r = batchRewards(rm, b);
        s.loss += rewardLoss(r, b.groups, o.loss).item() * chunk.length;
        const st = pairStats(r.toTypedArray(), b.groups);
        s.pairs += st.pairs;
        s.correct += st.correct;
        s.marginSum += st.marginSum;
        s.scored += st.scored;
        s.squaredError += st.squaredError;
        chunk.forEach((ex, j) => {
          if (ex.task === undefined) return;
          const t = tasks.get(ex.task) ?? { pairs: 0, correct: 0 };
          const one = pairStats(r.toTypedArray(), [b.groups[j]]);
          tasks.set(ex.task, { pairs: t.pairs + one.pairs, correct: t.correct + one.correct });
        });
      }));
    }
  } finally {
    rm.train(wasTraining);
  }
  return {
    prompts: examples.length, pairs: s.pairs, pairAccuracy: s.pairs ? s.correct / s.pairs : null, meanMargin: s.pairs ? s.marginSum / s.pairs : null,
    scored: s.scored, scoreMse: s.scored ? s.squaredError / s.scored : null, loss: examples.length ? s.loss / examples.length : Number.NaN,
    ...(tasks.size > 0 ? { byTask: Object.fromEntries([...tasks].map(([k, t]) => [k, { pairs: t.pairs, pairAccuracy: t.pairs ? t.correct / t.pairs : null }])) } : {}),
  };
}

/** The id batches are padded with and config.json's pad_token_id: one that never occurs inside a sequence. */
export function rewardPadId(tok: Tokenizer): number | null {
  return tok.specialTokens.get("<|pad|>") ?? tok.specialTokens.get("<|endoftext|>") ?? null;
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? "n/a" : `${(x * 100).toFixed(1)}%`);

/** One line on an evaluation, for progress output. */
export function describeEval(e: RewardEval): string {
  const mse = e.scoreMse !== null ? `, score MSE ${e.scoreMse.toFixed(4)}` : "";
  const tasks = Object.entries(e.byTask ?? {}).map(([k, t]) => `${k} ${pct(t.pairAccuracy)}`).join(", ");
  return `pair accuracy ${pct(e.pairAccuracy)} over ${e.pairs} pairs${tasks ? ` (${tasks})` : ""}, mean margin ${e.meanMargin?.toFixed(3) ?? "n/a"}${mse}`;
}

/** `trunk` with another dropout rate: a copy with the same weights (the config is fixed at construction). */
function withDropout(trunk: GPT, dropout: number): GPT {
  if (!(dropout >= 0 && dropout < 1)) throw new RewardDataError(`dropout must be in [0, 1), got ${dropout}`);
  if (dropout === trunk.config.dropout) return trunk;
  const copy = new GPT({ ...trunk.config, dropout }, { dtype: trunk.dtype, backend: trunk.backendName, initWeights: false });
  const own = new Map(trunk.namedParameters());
  for (const [n, p] of copy.namedParameters()) p.data.set((own.get(n) as Tensor).contiguousData(), p.offset);
  copy.dropoutRng.setState(trunk.dropoutRng.getState());
  return copy;
}

/** The PEFT methods a reward model can be trained with: those whose result is plain weights. */
const REWARD_PEFT_METHODS = ["none", "freeze", "lora"];

/** Validates `peft` for a reward model (the schema's messages, and adapters/prefixes refused); the default is full training. */
export function rewardPeftConfig(peft: PeftConfigInput | undefined): PeftConfigInput {
  const cfg = parsePeftConfig(peft ?? { method: "none" }, "reward PEFT config");
  if (!REWARD_PEFT_METHODS.includes(cfg.method)) {
    throw new PeftError(`reward models train with --peft ${REWARD_PEFT_METHODS.join(", ")}, not "${cfg.method}": a reward model folder holds plain weights, and ${cfg.method} modules cannot be merged into them`);
  }
  return cfg;
}

/** Trains a reward model on preference records holding the lock of OUT; see {@link RewardOptions}. */
export async function reward(o: RewardOptions): Promise<RewardSummary> {
  return withFolderLock(o.out, "llmforge reward", () => rewardLocked(o));
}

async function rewardLocked(o: RewardOptions): Promise<RewardSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  const loss = o.loss ?? "bt";
  const lossOpts: RewardLossOptions = { kind: loss, marginScale: o.marginScale, centerCoef: o.centerCoef, mseCoef: o.mseCoef };
  const recorded = {
    ...o, model: resolve(o.model), data: o.data.map((f) => resolve(f)), valData: o.valData?.map((f) => resolve(f)), loss, seed,
    valFraction: o.valFraction ?? 0.05, marginScale: o.marginScale ?? 1, centerCoef: o.centerCoef ?? 0, mseCoef: o.mseCoef ?? 1,
    scoreRange: o.scoreRange ?? [1, 5], truncation: o.truncation ?? "skip", accumulation: o.accumulation ?? 1, weightDecay: o.weightDecay ?? 0,
    dropout: o.dropout ?? 0, peft: rewardPeftConfig(o.peft), curriculumData: o.curriculumData?.map((f) => resolve(f)), curriculumSteps: o.curriculumSteps ?? 0,
    signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: {
      model: "--model", data: "--data", valData: "--val-data", valFraction: "--val-fraction", loss: "--loss", marginScale: "--margin-scale",
      centerCoef: "--center-coef", mseCoef: "--mse-coef", scoreRange: "--score-range", scoreWeights: "--score-weights", truncation: "--truncation",
      seed: "--seed", batchSize: "--batch", accumulation: "--accumulation", dropout: "--dropout", peft: "--peft",
      curriculumData: "--curriculum-data", curriculumSteps: "--curriculum-steps",
    },
    kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes" },
  });
  const e = plan.options;
  const curriculumSteps = e.curriculumSteps;
  if (!(Number.isInteger(curriculumSteps) && curriculumSteps >= 0)) throw new RewardDataError(`--curriculum-steps must be a whole number >= 0, got ${curriculumSteps}`);
  if ((curriculumSteps > 0) !== (e.curriculumData !== undefined && e.curriculumData.length > 0)) throw new RewardDataError("--curriculum-data and --curriculum-steps go together: the records of the first phase and how many steps it lasts");
  if (curriculumSteps >= e.steps) throw new RewardDataError(`--curriculum-steps ${curriculumSteps} leaves no step for --data (--steps ${e.steps})`);

  // the records first: a mistake in --data is reported before the model is loaded
  const data = await readPreferences(o.data, "--data", o);
  let trainRecs = data.records;
  let heldRecs: PreferenceRecord[];
  if (o.valData && o.valData.length > 0) {
    const v = await readPreferences(o.valData, "--val-data", o);
    heldRecs = v.records;
    data.stats.merge(v.stats);
  } else ({ train: trainRecs, heldout: heldRecs } = splitByPrompt(data.records, e.valFraction, seed));
  // the curriculum's records are read with the others, so that what the converter left out of them is in data_stats.md too
  const curriculumRecs = curriculumSteps > 0 ? await readPreferences(e.curriculumData ?? [], "--curriculum-data", o) : null;
  if (curriculumRecs) data.stats.merge(curriculumRecs.stats);

  const run = loadRun(o.model, { backend: o.backend });
  const tok = run.tokenizer;
  const template = runChatTemplate(run) ?? CHATML_TEMPLATE;
  requireChatTokens(tok, template, ["<|im_end|>"]);
  const rm = new RewardModel(withDropout(trunkOf(run.model), e.dropout), { seed });
  // Frozen trunk parameters get no gradient and no optimizer state (the step loop trains those with requiresGrad); the head stays trainable.
  const peft = applyPeft(rm.trunk, e.peft);
  const params = { trainable: rm.numParameters(true), total: rm.numParameters() };
  say(`reward: ${peft.config.method === "none" ? "full training" : `--peft ${peft.config.method}`}: ${formatTrainable(params.trainable, params.total)} parameters (trunk and head)`);
  const T = rm.config.blockSize;
  const padId = rewardPadId(tok) ?? tok.specialId("<|im_end|>");

  const dataOpts = { loss, template, maxLen: T, truncation: o.truncation, scoreRange: o.scoreRange, scoreWeights: o.scoreWeights };
  const train = tokenizePreferences(tok, trainRecs, dataOpts);
  const held = tokenizePreferences(tok, heldRecs, dataOpts);
  const skipped = (r: RewardDataReport): string => {
    const parts = Object.entries(r.skipped).map(([k, n]) => `${n} ${k}`);
    if (r.tooLong) parts.push(`${r.tooLong} answers over ${T} tokens${r.truncated ? ` (${r.truncated} cut on the left)` : ""}, ${r.pairsDropped} pairs dropped`);
    if (r.scoresOutOfRange) parts.push(`${r.scoresOutOfRange} scores outside [${e.scoreRange.join(", ")}] not used`);
    return parts.length ? ` (left out: ${parts.join(", ")})` : "";
  };
  say(`reward: ${train.report.kept} training prompts, ${train.report.pairs} pairs, ${train.report.scored} scored answers${skipped(train.report)}`);
  say(`reward: ${held.report.kept} held-out prompts, ${held.report.pairs} pairs, ${held.report.scored} scored answers${skipped(held.report)}`);
  const rejected = data.stats.rejectedCount() + data.stats.removedCount();
  mkdirSync(o.out, { recursive: true });
  writeFileAtomicSync(join(o.out, "data_stats.md"), data.stats.toMarkdown());
  if (rejected > 0) say(`reward: ${rejected} records rejected or removed by the converter (file:line in ${join(o.out, "data_stats.md")})`);
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-reward-run", version: 1, writer: `llmforge ${VERSION}`, base: e.model, config: rm.config, options: e, completed: undefined });
  }

  const mainBatches = new RewardBatches(train.examples, { batchSize: o.batchSize, padId, seed, rowLen: T });
  let batches: BatchSource<RewardBatch> = mainBatches;
  if (curriculumRecs) {
    const first = tokenizePreferences(tok, curriculumRecs.records, dataOpts);
    say(`reward: curriculum: the first ${curriculumSteps} steps on ${first.report.kept} prompts, ${first.report.pairs} pairs of --curriculum-data${skipped(first.report)}`);
    batches = new CurriculumBatches(new RewardBatches(first.examples, { batchSize: o.batchSize, padId, seed, rowLen: T }), curriculumSteps * e.accumulation, mainBatches);
  }
  const evalOf = (ex: RewardExample[]) => evaluateRewards(rm, ex, { batchSize: o.batchSize, padId, loss: lossOpts });
  const asMetrics = (v: RewardEval) => ({
    loss: v.loss, pair_accuracy: v.pairAccuracy, margin: v.meanMargin, score_mse: v.scoreMse,
    ...Object.fromEntries(Object.entries(v.byTask ?? {}).map(([k, t]) => [`pair_accuracy_${k}`, t.pairAccuracy])),
  });
  const before = plan.checkpoint || held.examples.length === 0 ? null : evalOf(held.examples);
  if (before) say(`reward: before: held-out ${describeEval(before)}`);

  const training = await runStepLoop<RewardBatch>({
    outDir: o.out, model: rm, batches, label: "reward",
    lossOf: (b) => {
      const r = batchRewards(rm, b);
      const st = pairStats(r.toTypedArray(), b.groups);
      const metrics: Record<string, number> = {};
      if (st.pairs) Object.assign(metrics, { pair_accuracy: st.correct / st.pairs, margin: st.marginSum / st.pairs });
      if (st.scored) metrics.score_mse = st.squaredError / st.scored;
      return { loss: rewardLoss(r, b.groups, lossOpts), metrics };
    },
    weightOf: (b) => b.prompts,
    tokensOf: (b) => b.rows * b.T,
    accumulation: o.accumulation, maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps,
    weightDecay: e.weightDecay, ema: e.ema, gradClip: e.gradClip, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
    evaluate: held.examples.length > 0 ? () => asMetrics(evalOf(held.examples)) : undefined,
    evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed, resume: plan.checkpoint !== null,
    extendTo: plan.extendTo, progress: o.progress, precision: o.precision, signal: o.signal, meta: { config: rm.config, loss },
  });
  const base = { out: o.out, train: train.report, heldout: held.report, rejected, training, before, params };
  if (training.stoppedBy === "interrupted") return { ...base, modelDir: null, after: null, trainEval: null };

  const after = held.examples.length > 0 ? evalOf(held.examples) : null;
  // up to 1000 training prompts spread over the whole set (records come grouped by task)
  const every = Math.max(1, Math.ceil(train.examples.length / 1000));
  const trainEval = evalOf(train.examples.filter((_, i) => i % every === 0));
  if (after) say(`reward: after: held-out ${describeEval(after)}`);
  say(`reward: after: training ${describeEval(trainEval)}`);
  const modelDir = join(o.out, "model");
  mkdirSync(modelDir, { recursive: true });
  peft.mergeInto?.(); // LoRA: the saved reward model is plain weights, loadable without adapters
  saveRewardModel(modelDir, rm, {
    padTokenId: rewardPadId(tok), eosTokenId: tok.specialId("<|im_end|>"),
    extra: { llmforge_reward: { format: "llmforge-reward-model", version: 1, loss, score_range: e.scoreRange, score_weights: o.scoreWeights ?? null, truncation: e.truncation, peft: e.peft, read_at: "last real token (<|im_end|> of the answer)" } },
  });
  writeChatTokenizer(modelDir, tok, run.paths.tokenizerFile, template, T);
  const summary: RewardSummary = { ...base, modelDir, after, trainEval };
  const header = { format: "llmforge-reward-summary", version: 1, writer: `llmforge ${VERSION}` };
  writeFileAtomicSync(join(o.out, "reward.json"), `${JSON.stringify({ ...header, ...summary }, null, 2)}\n`);
  markRunCompleted(o.out, training.steps);
  return summary;
}
