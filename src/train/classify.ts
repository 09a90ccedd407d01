// Sequence classification with a pretrained BERT as library calls: labelled records ({text, label}, or
// {text, text_pair, label} for pairs) -> [CLS] a [SEP] (b [SEP]) rows with segment ids, padded per batch -> the
// encoder with a fresh classification head on the pooled [CLS] state, fine-tuned through the generic step loop
// with held-out accuracy before, during and after; written as a Hugging Face BertForSequenceClassification folder
// (id2label) with its tokenizer. `predictClassifier` labels new records with class probabilities.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { dataFiles, readRecords } from "../data/formats/recordFiles.js";
import { isObj, kind } from "../data/formats/records.js";
import { JsonlWriter } from "../io/jsonl.js";
import { withFolderLock } from "../io/runLock.js";
import type { Bert } from "../model/bert.js";
import { loadBert, saveBert } from "../model/bertFolder.js";
import { resolveRunPaths } from "../model/runFolder.js";
import { Linear } from "../nn/layers.js";
import { argmax, crossEntropy } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { Tokenizer } from "../tokenizer/index.js";
import { VERSION } from "../version.js";
import { type EvalMetrics, runStepLoop, type StageRunOptions, type StepLoopSummary } from "./loop.js";
import { bertTokenizer, type BertTokenIds } from "./mlm.js";
import { markRunCompleted, planResume, writeRunRecord } from "./resume.js";

export class ClassifyDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClassifyDataError";
  }
}

/** Which fields of a record hold the text, the optional second text of a pair, and the class. */
export interface RecordFields {
  /** Default "text". */
  textField?: string;
  /** Default "text_pair": when a record has it, the input is [CLS] text [SEP] pair [SEP] with segment ids 0 then 1. */
  pairField?: string;
  /** Default "label". */
  labelField?: string;
}

/** Scores of held-out predictions (class indices), merged into the logged metrics, e.g. macro-F1 from eval/. */
export type ClassificationScorer = (gold: readonly number[], pred: readonly number[]) => Record<string, number>;

export interface ClassifyOptions extends StageRunOptions, RecordFields {
  /** A BERT run folder (`llmforge train --flavour bert`: RUN/model + RUN/tokenizer) or a BERT model folder with tokenizer.json. */
  model: string;
  /** Labelled records (JSONL, JSON array, .gz, or folders of them): one {"text": string, "label": string | number} each. */
  data: string | readonly string[];
  /** Held-out records; default: `valFraction` of `data` (seeded). */
  valData?: string | readonly string[];
  /** Default 0.1. */
  valFraction?: number;
  out: string;
  /**
   * The label set in class order; default: the distinct labels of the training data, sorted (numerically
   * when all are numbers). A number that is not itself a listed label is read as an index into this list
   * (as `data convert` reads text/label records).
   */
  labels?: string[];
  /** Longest row, [CLS] and [SEP] included (default: the model's positions); longer texts are cut (a pair: the longer text first). */
  maxLength?: number;
  /** Extra held-out scores per evaluation, logged as val_<name> beside acc and loss. */
  scoreHeldout?: ClassificationScorer;
}

export interface ClassifyResult {
  summary: StepLoopSummary;
  modelDir: string | null;
  labels: string[];
  train: number;
  val: number;
}

/** One tokenized example: ids of [CLS] text [SEP] (or [CLS] a [SEP] b [SEP] with its segment ids) and its class (-1: unlabelled). */
export interface ClassifyExample {
  ids: Int32Array;
  types?: Int32Array;
  label: number;
}

export interface ClassifyBatch {
  inputIds: { data: Int32Array; shape: [number, number] };
  attentionMask: Int32Array;
  tokenTypeIds?: Int32Array;
  labels: Int32Array;
}

/** One record of a classification file, with where it came from. */
export interface LabelledRecord {
  file: string;
  line: number;
  text: string;
  pair?: string;
  /** The class as written; null when the record has no label field (accepted only where labels are optional). */
  label: string | number | null;
  /** The record as read (predictions are written beside its fields). */
  record: Record<string, unknown>;
}

const listOf = (p: string | readonly string[]): readonly string[] => (typeof p === "string" ? [p] : p);

