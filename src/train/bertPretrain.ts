// BERT pretraining as one library call (what `llmforge train --flavour bert --objective mlm` runs):
// checks tokenizer, shards and config before anything is written, grows the tokenizer by BERT's
// special tokens, trains masked-LM (+ next-sentence) through the generic step loop with validation
// MLM/NSP accuracy, and leaves OUT/model (HF BERT layout) and OUT/tokenizer/tokenizer.json.
import { join } from "node:path";
import { withFolderLock } from "../io/runLock.js";
import { Bert } from "../model/bert.js";
import { bertParamCount, type BertConfig } from "../model/bertConfig.js";
import { saveBert } from "../model/bertFolder.js";
import { formatCount } from "../model/config.js";
import { readTokenShard, Tokenizer, verifyShardSet } from "../tokenizer/index.js";
import { type EvalMetrics, runStepLoop, type StageRunOptions, type StepLoopSummary } from "./loop.js";
import { bertTokenizer, evaluateMlm, MlmBatches, mlmLossOf, type MlmSourceOptions } from "./mlm.js";
import { findShards, PretrainSetupError, resolveTokenizerPath } from "./pretrain.js";
import { closeObjectiveRun, openObjectiveRun } from "./resume.js";

export interface BertPretrainOptions extends StageRunOptions {
  /** Folder of token shards (train_*.bin, val_*.bin). */
  data: string;
  /** tokenizer.json (or its folder) the shards were written with. */
  tokenizer: string;
  out: string;
  /** The model; its vocabulary must hold the tokenizer grown by [CLS] [SEP] [MASK] [PAD] ({@link bertTokenizer}). */
  config: BertConfig;
  /** Add the next-sentence objective (sentence pairs, segment ids, padding). */
  nsp?: boolean;
  /** Share of tokens predicted (default 0.15). */
  maskProb?: number;
  /** Row length (default: the config's maxPositionEmbeddings). */
  seqLen?: number;
  evalBatches?: number;
}

export interface BertPretrainResult {
  summary: StepLoopSummary;
  /** OUT/model; null when the run was stopped by its signal. */
  modelDir: string | null;
  tokenizerPath: string;
  params: number;
}

/** The tokenizer a BERT run uses: the given one grown by BERT's special tokens (checked against the config). */
function runTokenizer(o: BertPretrainOptions): { tok: Tokenizer; grown: ReturnType<typeof bertTokenizer>; tokPath: string } {
  const tokPath = resolveTokenizerPath(o.tokenizer);
  const tok = Tokenizer.fromFile(tokPath);
  const grown = bertTokenizer(tok);
  if (o.config.vocabSize < grown.tokenizer.vocabSize) {
    throw new PretrainSetupError(
      `model vocabulary ${o.config.vocabSize} is smaller than the tokenizer's ${grown.tokenizer.vocabSize} (${tok.vocabSize} + BERT's [CLS] [SEP] [MASK] [PAD] where missing)`,
    );
  }
  return { tok, grown, tokPath };
}

/**
 * Validates everything, then trains (or resumes) holding the lock of OUT, and saves the final model
 * in OUT/model unless the run was stopped by its signal.
 */
