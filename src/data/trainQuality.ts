// The `train-quality` step: trains the hashed n-gram logistic-regression quality classifier from positive and
// negative JSONL documents (files/folders, optionally picked by source), reports held-out accuracy, saves the model.
import { join } from "node:path";
import { type StepOutput, withStepOutput } from "../io/stepOutput.js";
import { DataStats } from "./stats.js";
import { finishStep, listShards, readDocs, type StepResult } from "./shards.js";
import { saveQualityModel, trainQualityClassifier, type QualityModel, type TrainQualityOptions } from "./filters/qualityClassifier.js";
import { DataConfigError, type OnErrorPolicy } from "./types.js";

export interface TrainQualityRunOptions extends TrainQualityOptions {
  /** JSONL shards/folders of good documents. */
  positive: string[];
  /** JSONL shards/folders of bad documents. */
  negative: string[];
  /** Only documents of these sources count as positive / negative (useful when both come from one folder). */
  positiveSources?: string[];
  negativeSources?: string[];
  /** At most this many documents per class. */
  maxDocsPerClass?: number;
  /** Folder for `model.json` and stats. */
  outDir: string;
  onError?: OnErrorPolicy;
  /** Replace a non-empty output folder that is not an earlier train-quality output. */
  overwrite?: boolean;
}

async function collect(paths: string[], sources: string[] | undefined, max: number, stats: DataStats, onError: OnErrorPolicy): Promise<string[]> {
  const out: string[] = [];
  for (const f of listShards(paths)) {
    for await (const { doc } of readDocs(f, stats, onError)) {
      if (sources && !sources.includes(doc.source)) continue;
      out.push(doc.text);
      if (out.length >= max) return out;
    }
  }
  return out;
}

/** Trains and saves a quality model; the step's stats carry the held-out figures. */
export async function runTrainQuality(o: TrainQualityRunOptions): Promise<StepResult & { model: QualityModel; modelPath: string }> {
  const step = { command: "data train-quality", step: "train-quality", inputs: [...o.positive, ...o.negative], overwrite: o.overwrite };
  return withStepOutput(o.outDir, step, (out) => trainQualityInto(o, out));
}

async function trainQualityInto(o: TrainQualityRunOptions, out: StepOutput): Promise<StepResult & { model: QualityModel; modelPath: string }> {
  const t0 = performance.now();
  const stats = new DataStats("train-quality");
  const max = o.maxDocsPerClass ?? 20_000;
  const pos = await collect(o.positive, o.positiveSources, max, stats, o.onError ?? "skip");
  const neg = await collect(o.negative, o.negativeSources, max, stats, o.onError ?? "skip");
  if (pos.length < 2 || neg.length < 2) throw new DataConfigError(`train-quality: found ${pos.length} positive and ${neg.length} negative documents; need at least 2 of each (check --positive/--negative and source filters)`);
  const model = trainQualityClassifier(pos, neg, o);
  for (const t of [...pos, ...neg]) {
    const b = Buffer.byteLength(t);
    stats.input(b);
    stats.output(b);
  }
  stats.seconds = (performance.now() - t0) / 1000;
  const m = model.metrics;
  stats.extra = {
    positive_docs: pos.length,
    negative_docs: neg.length,
    held_out_docs: m.heldOutDocs,
    held_out_accuracy: m.heldOutAccuracy,
    held_out_precision: m.heldOutPrecision,
    held_out_recall: m.heldOutRecall,
    train_accuracy: m.trainAccuracy,
  };
  saveQualityModel(join(out.dir, "model.json"), model);
  const r = finishStep(out, stats, [join(out.dir, "model.json")]);
  return { ...r, model, modelPath: r.outputs[0] };
}
