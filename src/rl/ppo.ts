// PPO (RLHF as InstructGPT describes it) as one library call (what `llmforge ppo` runs): each rollout samples one
// answer per prompt with the policy, scores it with a reward model (or a reward function), shapes per-token rewards
// with a KL penalty to the frozen starting policy, estimates advantages with a value model (GAE) and takes several
// clipped policy + value steps over minibatches of the rollout, all through the generic step loop. The policy and the
// value model train together (one optimizer); the pending rollout, the sampler's RNG, the KL coefficient and the
// prompt cursor are part of every checkpoint, so a run resumes exactly.
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { withFolderLock } from "../io/runLock.js";
import type { GPT } from "../model/gpt.js";
import { isRewardModelConfig, RewardModel, trunkOf } from "../model/heads.js";
import { loadRun, resolveRunPaths, runChatTemplate } from "../model/runFolder.js";
import { Module } from "../nn/module.js";
import { loadRewardRun } from "../reward/score.js";
import { spreadOverTasks } from "../sft/evaluate.js";
import { finishChatRun } from "../sft/train.js";
import { add, ids, mulScalar } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { CHATML_TEMPLATE, requireChatTokens } from "../tokenizer/chatTemplate.js";
import { type BatchSource, runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import {
  AdaptiveKlController, clippedValueLoss, entropyFromLogits, explainedVariance, FixedKlController, gae, type KlController, type KlEstimator, klEstimate,
  maskedMoments, ppoPolicyLoss, shapeRewards, whiten,
} from "./losses.js";
import { type EncodedPrompt, encodePrompts, PromptOrder, readTaskPrompts, reportSkippedPrompts, type TaskPrompt } from "./prompts.js";
import { loadReward, RlDataError, safeReward } from "./rewards.js";
import { sampleGroups } from "../infer/sampleGroups.js";
import { completionLogps, type PromptCompletion, rowInputs } from "./rollout.js";

export interface PpoOptions extends StageRunOptions {
  /** The policy to start from (and the frozen reference): an SFT run folder or a chat model folder. */
  policy: string;
  /** A reward model run (`llmforge reward`) or a reward: "exact" or a JavaScript module. */
  reward: string;
  /** Prompts: a named task of the instruction mix or an SFT-format file. */
  prompts: string;
  out: string;
  valData?: string[];
  valFraction?: number;
  perTask?: number;
  /** Minibatches per rollout (default 1; the rollout is batchSize prompts). */
  minibatches?: number;
  /** Passes over each rollout (default 2). */
  ppoEpochs?: number;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Initial KL coefficient (default 0.05); with klTarget it adapts (horizon klHorizon, default 10000). */
  klCoef?: number;
  klTarget?: number;
  klHorizon?: number;
  /** KL estimator of the per-token penalty (default k1, as InstructGPT). */
  klEstimator?: KlEstimator;
  gamma?: number;
  lambda?: number;
  epsilon?: number;
  /** Value clip range (default 0.2) and value-loss weight (default 0.1). */
  valueClip?: number;
  vfCoef?: number;
  /** Clip sequence scores to [-c, c] before shaping. */
  scoreClip?: number;
  /** Added to the score of an answer that did not end with the end token (e.g. -1; default 0). */
  missingEosPenalty?: number;
  evalLimit?: number;
}

export type PpoEval = { reward: number; kl: number; ended: number; length: number; prompts: number };

export interface PpoSummary {
  out: string;
  modelDir: string | null;
  prompts: { train: number; heldout: number; tooLong: number; source: string };
  training: StepLoopSummary;
  before: PpoEval | null;
  after: PpoEval | null;
}

/** Policy and value model trained together by one optimizer (and saved together in checkpoints). */
class PolicyAndValue extends Module {
  readonly policy: GPT;
  readonly value: RewardModel;
  constructor(policy: GPT, value: RewardModel) {
    super();
    this.policy = this.child("policy", policy);
    this.value = this.child("value", value);
  }
  get dropoutRng(): Rng {
    return this.policy.dropoutRng;
  }
}

/** A scored rollout with everything its PPO steps need (plain numbers, so it can sit in a checkpoint). */
interface Rollout {
  rows: PromptCompletion[];
  oldLogp: number[];
  oldValues: number[];
  advantages: number[];
  returns: number[];
  mask: number[];
  T: number;
  stats: Record<string, number>;
}

/** One minibatch: rows of a rollout. */
interface PpoBatch {
  rollout: Rollout;
  index: number[];
}

/** Rollouts, each served as ppoEpochs × minibatches minibatches; the pending rollout is part of the cursor. */
class PpoRollouts implements BatchSource<PpoBatch> {
  private pending: Rollout | null = null;
  private served = 0;
  private orderRng: Rng;
  private perm: number[] = [];
  constructor(
    private readonly order: PromptOrder,
    private readonly perRollout: number,
    private readonly minibatches: number,
    private readonly epochs: number,
    private readonly rng: Rng,
    private readonly kl: KlController,
    private readonly make: (index: number[]) => Rollout,
    seed: number,
  ) {
    this.orderRng = new Rng(seed + 17);
  }

  next(): PpoBatch {
    const per = this.minibatches * this.epochs;
    if (!this.pending || this.served >= per) {
      this.pending = this.make(this.order.take(this.perRollout));
      this.served = 0;
    }
    const n = this.pending.rows.length;
    const mb = this.served % this.minibatches;
    if (mb === 0) {
      this.perm = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = this.orderRng.int(i + 1);
        [this.perm[i], this.perm[j]] = [this.perm[j], this.perm[i]];
      }
    }
    const size = Math.ceil(n / this.minibatches);
    this.served++;
    return { rollout: this.pending, index: this.perm.slice(mb * size, (mb + 1) * size) };
  }

  getCursor(): unknown {
    return {
      format: "llmforge.ppo-rollouts", version: 1, ...this.order.getCursor(), rng: this.rng.getState(), orderRng: this.orderRng.getState(),
      klCoef: this.kl.value, pending: this.pending, served: this.served, perm: this.perm,
    };
  }

  setCursor(cursor: unknown): void {
    const c = cursor as { format?: string; version?: number; epoch?: number; pos?: number; n?: number; rng?: never; orderRng?: never; klCoef?: number; pending?: Rollout | null; served?: number; perm?: number[] } | null;
    if (c?.format !== "llmforge.ppo-rollouts" || c.version !== 1 || !c.rng || !c.orderRng) throw new RlDataError(`not a PPO cursor: ${JSON.stringify(cursor)?.slice(0, 120)}`);
    this.order.setCursor(c);
    this.rng.setState(c.rng);
    this.orderRng.setState(c.orderRng);
    if (typeof c.klCoef === "number") this.kl.value = c.klCoef;
    this.pending = c.pending ?? null;
    this.served = c.served ?? 0;
    this.perm = c.perm ?? [];
  }
}

