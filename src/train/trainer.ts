// The pretraining loop: next-token cross-entropy, AdamW with decay on matrices only, warmup +
// cosine schedule, gradient accumulation to a token budget, global-norm clipping, periodic
// validation (loss, perplexity, bits per byte), JSONL + TensorBoard logs, atomic checkpoints
// and exact resume (the same losses, bit for bit, as a run that was never interrupted).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Progress } from "../cli/progress.js";
import type { Module } from "../nn/module.js";
import { AdamW, clipGradNorm } from "../optim/optimizers.js";
import { learningRate, type ScheduleConfig } from "../optim/schedule.js";
import { ids, mulScalar, setMatmulPrecision, type IdsLike, type MatmulPrecision } from "../tensor/ops/index.js";
import { globalRng, type Rng } from "../tensor/rng.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointState } from "./checkpoint.js";
import { TokenDataLoader, type TokenArray } from "./dataLoader.js";
import { MetricsLog } from "./metricsLog.js";
import { TensorBoardWriter } from "./tensorboard.js";

/** What the trainer needs of a model: parameters and a mean next-token loss. */
export interface TrainableModel extends Module {
  loss(idx: IdsLike, targets: Int32Array): Tensor;
  /** The generator the model's dropout draws from; its state is checkpointed for exact resume. */
  readonly dropoutRng?: Rng;
}

