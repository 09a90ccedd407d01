// The generic step loop every training stage calls (pretraining, SFT, reward model, DPO, PPO,
// GRPO): a batch source with an opaque cursor, a loss function, AdamW with decay on matrices,
// warmup + decay schedule, gradient accumulation normalised by each micro-batch's weight (its
// token or pair count), clipping, an optional moving average of the weights, a non-finite policy, JSONL + TensorBoard + progress logs,
// periodic evaluation, atomic checkpoints and exact resume.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Progress } from "../io/progress.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { Module } from "../nn/module.js";
import { WeightEma } from "../optim/ema.js";
import { AdamW, clipGradNorm } from "../optim/optimizers.js";
import { learningRate, type ScheduleConfig } from "../optim/schedule.js";
import { assertFiniteWeights } from "../nn/finiteWeights.js";
import { mulScalar, setMatmulPrecision, type MatmulPrecision } from "../tensor/ops/index.js";
import { bf16MatmulAvailable } from "../tensor/ops/matmul.js";
import { globalRng, type Rng } from "../tensor/rng.js";
import { type Tensor, tidy } from "../tensor/tensor.js";
import { latestCheckpoint, latestValidCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointState } from "./checkpoint.js";
import { MetricsLog } from "./metricsLog.js";
import { TensorBoardWriter } from "./tensorboard.js";

/** Where batches come from; the cursor is saved in checkpoints and restored on resume. */
export interface BatchSource<B> {
  next(): B;
  getCursor(): unknown;
  setCursor(cursor: unknown): void;
}

/** Where a {@link CurriculumBatches} stands: batches served so far and both sources' own cursors. */
interface CurriculumCursor {
  format: "llmforge.curriculum";
  version: 1;
  served: number;
  firstBatches: number;
  first: unknown;
  second: unknown;
}

/**
 * A curriculum of two phases: the first `firstBatches` batches come from `first`, every later one from `second` (each source
 * keeps its own order). Its cursor holds both sources' cursors and the count served, so a resumed run goes on in the same
 * phase at the same batch.
 */
export class CurriculumBatches<B> implements BatchSource<B> {
  private served = 0;

  constructor(
    private readonly first: BatchSource<B>,
    private readonly firstBatches: number,
    private readonly second: BatchSource<B>,
  ) {
    if (!Number.isInteger(firstBatches) || firstBatches < 0) throw new RangeError(`a curriculum's first phase must be a whole number of batches >= 0, got ${firstBatches}`);
  }

  next(): B {
    const b = this.served < this.firstBatches ? this.first.next() : this.second.next();
    this.served++;
    return b;
  }

  getCursor(): CurriculumCursor {
    return { format: "llmforge.curriculum", version: 1, served: this.served, firstBatches: this.firstBatches, first: this.first.getCursor(), second: this.second.getCursor() };
  }

  setCursor(cursor: unknown): void {
    const c = cursor as Partial<CurriculumCursor> | null;
    if (c?.format !== "llmforge.curriculum" || c.version !== 1 || !Number.isInteger(c.served)) throw new RangeError(`not a curriculum cursor: ${JSON.stringify(cursor)?.slice(0, 120)}`);
    if (c.firstBatches !== this.firstBatches) throw new RangeError(`the checkpoint's curriculum had a first phase of ${c.firstBatches} batches, this run ${this.firstBatches}: resume with the same curriculum`);
    this.first.setCursor(c.first);
    this.second.setCursor(c.second);
    this.served = c.served as number;
  }
}

/**
 * What every training stage (pretraining, SFT, reward model...) takes from its caller for the loop:
 * the options `addLoopOptions` parses on the command line, in one place.
 */
export interface StageRunOptions {
  /** Rows (or prompts) per micro-batch. */
  batchSize: number;
  /** Optimizer steps; with `minutes` the smaller limit wins. */
  steps: number;
  minutes?: number;
  lr: number;
  minLr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  gradClip?: number;
  /** Keep a moving average of the trained weights with this decay (e.g. 0.999): evaluated and saved as the model. */
  ema?: number;
  evalEvery?: number;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  seed?: number;
  resume?: boolean;
  /** With resume: lengthen the run's schedule to `steps` (the only way to train a finished run further). */
  extend?: boolean;
  onNonFinite?: "stop" | "skip";
  /** With onNonFinite "skip": skipped steps in a row before the run stops with an error (default 5). */
  maxSkips?: number;
  backend?: BackendName;
  precision?: MatmulPrecision;
  /** Stops after the current step with a checkpoint and without writing the model (resume later). */
  signal?: AbortSignal;
  progress?: boolean;
}

/** Evaluation metrics, logged as `val_<name>` (null values are logged as null). */
export type EvalMetrics = Record<string, number | null>;

