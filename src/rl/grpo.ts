// GRPO as one library call (what `llmforge grpo` runs): each step samples a group of completions for each of a batch
// of prompts with the current policy (the batched decoder, no tape), scores them with a verifiable reward, turns the
// rewards into group-relative advantages and takes one clipped-policy step through the generic step loop; held-out
// prompts are answered greedily and scored before, during and after. The sampler's RNG and the prompt cursor live in
// the checkpoints, so a run resumes exactly. Written as a chat model folder like SFT and DPO.
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { withFolderLock } from "../io/runLock.js";
import { isRewardModelConfig } from "../model/heads.js";
import { loadRun, resolveRunPaths, runChatTemplate } from "../model/runFolder.js";
import { spreadOverTasks } from "../sft/evaluate.js";
import { finishChatRun } from "../sft/train.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { CHATML_TEMPLATE, requireChatTokens } from "../tokenizer/chatTemplate.js";
import { type BatchSource, runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { completedSummary, planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import { type GrpoAggregation, type GrpoScale, grpoAdvantages, grpoLoss, zeroSpreadFraction, zeroSpreadGroup } from "./losses.js";
import { encodePrompts, PromptOrder, readTaskPrompts, reportSkippedPrompts, type TaskPrompt } from "./prompts.js";
import { loadReward, RlDataError, safeReward } from "./rewards.js";
import { sampleGroups } from "../infer/sampleGroups.js";
import { completionLogps, type PromptCompletion } from "./rollout.js";

export interface GrpoOptions extends StageRunOptions {
  /** The policy to start from (and the reference when beta > 0): an SFT run folder or a chat model folder. */
  model: string;
  /** A named task of the instruction mix (e.g. "arithmetic", or several joined by commas) or an SFT-format file. */
  task: string;
  out: string;
  /** "exact" (default) or a JavaScript module exporting reward(prompt, completion, record). */
  reward?: string;
  valData?: string[];
  /** Held-out share of a file's prompts when no valData (default 0.1). */
  valFraction?: number;
  /** Prompts per named task (default 2000). */
  perTask?: number;
  /** Completions per prompt (default 8); batchSize is prompts per micro-batch. */
  group?: number;
  /** Most new tokens per completion (default 32). */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  /** Weight of the k3 KL to the starting policy (default 0: no reference kept). */
  beta?: number;
  loss?: GrpoAggregation;
  scaleRewards?: GrpoScale;
  epsilon?: number;
  epsilonHigh?: number;
  /** Leave completions cut by maxTokens out of the loss (default false). */
  maskTruncated?: boolean;
  /** Held-out prompts answered at each evaluation (default 200). */
  evalLimit?: number;
  accumulation?: number;
  /**
   * DAPO's dynamic sampling: groups whose rewards are all equal (advantage 0 for every completion: they teach
   * nothing) are dropped and more prompts are sampled in their place, up to this many rollout rounds per
   * micro-batch (default 1: no resampling, every group kept).
   */
  dynamicSampling?: number;
}

/** Held-out figures: mean reward of greedy answers, share answered right (reward ≥ 1), share ended by the end token. */
export type GrpoEval = { reward: number; solved: number; ended: number; length: number; prompts: number };

export interface GrpoSummary {
  out: string;
  modelDir: string | null;
  prompts: { train: number; heldout: number; tooLong: number; source: string };
  training: StepLoopSummary;
  before: GrpoEval | null;
  after: GrpoEval | null;
}

/** A micro-batch: the rollout of some prompts (G completions each) with rewards and advantages. */
interface GrpoBatch {
  rows: PromptCompletion[];
  advantages: Float64Array;
  /** 1 for rows in the loss (a truncated completion or a failed reward leaves it out). */
  keep: Float64Array;
  refLogp: Float64Array | null;
  tokens: number;
  stats: Record<string, number>;
}

/** The G completions of one prompt with their rewards (a failed reward replaced by the group's mean). */
export interface SampledGroup {
  rows: PromptCompletion[];
  rewards: number[];
  /** 1 for completions in the loss (a truncated completion under maskTruncated, or a failed reward, is 0). */
  keep: number[];
  truncated: number;
  failed: number;
  /** The first failed reward's message ("" when none failed). */
  firstError: string;
}

/** Rewards that are all equal: every advantage of the group is 0 (the test the logged zero_spread share counts). */
export function zeroSpread(g: SampledGroup): boolean {
  return zeroSpreadGroup(g.rewards);
}

/**
 * The groups of one micro-batch: `perBatch` prompts' rollouts, and with dynamic sampling (`rounds` > 1) more rounds of
 * `perBatch` prompts, until `perBatch` groups with a reward spread are in hand or `rounds` rounds are spent; then the
 * first `perBatch` of those, topped up with zero-spread groups when too few had a spread. `sampled` counts every
 * group drawn (the zero-spread share of the draws is what the logs report).
 */
export function collectGroups(take: (k: number) => SampledGroup[], perBatch: number, rounds: number): { groups: SampledGroup[]; sampled: SampledGroup[] } {
  if (rounds <= 1) {
    const drawn = take(perBatch);
    return { groups: drawn, sampled: drawn };
  }
  const sampled: SampledGroup[] = [];
  const spread: SampledGroup[] = [];
  for (let round = 0; round < rounds && spread.length < perBatch; round++) {
    const drawn = take(perBatch);
    sampled.push(...drawn);
    spread.push(...drawn.filter((g) => !zeroSpread(g)));
  }
  const groups = spread.slice(0, perBatch);
  for (const g of sampled) {
    if (groups.length >= perBatch) break;
    if (zeroSpread(g)) groups.push(g);
  }
  return { groups, sampled };
}

/** Rollouts of prompts in a seeded order; the sampler's RNG rides along in the cursor. */
class GrpoRollouts implements BatchSource<GrpoBatch> {
  constructor(
    private readonly order: PromptOrder,
    private readonly perBatch: number,
    private readonly rounds: number,
    private readonly rng: Rng,
    private readonly sample: (index: number[]) => SampledGroup[],
    private readonly assemble: (groups: SampledGroup[], sampled: SampledGroup[]) => GrpoBatch,
  ) {}

  next(): GrpoBatch {
    const { groups, sampled } = collectGroups((k) => this.sample(this.order.take(k)), this.perBatch, this.rounds);
    return this.assemble(groups, sampled);
  }

  getCursor(): unknown {
    return { format: "llmforge.grpo-rollouts", version: 1, ...this.order.getCursor(), rng: this.rng.getState() };
  }

  setCursor(cursor: unknown): void {
    const c = cursor as { format?: string; version?: number; epoch?: number; pos?: number; n?: number; rng?: { s: number[]; spare: number | null } } | null;
    if (c?.format !== "llmforge.grpo-rollouts" || c.version !== 1 || !c.rng) throw new RlDataError(`not a GRPO cursor: ${JSON.stringify(cursor)?.slice(0, 120)}`);
    this.order.setCursor(c);
    this.rng.setState(c.rng);
  }
}

/** The summary {@link grpo} wrote for the finished run in `out` (OUT/grpo.json), or null. */
export function completedGrpo(out: string): GrpoSummary | null {
  return completedSummary<GrpoSummary>(out, "grpo.json");
}

/** Trains a policy with GRPO holding the lock of OUT; see {@link GrpoOptions}. */
export async function grpo(o: GrpoOptions): Promise<GrpoSummary> {
  return withFolderLock(o.out, "llmforge grpo", () => grpoLocked(o));
}

async function grpoLocked(o: GrpoOptions): Promise<GrpoSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  const G = o.group ?? 8;
  const maxTokens = o.maxTokens ?? 32;
  const beta = o.beta ?? 0;
  const lossKind = o.loss ?? "dapo";
  if (!(Number.isInteger(G) && G >= 2)) throw new RlDataError(`--group must be at least 2 (advantages are relative to the group), got ${G}`);
  const rounds = o.dynamicSampling ?? 1;
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RlDataError(`--dynamic-sampling must be a whole number of rollout rounds >= 1 (1: off), got ${rounds}`);
  const paths = resolveRunPaths(o.model);
  const cfg = JSON.parse(readFileSync(join(paths.modelDir, "config.json"), "utf8")) as unknown;
  if (isRewardModelConfig(cfg)) throw new RlDataError(`${paths.modelDir} is a reward model (a sequence classifier); --model needs the SFT policy (a language model), e.g. the run folder of \`llmforge sft\``);
  const reward = await loadReward(o.reward ?? "exact");
  const recorded = {
    ...o, model: resolve(o.model), task: o.task, valData: o.valData?.map((f) => resolve(f)), seed, group: G, maxTokens, beta, loss: lossKind,
    scaleRewards: o.scaleRewards ?? "group", epsilon: o.epsilon ?? 0.2, epsilonHigh: o.epsilonHigh ?? o.epsilon ?? 0.2, reward: reward.name,
    temperature: o.temperature ?? 1, accumulation: o.accumulation ?? 1, weightDecay: o.weightDecay ?? 0, dynamicSampling: o.dynamicSampling ?? 1,
    signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: {
      model: "--model", task: "--task", valData: "--val-data", reward: "--reward", seed: "--seed", group: "--group", maxTokens: "--max-tokens", beta: "--beta",
      loss: "--loss", scaleRewards: "--scale-rewards", batchSize: "--batch", accumulation: "--accumulation", temperature: "--temperature",
      dynamicSampling: "--dynamic-sampling",
    },
    kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes", epsilon: "--epsilon", epsilonHigh: "--epsilon-high" },
  });
  const e = plan.options;

  // the prompts first: a mistake in them is reported before the model is loaded
  const data = await readTaskPrompts(o.task, { valData: o.valData, valFraction: o.valFraction ?? 0.1, seed, perTask: o.perTask ?? 2000 });
  const run = loadRun(o.model, { backend: o.backend });
  const { model, tokenizer: tok } = run;
  const ref = beta > 0 ? loadRun(o.model, { backend: o.backend }).model : null;
  ref?.eval();
  const template = runChatTemplate(run) ?? CHATML_TEMPLATE;
  requireChatTokens(tok, template, ["<|im_end|>"]);
  const eos = tok.specialId("<|im_end|>");
  const padId = tok.specialTokens.get("<|pad|>") ?? eos;
  const T = model.config.blockSize;

  const enc = (ps: TaskPrompt[]) => encodePrompts(tok, template, ps, T, maxTokens);
  const { prompts: train, tooLong: longTrain } = enc(data.train);
  const { prompts: heldAll, tooLong: longHeld } = enc(data.heldout);
  const tooLong = longTrain + longHeld;
  const held = spreadOverTasks(heldAll, o.evalLimit ?? 200, (p) => p.record.task);
  if (train.length === 0) throw new RlDataError(`${o.task}: no training prompts fit the block size of ${T} tokens with ${maxTokens} new tokens`);
  say(`grpo: ${train.length} training prompts, ${held.length} held-out prompts from ${data.source}${tooLong ? ` (${tooLong} left out: prompt + ${maxTokens} tokens over ${T})` : ""}; reward ${reward.name}; group ${G}`);
  mkdirSync(o.out, { recursive: true });
  reportSkippedPrompts(data, o.out, "grpo", say);
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-grpo-run", version: 1, writer: `llmforge ${VERSION}`, base: e.model, config: model.config, options: e, completed: undefined });
  }

  const sampling = { temperature: e.temperature, topP: o.topP, topK: o.topK, maxTokens, stopTokens: [eos], vocabLimit: tok.vocabSize };
  const textOf = (c: number[]) => tok.decode(c[c.length - 1] === eos ? c.slice(0, -1) : c, { skipSpecial: true });
  const sampleGroupsOf = (rng: Rng) => (index: number[]): SampledGroup[] => {
    const prompts = index.map((i) => train[i]);
    const s = sampleGroups(model, prompts.map((p) => p.ids), { ...sampling, group: G, rng });
    rolloutTokens += s.tokens;
    rolloutSeconds += s.seconds;
    return prompts.map((p, i) => {
      const g: SampledGroup = { rows: [], rewards: [], keep: [], truncated: 0, failed: 0, firstError: "" };
      for (const c of s.completions[i]) {
        g.rows.push({ prompt: p.ids, completion: c.tokens });
        let keep = 1;
        if (c.finish === "length") {
          g.truncated++;
          if (o.maskTruncated) keep = 0;
        }
        const r = safeReward(reward.fn, p.text, textOf(c.tokens), p.record);
        g.rewards.push(r.value ?? Number.NaN);
        if (r.value === null) {
          g.failed++;
          g.firstError ||= `reward ${reward.name} ${r.error} for prompt ${JSON.stringify(p.text.slice(0, 80))}`;
          keep = 0;
        }
        g.keep.push(keep);
      }
      // a failed reward takes its group's mean (advantage 0); it is left out of the loss anyway
      const ok = g.rewards.filter((r) => !Number.isNaN(r));
      const mean = ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : 0;
      g.rewards = g.rewards.map((r) => (Number.isNaN(r) ? mean : r));
      return g;
    });
  };
  let rolloutTokens = 0;
  let rolloutSeconds = 0;
  const assemble = (groups: SampledGroup[], sampled: SampledGroup[]): GrpoBatch => {
    const rows = groups.flatMap((g) => g.rows);
    const failed = groups.reduce((n, g) => n + g.failed, 0);
    if (failed === rows.length) throw new RlDataError(`every reward of the batch failed; first: ${groups.find((g) => g.firstError)?.firstError ?? ""}`);
    const rewards = Float64Array.from(groups.flatMap((g) => g.rewards));
    const keep = Float64Array.from(groups.flatMap((g) => g.keep));
    const advantages = grpoAdvantages(rewards, G, e.scaleRewards);
    const refLogp = ref ? tidy(() => noGrad(() => Float64Array.from(completionLogps(ref, rows, padId).logp.toTypedArray()))) : null;
    const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    const drawn = Float64Array.from(sampled.flatMap((g) => g.rewards));
    const stats: Record<string, number> = {
      reward_mean: mean, zero_spread: zeroSpreadFraction(drawn, G), completion_len: rows.reduce((n, r) => n + r.completion.length, 0) / rows.length,
      truncated: groups.reduce((n, g) => n + g.truncated, 0) / rows.length, reward_failed: failed / rows.length,
      rollout_tokens_per_s: rolloutTokens / Math.max(rolloutSeconds, 1e-9),
    };
    if (e.dynamicSampling > 1) {
      stats.groups_sampled = sampled.length;
      stats.zero_spread_kept = zeroSpreadFraction(rewards, G);
    }
    rolloutTokens = 0;
    rolloutSeconds = 0;
    return { rows, advantages, keep, refLogp, tokens: rows.reduce((n, r, k) => n + (keep[k] ? r.completion.length : 0), 0), stats };
  };
  const rng = new Rng(seed + 1);
  const batches = new GrpoRollouts(new PromptOrder(train.length, seed), o.batchSize, e.dynamicSampling, rng, sampleGroupsOf(rng), assemble);

  const evaluate = (): GrpoEval => {
    const was = model.training;
    model.eval();
    try {
      const s = sampleGroups(model, held.map((p) => p.ids), { ...sampling, temperature: 0, group: 1, rng: new Rng(0) });
      let sum = 0;
      let solved = 0;
      let ended = 0;
      let length = 0;
      held.forEach((p, i) => {
        const c = s.completions[i][0];
        const r = safeReward(reward.fn, p.text, textOf(c.tokens), p.record).value ?? 0;
        sum += r;
        if (r >= 1) solved++;
        if (c.finish === "stop_token") ended++;
        length += c.tokens.length;
      });
      const n = Math.max(1, held.length);
      return { reward: sum / n, solved: solved / n, ended: ended / n, length: length / n, prompts: held.length };
    } finally {
      model.train(was);
    }
  };
  const show = (v: GrpoEval) => `mean reward ${v.reward.toFixed(3)}, solved ${(100 * v.solved).toFixed(1)}% of ${v.prompts}, ended ${(100 * v.ended).toFixed(0)}%, ${v.length.toFixed(1)} tokens`;
  const asEval = (m: Record<string, number | null> | null): GrpoEval | null =>
    m && typeof m.reward === "number" ? { reward: m.reward, solved: m.solved ?? 0, ended: m.ended ?? 0, length: m.length ?? 0, prompts: held.length } : null;

  const lossOpts = { loss: lossKind, beta, epsilon: e.epsilon, epsilonHigh: e.epsilonHigh, maxCompletionLength: maxTokens };
  const training = await runStepLoop<GrpoBatch>({
    outDir: o.out, model, batches, label: "grpo",
    lossOf: (b) => {
      const x = completionLogps(model, b.rows, padId);
      const mask = Float64Array.from(x.mask, (m, i) => m * b.keep[Math.floor(i / x.T)]);
      // one update per rollout: the sampling policy is the current one, so the ratio is exactly 1 at the step
      const old = x.logp.toTypedArray();
      if (b.refLogp && b.refLogp.length !== x.B * x.T) throw new RlDataError("internal: the reference log-probs do not match the batch layout");
      const r = grpoLoss(x.logp, old, b.refLogp, b.advantages, mask, lossOpts);
      return { loss: r.loss, metrics: { ...b.stats, clip_fraction: r.clipFraction, approx_kl: r.approxKl, ...(beta > 0 ? { ref_kl: r.refKl } : {}) } };
    },
    weightOf: (b) => (lossKind === "dapo" ? b.tokens : b.rows.length),
    tokensOf: (b) => b.rows.reduce((n, r) => n + r.prompt.length + r.completion.length, 0),
    accumulation: o.accumulation, maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps,
    weightDecay: e.weightDecay, ema: e.ema, gradClip: e.gradClip, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
    evaluate: held.length > 0 ? () => evaluate() : undefined,
    evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed, resume: plan.checkpoint !== null,
    extendTo: plan.extendTo, progress: o.progress, precision: o.precision, signal: o.signal, meta: { config: model.config },
  });
  const before = asEval(training.initialVal);
  if (before) say(`grpo: before: held-out ${show(before)}`);
  const base = { out: o.out, prompts: { train: train.length, heldout: held.length, tooLong, source: data.source }, training, before };
  if (training.stoppedBy === "interrupted") return { ...base, modelDir: null, after: null };
  const after = asEval(training.val);
  if (after) say(`grpo: after: held-out ${show(after)}`);
  return finishChatRun({ out: o.out, stage: "grpo", model: model, tok, tokenizerFile: run.paths.tokenizerFile, template, blockSize: T, steps: training.steps }, (modelDir): GrpoSummary => ({
    ...base, modelDir, after,
  }));
}

