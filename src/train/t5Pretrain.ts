// T5 pretraining as one library call (what `llmforge train --flavour t5 --objective span` runs):
// checks tokenizer, shards and config before anything is written, grows the tokenizer by T5's
// <pad>, </s> and sentinels, trains span corruption through the generic step loop with validation
// loss and accuracy, and leaves OUT/model (HF T5 layout) and OUT/tokenizer/tokenizer.json.
import { join } from "node:path";
import { withFolderLock } from "../io/runLock.js";
import { formatCount } from "../model/config.js";
import { T5 } from "../model/t5.js";
import { assertT5WeightsFit, t5ParamCount, type T5Config } from "../model/t5Config.js";
import { saveT5 } from "../model/t5Folder.js";
import { readTokenShard, Tokenizer, verifyShardSet } from "../tokenizer/index.js";
import { type EvalMetrics, runStepLoop, type StageRunOptions, type StepLoopSummary } from "./loop.js";
import { findShards, PretrainSetupError, resolveTokenizerPath } from "./pretrain.js";
import { closeObjectiveRun, openObjectiveRun } from "./resume.js";
import { evaluateSpan, SpanCorruptionBatches, spanLossOf, t5Tokenizer, type SpanCorruptionOptions } from "./spanCorruption.js";

export interface T5PretrainOptions extends StageRunOptions, SpanCorruptionOptions {
  /** Folder of token shards (train_*.bin, val_*.bin). */
  data: string;
  /** tokenizer.json (or its folder) the shards were written with. */
  tokenizer: string;
  out: string;
  /** The model; its vocabulary must hold the tokenizer grown by T5's special tokens ({@link t5Tokenizer}); their ids are set from it. */
  config: T5Config;
  /** Tokens of text per row before corruption (default 128). */
  windowLength?: number;
  evalBatches?: number;
}

export interface T5PretrainResult {
  summary: StepLoopSummary;
  /** OUT/model; null when the run was stopped by its signal. */
  modelDir: string | null;
  tokenizerPath: string;
  params: number;
  /** Encoder and decoder lengths of a row. */
  inputLength: number;
  targetLength: number;
}

/**
 * Validates everything, then trains (or resumes) holding the lock of OUT, and saves the final model
 * in OUT/model unless the run was stopped by its signal.
 */
export async function pretrainT5(o: T5PretrainOptions): Promise<T5PretrainResult> {
  const tokPath = resolveTokenizerPath(o.tokenizer);
  const tok = Tokenizer.fromFile(tokPath);
  const grown = t5Tokenizer(tok);
  if (o.config.vocabSize < grown.tokenizer.vocabSize) {
    throw new PretrainSetupError(`model vocabulary ${o.config.vocabSize} is smaller than the tokenizer's ${grown.tokenizer.vocabSize} (${tok.vocabSize} + T5's <pad> </s> and sentinels where missing)`);
  }
  assertT5WeightsFit(o.config);
  verifyShardSet(o.data, tok, o.tokenizer);
  const shards = findShards(o.data);
  const L = o.windowLength ?? 128;
  const config: T5Config = { ...o.config, padTokenId: grown.special.pad, decoderStartTokenId: grown.special.pad, eosTokenId: grown.special.eos };
  const source = (files: string[], seed: number, shuffle: boolean): SpanCorruptionBatches =>
    new SpanCorruptionBatches(files, (p) => readTokenShard(p).tokens, {
      batchSize: o.batchSize, windowLength: L, special: grown.special, seed, shuffle, noiseDensity: o.noiseDensity, meanSpanLength: o.meanSpanLength,
    });
  // Build (and so check) the sources before the run folder is touched: short windows, short shards.
  const batches = source(shards.train, o.seed ?? 0, true);
  batches.next();
  batches.setCursor({ epoch: 0, shard: 0, pos: 0 });
  const valSource = shards.val.length > 0 ? () => source(shards.val, 0x7a1, false) : null;
  valSource?.().next();
  const { inputLength, targetLength } = batches.lengths;

  return withFolderLock(o.out, "llmforge train", async () => {
    const { plan, say } = openObjectiveRun({
      stage: o, tokenizerPath: tokPath, config, objective: "span", tokenizerJson: grown.tokenizer.toHuggingFaceJson(),
      fixed: { data: "--data", seed: "--seed", batchSize: "--batch", windowLength: "--block", noiseDensity: "--noise-density", meanSpanLength: "--mean-span" },
      configFlags: "--preset, --depth, --config, --dropout",
    });
    const e = plan.options;
    say(
      `model: t5 ${config.numLayers}+${config.numDecoderLayers} blocks, ${config.numHeads} heads, width ${config.dModel}, ${formatCount(t5ParamCount(config))} parameters; ` +
        `objective: span corruption, ${L} tokens per row -> encoder ${inputLength}, decoder ${targetLength}`,
    );
    const model = new T5(config, { seed: o.seed ?? 0, backend: o.backend });
    const evalBatches = e.evalBatches ?? 8;
    const summary = await runStepLoop({
      outDir: o.out, model, batches, lossOf: spanLossOf(model),
      weightOf: (b) => b.labels.length,
      tokensOf: (b) => b.B * L,
      maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, ema: e.ema,
      evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed: o.seed,
      resume: plan.checkpoint !== null, extendTo: plan.extendTo, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
      evaluate: valSource ? (): EvalMetrics => evaluateSpan(model, valSource, evalBatches) : undefined,
      precision: o.precision, signal: o.signal, progress: o.progress, label: "span", meta: { config },
    });
    const result: T5PretrainResult = { summary, modelDir: null, tokenizerPath: join(o.out, "tokenizer", "tokenizer.json"), params: t5ParamCount(config), inputLength, targetLength };
    return closeObjectiveRun(o.out, summary, result, (dir) => saveT5(dir, model), grown.tokenizer.toHuggingFaceJson());
  });
}

/** One line on a finished run: steps, speed, training loss, validation loss and accuracy, where the model is. */
export function describeT5Run(r: T5PretrainResult): string {
  const s = r.summary;
  if (Number.isNaN(s.firstLoss)) return `no steps left to train; wrote the model of step ${s.steps} in ${r.modelDir}`;
  const v = s.val;
  const pct = (x: number | null | undefined) => (typeof x === "number" ? `${(100 * x).toFixed(1)}%` : "?");
  const val = v ? `val loss ${s.initialVal?.loss?.toFixed(3) ?? "?"} -> ${v.loss?.toFixed(3) ?? "?"}, target accuracy ${pct(s.initialVal?.acc)} -> ${pct(v.acc)}; ` : "";
  return `trained ${s.steps} steps in ${s.seconds.toFixed(1)} s (${Math.round(s.tokensPerSec)} tokens/s); loss ${s.firstLoss.toFixed(3)} -> ${s.lastLoss.toFixed(3)}; ${val}model in ${r.modelDir}`;
}