/**
 * Reads classification records from JSONL/JSON files or folders (the readers `data convert` uses). Every problem
 * stops the read with file:line and what was expected: bad JSON, a missing or empty text, a pair field that is not
 * a string, a label that is neither a string nor a number, and (with `requireLabel`, the default) a missing label.
 */
export async function readLabelled(paths: string | readonly string[], o: RecordFields & { requireLabel?: boolean } = {}): Promise<LabelledRecord[]> {
  const tf = o.textField ?? "text";
  const pf = o.pairField ?? "text_pair";
  const lf = o.labelField ?? "label";
  const out: LabelledRecord[] = [];
  for (const file of listOf(paths).flatMap(dataFiles)) {
    for await (const item of readRecords(file)) {
      const at = `${file}${item.line > 0 ? `:${item.line}` : ""}`;
      if ("reason" in item) throw new ClassifyDataError(`${at}: ${item.reason} (${item.detail})`);
      const r = item.value;
      if (!isObj(r)) throw new ClassifyDataError(`${at}: expected a JSON object {"${tf}": string, "${lf}": string | number}, got ${kind(r)}`);
      const text = r[tf];
      if (typeof text !== "string") throw new ClassifyDataError(`${at}: expected a string field "${tf}" (the text to classify; --text-field names another field), got ${kind(text)}`);
      if (text.trim() === "") throw new ClassifyDataError(`${at}: "${tf}" is empty: there is nothing to classify`);
      const pair = r[pf];
      if (pair !== undefined && typeof pair !== "string") throw new ClassifyDataError(`${at}: "${pf}" (the second text of a pair) must be a string, got ${kind(pair)}`);
      if (typeof pair === "string" && pair.trim() === "") throw new ClassifyDataError(`${at}: "${pf}" (the second text of a pair) is empty`);
      const label = r[lf];
      if (label === undefined && o.requireLabel !== false) {
        throw new ClassifyDataError(`${at}: "${lf}" must be a string or a number, but the record has no "${lf}" field (--label-field names the field holding the class)`);
      }
      if (label !== undefined && typeof label !== "string" && !(typeof label === "number" && Number.isFinite(label))) {
        throw new ClassifyDataError(`${at}: "${lf}" must be a string or a number, got ${JSON.stringify(label)}`);
      }
      out.push({ file, line: item.line, text, ...(pair !== undefined ? { pair } : {}), label: label ?? null, record: r });
    }
  }
  if (out.length === 0) throw new ClassifyDataError(`${listOf(paths).join(", ")}: no records`);
  return out;
}

/** The distinct labels of records, sorted (numerically when every label is a number). */
export function labelSetOf(recs: readonly LabelledRecord[]): string[] {
  const names = [...new Set(recs.filter((r) => r.label !== null).map((r) => String(r.label)))];
  const numeric = names.every((n) => n.trim() !== "" && Number.isFinite(Number(n)));
  return numeric ? names.sort((a, b) => Number(a) - Number(b)) : names.sort();
}

/**
 * The class of a record's label in `labels`: a string (or number) naming a class, or, when `indexed` (the set was
 * given explicitly, by --labels or by the model's id2label), a whole number indexing the set.
 */
export function labelIndex(r: LabelledRecord, labels: readonly string[], indexed: boolean): number {
  const i = labels.indexOf(String(r.label));
  if (i >= 0) return i;
  const l = r.label;
  if (indexed && typeof l === "number" && Number.isInteger(l) && l >= 0 && l < labels.length) return l;
  const hint = typeof l === "number" && indexed ? " nor an index into it" : "";
  throw new ClassifyDataError(`${r.file}:${r.line}: label ${JSON.stringify(l)} is not in the label set (${labels.join(", ")})${hint}`);
}

/**
 * Token ids of one input: [CLS] text [SEP], or [CLS] text [SEP] pair [SEP] with segment ids 0 up to the first
 * [SEP] and 1 after it. Cut to `maxLength` tokens; a pair loses tokens from its longer text first (Hugging Face's
 * "longest_first").
 */
