// A small trained quality classifier: hashed word uni/bigrams and character 4-grams, logistic regression
// trained by SGD with AdaGrad and L2 (seeded order, so the same documents give the same weights bit for bit);
// saved as versioned JSON; used as a filter rule with a threshold. Held-out figures are kept per source.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileAtomicSync } from "../../io/atomicWrite.js";
import { DataConfigError } from "../types.js";
import type { TextView } from "../textView.js";
import type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";

export const QUALITY_MODEL_FORMAT = "llmforge-quality-classifier";

export interface QualityFeatureOptions {
  /** log2 of the number of hashed feature buckets. */
  bits: number;
  /** Characters of the document looked at. */
  maxChars: number;
}

/** A trained linear model over hashed features. */
export interface QualityModel {
  format: typeof QUALITY_MODEL_FORMAT;
  version: 1;
  features: QualityFeatureOptions;
  bias: number;
  weights: Float32Array;
  /** Held-out figures measured when the model was trained. */
  metrics: QualityMetrics;
}

export interface QualityMetrics {
  trainDocs: number;
  heldOutDocs: number;
  heldOutAccuracy: number;
  heldOutPrecision: number;
  heldOutRecall: number;
  trainAccuracy: number;
  /** The lowest per-source held-out accuracy (a classifier can be accurate overall and wrong on a whole source). */
  heldOutAccuracyMinSource?: number | null;
  /** Per source (absent in models written before per-source figures). */
  sources?: Record<string, SourceQualityMetrics>;
}

function fnv(s: string, from: number, to: number, seed: number): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Sparse L2-normalised feature vector: bucket indices and values. */
export interface SparseVec {
  idx: Uint32Array;
  val: Float32Array;
}

/** Hashes a text into word unigrams, word bigrams and character 4-grams (lower-cased, whitespace collapsed). */
export function qualityFeatures(text: string, opts: QualityFeatureOptions): SparseVec {
  const mask = (1 << opts.bits) - 1;
  const t = text.slice(0, opts.maxChars).toLowerCase().replace(/\s+/g, " ");
  const counts = new Map<number, number>();
  const add = (h: number) => {
    const k = h & mask;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  };
  let prev = 0;
  let start = 0;
  for (let i = 0; i <= t.length; i++) {
    if (i === t.length || t.charCodeAt(i) === 32) {
      if (i > start) {
        const h = fnv(t, start, i, 1);
        add(h);
        if (prev !== 0) add(mix(prev, h));
        prev = h;
      }
      start = i + 1;
    }
  }
  for (let i = 0; i + 4 <= t.length; i++) add(fnv(t, i, i + 4, 2));
  const idx = Uint32Array.from(counts.keys());
  const val = new Float32Array(idx.length);
  let norm = 0;
  let j = 0;
  for (const c of counts.values()) {
    const v = 1 + Math.log(c);
    val[j++] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm) || 1;
  for (let k = 0; k < val.length; k++) val[k] /= norm;
  return { idx, val };
}

