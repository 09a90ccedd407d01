// Answer and classification metrics of the evaluation harness: SQuAD v1.1 exact match and token F1 (the official
// evaluate-v1.1.py semantics), accuracy / precision / recall / F1 / confusion matrix as scikit-learn 1.2.1 defines
// them, and expected calibration error with its reliability-diagram table. Checked against Python in
// test/eval/classification.test.ts (fixture written by scripts/make_classification_fixture.py).

import { pySplit } from "../../data/words/pyString.js";

/** Inputs a metric cannot score (length mismatch, mixed label types, bad option); the message says which. */
export class MetricInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetricInputError";
  }
}

// ---------------------------------------------------------------- SQuAD v1.1

/** Python's `string.punctuation`: the 32 ASCII punctuation characters. */
const PY_PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
/**
 * `\b(a|an|the)\b` as Python's `re` reads it on a str: a word character is Unicode alphanumeric or "_" (JavaScript's
 * `\b` is ASCII-only, so "éthe" would lose its "the"). Combining marks are not word characters, as in Python.
 */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * The official SQuAD v1.1 `normalize_answer`, in its order: lower case, drop `string.punctuation`, replace the
 * articles a/an/the (whole words) with a space, then collapse whitespace (Python `str.split()` whitespace).
 */
export function normalizeSquadAnswer(s: string): string {
  let noPunc = "";
  for (const ch of s.toLowerCase()) if (!PY_PUNCTUATION.has(ch)) noPunc += ch;
  return pySplit(noPunc.replace(ARTICLES, " ")).join(" ");
}

function maxOverGroundTruths(prediction: string, groundTruths: readonly string[], metric: (p: string, g: string) => number): number {
  if (groundTruths.length === 0) throw new MetricInputError("SQuAD metric: a question needs at least one ground-truth answer (got none)");
  let best = Number.NEGATIVE_INFINITY;
  for (const g of groundTruths) best = Math.max(best, metric(prediction, g));
  return best;
}

/** SQuAD exact match: 1 when the normalised prediction equals some normalised ground truth, else 0. */
export function squadExactMatch(prediction: string, groundTruths: readonly string[]): number {
  return maxOverGroundTruths(prediction, groundTruths, (p, g) => (normalizeSquadAnswer(p) === normalizeSquadAnswer(g) ? 1 : 0));
}

function squadF1Single(prediction: string, groundTruth: string): number {
  const predTokens = normalizeSquadAnswer(prediction).split(" ").filter((t) => t !== "");
  const truthTokens = normalizeSquadAnswer(groundTruth).split(" ").filter((t) => t !== "");
  const truthCounts = new Map<string, number>();
  for (const t of truthTokens) truthCounts.set(t, (truthCounts.get(t) ?? 0) + 1);
  let numSame = 0; // sum of the Counter intersection: min count per shared token
  for (const t of predTokens) {
    const left = truthCounts.get(t) ?? 0;
    if (left > 0) {
      numSame++;
      truthCounts.set(t, left - 1);
    }
  }
  if (numSame === 0) return 0; // also when either side normalises to nothing
  const precision = numSame / predTokens.length;
  const recall = numSame / truthTokens.length;
  return (2 * precision * recall) / (precision + recall);
}

/**
 * SQuAD token F1: bag-of-tokens F1 between normalised prediction and each ground truth (Counter intersection),
 * best over the ground truths. 0 when no token is shared, so an answer that normalises to "" scores 0.
 */
export function squadF1(prediction: string, groundTruths: readonly string[]): number {
  return maxOverGroundTruths(prediction, groundTruths, squadF1Single);
}

/** One question for {@link squadScores}; `prediction` undefined means unanswered (scores 0, still counted). */
export interface SquadExample {
  prediction: string | undefined;
  groundTruths: readonly string[];
}

/** Corpus SQuAD scores as the official script reports them: percentages (0..100) over all questions. */
export interface SquadScores {
  exactMatch: number;
  f1: number;
  count: number;
}