export function encodeInput(tok: Tokenizer, special: BertTokenIds, text: string, pair: string | undefined, maxLength: number): { ids: Int32Array; types?: Int32Array } {
  const a = tok.encode(text);
  if (pair === undefined) return { ids: Int32Array.from([special.cls, ...a.slice(0, maxLength - 2), special.sep]) };
  const b = tok.encode(pair);
  let [la, lb] = [a.length, b.length];
  while (la + lb > maxLength - 3) {
    if (la > lb) la--;
    else lb--;
  }
  const ids = Int32Array.from([special.cls, ...a.slice(0, la), special.sep, ...b.slice(0, lb), special.sep]);
  const types = new Int32Array(ids.length);
  types.fill(1, la + 2);
  return { ids, types };
}

/** Examples of records: ids (see {@link encodeInput}) and class; `labels` null leaves every example unlabelled (-1). */
export function encodeExamples(
  recs: readonly LabelledRecord[], tok: Tokenizer, special: BertTokenIds, labels: readonly string[] | null, indexed: boolean, maxLength: number,
): ClassifyExample[] {
  return recs.map((r) => ({ ...encodeInput(tok, special, r.text, r.pair, maxLength), label: labels && r.label !== null ? labelIndex(r, labels, indexed) : -1 }));
}

/** Rows padded with [PAD] to the longest of the batch, with the attention mask (and segment ids when any row has them). */
export function classifyBatch(examples: readonly ClassifyExample[], pad: number): ClassifyBatch {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length));
  const data = new Int32Array(B * T).fill(pad);
  const mask = new Int32Array(B * T);
  const types = examples.some((e) => e.types) ? new Int32Array(B * T) : undefined;
  examples.forEach((e, r) => {
    data.set(e.ids, r * T);
    mask.fill(1, r * T, r * T + e.ids.length);
    if (types && e.types) types.set(e.types, r * T);
  });
  return { inputIds: { data, shape: [B, T] }, attentionMask: mask, ...(types ? { tokenTypeIds: types } : {}), labels: Int32Array.from(examples, (e) => e.label) };
}

/** What a classifier says about examples: class probabilities and argmax per example; loss and accuracy over the labelled ones (null when none is). */
export interface ClassifierOutputs {
  probabilities: Float64Array[];
  predictions: Int32Array;
  loss: number | null;
  accuracy: number | null;
  labelled: number;
}

/** Runs a classifier over examples in batches of B, without dropout or gradients; softmax and loss in float64. */
export function runClassifier(model: Bert, examples: readonly ClassifyExample[], B: number, pad: number): ClassifierOutputs {
  const was = model.training;
  model.eval();
  const probabilities: Float64Array[] = [];
  const predictions = new Int32Array(examples.length);
  let loss = 0;
  let correct = 0;
  let labelled = 0;
  for (let i = 0; i < examples.length; i += B) {
    const b = classifyBatch(examples.slice(i, i + B), pad);
    const logits = noGrad(() => tidy(() => model.classify(b).toTypedArray()));
    const K = logits.length / b.labels.length;
    for (let r = 0; r < b.labels.length; r++) {
      const row = logits.subarray(r * K, (r + 1) * K);
      let max = Number.NEGATIVE_INFINITY;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      const p = Float64Array.from(row, (x) => Math.exp(x - max) / sum);
      let best = 0;
      for (let k = 1; k < K; k++) if (row[k] > row[best]) best = k;
      probabilities.push(p);
      predictions[i + r] = best;
      const y = b.labels[r];
      if (y >= 0) {
        labelled++;
        loss += max + Math.log(sum) - row[y];
        if (best === y) correct++;
      }
    }
  }
  model.train(was);
  return { probabilities, predictions, loss: labelled ? loss / labelled : null, accuracy: labelled ? correct / labelled : null, labelled };
}

/** Accuracy and mean loss of a classifier on labelled examples, in batches of B, without dropout or gradients. */
export function evaluateClassifier(model: Bert, examples: readonly ClassifyExample[], B: number, pad: number): { loss: number; accuracy: number; count: number } {
  const r = runClassifier(model, examples, B, pad);
  return { loss: r.loss ?? Number.NaN, accuracy: r.accuracy ?? Number.NaN, count: r.labelled };
}