function dot(w: Float32Array, x: SparseVec): number {
  let s = 0;
  for (let k = 0; k < x.idx.length; k++) s += w[x.idx[k]] * x.val[k];
  return s;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Probability that `text` is of the positive (high-quality) class. */
export function qualityScore(model: QualityModel, text: string): number {
  return sigmoid(model.bias + dot(model.weights, qualityFeatures(text, model.features)));
}

export interface TrainQualityOptions {
  bits?: number;
  maxChars?: number;
  epochs?: number;
  learningRate?: number;
  l2?: number;
  /** Fraction of each class held out for the reported accuracy ({@link trainQualityClassifier} only). */
  heldOut?: number;
  seed?: number;
}

/** Deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffleInPlace<T>(xs: T[], rand: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
}

/** One training or evaluation document: its text, class (1 = good) and source (for per-source figures). */
export interface LabeledText {
  text: string;
  label: 0 | 1;
  source: string;
}

/** Held-out figures of one source. */
export interface SourceQualityMetrics {
  label: 0 | 1;
  trainDocs: number;
  heldOutDocs: number;
  /** Share of its held-out documents put in the right class at score 0.5 (null without held-out documents). */
  heldOutAccuracy: number | null;
}

/** Trains a logistic-regression quality model on `train`; figures (overall and per source) on `heldOut`. */
export function fitQualityModel(train: readonly LabeledText[], heldOut: readonly LabeledText[], o: TrainQualityOptions = {}): QualityModel {
  const nPos = train.filter((t) => t.label === 1).length;
  const nNeg = train.length - nPos;
  if (nPos < 1 || nNeg < 1) throw new DataConfigError(`train-quality needs positive and negative training documents (got ${nPos} and ${nNeg})`);
  const features: QualityFeatureOptions = { bits: o.bits ?? 18, maxChars: o.maxChars ?? 4000 };
  const rand = mulberry32(o.seed ?? 1234);
  const vec = (set: readonly LabeledText[]) => set.map((t) => ({ x: qualityFeatures(t.text, features), y: t.label, source: t.source }));
  const tr = vec(train);
  const te = vec(heldOut);
  // balance classes by weighting each example inversely to its class size
  const wPos = tr.length / (2 * nPos);
  const wNeg = tr.length / (2 * nNeg);
  const weights = new Float32Array(1 << features.bits);
  const g2 = new Float32Array(1 << features.bits);
  let bias = 0;
  let biasG2 = 0;
  const lr = o.learningRate ?? 0.5;
  const l2 = o.l2 ?? 1e-6;
  const epochs = o.epochs ?? 5;
  const order = [...tr];
  for (let e = 0; e < epochs; e++) {
    shuffleInPlace(order, rand);
    for (const { x, y } of order) {
      const pr = sigmoid(bias + dot(weights, x));
      const g = (pr - y) * (y === 1 ? wPos : wNeg);
      for (let k = 0; k < x.idx.length; k++) {
        const i = x.idx[k];
        const gi = g * x.val[k] + l2 * weights[i];
        g2[i] += gi * gi;
        weights[i] -= (lr * gi) / Math.sqrt(g2[i] + 1e-8);
      }
      biasG2 += g * g;
      bias -= (lr * g) / Math.sqrt(biasG2 + 1e-8);
    }
  }
  const predict = (x: SparseVec) => (sigmoid(bias + dot(weights, x)) >= 0.5 ? 1 : 0);
  const evalSet = (set: typeof te) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let correct = 0;
    for (const { x, y } of set) {
      const pred = predict(x);
      if (pred === y) correct++;
      if (pred === 1 && y === 1) tp++;
      if (pred === 1 && y === 0) fp++;
      if (pred === 0 && y === 1) fn++;
    }
    return { acc: correct / Math.max(1, set.length), prec: tp / Math.max(1, tp + fp), rec: tp / Math.max(1, tp + fn) };
  };
  const sources: Record<string, SourceQualityMetrics & { correct: number }> = {};
  const entry = (t: { y: number; source: string }) => {
    sources[t.source] ??= { label: t.y as 0 | 1, trainDocs: 0, heldOutDocs: 0, heldOutAccuracy: null, correct: 0 };
    return sources[t.source];
  };
  for (const t of tr) entry(t).trainDocs++;
  for (const t of te) {
    const m = entry(t);
    m.heldOutDocs++;
    if (predict(t.x) === t.y) m.correct++;
  }
  const perSource: Record<string, SourceQualityMetrics> = {};
  for (const name of Object.keys(sources).sort()) {
    const { correct, ...m } = sources[name];
    perSource[name] = { ...m, heldOutAccuracy: m.heldOutDocs > 0 ? correct / m.heldOutDocs : null };
  }
  const accs = Object.values(perSource).flatMap((m) => (m.heldOutAccuracy === null ? [] : [m.heldOutAccuracy]));
  const teM = evalSet(te);
  const trM = evalSet(tr);
  return {
    format: QUALITY_MODEL_FORMAT,
    version: 1,
    features,
    bias,
    weights,
    metrics: {
      trainDocs: tr.length,
      heldOutDocs: te.length,
      heldOutAccuracy: teM.acc,
      heldOutPrecision: teM.prec,
      heldOutRecall: teM.rec,
      trainAccuracy: trM.acc,
      heldOutAccuracyMinSource: accs.length > 0 ? Math.min(...accs) : null,
      sources: perSource,
    },
  };
}