/** The official `evaluate`: mean exact match and mean F1 over questions, times 100. */
export function squadScores(examples: readonly SquadExample[]): SquadScores {
  if (examples.length === 0) throw new MetricInputError("squadScores: no questions to score");
  let em = 0;
  let f1 = 0;
  for (const ex of examples) {
    if (ex.prediction === undefined) continue;
    em += squadExactMatch(ex.prediction, ex.groundTruths);
    f1 += squadF1(ex.prediction, ex.groundTruths);
  }
  return { exactMatch: (100 * em) / examples.length, f1: (100 * f1) / examples.length, count: examples.length };
}

// ---------------------------------------------------------------- classification (scikit-learn 1.2.1)

/** A class label: all labels of one call are strings, or all are integers (as scikit-learn accepts). */
export type ClassLabel = string | number;

/** numpy's sort order: numbers ascending, strings by Unicode code point (not UTF-16 unit, as JS `<` compares). */
function compareLabels(a: ClassLabel, b: ClassLabel): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const x = String(a);
  const y = String(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    let c = x.charCodeAt(i);
    let d = y.charCodeAt(i);
    if (c === d) continue;
    // UTF-16 to code-point order: surrogates (astral) sort after U+E000..U+FFFF
    if (c >= 0xd800 && d >= 0xd800) {
      c += c >= 0xe000 ? -0x800 : 0x2000;
      d += d >= 0xe000 ? -0x800 : 0x2000;
    }
    return c - d;
  }
  return x.length - y.length;
}

/**
 * scikit-learn's `_check_targets` for 1-D labels: same non-zero length, all strings or all integers; returns the
 * sorted unique labels of yTrue ∪ yPred and whether the task is binary (at most two of them).
 */
function checkTargets(fn: string, yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[]): { present: ClassLabel[]; binary: boolean } {
  if (yTrue.length !== yPred.length) throw new MetricInputError(`${fn}: yTrue has ${yTrue.length} labels but yPred has ${yPred.length}`);
  if (yTrue.length === 0) throw new MetricInputError(`${fn}: no samples (yTrue and yPred are empty)`);
  const seen = new Set<ClassLabel>();
  let kinds = 0;
  for (const y of [yTrue, yPred]) {
    for (const v of y) {
      if (typeof v === "number") {
        if (!Number.isInteger(v)) throw new MetricInputError(`${fn}: label ${v} is not an integer; classification metrics take discrete labels (continuous targets are not supported)`);
        kinds |= 1;
      } else if (typeof v === "string") kinds |= 2;
      else throw new MetricInputError(`${fn}: labels must be strings or integers, got ${typeof v}`);
      seen.add(v);
    }
  }
  if (kinds === 3) throw new MetricInputError(`${fn}: mix of label input types (string and number); use one type for every label`);
  const present = [...seen].sort(compareLabels);
  return { present, binary: present.length <= 2 };
}

/** scikit-learn `accuracy_score`: the fraction of samples whose predicted label equals the true label. */
export function accuracy(yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[]): number {
  checkTargets("accuracy", yTrue, yPred);
  let hits = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / yTrue.length;
}

/** How {@link precisionRecallF1} averages over labels; "none" is scikit-learn's `average=None`. */
export type AverageMode = "binary" | "micro" | "macro" | "weighted" | "none";

/** Options of {@link precisionRecallF1}, named as scikit-learn's (`pos_label`, `labels`, `zero_division`). */
export interface PrecisionRecallF1Options {
  average: AverageMode;
  /** The positive class for average "binary" (default 1); ignored otherwise, as in scikit-learn. */
  posLabel?: ClassLabel;
  /** The labels to score, in output order (default: sorted unique of yTrue ∪ yPred); ignored for "binary". */
  labels?: readonly ClassLabel[];
  /** The value of an ill-defined precision or recall (x / 0); "warn" (the default) acts as 0 and warns nothing. */
  zeroDivision?: 0 | 1 | "warn";
}

/** Averaged scores (`support` is omitted, as scikit-learn returns None for it). */
export interface AveragedScores {
  precision: number;
  recall: number;
  f1: number;
}

/** Per-label scores for average "none", aligned with `labels`; `support` counts each label in yTrue. */
export interface PerLabelScores {
  labels: ClassLabel[];
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
}

function mean(xs: readonly number[], weights?: readonly number[]): number {
  let s = 0;
  let w = 0;
  for (let i = 0; i < xs.length; i++) {
    const wi = weights ? weights[i] : 1;
    s += xs[i] * wi;
    w += wi;
  }
  return s / w;
}