/** A BERT run's model and the tokenizer it was trained with (with [CLS] [SEP] [MASK] [PAD]), checked to belong together. */
function loadBertRun(run: string, backend: StageRunOptions["backend"]): { model: Bert; tokenizer: Tokenizer; special: BertTokenIds; modelDir: string } {
  const paths = resolveRunPaths(run);
  const model = loadBert(paths.modelDir, { backend });
  const { tokenizer, special } = bertTokenizer(Tokenizer.fromFile(paths.tokenizerFile));
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new ClassifyDataError(`${paths.tokenizerFile} lacks BERT's [CLS] [SEP] [MASK] [PAD] tokens that the model in ${paths.modelDir} was trained with (give the run's tokenizer)`);
  }
  return { model, tokenizer, special, modelDir: paths.modelDir };
}

/** Refuses text pairs for a model with one segment type (it has no embedding for the second text). */
function checkPairs(recs: readonly LabelledRecord[], model: Bert, fields: RecordFields): void {
  const r = recs.find((x) => x.pair !== undefined);
  if (r && model.config.typeVocabSize < 2) {
    throw new ClassifyDataError(`${r.file}:${r.line}: a text pair ("${fields.pairField ?? "text_pair"}"), but the model has type_vocab_size ${model.config.typeVocabSize}: it cannot tell a second text apart`);
  }
}

/**
 * Fine-tunes a pretrained BERT for sequence classification: validates data and labels before
 * anything is written, trains through the generic step loop (shuffled examples per epoch, resumable),
 * logs held-out accuracy (and `scoreHeldout`'s scores), and writes OUT/model (BertForSequenceClassification
 * with id2label), OUT/tokenizer and OUT/classify.json (held-out scores before and after).
 */
