// Pretraining as one library call (what `llmforge train` and the quickstart run): checks the
// tokenizer, shards and model config against each other before anything is written, trains,
// and leaves the run folder with the final model (Hugging Face layout) and its tokenizer. The run
// folder is locked for the whole run; resuming follows train/resume.ts.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { withFolderLock } from "../io/runLock.js";
import { VERSION } from "../version.js";
import { assertTrainingFits, formatBytes, formatCount, paramCount, type GPTConfig } from "../model/config.js";
import { GPT } from "../model/gpt.js";
import { saveModel } from "../model/serialize.js";
import { readTokenShard, readTokenShardHeader, Tokenizer, verifyShardSet } from "../tokenizer/index.js";
import type { StageRunOptions } from "./loop.js";
import { latestCheckpoint, readCheckpointState } from "./checkpoint.js";
import { markRunCompleted, planResume, readRunRecord, writeRunRecord } from "./resume.js";
import { train, type TrainSummary } from "./trainer.js";

export class PretrainSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PretrainSetupError";
  }
}

export interface PretrainOptions extends StageRunOptions {
  /** Folder of token shards (train_*.bin, val_*.bin) as `llmforge tokenizer shard` writes them. */
  data: string;
  /** tokenizer.json, or a folder holding one. */
  tokenizer: string;
  /** Run folder. */
  out: string;
  config: GPTConfig;
  totalBatchTokens?: number;
  evalBatches?: number;
}

export interface PretrainResult {
  summary: TrainSummary;
  /** OUT/model; null when the run was stopped by its signal (a half-trained model is not written). */
  modelDir: string | null;
  tokenizerPath: string;
  params: number;
}

export function resolveTokenizerPath(p: string): string {
  const file = existsSync(p) && statSync(p).isDirectory() ? join(p, "tokenizer.json") : p;
  if (!existsSync(file)) throw new PretrainSetupError(`tokenizer not found: ${file} (train one with \`llmforge tokenizer train\`)`);
  return file;
}