export interface StepLoopOptions<B> {
  /** Run folder: metrics.jsonl, tb/, checkpoints/ land here. */
  outDir: string;
  model: Module & { readonly dropoutRng?: Rng };
  batches: BatchSource<B>;
  /**
   * The loss of one micro-batch as a scalar mean over its `weightOf(batch)` units (supervised
   * tokens, pairs...). Extra per-batch figures (e.g. reward accuracy) go in `metrics`.
   */
  lossOf: (batch: B) => Tensor | { loss: Tensor; metrics?: Record<string, number> };
  /** The units a micro-batch's mean is over; the step's gradient is the mean over all units of its micro-batches. */
  weightOf: (batch: B) => number;
  /** Tokens a micro-batch processes (for tokens/s); default: its weight. */
  tokensOf?: (batch: B) => number;
  /** Micro-batches per optimizer step (gradient accumulation; default 1). */
  accumulation?: number;
  /** Optimizer steps; with maxMinutes the smaller limit wins (maxMinutes sets the schedule length after warm-up timing). */
  maxSteps: number;
  maxMinutes?: number;
  maxLr: number;
  minLr?: number;
  warmupSteps?: number;
  decay?: ScheduleConfig["decay"];
  weightDecay?: number;
  betas?: [number, number];
  gradClip?: number;
  /**
   * Keep an exponential moving average of the trained weights with this decay per step (e.g. 0.999; see
   * {@link WeightEma}): evaluations score it, checkpoints hold it beside the trained weights (exact resume), and when
   * the run ends it is what the model holds, for the caller to save.
   */
  ema?: number;
  /** On a NaN/inf loss or gradient: stop with an error (default) or skip the step. */
  onNonFinite?: "stop" | "skip";
  /** With onNonFinite "skip": after this many skipped steps in a row the run stops with an error (default 5). */
  maxSkips?: number;
  /** Validation, run before the first step, every evalEvery steps and at the end. */
  evaluate?: () => EvalMetrics;
  evalEvery?: number;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  seed?: number;
  /** Continue from the newest checkpoint in outDir/checkpoints. */
  resume?: boolean;
  /** On resume: lengthen the schedule to this many steps (more than the checkpoint's). */
  extendTo?: number;
  /** Progress label (default "train") and whether to print (default true). */
  label?: string;
  progress?: boolean;
  /** Extra JSON stored in checkpoints (e.g. the model config). */
  meta?: Record<string, unknown>;
  /** Matrix products in "bf16" (mixed precision, f32 master weights) or "f32" (default). */
  precision?: MatmulPrecision;
  /** Stops the run after the current step, with a checkpoint (e.g. on Ctrl-C). */
  signal?: AbortSignal;
  /** Test hook: called after each optimizer step. */
  onStep?: (step: number, loss: number) => void;
}

export interface StepLoopSummary {
  steps: number;
  firstLoss: number;
  lastLoss: number;
  val: EvalMetrics | null;
  initialVal: EvalMetrics | null;
  tokensPerSec: number;
  seconds: number;
  checkpoint: string | null;
  stoppedBy: "steps" | "time" | "interrupted";
}