/**
 * scikit-learn 1.2.1 `precision_recall_fscore_support` (beta 1; its `f1_score` gives the same F1): per-label
 * counts over the chosen labels, x / 0 set to `zeroDivision`, F1 = 2PR / (P + R) with 0 when P + R = 0, then
 * averaged: "micro" pools the counts, "macro" is the plain mean, "weighted" weights by support (all-zero support
 * gives scikit-learn's special values), "binary" scores `posLabel` alone and refuses more than two classes.
 */
export function precisionRecallF1(yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[], options: PrecisionRecallF1Options & { average: "none" }): PerLabelScores;
export function precisionRecallF1(yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[], options: PrecisionRecallF1Options & { average: Exclude<AverageMode, "none"> }): AveragedScores;
export function precisionRecallF1(yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[], options: PrecisionRecallF1Options): AveragedScores | PerLabelScores;
export function precisionRecallF1(yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[], options: PrecisionRecallF1Options): AveragedScores | PerLabelScores {
  const { average } = options;
  if (!["binary", "micro", "macro", "weighted", "none"].includes(average)) throw new MetricInputError(`precisionRecallF1: average must be "binary", "micro", "macro", "weighted" or "none", got ${JSON.stringify(average)}`);
  const zeroDivision = options.zeroDivision ?? "warn";
  if (zeroDivision !== 0 && zeroDivision !== 1 && zeroDivision !== "warn") throw new MetricInputError(`precisionRecallF1: zeroDivision must be 0, 1 or "warn", got ${JSON.stringify(zeroDivision)}`);
  const { present, binary } = checkTargets("precisionRecallF1", yTrue, yPred);
  let labels: readonly ClassLabel[] = options.labels ?? present;
  if (average === "binary") {
    const posLabel = options.posLabel ?? 1;
    if (!binary) throw new MetricInputError(`precisionRecallF1: target is multiclass (${present.length} labels) but average is "binary"; choose "micro", "macro", "weighted" or "none"`);
    if (!present.includes(posLabel) && present.length >= 2) throw new MetricInputError(`precisionRecallF1: posLabel ${JSON.stringify(posLabel)} is not a valid label; it should be one of ${JSON.stringify(present)}`);
    labels = [posLabel];
  }
  if (labels.length === 0) throw new MetricInputError("precisionRecallF1: labels is empty; give at least one label to score");

  // per-label sufficient statistics, gathered in `labels` order (a label listed twice appears twice, as in scikit-learn)
  const slot = new Map<ClassLabel, number>();
  for (const l of labels) if (!slot.has(l)) slot.set(l, slot.size);
  const tpOf = new Array<number>(slot.size).fill(0);
  const predOf = new Array<number>(slot.size).fill(0);
  const trueOf = new Array<number>(slot.size).fill(0);
  for (let i = 0; i < yTrue.length; i++) {
    const t = slot.get(yTrue[i]);
    const p = slot.get(yPred[i]);
    if (t !== undefined) trueOf[t]++;
    if (p !== undefined) predOf[p]++;
    if (t !== undefined && t === p) tpOf[t]++;
  }
  const gather = (xs: number[]) => labels.map((l) => xs[slot.get(l) as number]);
  let tp = gather(tpOf);
  let predSum = gather(predOf);
  let trueSum = gather(trueOf);
  if (average === "micro") {
    const sum = (xs: number[]) => [xs.reduce((a, b) => a + b, 0)];
    tp = sum(tp);
    predSum = sum(predSum);
    trueSum = sum(trueSum);
  }

  const zdValue = zeroDivision === 1 ? 1 : 0;
  const precision = tp.map((x, i) => (predSum[i] === 0 ? zdValue : x / predSum[i]));
  const recall = tp.map((x, i) => (trueSum[i] === 0 ? zdValue : x / trueSum[i]));
  const f1 = precision.map((p, i) => {
    const denom = p + recall[i];
    return (2 * p * recall[i]) / (denom === 0 ? 1 : denom);
  });

  if (average === "none") return { labels: [...labels], precision, recall, f1, support: trueSum };
  if (average === "weighted") {
    if (trueSum.every((w) => w === 0)) {
      // scikit-learn's special case: no selected label occurs in yTrue
      if (predSum.every((w) => w === 0)) return { precision: zdValue, recall: zdValue, f1: zdValue };
      return { precision: 0, recall: zdValue, f1: 0 };
    }
    return { precision: mean(precision, trueSum), recall: mean(recall, trueSum), f1: mean(f1, trueSum) };
  }
  return { precision: mean(precision), recall: mean(recall), f1: mean(f1) };
}