/**
 * Trains on positive and negative texts, holding out a seeded random `heldOut` fraction of each class (at least one
 * document) for the reported figures. `runTrainQuality` samples and splits per source instead.
 */
export function trainQualityClassifier(positive: readonly string[], negative: readonly string[], o: TrainQualityOptions = {}): QualityModel {
  if (positive.length < 2 || negative.length < 2)
    throw new DataConfigError(`train-quality needs at least 2 positive and 2 negative documents (got ${positive.length} and ${negative.length})`);
  const rand = mulberry32(o.seed ?? 1234);
  const heldOut = o.heldOut ?? 0.2;
  const train: LabeledText[] = [];
  const test: LabeledText[] = [];
  for (const [texts, label, source] of [
    [positive, 1, "positive"],
    [negative, 0, "negative"],
  ] as const) {
    const items = texts.map((text) => ({ text, label, source }));
    shuffleInPlace(items, rand);
    const h = Math.max(1, Math.round(items.length * heldOut));
    test.push(...items.slice(0, h));
    train.push(...items.slice(h));
  }
  return fitQualityModel(train, test, { ...o, seed: (o.seed ?? 1234) + 1 });
}

/** Writes a model as JSON (weights as base64 little-endian float32). */
export function saveQualityModel(file: string, m: QualityModel): void {
  const b64 = Buffer.from(m.weights.buffer, m.weights.byteOffset, m.weights.byteLength).toString("base64");
  writeFileAtomicSync(file, `${JSON.stringify({ ...m, weights: b64 })}\n`);
}

/** Reads a model written by {@link saveQualityModel}. */
export function loadQualityModel(file: string): QualityModel {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new DataConfigError(`${file}: cannot read quality model: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (j.format !== QUALITY_MODEL_FORMAT || j.version !== 1)
    throw new DataConfigError(`${file}: not a ${QUALITY_MODEL_FORMAT} v1 file (format=${String(j.format)}, version=${String(j.version)})`);
  const buf = Buffer.from(String(j.weights), "base64");
  const weights = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const features = j.features as QualityFeatureOptions;
  if (weights.length !== 1 << features.bits) throw new DataConfigError(`${file}: expected ${1 << features.bits} weights, found ${weights.length}`);
  return { ...(j as unknown as QualityModel), weights };
}

export const qualityClassifierOptionsSchema = z.object({
  /** Path of a model trained by `llmforge data train-quality`. */
  model: z.string(),
  /** Remove documents scoring below this. */
  minScore: z.number().default(0.5),
});
export type QualityClassifierOptions = z.infer<typeof qualityClassifierOptionsSchema>;

/** Reason: `low_score`. Stores `meta.quality_score` (usable for curriculum ordering in `mix`). */
export class QualityClassifierRule implements QualityRule {
  readonly name = "quality_classifier";
  private readonly model: QualityModel;
  constructor(
    readonly opts: QualityClassifierOptions,
    readonly scope: RuleScope,
  ) {
    this.model = loadQualityModel(opts.model);
  }

  check(v: TextView): RuleOutcome | null {
    const s = qualityScore(this.model, v.text);
    const scores = { quality_score: Number(s.toFixed(4)) };
    if (s < this.opts.minScore) return { remove: "low_score", detail: `score ${s.toFixed(3)} < ${this.opts.minScore}`, scores };
    return { scores };
  }
}