export class NonFiniteLossError extends Error {
  constructor(step: number, what: string, advice = "stopping before the optimizer update (no checkpoint written with it). Lower the learning rate or use --on-nan skip.") {
    super(`step ${step}: ${what}; ${advice}`);
    this.name = "NonFiniteLossError";
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs (or resumes) a training loop and returns a summary. Only parameters with requiresGrad
 * are optimised and checkpointed (frozen weights come from the model the caller built). The
 * loop yields to the event loop between steps, so Ctrl-C (through `signal`) and I/O are served.
 */
export async function runStepLoop<B>(o: StepLoopOptions<B>): Promise<StepLoopSummary> {
  if (o.precision === "bf16" && (o.progress ?? true) && (!bf16MatmulAvailable() || ("backendName" in o.model && o.model.backendName === "ref"))) {
    process.stderr.write("precision bf16: bf16 matrix products need the native backend on a CPU with avx512_bf16, not available here; running them in f32\n");
  }
  const prevPrecision = setMatmulPrecision(o.precision ?? "f32");
  try {
    return await loop(o);
  } finally {
    setMatmulPrecision(prevPrecision);
  }
}

async function loop<B>(o: StepLoopOptions<B>): Promise<StepLoopSummary> {
  const { model, batches } = o;
  const accum = o.accumulation ?? 1;
  if (!Number.isInteger(accum) || accum < 1) throw new Error(`accumulation must be a whole number >= 1, got ${accum}`);
  const evalEvery = o.evalEvery ?? 100;
  const ckptEvery = o.checkpointEvery ?? 200;
  const ckptDir = join(o.outDir, "checkpoints");
  mkdirSync(o.outDir, { recursive: true });
  const log = new MetricsLog(join(o.outDir, "metrics.jsonl"));
  const tb = new TensorBoardWriter(join(o.outDir, "tb"));

  // Decay matrices only: norms and biases (1-D) are left alone.
  const named = model.namedParameters().filter(([, p]) => p.requiresGrad);
  if (named.length === 0) throw new Error("nothing to train: every parameter of the model is frozen");
  const decay = named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p);
  const noDecay = named.filter(([, p]) => p.ndim < 2).map(([, p]) => p);
  const opt = new AdamW(
    [{ params: decay, weightDecay: o.weightDecay ?? 0.1 }, { params: noDecay, weightDecay: 0 }],
    { lr: o.maxLr, betas: o.betas ?? [0.9, 0.95], eps: 1e-8 },
  );
  const params = [...decay, ...noDecay];
  const ema = o.ema === undefined ? null : new WeightEma(named.map(([, p]) => p), o.ema);
  if (o.seed !== undefined) globalRng.seed(o.seed);

  let step = 0;
  let totalSteps = o.maxSteps;
  let initialVal: EvalMetrics | null = null;
  if (o.resume) {
    const ck = latestValidCheckpoint(ckptDir);
    if (ck) {
      const st = loadCheckpoint(ck, model, opt, ema ?? undefined);
      step = st.step;
      totalSteps = Math.max(st.totalSteps, o.extendTo ?? 0);
      batches.setCursor(st.cursor);
      globalRng.setState(st.rng);
      if (st.modelRng && model.dropoutRng) model.dropoutRng.setState(st.modelRng);
      initialVal = (st.initialVal as EvalMetrics | null | undefined) ?? null;
      log.truncateAfter(step);
      if (o.progress ?? true) process.stderr.write(`resumed from ${ck} at step ${step}\n`);
    }
  }
  const logEval = (at: number, v: EvalMetrics): void => {
    const rec: Record<string, number | null> = {};
    for (const [k, x] of Object.entries(v)) rec[`val_${k}`] = x;
    log.append({ step: at, ...rec });
    const scalars: Record<string, number> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) scalars[`val/${k}`] = x;
    tb.scalars(at, scalars);
  };
  const evaluate = o.evaluate;
  const doEval = (): EvalMetrics | null => (evaluate ? (ema ? ema.withAveraged(evaluate) : evaluate()) : null);
  if (step > 0 && step >= totalSteps) {
    // Resumed after the last step (the caller only writes the final model): no evaluation or checkpoint again.
    ema?.copyInto();
    return { steps: step, firstLoss: Number.NaN, lastLoss: Number.NaN, val: null, initialVal, tokensPerSec: 0, seconds: 0, checkpoint: latestCheckpoint(ckptDir), stoppedBy: "steps" };
  }
  if (step === 0) {
    initialVal = doEval();
    if (initialVal) logEval(0, initialVal);
  }

  const schedule = (): ScheduleConfig => ({
    maxLr: o.maxLr, minLr: o.minLr ?? o.maxLr / 10, warmupSteps: o.warmupSteps ?? Math.min(100, Math.ceil(totalSteps / 10)),
    totalSteps, decay: o.decay ?? "cosine",
  });
  const progress = new Progress(o.label ?? "train", { unit: "steps", total: totalSteps, enabled: o.progress ?? true });
  progress.done = step;
  const t0 = performance.now();
  const startStep = step;
  const fitToTime = o.maxMinutes !== undefined && (startStep === 0 || totalSteps === o.maxSteps);
  let tokensSeen = 0;
  let firstLoss = Number.NaN;
  let lastLoss = Number.NaN;
  let lastCkpt: string | null = null;
  let stoppedBy: StepLoopSummary["stoppedBy"] = "steps";
  let skipsInARow = 0;
  const writeCheckpoint = (): void => {
    assertFiniteWeights(named.map(([n, p]) => [n, p.contiguousData()] as const),
      `step ${step}: not writing a checkpoint`, "the weights diverged; lower the learning rate and resume from an earlier checkpoint");
    const state: CheckpointState = {
      step, totalSteps, cursor: batches.getCursor(), rng: globalRng.getState(), modelRng: model.dropoutRng?.getState() ?? null,
      initialVal, meta: o.meta ?? {},
    };
    lastCkpt = saveCheckpoint(ckptDir, model, opt, state, o.keepCheckpoints ?? 3, ema ?? undefined);
  };