export async function trainClassifier(o: ClassifyOptions): Promise<ClassifyResult> {
  const { model: pre, tokenizer, special, modelDir: baseDir } = loadBertRun(o.model, o.backend);
  const fields: RecordFields = { textField: o.textField, pairField: o.pairField, labelField: o.labelField };
  const trainRecs = await readLabelled(o.data, fields);
  let valRecs = o.valData ? await readLabelled(o.valData, fields) : [];
  let fitRecs = trainRecs;
  if (!o.valData) {
    const frac = o.valFraction ?? 0.1;
    const order = new Rng(o.seed ?? 0).permutation(trainRecs.length);
    const nVal = Math.min(trainRecs.length - 1, Math.round(frac * trainRecs.length));
    const held = new Set(Array.from(order.subarray(0, nVal)));
    valRecs = trainRecs.filter((_, i) => held.has(i));
    fitRecs = trainRecs.filter((_, i) => !held.has(i));
  }
  const labels = o.labels ?? labelSetOf(trainRecs);
  if (labels.length < 2) throw new ClassifyDataError(`${listOf(o.data).join(", ")}: ${labels.length} distinct label(s); classification needs at least 2`);
  if (new Set(labels).size !== labels.length) throw new ClassifyDataError(`--labels ${labels.join(",")}: a label is listed twice`);
  checkPairs([...trainRecs, ...valRecs], pre, fields);
  const maxLength = Math.min(o.maxLength ?? pre.config.maxPositionEmbeddings, pre.config.maxPositionEmbeddings);
  if (maxLength < 3) throw new ClassifyDataError(`--max-length ${maxLength}: a row needs [CLS], a token and [SEP]`);
  const indexed = o.labels !== undefined;
  const fit = encodeExamples(fitRecs, tokenizer, special, labels, indexed, maxLength);
  const val = encodeExamples(valRecs, tokenizer, special, labels, indexed, maxLength);
  const B = o.batchSize;
  const model = pre.clone({ classifier: true, numLabels: labels.length, seed: o.seed ?? 0 });
  // A classifier given as the base keeps its head only for the same classes in the same order.
  if (pre.classifier && model.classifier && readClassifierLabels(baseDir)?.join("\n") !== labels.join("\n")) {
    const c = model.config;
    const fresh = new Linear(c.hiddenSize, labels.length, { init: { kind: "normal", std: c.initializerRange }, rng: new Rng(o.seed ?? 0), dtype: model.dtype, backend: model.backendName });
    for (const [own, init] of [[model.classifier.weight, fresh.weight], [model.classifier.bias, fresh.bias]] as const) {
      if (own && init) own.data.set(init.contiguousData(), own.offset);
    }
  }
  // Examples in a seeded order per epoch; the cursor (epoch, position) is all a resumed run needs.
  const orderFor = (epoch: number) => new Rng((o.seed ?? 0) + epoch * 7919).permutation(fit.length);
  let cursor = { epoch: 0, pos: 0 };
  let order = orderFor(0);
  const batches = {
    next: (): ClassifyBatch => {
      if (cursor.pos >= fit.length) {
        cursor = { epoch: cursor.epoch + 1, pos: 0 };
        order = orderFor(cursor.epoch);
      }
      const picked = Array.from(order.subarray(cursor.pos, cursor.pos + B), (i) => fit[i]);
      cursor = { ...cursor, pos: cursor.pos + B };
      return classifyBatch(picked, special.pad);
    },
    getCursor: () => ({ ...cursor }),
    setCursor: (c: unknown) => {
      cursor = { ...(c as { epoch: number; pos: number }) };
      order = orderFor(cursor.epoch);
    },
  };

  return withFolderLock(o.out, "llmforge classify", async () => {
    const say = (line: string): void => {
      if (o.progress !== false) process.stderr.write(`${line}\n`);
    };
    const abs = (p: string | readonly string[] | undefined) => (p === undefined ? undefined : listOf(p).map((f) => resolve(f)));
    const recorded = { ...o, model: resolve(o.model), data: abs(o.data), valData: abs(o.valData), scoreHeldout: undefined, signal: undefined, resume: undefined, extend: undefined };
    const plan = planResume({
      out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
      fixed: {
        model: "--model", data: "--data", valData: "--val-data", valFraction: "--val-fraction", seed: "--seed", batchSize: "--batch", labels: "--labels", maxLength: "--max-length",
        textField: "--text-field", pairField: "--pair-field", labelField: "--label-field",
      },
      kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", minutes: "--minutes" },
    });
    const e = plan.options;
    if (!plan.checkpoint || plan.extendTo) {
      writeRunRecord(o.out, { ...plan.record, format: "llmforge-run", version: 1, writer: `llmforge ${VERSION}`, stage: "classify", labels, options: e, completed: undefined });
    }
    say(`classify: ${fit.length} training and ${val.length} held-out examples, labels ${labels.join(", ")}`);
    const summary = await runStepLoop<ClassifyBatch>({
      outDir: o.out, model, batches,
      lossOf: (b) => {
        const logits = model.classify(b);
        const pred = argmax(logits.detach(), -1);
        let ok = 0;
        for (let r = 0; r < pred.length; r++) if (pred[r] === b.labels[r]) ok++;
        return { loss: crossEntropy(logits, b.labels), metrics: { acc: ok / pred.length } };
      },
      weightOf: (b) => b.labels.length,
      tokensOf: (b) => b.attentionMask.reduce((n, m) => n + m, 0),
      maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, ema: e.ema,
      betas: [0.9, 0.999], evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed: o.seed,
      resume: plan.checkpoint !== null, extendTo: plan.extendTo, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
      evaluate: val.length > 0 ? (): EvalMetrics => {
        const r = runClassifier(model, val, B, special.pad);
        const extra = o.scoreHeldout ? o.scoreHeldout(Array.from(val, (x) => x.label), Array.from(r.predictions)) : {};
        return { loss: r.loss, acc: r.accuracy, ...extra, examples: r.labelled };
      } : undefined,
      precision: o.precision, signal: o.signal, progress: o.progress, label: "classify", meta: { labels },
    });
    const result: ClassifyResult = { summary, modelDir: null, labels, train: fit.length, val: val.length };
    if (summary.stoppedBy === "interrupted") return result;
    result.modelDir = join(o.out, "model");
    saveBert(result.modelDir, model, { labels });
    const tokJson = tokenizer.toHuggingFaceJson();
    writeFileAtomicSync(join(result.modelDir, "tokenizer.json"), tokJson);
    writeFileAtomicSync(join(o.out, "tokenizer", "tokenizer.json"), tokJson);
    const report = { format: "llmforge-classify", version: 1, writer: `llmforge ${VERSION}`, labels, train: fit.length, val: val.length, before: summary.initialVal, after: summary.val };
    writeFileAtomicSync(join(o.out, "classify.json"), `${JSON.stringify(report, null, 2)}\n`);
    markRunCompleted(o.out, summary.steps, result);
    return result;
  });
}

