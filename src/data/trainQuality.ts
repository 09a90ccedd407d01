// The `train-quality` step: trains the hashed n-gram logistic-regression quality classifier from positive and
// negative JSONL documents, sampled per source (each source gets its share of the class, chosen by a seeded hash of
// the document id, so the sample does not depend on shard order or worker count), with a held-out split per source.
// It then scores every document it did not train on and refuses a model that would remove a good source.
import { join } from "node:path";
import { z } from "zod";
import { type StepOutput, withStepOutput } from "../io/stepOutput.js";
import { DataStats } from "./stats.js";
import { finishStep, listShards, readDocs, type StepResult } from "./shards.js";
import { fitQualityModel, qualityScore, saveQualityModel, type LabeledText, type QualityModel } from "./filters/qualityClassifier.js";
import { DataConfigError, type DataDoc, type OnErrorPolicy } from "./types.js";

/** Options of the train-quality step (recipe `config` and CLI flags), validated once here. */
export const trainQualityConfigSchema = z
  .object({
    /** JSONL shards/folders of good documents. */
    positive: z.array(z.string()).min(1),
    /** JSONL shards/folders of bad documents. */
    negative: z.array(z.string()).min(1),
    /** Only documents of these sources count as positive / negative (needed when both come from one folder). */
    positiveSources: z.array(z.string()).min(1).optional(),
    negativeSources: z.array(z.string()).min(1).optional(),
    /** At most this many documents per class, shared among the class's sources (a small source's unused share goes to the others). */
    maxDocsPerClass: z.number().int().positive().default(20_000),
    /** Fraction of each source's sample held out for the reported figures. */
    heldOut: z.number().gt(0).lt(1).default(0.2),
    /** The score the filter keeps documents at (its `quality_classifier.minScore`): pass rates are measured at it. */
    threshold: z.number().min(0).max(1).default(0.5),
    /** Refuse the model when a positive source passes `threshold` less often than this (0 turns the check off). */
    minPassRate: z.number().min(0).max(1).default(0.8),
    seed: z.number().int().default(1234),
    epochs: z.number().int().positive().default(5),
    learningRate: z.number().positive().default(0.5),
    l2: z.number().nonnegative().default(1e-6),
    /** log2 of the hashed feature buckets. */
    bits: z.number().int().min(8).max(24).default(18),
    /** Characters of each document looked at. */
    maxChars: z.number().int().positive().default(4000),
  })
  .strict();
export type TrainQualityConfig = z.infer<typeof trainQualityConfigSchema>;
export type TrainQualityConfigInput = z.input<typeof trainQualityConfigSchema>;