  model.train();
  while (step < totalSteps) {
    await yieldToEventLoop();
    if (o.signal?.aborted) {
      stoppedBy = "interrupted";
      break;
    }
    const stepStart = performance.now();
    const lr = learningRate(step, schedule());
    opt.lr = lr;
    for (const g of opt.groups) g.lr = lr;
    // The step's micro-batches first, so each one's share of the gradient is its weight / the total.
    const micro = Array.from({ length: accum }, () => batches.next());
    const weights = micro.map((b) => o.weightOf(b));
    const total = weights.reduce((a, b) => a + b, 0);
    let loss = 0;
    let stepTokens = 0;
    const extra: Record<string, number> = {};
    for (let m = 0; m < accum; m++) {
      stepTokens += o.tokensOf ? o.tokensOf(micro[m]) : weights[m];
      if (weights[m] === 0) continue;
      const share = weights[m] / total;
      loss += tidy(() => {
        const r = o.lossOf(micro[m]);
        const l = "loss" in r ? r.loss : r;
        if ("metrics" in r && r.metrics) for (const [k, x] of Object.entries(r.metrics)) extra[k] = (extra[k] ?? 0) + x * share;
        mulScalar(l, share).backward();
        return l.item();
      }) * share;
    }
    const norm = total > 0 ? clipGradNorm(params, o.gradClip ?? 1.0) : 0;
    if (total === 0 || !Number.isFinite(loss) || !Number.isFinite(norm)) {
      const what = total === 0 ? "no supervised units in the batch" : `${!Number.isFinite(loss) ? `loss (${loss})` : `gradient norm (${norm})`} is not finite`;
      opt.zeroGrad();
      if (total > 0 && (o.onNonFinite ?? "stop") === "stop") throw new NonFiniteLossError(step + 1, what);
      if (total > 0 && ++skipsInARow >= (o.maxSkips ?? 5)) {
        throw new NonFiniteLossError(step + 1, `${what}, ${skipsInARow} steps in a row`,
          `stopping: the weights have likely diverged; lower the learning rate (newest checkpoint: ${lastCkpt ?? latestCheckpoint(ckptDir) ?? "none yet"}).`);
      }
      process.stderr.write(`step ${step + 1}: ${what}; step skipped\n`);
      log.append({ step: step + 1, skipped: what });
      step++;
      continue;
    }
    opt.step();
    opt.zeroGrad();
    skipsInARow = 0;
    step++;
    ema?.update(step);
    tokensSeen += stepTokens;
    const dt = (performance.now() - stepStart) / 1000;
    if (Number.isNaN(firstLoss)) firstLoss = loss;
    lastLoss = loss;
    const tps = stepTokens / dt;
    log.append({ step, loss, lr, grad_norm: norm, tokens_per_s: Math.round(tps), ms: Math.round(dt * 1000), ...extra });
    tb.scalars(step, { "train/loss": loss, "train/lr": lr, "train/grad_norm": norm, "train/tokens_per_s": tps, ...prefixed("train/", extra) });
    progress.tick(1, `loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} ${Math.round(tps)} tok/s`);
    o.onStep?.(step, loss);

    // A time budget sets the schedule length from the measured step time: first after 3 steps,
    // then every 20 steps (so a machine that slows down still ends on time, with the LR decayed).
    // A resumed run keeps its fitted schedule; one stopped before its first fit is fitted now, on a new budget.
    if (fitToTime && (step - startStep === 3 || step % 20 === 0)) {
      const spent = (performance.now() - t0) / 1000;
      const perStep = spent / (step - startStep);
      const fit = Math.min(o.maxSteps, Math.max(step + 1, step + Math.floor(((o.maxMinutes ?? 0) * 60 - spent) / perStep)));
      if (fit !== totalSteps) {
        totalSteps = fit;
        stoppedBy = fit < o.maxSteps ? "time" : "steps";
        progress.setTotal(totalSteps);
      }
    }
    if (step % evalEvery === 0 && step < totalSteps) {
      const v = doEval();
      if (v) logEval(step, v);
    }
    if (step % ckptEvery === 0 && step < totalSteps) writeCheckpoint();
  }
  // An interrupted run is evaluated when it finishes, so its resumed log reads like an uninterrupted one.
  const val = stoppedBy === "interrupted" ? null : doEval();
  if (val) logEval(step, val);
  writeCheckpoint();
  // The checkpoint keeps the trained weights (and the average) for a resume; the caller saves the average as the model.
  if (stoppedBy !== "interrupted") ema?.copyInto();
  progress.finish();
  const seconds = (performance.now() - t0) / 1000;
  return {
    steps: step, firstLoss, lastLoss, val, initialVal,
    tokensPerSec: tokensSeen / Math.max(seconds, 1e-9), seconds, checkpoint: lastCkpt, stoppedBy,
  };
}

function prefixed(p: string, r: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) out[p + k] = v;
  return out;
}