export interface PredictOptions extends RecordFields {
  /** A classifier run (OUT of {@link trainClassifier}) or its model folder. */
  model: string;
  /** Records to classify (JSONL, JSON array, .gz, or folders); a label field, where present, is scored. */
  data: string | readonly string[];
  /** JSONL written atomically: each record with `prediction` (its class name) and `probabilities` (class -> p). */
  out?: string;
  /** Rows per forward pass (default 32). */
  batchSize?: number;
  /** Longest row (default: the model's positions). */
  maxLength?: number;
  backend?: StageRunOptions["backend"];
  /** Scores of the labelled records' predictions beside accuracy (e.g. macro-F1 from eval/). */
  score?: ClassificationScorer;
}

/** One record's prediction. */
export interface ClassifierPrediction {
  file: string;
  line: number;
  prediction: string;
  probabilities: Record<string, number>;
  /** The record's own label, as a class name; null when it has none. */
  gold: string | null;
  /** The line written for it: the record's fields with `prediction` and `probabilities`. */
  output: Record<string, unknown>;
}

export interface PredictResult {
  labels: string[];
  predictions: ClassifierPrediction[];
  /** Records that carried a label, and the scores over them (null when none did). */
  labelled: number;
  scores: Record<string, number> | null;
  out: string | null;
}

/** The classes a classifier folder was trained with, in id order (id2label), or LABEL_0.. when it lists none. */
function classifierLabels(modelDir: string, model: Bert): string[] {
  const labels = readClassifierLabels(modelDir);
  return labels && labels.length === model.config.numLabels ? labels : Array.from({ length: model.config.numLabels }, (_, i) => `LABEL_${i}`);
}

/**
 * Classifies records with a fine-tuned classifier: each gets its most likely class and every class's probability
 * (written to `out` as JSONL beside the record's own fields when given); records carrying labels are scored
 * (accuracy, plus `score`'s). A BERT without a classification head is refused before any record is read.
 */
export async function predictClassifier(o: PredictOptions): Promise<PredictResult> {
  const { model, tokenizer, special, modelDir } = loadBertRun(o.model, o.backend);
  if (!model.classifier) {
    throw new ClassifyDataError(`${modelDir} holds a BERT without a classification head (BertForPreTraining): fine-tune one first with \`llmforge classify train --model ${o.model} --data LABELLED.jsonl --out RUN\``);
  }
  const labels = classifierLabels(modelDir, model);
  const fields: RecordFields = { textField: o.textField, pairField: o.pairField, labelField: o.labelField };
  const recs = await readLabelled(o.data, { ...fields, requireLabel: false });
  checkPairs(recs, model, fields);
  const maxLength = Math.min(o.maxLength ?? model.config.maxPositionEmbeddings, model.config.maxPositionEmbeddings);
  if (maxLength < 3) throw new ClassifyDataError(`--max-length ${maxLength}: a row needs [CLS], a token and [SEP]`);
  const examples = encodeExamples(recs, tokenizer, special, labels, true, maxLength);
  const r = runClassifier(model, examples, o.batchSize ?? 32, special.pad);
  const predictions = recs.map((rec, i): ClassifierPrediction => {
    const prediction = labels[r.predictions[i]];
    const probabilities = Object.fromEntries(labels.map((l, k) => [l, r.probabilities[i][k]]));
    const gold = examples[i].label >= 0 ? labels[examples[i].label] : null;
    return { file: rec.file, line: rec.line, prediction, probabilities, gold, output: { ...rec.record, prediction, probabilities } };
  });
  if (o.out) {
    const w = new JsonlWriter(o.out);
    for (const p of predictions) w.write(p.output);
    w.close();
  }
  const scored = examples.flatMap((x, i) => (x.label >= 0 ? [i] : []));
  const scores = scored.length === 0 ? null : {
    acc: r.accuracy as number,
    ...o.score?.(scored.map((i) => examples[i].label), scored.map((i) => r.predictions[i])),
  };
  return { labels, predictions, labelled: scored.length, scores, out: o.out ?? null };
}

/** The class names a classifier folder's config.json lists (id2label in id order), or null. */
export function readClassifierLabels(modelDir: string): string[] | null {
  const cfg = JSON.parse(readFileSync(join(modelDir, "config.json"), "utf8")) as { id2label?: Record<string, string> };
  if (!cfg.id2label) return null;
  return Object.entries(cfg.id2label).sort(([a], [b]) => Number(a) - Number(b)).map(([, l]) => l);
}