/** A confusion matrix: `matrix[i][j]` counts samples with true label `labels[i]` predicted as `labels[j]`. */
export interface ConfusionMatrix {
  labels: ClassLabel[];
  matrix: number[][];
}

/**
 * scikit-learn 1.2.1 `confusion_matrix` (rows true, columns predicted). Labels default to the sorted unique of
 * yTrue ∪ yPred; with explicit `labels`, samples whose true or predicted label is not listed are left out, and
 * at least one listed label must occur in yTrue.
 */
export function confusionMatrix(yTrue: readonly ClassLabel[], yPred: readonly ClassLabel[], labels?: readonly ClassLabel[]): ConfusionMatrix {
  const { present } = checkTargets("confusionMatrix", yTrue, yPred);
  const order = labels ? [...labels] : present;
  if (order.length === 0) throw new MetricInputError("confusionMatrix: labels is empty; give at least one label");
  if (labels && !yTrue.some((y) => labels.includes(y))) throw new MetricInputError(`confusionMatrix: none of labels ${JSON.stringify(labels)} occurs in yTrue; at least one must`);
  const index = new Map<ClassLabel, number>();
  for (let i = 0; i < order.length; i++) index.set(order[i], i); // a repeated label maps to its last place, as in scikit-learn
  const matrix = order.map(() => new Array<number>(order.length).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i]);
    const p = index.get(yPred[i]);
    if (t !== undefined && p !== undefined) matrix[t][p]++;
  }
  return { labels: order, matrix };
}

// ---------------------------------------------------------------- calibration

/** One bin of a reliability diagram; `meanConfidence` and `accuracy` are null for an empty bin. */
export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  meanConfidence: number | null;
  accuracy: number | null;
}

/** Expected calibration error and the per-bin table it was computed from. */
export interface CalibrationResult {
  ece: number;
  bins: CalibrationBin[];
}

/**
 * Expected calibration error over `bins` equal-width bins of [0, 1]: Σ_b (n_b / N) · |accuracy_b − meanConfidence_b|.
 * Bin i covers (i/B, (i+1)/B] (right-closed, boundaries the float i/B), except that a confidence of exactly 0
 * goes in bin 0; so 1 falls in the last bin and 0.5 with B = 10 in bin 4. Also returns the per-bin table for a
 * reliability diagram.
 */
export function expectedCalibrationError(confidences: readonly number[], correct: readonly boolean[], bins = 10): CalibrationResult {
  if (confidences.length !== correct.length) throw new MetricInputError(`expectedCalibrationError: ${confidences.length} confidences but ${correct.length} correctness flags`);
  if (confidences.length === 0) throw new MetricInputError("expectedCalibrationError: no samples");
  if (!Number.isInteger(bins) || bins < 1) throw new MetricInputError(`expectedCalibrationError: bins must be a positive integer, got ${bins}`);
  const count = new Array<number>(bins).fill(0);
  const confSum = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  confidences.forEach((c, i) => {
    if (!(c >= 0 && c <= 1)) throw new MetricInputError(`expectedCalibrationError: confidence ${c} at index ${i} is outside [0, 1]`);
    let b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
    // c * bins can round across a boundary: settle against the float boundaries themselves
    while (b > 0 && c <= b / bins) b--;
    while (b < bins - 1 && c > (b + 1) / bins) b++;
    count[b]++;
    confSum[b] += c;
    if (correct[i]) hits[b]++;
  });
  const n = confidences.length;
  let ece = 0;
  const table: CalibrationBin[] = count.map((k, b) => {
    const lower = b / bins;
    const upper = (b + 1) / bins;
    if (k === 0) return { lower, upper, count: 0, meanConfidence: null, accuracy: null };
    const meanConfidence = confSum[b] / k;
    const acc = hits[b] / k;
    ece += (k / n) * Math.abs(acc - meanConfidence);
    return { lower, upper, count: k, meanConfidence, accuracy: acc };
  });
  return { ece, bins: table };
}
