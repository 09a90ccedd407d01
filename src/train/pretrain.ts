// Pretraining as one library call (what `llmforge train` and the quickstart run): checks the
// tokenizer, shards and model config against each other before anything is written, trains,
// and leaves the run folder with the final model (Hugging Face layout) and its tokenizer.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { VERSION } from "../version.js";
import { assertTrainingFits, formatBytes, formatCount, paramCount, type GPTConfig } from "../model/config.js";
import { GPT } from "../model/gpt.js";
import { saveModel } from "../model/serialize.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { MatmulPrecision } from "../tensor/ops/matmul.js";
import { readTokenShard, readTokenShardHeader, Tokenizer } from "../tokenizer/index.js";
import { latestCheckpoint } from "./checkpoint.js";
import { train, type TrainSummary } from "./trainer.js";

export class PretrainSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PretrainSetupError";
  }
}

export interface PretrainOptions {
  /** Folder of token shards (train_*.bin, val_*.bin) as `llmforge tokenizer shard` writes them. */
  data: string;
  /** tokenizer.json, or a folder holding one. */
  tokenizer: string;
  /** Run folder. */
  out: string;
  config: GPTConfig;
  batchSize: number;
  totalBatchTokens?: number;
  steps: number;
  minutes?: number;
  lr: number;
  minLr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  evalEvery?: number;
  evalBatches?: number;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  seed?: number;
  resume?: boolean;
  onNonFinite?: "stop" | "skip";
  backend?: BackendName;
  /** Stops after the current step with a checkpoint (resume later with `resume`). */
  signal?: AbortSignal;
  /** "bf16" matrix products (mixed precision) or "f32". */
  precision?: MatmulPrecision;
  progress?: boolean;
}

export interface PretrainResult {
  summary: TrainSummary;
  modelDir: string;
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
  const manifest = join(o.data, "shards.json");
  if (existsSync(manifest)) {
    const m = JSON.parse(readFileSync(manifest, "utf8")) as { vocabSize?: number };
    if (m.vocabSize !== undefined && m.vocabSize !== tok.vocabSize) {
      throw new PretrainSetupError(
        `${manifest}: shards were written with a tokenizer of ${m.vocabSize} tokens, but ${o.tokenizer} has ${tok.vocabSize}; re-shard with this tokenizer`,
      );
    }
  }
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

/** Validates everything, then trains (or resumes) and saves the final model in OUT/model. */
export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const tokPath = resolveTokenizerPath(o.tokenizer);
  const tok = Tokenizer.fromFile(tokPath);
  const shards = findShards(o.data);
  checkVocabulary(o, tok, shards);
  const T = o.config.blockSize;
  const est = assertTrainingFits(o.config, { batchSize: o.batchSize, seqLen: T });
  const runFile = join(o.out, "run.json");
  const ckpt = latestCheckpoint(join(o.out, "checkpoints"));
  if (o.resume && ckpt && existsSync(runFile)) {
    const prev = JSON.parse(readFileSync(runFile, "utf8")) as { config: GPTConfig };
    if (JSON.stringify(prev.config) !== JSON.stringify(o.config)) {
      throw new PretrainSetupError(`${runFile}: the run was started with another model config; resume with the same options or use a new --out`);
    }
  } else if (!o.resume && ckpt) {
    throw new PretrainSetupError(`${o.out} already holds checkpoints (${ckpt}); pass --resume to continue it or choose another --out`);
  }
  mkdirSync(o.out, { recursive: true });
  const runInfo = { format: "llmforge-run", version: 1, writer: `llmforge ${VERSION}`, config: o.config, options: { ...o, config: undefined, signal: undefined } };
  writeFileAtomicSync(runFile, `${JSON.stringify(runInfo, null, 2)}\n`);
  mkdirSync(join(o.out, "tokenizer"), { recursive: true });
  const runTok = join(o.out, "tokenizer", "tokenizer.json");
  if (tokPath !== runTok) copyFileSync(tokPath, runTok);
  if (o.progress !== false) {
    process.stderr.write(
      `model: ${o.config.flavour} ${o.config.nLayer} layers, ${o.config.nHead} heads, width ${o.config.nEmbd}, ` +
        `${formatCount(paramCount(o.config))} parameters; training memory about ${formatBytes(est.totalBytes)}\n`,
    );
  }
  const model = new GPT(o.config, { seed: o.seed ?? 0, backend: o.backend });
  const summary = await train(model, {
    outDir: o.out, trainShards: shards.train, valShards: shards.val, readShard: (p) => readTokenShard(p).tokens,
    batchSize: o.batchSize, seqLen: T, totalBatchTokens: o.totalBatchTokens, maxSteps: o.steps, maxMinutes: o.minutes,
    maxLr: o.lr, minLr: o.minLr, warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, evalEvery: o.evalEvery,
    evalBatches: o.evalBatches, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed: o.seed,
    resume: o.resume, onNonFinite: o.onNonFinite, tokenBytes: tokenByteCounter(tok), precision: o.precision, signal: o.signal, progress: o.progress, meta: { config: o.config },
  });
  const modelDir = join(o.out, "model");
  saveModel(modelDir, model);
  return { summary, modelDir, tokenizerPath: runTok, params: paramCount(o.config) };
}