/** The train and validation shard files of a shard folder, checked for a readable header. */
export function findShards(dir: string): { train: string[]; val: string[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PretrainSetupError(`shard folder not found: ${dir}`);
  const files = readdirSync(dir).sort();
  const train = files.filter((f) => /^train_\d{6}\.bin$/.test(f)).map((f) => join(dir, f));
  const val = files.filter((f) => /^val_\d{6}\.bin$/.test(f)).map((f) => join(dir, f));
  if (train.length === 0) throw new PretrainSetupError(`${dir}: no train_NNNNNN.bin shards (write them with \`llmforge tokenizer shard\`)`);
  for (const f of [...train, ...val]) readTokenShardHeader(f);
  return { train, val };
}

function checkVocabulary(o: PretrainOptions, tok: Tokenizer, shards: { train: string[] }): void {
  if (o.config.vocabSize < tok.vocabSize) {
    throw new PretrainSetupError(`model vocabulary ${o.config.vocabSize} is smaller than the tokenizer's ${tok.vocabSize}`);
  }
  const first = readTokenShard(shards.train[0]).tokens;
  let max = 0;
  for (let i = 0; i < first.length; i++) if (first[i] > max) max = first[i];
  if (max >= o.config.vocabSize) {
    throw new PretrainSetupError(`${shards.train[0]}: token id ${max} is outside the model vocabulary (${o.config.vocabSize})`);
  }
}

/** Counts the UTF-8 bytes a run of token ids stands for (special tokens count 0), for bits per byte. */
export function tokenByteCounter(tok: Tokenizer): (ids: Int32Array) => number {
  return (ids) => {
    let n = 0;
    for (const id of ids) n += tok.isSpecial(id) ? 0 : tok.tokenToBytes(id).length;
    return n;
  };
}

/**
 * Validates everything, then trains (or resumes, see {@link planResume}) holding the lock of OUT,
 * and saves the final model in OUT/model unless the run was stopped by its signal.
 */
export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const tokPath = resolveTokenizerPath(o.tokenizer);
  const tok = Tokenizer.fromFile(tokPath);
  verifyShardSet(o.data, tok, o.tokenizer); // complete, and written with this very tokenizer
  const shards = findShards(o.data);
  checkVocabulary(o, tok, shards);
  const T = o.config.blockSize;
  const est = assertTrainingFits(o.config, { batchSize: o.batchSize, seqLen: T });
  if (o.totalBatchTokens !== undefined && o.totalBatchTokens % (o.batchSize * T) !== 0) {
    throw new PretrainSetupError(`--total-batch-tokens ${o.totalBatchTokens} is not a multiple of batch × block = ${o.batchSize} × ${T}`);
  }
  return withFolderLock(o.out, "llmforge train", async () => {
    const say = (line: string): void => {
      if (o.progress !== false) process.stderr.write(`${line}\n`);
    };
    const runTok = join(o.out, "tokenizer", "tokenizer.json");
    const recorded = { ...o, data: resolve(o.data), tokenizer: resolve(tokPath), config: undefined, signal: undefined, resume: undefined, extend: undefined };
    const plan = planResume({
      out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
      fixed: { data: "--data", seed: "--seed", batchSize: "--batch", totalBatchTokens: "--total-batch-tokens" },
      kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", minutes: "--minutes", evalBatches: "--eval-batches" },
      differences: (run) => [
        ...(JSON.stringify(run.config) !== JSON.stringify(o.config) ? ["another model config (--preset, --depth, --config, --block, --flavour, --dropout)"] : []),
        ...(existsSync(runTok) && readFileSync(runTok, "utf8") !== readFileSync(tokPath, "utf8") ? [`another tokenizer (${runTok}; now ${tokPath})`] : []),
      ],
    });
    const e = plan.options;
    if (!plan.checkpoint || plan.extendTo) {
      // A resumed run keeps its run.json; a lengthened one records its new length.
      writeRunRecord(o.out, { ...plan.record, format: "llmforge-run", version: 1, writer: `llmforge ${VERSION}`, config: o.config, options: e, completed: undefined });
    }
    mkdirSync(join(o.out, "tokenizer"), { recursive: true });
    if (!plan.checkpoint && tokPath !== runTok) copyFileSync(tokPath, runTok);
    say(
      `model: ${o.config.flavour} ${o.config.nLayer} layers, ${o.config.nHead} heads, width ${o.config.nEmbd}, ` +
        `${formatCount(paramCount(o.config))} parameters; training memory about ${formatBytes(est.totalBytes)}`,
    );
    const model = new GPT(o.config, { seed: o.seed ?? 0, backend: o.backend });
    const summary = await train(model, {
      outDir: o.out, trainShards: shards.train, valShards: shards.val, readShard: (p) => readTokenShard(p).tokens,
      batchSize: o.batchSize, seqLen: T, totalBatchTokens: o.totalBatchTokens, maxSteps: e.steps, maxMinutes: e.minutes,
      maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, ema: e.ema, evalEvery: o.evalEvery,
      evalBatches: e.evalBatches, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed: o.seed,
      resume: plan.checkpoint !== null, extendTo: plan.extendTo, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
      tokenBytes: tokenByteCounter(tok), precision: o.precision, signal: o.signal, progress: o.progress, meta: { config: o.config },
    });
    const result: PretrainResult = { summary, modelDir: null, tokenizerPath: runTok, params: paramCount(o.config) };
    if (summary.stoppedBy === "interrupted") return result;
    result.modelDir = join(o.out, "model");
    saveModel(result.modelDir, model);
    markRunCompleted(o.out, summary.steps, result);
    return result;
  });
}

/** What {@link pretrain} returned for the finished run in `out` (its model written), or null. */
export function completedPretrain(out: string): PretrainResult | null {
  const last = latestCheckpoint(join(out, "checkpoints"));
  if (!last || !existsSync(join(out, "run.json"))) return null;
  const done = readRunRecord(out).completed;
  return done?.result && done.step === readCheckpointState(last).step ? (done.result as PretrainResult) : null;
}