export interface TrainOptions {
  /** Run folder: metrics.jsonl, tb/, checkpoints/ land here. */
  outDir: string;
  trainShards: string[];
  valShards: string[];
  readShard: (path: string) => TokenArray;
  /** Micro-batch rows and sequence length. */
  batchSize: number;
  seqLen: number;
  /** Tokens per optimizer step; must be a multiple of batchSize * seqLen (default: one micro-batch). */
  totalBatchTokens?: number;
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
  evalEvery?: number;
  evalBatches?: number;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Rows are random windows of the shard, in a seeded order (default true); false reads in order. */
  shuffle?: boolean;
  /** On a NaN/inf loss or gradient: stop with an error (default) or skip the step. */
  onNonFinite?: "stop" | "skip";
  seed?: number;
  /** Continue from the newest checkpoint in outDir/checkpoints. */
  resume?: boolean;
  /** UTF-8 bytes that a sequence of token ids decodes to (for bits per byte). */
  tokenBytes?: (ids: Int32Array) => number;
  /** Progress lines on stderr (default true). */
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

export interface EvalResult {
  loss: number;
  perplexity: number;
  /** Bits per UTF-8 byte of the evaluated text (null when no byte counter was given). */
  bitsPerByte: number | null;
  tokens: number;
}

export interface TrainSummary {
  steps: number;
  firstLoss: number;
  lastLoss: number;
  val: EvalResult | null;
  initialVal: EvalResult | null;
  tokensPerSec: number;
  seconds: number;
  checkpoint: string | null;
  stoppedBy: "steps" | "time" | "interrupted";
}

export class NonFiniteLossError extends Error {
  constructor(step: number, what: string) {
    super(`step ${step}: ${what} is not finite; stopping before the optimizer update (no checkpoint written with it). Lower the learning rate or use --on-nan skip.`);
    this.name = "NonFiniteLossError";
  }
}

/** Mean loss over the first `batches` batches of the validation shards (deterministic). */
export function evaluate(
  model: TrainableModel, shards: string[], readShard: (p: string) => TokenArray,
  B: number, T: number, batches: number, tokenBytes?: (ids: Int32Array) => number,
): EvalResult {
  const loader = new TokenDataLoader(shards, B, T, readShard);
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  let bytes = 0;
  for (let i = 0; i < batches; i++) {
    const b = loader.next();
    total += noGrad(() => tidy(() => model.loss(ids(b.inputs, [B, T]), b.targets).item()));
    if (tokenBytes) bytes += tokenBytes(b.targets);
    if (loader.getCursor().epoch > 0) {
      batches = i + 1;
      break;
    }
  }
  model.train(wasTraining);
  const loss = total / batches;
  const tokens = batches * B * T;
  return { loss, perplexity: Math.exp(loss), bitsPerByte: tokenBytes ? (loss * tokens) / (bytes * Math.LN2) : null, tokens };
}

/**
 * Runs (or resumes) pretraining and returns a summary. The loop yields to the event loop
 * between steps, so signals (Ctrl-C through `signal`) and I/O are served during long runs.
 */
export async function train(model: TrainableModel, o: TrainOptions): Promise<TrainSummary> {
  const prevPrecision = setMatmulPrecision(o.precision ?? "f32");
  try {
    return await trainLoop(model, o);
  } finally {
    setMatmulPrecision(prevPrecision);
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function trainLoop(model: TrainableModel, o: TrainOptions): Promise<TrainSummary> {
  const B = o.batchSize;
  const T = o.seqLen;
  const microTokens = B * T;
  const totalBatch = o.totalBatchTokens ?? microTokens;
  if (totalBatch % microTokens !== 0) {
    throw new Error(`totalBatchTokens ${totalBatch} is not a multiple of batch×block = ${microTokens}`);
  }
  const accum = totalBatch / microTokens;
  const evalEvery = o.evalEvery ?? 100;
  const evalBatches = o.evalBatches ?? 8;
  const ckptEvery = o.checkpointEvery ?? 200;
  const ckptDir = join(o.outDir, "checkpoints");
  mkdirSync(o.outDir, { recursive: true });
  const log = new MetricsLog(join(o.outDir, "metrics.jsonl"));
  const tb = new TensorBoardWriter(join(o.outDir, "tb"));

  // Decay matrices only: norms and biases (1-D) are left alone.
  const named = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const decay = named.filter(([, p]) => p.ndim >= 2).map(([, p]) => p);
  const noDecay = named.filter(([, p]) => p.ndim < 2).map(([, p]) => p);
  const opt = new AdamW(
    [{ params: decay, weightDecay: o.weightDecay ?? 0.1 }, { params: noDecay, weightDecay: 0 }],
    { lr: o.maxLr, betas: o.betas ?? [0.9, 0.95], eps: 1e-8 },
  );
  const params = [...decay, ...noDecay];
  const loader = new TokenDataLoader(o.trainShards, B, T, o.readShard, (o.shuffle ?? true) ? (o.seed ?? 0) : null);
  if (o.seed !== undefined) globalRng.seed(o.seed);

  let step = 0;
  let totalSteps = o.maxSteps;
  let initialVal: EvalResult | null = null;
  if (o.resume) {
    const ck = latestCheckpoint(ckptDir);
    if (ck) {
      const st = loadCheckpoint(ck, model, opt);
      step = st.step;
      totalSteps = st.totalSteps;
      loader.setCursor(st.cursor);
      globalRng.setState(st.rng);
      if (st.modelRng && model.dropoutRng) model.dropoutRng.setState(st.modelRng);
      initialVal = st.initialVal ?? null;
      log.truncateAfter(step);
      process.stderr.write(`resumed from ${ck} at step ${step}\n`);
    }
  }
  const doEval = (): EvalResult | null =>
    o.valShards.length > 0 ? evaluate(model, o.valShards, o.readShard, B, T, evalBatches, o.tokenBytes) : null;
  if (step === 0) {
    initialVal = doEval();
    if (initialVal) log.append({ step: 0, val_loss: initialVal.loss, val_ppl: initialVal.perplexity, val_bpb: initialVal.bitsPerByte });
  }

  const schedule = (): ScheduleConfig => ({
    maxLr: o.maxLr, minLr: o.minLr ?? o.maxLr / 10, warmupSteps: o.warmupSteps ?? Math.min(100, Math.ceil(totalSteps / 10)),
    totalSteps, decay: o.decay ?? "cosine",
  });
  const progress = new Progress("train", { unit: "steps", total: totalSteps, enabled: o.progress ?? true });
  progress.done = step;
  const t0 = performance.now();
  const startStep = step;
  let firstLoss = Number.NaN;
  let lastLoss = Number.NaN;
  let lastCkpt: string | null = null;
  let stoppedBy: TrainSummary["stoppedBy"] = "steps";
  const writeCheckpoint = (): void => {
    const state: CheckpointState = {
      step, totalSteps, cursor: loader.getCursor(), rng: globalRng.getState(), modelRng: model.dropoutRng?.getState() ?? null,
      initialVal, meta: o.meta ?? {},
    };
    lastCkpt = saveCheckpoint(ckptDir, model, opt, state, o.keepCheckpoints ?? 3);
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
    let loss = 0;
    for (let m = 0; m < accum; m++) {
      const b = loader.next();
      loss += tidy(() => {
        const l = model.loss(ids(b.inputs, [B, T]), b.targets);
        mulScalar(l, 1 / accum).backward();
        return l.item();
      }) / accum;
    }
    const norm = clipGradNorm(params, o.gradClip ?? 1.0);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      const what = !Number.isFinite(loss) ? `loss (${loss})` : `gradient norm (${norm})`;
      opt.zeroGrad();
      if ((o.onNonFinite ?? "stop") === "stop") throw new NonFiniteLossError(step + 1, what);
      process.stderr.write(`step ${step + 1}: ${what} is not finite; step skipped\n`);
      log.append({ step: step + 1, skipped: what });
      step++;
      continue;
    }
    opt.step();
    opt.zeroGrad();
    step++;
    const dt = (performance.now() - stepStart) / 1000;
    if (Number.isNaN(firstLoss)) firstLoss = loss;
    lastLoss = loss;
    const tps = totalBatch / dt;
    log.append({ step, loss, lr, grad_norm: norm, tokens_per_s: Math.round(tps), ms: Math.round(dt * 1000) });
    tb.scalars(step, { "train/loss": loss, "train/lr": lr, "train/grad_norm": norm, "train/tokens_per_s": tps });
    progress.tick(1, `loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} ${Math.round(tps)} tok/s`);
    o.onStep?.(step, loss);

    // A time budget sets the schedule length from the measured step time: first after 3 steps,
    // then every 20 steps (so a machine that slows down still ends on time, with the LR decayed).
    if (o.maxMinutes !== undefined && startStep === 0 && (step === 3 || step % 20 === 0)) {
      const spent = (performance.now() - t0) / 1000;
      const perStep = spent / step;
      const fit = Math.min(o.maxSteps, Math.max(step + 1, step + Math.floor((o.maxMinutes * 60 - spent) / perStep)));
      if (fit !== totalSteps) {
        totalSteps = fit;
        stoppedBy = fit < o.maxSteps ? "time" : "steps";
        progress.setTotal(totalSteps);
      }
    }
    if (step % evalEvery === 0 && step < totalSteps) {
      const v = doEval();
      if (v) {
        log.append({ step, val_loss: v.loss, val_ppl: v.perplexity, val_bpb: v.bitsPerByte });
        tb.scalars(step, { "val/loss": v.loss, "val/perplexity": v.perplexity, ...(v.bitsPerByte !== null ? { "val/bpb": v.bitsPerByte } : {}) });
      }
    }
    if (step % ckptEvery === 0 && step < totalSteps) writeCheckpoint();
  }
  const val = doEval();
  if (val) {
    log.append({ step, val_loss: val.loss, val_ppl: val.perplexity, val_bpb: val.bitsPerByte });
    tb.scalars(step, { "val/loss": val.loss, "val/perplexity": val.perplexity });
  }
  writeCheckpoint();
  progress.finish();
  const seconds = (performance.now() - t0) / 1000;
  return {
    steps: step, firstLoss, lastLoss, val, initialVal,
    tokensPerSec: ((step - startStep) * totalBatch) / Math.max(seconds, 1e-9), seconds, checkpoint: lastCkpt, stoppedBy,
  };
}