/** Validates train-quality options (throws a {@link DataConfigError} naming the bad field). */
export function parseTrainQualityConfig(input: unknown): TrainQualityConfig {
  const r = trainQualityConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new DataConfigError(`invalid train-quality config: ${r.error.issues.map((i) => `${i.path.join(".") || "(options)"}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** Sources with fewer scored documents than this are reported but not held to `minPassRate` (too noisy). */
export const MIN_DOCS_FOR_PASS_RATE = 10;

export interface TrainQualityRunOptions extends TrainQualityConfigInput {
  /** Folder for `model.json` and stats. */
  outDir: string;
  onError?: OnErrorPolicy;
  /** Replace a non-empty output folder that is not an earlier train-quality output. */
  overwrite?: boolean;
}

/** A document's sampling key: a 53-bit hash of its id and the seed (the same on every machine and in every order). */
export function sampleKey(id: string, seed: number): number {
  const h = (s: number) => {
    let x = (0x811c9dc5 ^ s) | 0;
    for (let i = 0; i < id.length; i++) x = Math.imul(x ^ id.charCodeAt(i), 0x01000193);
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return (x ^ (x >>> 16)) >>> 0;
  };
  return (h(seed) * 2 ** 21 + (h(seed ^ 0x5bd1e995) >>> 11)) / 2 ** 53;
}

/**
 * Splits a class's budget among its sources: equal shares, a source with fewer documents than its share keeps all of
 * them and the rest is shared among the others. Returns the count per source.
 */
export function sourceShares(available: Record<string, number>, budget: number): Record<string, number> {
  const names = Object.keys(available).sort((a, b) => available[a] - available[b] || (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, number> = {};
  let left = budget;
  names.forEach((n, i) => {
    const give = Math.min(available[n], Math.floor(left / (names.length - i)));
    out[n] = give;
    left -= give;
  });
  return out;
}

interface Sampled {
  key: number;
  id: string;
  text: string;
}

const byKey = (a: Sampled, b: Sampled) => a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : a.text < b.text ? -1 : a.text > b.text ? 1 : 0);

/** The `cap` documents with the smallest keys seen so far (a bottom-k sample: a uniform random subset of fixed size). */
class BottomK {
  private items: Sampled[] = [];
  constructor(readonly cap: number) {}
  add(s: Sampled): void {
    if (this.cap === 0) return;
    this.items.push(s);
    if (this.items.length >= 2 * this.cap) this.trim();
  }
  private trim(): void {
    this.items.sort(byKey);
    this.items.length = Math.min(this.items.length, this.cap);
  }
  /** The sample, smallest key first. */
  done(): Sampled[] {
    this.trim();
    return this.items;
  }
}

type Role = "positive" | "negative";

/** Trains and saves a quality model; the step's stats carry the held-out figures and pass rates per source. */
export async function runTrainQuality(o: TrainQualityRunOptions): Promise<StepResult & { model: QualityModel; modelPath: string }> {
  const { outDir, onError, overwrite, ...rest } = o;
  const cfg = parseTrainQualityConfig(rest);
  const step = { command: "data train-quality", step: "train-quality", inputs: [...cfg.positive, ...cfg.negative], overwrite };
  return withStepOutput(outDir, step, (out) => trainQualityInto(cfg, onError ?? "skip", out));
}

async function trainQualityInto(cfg: TrainQualityConfig, onError: OnErrorPolicy, out: StepOutput): Promise<StepResult & { model: QualityModel; modelPath: string }> {
  const t0 = performance.now();
  const stats = new DataStats("train-quality");
  const posShards = new Set(listShards(cfg.positive));
  const negShards = new Set(listShards(cfg.negative));
  const shards = [...new Set([...posShards, ...negShards])].sort();
  const roleOf = (shard: string, doc: DataDoc): Role | null => {
    const pos = posShards.has(shard) && (!cfg.positiveSources || cfg.positiveSources.includes(doc.source));
    const neg = negShards.has(shard) && (!cfg.negativeSources || cfg.negativeSources.includes(doc.source));
    if (pos && neg)
      throw new DataConfigError(
        `train-quality: ${shard}: document ${doc.id} (source "${doc.source}") is both positive and negative; name the classes' sources with --positive-sources/--negative-sources (recipe: positiveSources/negativeSources)`,
      );
    return pos ? "positive" : neg ? "negative" : null;
  };
  /** Every document of either class once, with its role; bad lines are counted into `into` (the first pass only). */
  async function* docs(into = new DataStats("again")): AsyncGenerator<{ doc: DataDoc; bytes: number; role: Role }> {
    for (const shard of shards)
      for await (const { doc, bytes } of readDocs(shard, into, onError)) {
        const role = roleOf(shard, doc);
        if (role) yield { doc, bytes, role };
      }
  }
  // pass 1: documents per source (rejected lines are counted here, and only here)
  const roles: Record<string, Role> = {};
  const available: Record<string, number> = {};
  for await (const { doc, bytes, role } of docs(stats)) {
    if (roles[doc.source] && roles[doc.source] !== role)
      throw new DataConfigError(`train-quality: source "${doc.source}" has both positive and negative documents; a source must belong to one class (see --positive-sources/--negative-sources)`);
    roles[doc.source] = role;
    available[doc.source] = (available[doc.source] ?? 0) + 1;
    // the step passes its inputs on unchanged: every document is counted in and out
    stats.input(bytes);
    stats.output(bytes);
  }
  const sourcesOf = (r: Role) => Object.keys(roles).filter((s) => roles[s] === r).sort();
  for (const r of ["positive", "negative"] as const) {
    const n = sourcesOf(r).reduce((s, x) => s + available[x], 0);
    if (n < 2) throw new DataConfigError(`train-quality: found ${n} ${r} documents; need at least 2 (check --${r} and --${r}-sources)`);
  }
  const shares: Record<string, number> = {};
  for (const r of ["positive", "negative"] as const) {
    const avail = Object.fromEntries(sourcesOf(r).map((s) => [s, available[s]]));
    Object.assign(shares, sourceShares(avail, cfg.maxDocsPerClass));
  }
  // pass 2: each source's share, the documents with the smallest keys
  const samplers: Record<string, BottomK> = {};
  for (const s of Object.keys(shares)) samplers[s] = new BottomK(shares[s]);
  for await (const { doc } of docs()) samplers[doc.source].add({ key: sampleKey(doc.id, cfg.seed), id: doc.id, text: doc.text.slice(0, cfg.maxChars) });
  // per source: the first (smallest-key) documents are held out, the rest train
  const train: LabeledText[] = [];
  const heldOut: LabeledText[] = [];
  const trained: Record<string, Set<string>> = {};
  for (const s of Object.keys(samplers).sort()) {
    const sample = samplers[s].done();
    const label = roles[s] === "positive" ? 1 : 0;
    const h = sample.length < 2 ? 0 : Math.max(1, Math.round(sample.length * cfg.heldOut));
    sample.forEach((d, i) => {
      (i < h ? heldOut : train).push({ text: d.text, label, source: s });
    });
    trained[s] = new Set(sample.slice(h).map((d) => d.id));
  }
  const model = fitQualityModel(train, heldOut, cfg);
  // pass 3: every document not trained on, scored as the filter will score it
  const scored: Record<string, { n: number; pass: number }> = {};
  for await (const { doc } of docs()) {
    if (trained[doc.source].has(doc.id)) continue;
    scored[doc.source] ??= { n: 0, pass: 0 };
    const sc = scored[doc.source];
    sc.n++;
    if (qualityScore(model, doc.text) >= cfg.threshold) sc.pass++;
  }
  stats.seconds = (performance.now() - t0) / 1000;
  const m = model.metrics;
  stats.extra = {
    positive_docs: sourcesOf("positive").reduce((s, x) => s + shares[x], 0),
    negative_docs: sourcesOf("negative").reduce((s, x) => s + shares[x], 0),
    held_out_docs: m.heldOutDocs,
    held_out_accuracy: m.heldOutAccuracy,
    held_out_accuracy_min_source: m.heldOutAccuracyMinSource ?? "-",
    held_out_precision: m.heldOutPrecision,
    held_out_recall: m.heldOutRecall,
    train_accuracy: m.trainAccuracy,
    threshold: cfg.threshold,
    min_pass_rate: cfg.minPassRate,
  };
  const failing: string[] = [];
  for (const s of Object.keys(roles).sort()) {
    const sm = m.sources?.[s];
    const sc = scored[s] ?? { n: 0, pass: 0 };
    const rate = sc.n > 0 ? sc.pass / sc.n : null;
    Object.assign(stats.source(s).extra, {
      class: roles[s],
      docs: available[s],
      sampled: shares[s],
      train: sm?.trainDocs ?? 0,
      held_out: sm?.heldOutDocs ?? 0,
      held_out_accuracy: sm?.heldOutAccuracy ?? "-",
      scored: sc.n,
      pass_rate: rate ?? "-",
    });
    if (roles[s] === "positive" && rate !== null && sc.n >= MIN_DOCS_FOR_PASS_RATE && rate < cfg.minPassRate)
      failing.push(`"${s}" passes ${(100 * rate).toFixed(1)}% (${sc.pass} of ${sc.n} documents not trained on score >= ${cfg.threshold})`);
  }
  if (failing.length > 0)
    throw new DataConfigError(
      `train-quality: the classifier would remove a good source: positive source ${failing.join(", ")}, below the floor minPassRate ${cfg.minPassRate}. ` +
        `Either the source reads like the negatives, or the classifier learnt the source's form rather than good from bad text (e.g. "looks like an email = bad" when every negative is an email). ` +
        `Add negatives of the same form as that source, leave the source out of the classifier's scope (filter quality_classifier.sources), ` +
        `or lower the threshold (--threshold / recipe "threshold", with the filter's minScore) or the floor (--min-pass-rate / "minPassRate"; 0 turns the check off).`,
    );
  saveQualityModel(join(out.dir, "model.json"), model);
  const r = finishStep(out, stats, [join(out.dir, "model.json")]);
  return { ...r, model, modelPath: r.outputs[0] };
}
