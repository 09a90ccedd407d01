// Pretraining as a caller of the generic step loop (train/loop.ts): next-token cross-entropy on
// token-shard windows, accumulation to a token budget, validation (loss, perplexity, bits per
// byte); the loop brings the optimizer, schedule, logs, checkpoints and exact resume.
import type { Module } from "../nn/module.js";
import { ids, type IdsLike } from "../tensor/ops/index.js";
import type { Rng } from "../tensor/rng.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import { type Batch, type DataCursor, TokenDataLoader, type TokenArray } from "./dataLoader.js";
import { type EvalMetrics, NonFiniteLossError, runStepLoop, type StepLoopOptions } from "./loop.js";

/** What the trainer needs of a model: parameters and a mean next-token loss. */
export interface TrainableModel extends Module {
  loss(idx: IdsLike, targets: Int32Array): Tensor;
  /** The generator the model's dropout draws from; its state is checkpointed for exact resume. */
  readonly dropoutRng?: Rng;
  /** Mixture-of-experts routing of the latest forward (expert load per layer, auxiliary losses), logged per step. */
  moeMetrics?(): Record<string, number> | null;
}

/** The step loop's options (optimizer, schedule, logs, checkpoints) plus where pretraining's batches come from. */
export interface TrainOptions extends Omit<StepLoopOptions<Batch>, "model" | "batches" | "lossOf" | "weightOf" | "tokensOf" | "accumulation" | "evaluate" | "label"> {
  trainShards: string[];
  valShards: string[];
  readShard: (path: string) => TokenArray;
  /** Micro-batch rows and sequence length. */
  batchSize: number;
  seqLen: number;
  /** Tokens per optimizer step; must be a multiple of batchSize * seqLen (default: one micro-batch). */
  totalBatchTokens?: number;
  evalBatches?: number;
  /** Rows are random windows of the shard, in a seeded order (default true); false reads in order. */
  shuffle?: boolean;
  /** UTF-8 bytes that a sequence of token ids decodes to (for bits per byte). */
  tokenBytes?: (ids: Int32Array) => number;
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

export { NonFiniteLossError };

/** Mean loss over the first `batches` batches of the validation shards, or all of them when they hold fewer (each counted once; deterministic). */
export function evaluate(
  model: TrainableModel, shards: string[], readShard: (p: string) => TokenArray,
  B: number, T: number, batches: number, tokenBytes?: (ids: Int32Array) => number,
): EvalResult {
  const loader = new TokenDataLoader(shards, B, T, readShard);
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  let bytes = 0;
  let done = 0;
  for (; done < batches; done++) {
    const b = loader.next();
    // the loader wraps before it reads: a batch of the next epoch repeats the first one, so the shards are done
    if (loader.getCursor().epoch > 0) break;
    total += noGrad(() => tidy(() => model.loss(ids(b.inputs, [B, T]), b.targets).item()));
    if (tokenBytes) bytes += tokenBytes(b.targets);
  }
  model.train(wasTraining);
  const loss = total / done;
  const tokens = done * B * T;
  return { loss, perplexity: Math.exp(loss), bitsPerByte: tokenBytes ? (loss * tokens) / (bytes * Math.LN2) : null, tokens };
}

/**
 * Runs (or resumes) pretraining: next-token cross-entropy over token-shard windows, as one
 * caller of the generic step loop ({@link runStepLoop}).
 */
export async function train(model: TrainableModel, o: TrainOptions): Promise<TrainSummary> {
  const B = o.batchSize;
  const T = o.seqLen;
  const microTokens = B * T;
  const totalBatch = o.totalBatchTokens ?? microTokens;
  if (totalBatch % microTokens !== 0) {
    throw new Error(`totalBatchTokens ${totalBatch} is not a multiple of batch×block = ${microTokens}`);
  }
  const loader = new TokenDataLoader(o.trainShards, B, T, o.readShard, (o.shuffle ?? true) ? (o.seed ?? 0) : null);
  const evalBatches = o.evalBatches ?? 8;
  const s = await runStepLoop<Batch>({
    ...o,
    model,
    batches: { next: () => loader.next(), getCursor: () => loader.getCursor(), setCursor: (c) => loader.setCursor(c as DataCursor) },
    lossOf: (b) => {
      const loss = model.loss(ids(b.inputs, [B, T]), b.targets);
      const metrics = model.moeMetrics?.();
      return metrics ? { loss, metrics } : loss;
    },
    weightOf: () => microTokens,
    accumulation: totalBatch / microTokens,
    evaluate: o.valShards.length > 0
      ? () => evalMetrics(evaluate(model, o.valShards, o.readShard, B, T, evalBatches, o.tokenBytes))
      : undefined,
  });
  return { ...s, val: evalResult(s.val), initialVal: evalResult(s.initialVal) };
}

/** Logged as val_loss, val_ppl, val_bpb (the names pretraining logs have always used). */
function evalMetrics(e: EvalResult): EvalMetrics {
  return { loss: e.loss, ppl: e.perplexity, bpb: e.bitsPerByte, tokens: e.tokens };
}

function evalResult(m: EvalMetrics | null): EvalResult | null {
  if (!m) return null;
  return { loss: m.loss ?? Number.NaN, perplexity: m.ppl ?? Number.NaN, bitsPerByte: m.bpb ?? null, tokens: m.tokens ?? 0 };
}