export async function pretrainBert(o: BertPretrainOptions): Promise<BertPretrainResult> {
  const { tok, grown, tokPath } = runTokenizer(o);
  verifyShardSet(o.data, tok, o.tokenizer);
  const shards = findShards(o.data);
  const T = o.seqLen ?? o.config.maxPositionEmbeddings;
  if (T > o.config.maxPositionEmbeddings) throw new PretrainSetupError(`sequence length ${T} exceeds the model's maxPositionEmbeddings ${o.config.maxPositionEmbeddings}`);
  if (o.nsp && o.config.typeVocabSize < 2) throw new PretrainSetupError(`the next-sentence objective needs 2 segment types; the config has typeVocabSize ${o.config.typeVocabSize}`);
  const config: BertConfig = { ...o.config, padTokenId: grown.special.pad };
  const source = (files: string[], seed: number): MlmBatches => {
    const so: MlmSourceOptions = {
      batchSize: o.batchSize, seqLen: T, nsp: o.nsp ?? false, tokenizer: grown.tokenizer, special: grown.special, seed,
      masking: o.maskProb !== undefined ? { maskProb: o.maskProb } : undefined,
    };
    return new MlmBatches(files, (p) => readTokenShard(p).tokens, so);
  };
  // Build (and so check) the sources before the run folder is touched: short shards, NSP without documents.
  source(shards.train, o.seed ?? 0).next();
  const valSource = shards.val.length > 0 ? () => source(shards.val, 0x7a1) : null;
  valSource?.().next();
  const batches = source(shards.train, o.seed ?? 0);

  return withFolderLock(o.out, "llmforge train", async () => {
    const { plan, say } = openObjectiveRun({
      stage: o, tokenizerPath: tokPath, config, objective: "mlm", tokenizerJson: grown.tokenizer.toHuggingFaceJson(),
      fixed: { data: "--data", seed: "--seed", batchSize: "--batch", nsp: "--nsp", maskProb: "--mask-prob", seqLen: "--block" },
      configFlags: "--preset, --depth, --config, --block, --dropout",
    });
    const e = plan.options;
    say(
      `model: bert ${config.numHiddenLayers} layers, ${config.numAttentionHeads} heads, width ${config.hiddenSize}, ` +
        `${formatCount(bertParamCount(config))} parameters; objective: masked LM${o.nsp ? " + next sentence" : ""}, rows of ${T} tokens`,
    );
    const model = new Bert(config, { seed: o.seed ?? 0, backend: o.backend });
    const evalBatches = e.evalBatches ?? 8;
    const summary = await runStepLoop({
      outDir: o.out, model, batches, lossOf: mlmLossOf(model),
      weightOf: (b) => b.mlmLabels.reduce((n, l) => n + (l !== -100 ? 1 : 0), 0),
      tokensOf: (b) => b.tokens,
      maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, ema: e.ema,
      betas: [0.9, 0.999], evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed: o.seed,
      resume: plan.checkpoint !== null, extendTo: plan.extendTo, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
      evaluate: valSource ? (): EvalMetrics => evaluateMlm(model, valSource, evalBatches) : undefined,
      precision: o.precision, signal: o.signal, progress: o.progress, label: "mlm", meta: { config },
    });
    const result: BertPretrainResult = { summary, modelDir: null, tokenizerPath: join(o.out, "tokenizer", "tokenizer.json"), params: bertParamCount(config) };
    return closeObjectiveRun(o.out, summary, result, (dir) => saveBert(dir, model), grown.tokenizer.toHuggingFaceJson());
  });
}

/** One line on a finished run: steps, speed, training loss, validation MLM loss and accuracy (and NSP accuracy), where the model is. */
export function describeBertRun(r: BertPretrainResult): string {
  const s = r.summary;
  if (Number.isNaN(s.firstLoss)) return `no steps left to train; wrote the model of step ${s.steps} in ${r.modelDir}`;
  const v = s.val;
  const pct = (x: number | null | undefined) => (typeof x === "number" ? `${(100 * x).toFixed(1)}%` : "?");
  const val = v
    ? `val MLM loss ${v.mlm_loss?.toFixed(3) ?? "?"}, MLM accuracy ${pct(s.initialVal?.mlm_acc)} -> ${pct(v.mlm_acc)}` +
      (v.nsp_acc !== undefined ? `, NSP accuracy ${pct(s.initialVal?.nsp_acc)} -> ${pct(v.nsp_acc)}` : "") + "; "
    : "";
  return `trained ${s.steps} steps in ${s.seconds.toFixed(1)} s (${Math.round(s.tokensPerSec)} tokens/s); loss ${s.firstLoss.toFixed(3)} -> ${s.lastLoss.toFixed(3)}; ${val}model in ${r.modelDir}`;
}