/** Trains a policy with PPO holding the lock of OUT; see {@link PpoOptions}. */
export async function ppo(o: PpoOptions): Promise<PpoSummary> {
  return withFolderLock(o.out, "llmforge ppo", () => ppoLocked(o));
}

async function ppoLocked(o: PpoOptions): Promise<PpoSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  const maxTokens = o.maxTokens ?? 32;
  const paths = resolveRunPaths(o.policy);
  const cfg = JSON.parse(readFileSync(join(paths.modelDir, "config.json"), "utf8")) as unknown;
  if (isRewardModelConfig(cfg)) throw new RlDataError(`${paths.modelDir} is a reward model (a sequence classifier); --policy needs the SFT policy (a language model), e.g. the run folder of \`llmforge sft\``);
  const recorded = {
    ...o, policy: resolve(o.policy), reward: o.reward, prompts: o.prompts, valData: o.valData?.map((f) => resolve(f)), seed, maxTokens,
    minibatches: o.minibatches ?? 1, ppoEpochs: o.ppoEpochs ?? 2, klCoef: o.klCoef ?? 0.05, klTarget: o.klTarget, klHorizon: o.klHorizon ?? 10000,
    klEstimator: o.klEstimator ?? "k1", gamma: o.gamma ?? 1, lambda: o.lambda ?? 0.95, epsilon: o.epsilon ?? 0.2, valueClip: o.valueClip ?? 0.2, vfCoef: o.vfCoef ?? 0.1,
    temperature: o.temperature ?? 1, missingEosPenalty: o.missingEosPenalty ?? 0, weightDecay: o.weightDecay ?? 0, signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: {
      policy: "--policy", reward: "--reward", prompts: "--prompts", valData: "--val-data", seed: "--seed", maxTokens: "--max-tokens", batchSize: "--batch",
      minibatches: "--minibatches", ppoEpochs: "--ppo-epochs", klEstimator: "--kl-estimator", temperature: "--temperature",
    },
    kept: {
      lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes", klCoef: "--kl-coef",
      klTarget: "--kl-target", gamma: "--gamma", lambda: "--lambda", epsilon: "--epsilon", vfCoef: "--vf-coef", valueClip: "--value-clip",
    },
  });
  const e = plan.options;

  // the prompts first: a mistake in them is reported before the model is loaded
  const data = await readTaskPrompts(o.prompts, { valData: o.valData, valFraction: o.valFraction ?? 0.1, seed, perTask: o.perTask ?? 2000, label: "--prompts" });
  const run = loadRun(o.policy, { backend: o.backend });
  const { model: policy, tokenizer: tok } = run;
  const ref = loadRun(o.policy, { backend: o.backend }).model;
  ref.eval();
  const template = runChatTemplate(run) ?? CHATML_TEMPLATE;
  requireChatTokens(tok, template, ["<|im_end|>"]);
  const eos = tok.specialId("<|im_end|>");
  const padId = tok.specialTokens.get("<|pad|>") ?? eos;
  const T = policy.config.blockSize;

  // The reward: a reward model folder (also the value model's starting point, as in InstructGPT) or a function.
  let rm: RewardModel | null = null;
  let scoreFn: ((p: EncodedPrompt, c: number[]) => number | null) | null = null;
  let rewardName = o.reward;
  let firstError = "";
  const rmPaths = (() => {
    try {
      return resolveRunPaths(o.reward);
    } catch {
      return null;
    }
  })();
  if (rmPaths) {
    const loaded = loadRewardRun(o.reward, { backend: o.backend });
    const probe = "The reward model reads the policy's tokens: <|im_start|>user\nÀ 123 naïve?<|im_end|>";
    const same = loaded.tokenizer.vocabSize === tok.vocabSize && loaded.tokenizer.encode(probe, { allowedSpecial: "all" }).join() === tok.encode(probe, { allowedSpecial: "all" }).join();
    if (!same) {
      throw new RlDataError(`the reward model's tokenizer (${rmPaths.tokenizerFile}) differs from the policy's (${run.paths.tokenizerFile}): train the reward model from the same SFT run`);
    }
    rm = loaded.model;
    rm.eval();
    rewardName = resolve(o.reward);
  } else {
    const r = await loadReward(o.reward);
    rewardName = r.name;
    scoreFn = (p, c) => {
      const v = safeReward(r.fn, p.text, tok.decode(c[c.length - 1] === eos ? c.slice(0, -1) : c, { skipSpecial: true }), p.record);
      if (v.value === null) firstError ||= `reward ${r.name} ${v.error}`;
      return v.value;
    };
  }
  const value = new RewardModel(trunkOf(rm ? rm.trunk : policy), { seed, scoreWeight: rm ? rm.score.weight.contiguousData() : undefined });
  const both = new PolicyAndValue(policy, value);

  const enc = (ps: TaskPrompt[]) => encodePrompts(tok, template, ps, T, maxTokens);
  const { prompts: train, tooLong: longTrain } = enc(data.train);
  const { prompts: heldAll, tooLong: longHeld } = enc(data.heldout);
  const held = spreadOverTasks(heldAll, o.evalLimit ?? 100, (p) => p.record.task);
  const tooLong = longTrain + longHeld;
  if (train.length === 0) throw new RlDataError(`${o.prompts}: no training prompts fit the block size of ${T} tokens with ${maxTokens} new tokens`);
  say(`ppo: ${train.length} training prompts, ${held.length} held-out prompts from ${data.source}${tooLong ? ` (${tooLong} left out: prompt + ${maxTokens} tokens over ${T})` : ""}; reward ${rewardName}`);
  mkdirSync(o.out, { recursive: true });
  reportSkippedPrompts(data, o.out, "ppo", say);
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-ppo-run", version: 1, writer: `llmforge ${VERSION}`, base: e.policy, config: policy.config, options: e, completed: undefined });
  }

  /** Scores (B,) of prompt + completion rows: the reward model at the last token, or the reward function; null where it failed. */
  const scores = (prompts: EncodedPrompt[], rows: PromptCompletion[]): (number | null)[] => {
    if (rm) {
      const model = rm;
      const x = rowInputs(rows, padId, { full: true });
      return tidy(() => noGrad(() => Array.from(model.rewards(ids(x.input, [x.B, x.T]), x.lengths).toTypedArray())));
    }
    return rows.map((r, i) => (scoreFn as NonNullable<typeof scoreFn>)(prompts[i], [...r.completion]));
  };
  const sampling = { temperature: e.temperature, topP: o.topP, topK: o.topK, maxTokens, stopTokens: [eos], vocabLimit: tok.vocabSize };
  const kl: KlController = e.klTarget ? new AdaptiveKlController(e.klCoef, e.klTarget, e.klHorizon) : new FixedKlController(e.klCoef);
  const rng = new Rng(seed + 1);
  const makeRollout = (index: number[]): Rollout => {
    const prompts = index.map((i) => train[i]);
    const s = sampleGroups(policy, prompts.map((p) => p.ids), { ...sampling, group: 1, rng });
    const rows = prompts.map((p, i) => ({ prompt: p.ids, completion: s.completions[i][0].tokens }));
    const raw = scores(prompts, rows);
    const failed = raw.filter((x) => x === null).length;
    if (failed === rows.length) throw new RlDataError(`every reward of the rollout failed; first: ${firstError}`);
    const score = raw.map((x, i) => (x ?? 0) + (s.completions[i][0].finish === "length" ? e.missingEosPenalty : 0));
    return tidy(() => noGrad(() => {
      const pol = completionLogps(policy, rows, padId);
      const refLp = completionLogps(ref, rows, padId).logp.toTypedArray();
      const oldLogp = pol.logp.toTypedArray();
      const { B, T: W } = pol;
      const mask = Float64Array.from(pol.mask, (m, i) => (raw[Math.floor(i / W)] === null ? 0 : m));
      const x = rowInputs(rows, padId);
      const values = value.values(ids(x.input, [B, W])).toTypedArray();
      const klTok = Float64Array.from(oldLogp, (lp, i) => (mask[i] ? klEstimate(lp, refLp[i], e.klEstimator) : 0));
      const shaped = shapeRewards(klTok, score, mask, B, W, { klCoef: kl.value, scoreClip: o.scoreClip });
      const g = gae(shaped, values, mask, B, W, e.gamma, e.lambda);
      // the adaptive controller follows the KL per sequence (k1 summed over its tokens), as Ziegler et al.
      const k1 = Float64Array.from(oldLogp, (lp, i) => (mask[i] ? lp - refLp[i] : 0));
      const meanKl = maskedMoments(k1, mask).mean;
      kl.update(k1.reduce((a, b) => a + b, 0) / B, B);
      const lengths = rows.map((r) => r.completion.length);
      return {
        rows, oldLogp: Array.from(oldLogp), oldValues: Array.from(values), advantages: Array.from(whiten(g.advantages, mask)), returns: Array.from(g.returns),
        mask: Array.from(mask), T: W,
        stats: {
          reward_mean: score.reduce((a, b) => a + b, 0) / B, kl_per_token: meanKl, kl_coef: kl.value, completion_len: lengths.reduce((a, b) => a + b, 0) / B,
          ended: s.completions.filter((c) => c[0].finish === "stop_token").length / B, reward_failed: failed / B,
          explained_variance: explainedVariance(values, g.returns, mask), rollout_tokens_per_s: s.tokens / Math.max(s.seconds, 1e-9),
        },
      };
    }));
  };
  const batches = new PpoRollouts(new PromptOrder(train.length, seed), o.batchSize, e.minibatches, e.ppoEpochs, rng, kl, makeRollout, seed);

  const evaluate = (): PpoEval => {
    const was = both.training;
    both.eval();
    try {
      const s = sampleGroups(policy, held.map((p) => p.ids), { ...sampling, temperature: 0, group: 1, rng: new Rng(0) });
      const rows = held.map((p, i) => ({ prompt: p.ids, completion: s.completions[i][0].tokens }));
      let reward = 0;
      let klSum = 0;
      let tokens = 0;
      for (let i = 0; i < rows.length; i += 16) {
        const chunk = rows.slice(i, i + 16);
        for (const r of scores(held.slice(i, i + 16), chunk)) reward += r ?? 0;
        tidy(() => noGrad(() => {
          const a = completionLogps(policy, chunk, padId);
          const b = completionLogps(ref, chunk, padId).logp.toTypedArray();
          const la = a.logp.toTypedArray();
          for (let k = 0; k < la.length; k++) if (a.mask[k]) {
            klSum += la[k] - b[k];
            tokens++;
          }
        }));
      }
      const n = Math.max(1, rows.length);
      return {
        reward: reward / n, kl: klSum / Math.max(1, tokens), ended: s.completions.filter((c) => c[0].finish === "stop_token").length / n,
        length: s.completions.reduce((a, c) => a + c[0].tokens.length, 0) / n, prompts: rows.length,
      };
    } finally {
      both.train(was);
    }
  };
  const show = (v: PpoEval) => `mean reward ${v.reward.toFixed(3)}, KL to the reference ${v.kl.toFixed(4)} nats/token (greedy answers), ended ${(100 * v.ended).toFixed(0)}%, ${v.length.toFixed(1)} tokens`;
  const asEval = (m: Record<string, number | null> | null): PpoEval | null =>
    m && typeof m.reward === "number" ? { reward: m.reward, kl: m.kl ?? 0, ended: m.ended ?? 0, length: m.length ?? 0, prompts: held.length } : null;

  const training = await runStepLoop<PpoBatch>({
    outDir: o.out, model: both, batches, label: "ppo",
    lossOf: (b) => {
      const R = b.rollout;
      const rows = b.index.map((i) => R.rows[i]);
      const pick = (xs: number[]) => {
        const out = new Float64Array(rows.length * R.T);
        for (const [k, i] of b.index.entries()) out.set(xs.slice(i * R.T, (i + 1) * R.T), k * R.T);
        return out;
      };
      const mask = pick(R.mask);
      const x = completionLogps(policy, rows, padId, { width: R.T });
      const inp = rowInputs(rows, padId, { width: R.T });
      const values = value.values(ids(inp.input, [rows.length, R.T]));
      const pl = ppoPolicyLoss(x.logp, pick(R.oldLogp), pick(R.advantages), mask, { epsilon: e.epsilon });
      const vl = clippedValueLoss(values, pick(R.oldValues), pick(R.returns), mask, e.valueClip);
      const ent = noGrad(() => entropyFromLogits(x.logits).toTypedArray());
      let entropy = 0;
      for (let i = 0; i < mask.length; i++) entropy += mask[i] * ent[i];
      const tokens = Math.max(1, mask.reduce((a, m) => a + m, 0));
      const loss = add(pl.loss, mulScalar(vl, e.vfCoef));
      return {
        loss,
        metrics: { ...R.stats, policy_loss: pl.loss.item(), value_loss: vl.item(), clip_fraction: pl.clipFraction, approx_kl: pl.approxKl, entropy: entropy / tokens },
      };
    },
    weightOf: (b) => b.index.length,
    tokensOf: (b) => b.index.reduce((n, i) => n + b.rollout.rows[i].prompt.length + b.rollout.rows[i].completion.length, 0),
    maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps,
    weightDecay: e.weightDecay, ema: e.ema, gradClip: e.gradClip, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
    evaluate: held.length > 0 ? () => evaluate() : undefined,
    evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed, resume: plan.checkpoint !== null,
    extendTo: plan.extendTo, progress: o.progress, precision: o.precision, signal: o.signal, meta: { config: policy.config },
  });
  const before = asEval(training.initialVal);
  if (before) say(`ppo: before: held-out ${show(before)}`);
  const base = { out: o.out, prompts: { train: train.length, heldout: held.length, tooLong, source: data.source }, training, before };
  if (training.stoppedBy === "interrupted") return { ...base, modelDir: null, after: null };
  const after = asEval(training.val);
  if (after) say(`ppo: after: held-out ${show(after)}`);
  return finishChatRun({ out: o.out, stage: "ppo", model: policy, tok, tokenizerFile: run.paths.tokenizerFile, template, blockSize: T, steps: training.steps }, (modelDir): PpoSummary => ({
    ...base, modelDir, after,
  }));
}
