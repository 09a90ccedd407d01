// The `mix` step: samples sources by weight (their share of output bytes) or by explicit epochs, up- and
// down-sampling deterministically by seed, splits off a validation set (by id hash, before up-sampling, so no
// validation document is ever in train; sampled like train below one epoch, so it has train's mix), and shuffles
// (or orders by a score for a curriculum) through bucket files on disk so memory stays bounded. No source is
// repeated more than `maxEpochs` (2) times: a weight or explicit epochs asking for more are capped, and the cap is
// reported. The report counts, per source and in total, the unique and the repeated text of train (in UTF-8 bytes
// of text and whitespace-separated words: tokens are not known at mix time).
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { Progress } from "../io/progress.js";
import { JsonlWriter } from "../io/jsonl.js";
import { type StepOutput, withStepOutput } from "../io/stepOutput.js";
import { ShardedJsonlWriter } from "./ingest.js";
import { finishStep, listShards, publishedPath, readDocs, type StepResult } from "./shards.js";
import { DataStats } from "./stats.js";
import { DataConfigError, type DataDoc, type OnErrorPolicy } from "./types.js";

export const mixConfigSchema = z
  .object({
    /** Relative weight per source = its share of the output's bytes (sources not named get weight 1 when no weights are given, else 0). */
    weights: z.record(z.string(), z.number().nonnegative()).optional(),
    /** Explicit epochs per source (e.g. 2 = every document twice, 0.5 = half of them); wins over weights. */
    epochs: z.record(z.string(), z.number().nonnegative()).default({}),
    /** Total train bytes to aim for with weights (default: the input's bytes). */
    totalBytes: z.number().positive().optional(),
    /**
     * Most epochs any source may be sampled to (weights or explicit epochs asking for more are capped and reported).
     * Two: past a few repeats a small model learns the repeated text by heart rather than the language.
     */
    maxEpochs: z.number().positive().default(2),
    /** Fraction of documents (by id hash) held out for validation. */
    valFraction: z.number().min(0).max(0.5).default(0.01),
    seed: z.number().int().default(42),
    /** Order train by a numeric meta field instead of shuffling (curriculum), e.g. quality_score. */
    curriculum: z.object({ field: z.string(), order: z.enum(["asc", "desc"]).default("asc") }).strict().optional(),
    shardDocs: z.number().int().positive().default(10_000),
    /** Bytes per on-disk shuffle bucket. */
    bucketBytes: z.number().int().positive().default(64 << 20),
  })
  .strict();
export type MixConfig = z.infer<typeof mixConfigSchema>;
export type MixConfigInput = z.input<typeof mixConfigSchema>;

export function parseMixConfig(input: unknown): MixConfig {
  const r = mixConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new DataConfigError(`invalid mix config: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** A uniform number in [0,1) from a string and a seed (same inputs, same number, on every machine). */
export function hashUnit(s: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Per-source plan: how many epochs each source is sampled to, and how many its weight or epochs asked for. */
export interface MixPlan {
  sources: Record<string, { docs: number; bytes: number; epochs: number; requestedEpochs: number; capped: boolean; weight: number | null }>;
}

/** Computes epochs per source from byte counts, weights and explicit epochs. */
export function planMix(counts: Record<string, { docs: number; bytes: number }>, cfg: MixConfig): MixPlan {
  const names = Object.keys(counts).sort();
  const total = names.reduce((s, n) => s + counts[n].bytes, 0);
  const weights = cfg.weights;
  const wsum = names.reduce((s, n) => s + (cfg.epochs[n] === undefined ? (weights ? (weights[n] ?? 0) : 1) : 0), 0);
  const fixedBytes = names.reduce((s, n) => s + (cfg.epochs[n] !== undefined ? cfg.epochs[n] * counts[n].bytes : 0), 0);
  const target = (cfg.totalBytes ?? total) - fixedBytes;
  const plan: MixPlan = { sources: {} };
  for (const n of names) {
    const c = counts[n];
    let epochs: number;
    let weight: number | null = null;
    if (cfg.epochs[n] !== undefined) epochs = cfg.epochs[n];
    else {
      weight = weights ? (weights[n] ?? 0) : 1;
      epochs = wsum > 0 && c.bytes > 0 ? (Math.max(0, target) * (weight / wsum)) / c.bytes : 0;
    }
    plan.sources[n] = { docs: c.docs, bytes: c.bytes, epochs: Math.min(epochs, cfg.maxEpochs), requestedEpochs: epochs, capped: epochs > cfg.maxEpochs, weight };
  }
  return plan;
}

/** Copies of a document under `epochs`: floor(epochs), plus one more with probability frac(epochs) (seeded by id). */
export function copiesOf(id: string, epochs: number, seed: number): number {
  const whole = Math.floor(epochs);
  return whole + (hashUnit(id, seed ^ 0x5bd1e995) < epochs - whole ? 1 : 0);
}

export interface MixRunOptions {
  inputs: string[];
  outDir: string;
  onError?: OnErrorPolicy;
  progress?: boolean;
  /** Replace a non-empty output folder that is not an earlier mix output. */
  overwrite?: boolean;
}

/** Result of {@link runMix}: train and validation shards besides the usual step result. */
export interface MixResult extends StepResult {
  train: string[];
  val: string[];
  plan: MixPlan;
}

/** Whitespace-separated words of a text (counted without building the word list). */
export function countWords(s: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 11;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

/** Train text of one source: the first copy of each document counts as unique, further copies as repeated. */
interface SourceTally {
  in: number;
  out: number;
  val: number;
  uniqueBytes: number;
  repeatedBytes: number;
  uniqueWords: number;
  repeatedWords: number;
}

/** Mixes the input shards by source into `train/` and `val/` shard folders. */
export async function runMix(configInput: MixConfigInput, o: MixRunOptions): Promise<MixResult> {
  const cfg = parseMixConfig(configInput);
  const inputs = listShards(o.inputs);
  return withStepOutput(o.outDir, { command: "data mix", step: "mix", inputs: o.inputs, overwrite: o.overwrite }, (out) => mixInto(cfg, inputs, out, o));
}

async function mixInto(cfg: MixConfig, inputs: string[], out: StepOutput, o: MixRunOptions): Promise<MixResult> {
  const t0 = performance.now();
  const onError = o.onError ?? "skip";
  const isVal = (d: DataDoc) => cfg.valFraction > 0 && hashUnit(d.id, cfg.seed) < cfg.valFraction;
  // pass A: count train-eligible docs and bytes per source; range of the curriculum field
  const counts: Record<string, { docs: number; bytes: number }> = {};
  let lo = Infinity;
  let hi = -Infinity;
  for (const f of inputs) {
    for await (const { doc, bytes } of readDocs(f, new DataStats("count"), onError)) {
      if (isVal(doc)) continue;
      counts[doc.source] ??= { docs: 0, bytes: 0 };
      const c = counts[doc.source];
      c.docs++;
      c.bytes += bytes;
      if (cfg.curriculum) {
        const v = Number(doc.meta[cfg.curriculum.field]);
        if (Number.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    }
  }
  if (cfg.weights) for (const n of Object.keys(cfg.weights)) if (!counts[n]) throw new DataConfigError(`mix: weights name source "${n}" but the input has none (sources: ${Object.keys(counts).join(", ") || "none"})`);
  const plan = planMix(counts, cfg);
  const expectBytes = Object.values(plan.sources).reduce((s, p) => s + p.bytes * p.epochs, 0);
  const nBuckets = Math.max(1, Math.ceil(expectBytes / cfg.bucketBytes));
  const work = join(out.dir, ".mix-work");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const buckets = Array.from({ length: nBuckets }, (_, i) => new JsonlWriter(join(work, `bucket-${i}.jsonl`)));
  const valWriter = new ShardedJsonlWriter(join(out.dir, "val"), cfg.shardDocs, 1 << 30);
  const stats = new DataStats("mix");
  const perSource: Record<string, SourceTally> = {};
  const progress = new Progress("mix", { unit: "docs", enabled: o.progress ?? true });
  const keyOf = (doc: DataDoc, copy: number): number => {
    if (cfg.curriculum) {
      const v = Number(doc.meta[cfg.curriculum.field]);
      const u = Number.isFinite(v) && hi > lo ? (v - lo) / (hi - lo) : Number.isFinite(v) ? 0.5 : 1;
      const k = cfg.curriculum.order === "asc" ? u : 1 - u;
      return Math.min(k, 1 - 1e-12) + copy * 1e-13; // documents without the field go last
    }
    return hashUnit(`${doc.id}#${copy}`, cfg.seed);
  };
  // epochs of a source; one with no train documents gets what its weight or explicit epochs say (0 or 1)
  const epochsOf = (source: string): number =>
    plan.sources[source]?.epochs ?? Math.min(1, cfg.epochs[source] ?? (cfg.weights ? (cfg.weights[source] ?? 0) : 1));
  let trainOut = 0;
  for (const f of inputs) {
    for await (const { doc, bytes } of readDocs(f, stats, onError)) {
      stats.input(bytes, doc.source);
      perSource[doc.source] ??= { in: 0, out: 0, val: 0, uniqueBytes: 0, repeatedBytes: 0, uniqueWords: 0, repeatedWords: 0 };
      const ps = perSource[doc.source];
      ps.in++;
      progress.tick(1);
      if (isVal(doc)) {
        // validation mirrors train: a source sampled below one epoch is sampled alike here, an excluded one not at all
        if (copiesOf(doc.id, Math.min(1, epochsOf(doc.source)), cfg.seed) === 0) {
          stats.remove("mix.downsampled", bytes, doc.id, doc.text, `validation; source ${doc.source} at ${epochsOf(doc.source).toFixed(2)} epochs`, doc.source);
          continue;
        }
        valWriter.write(doc, bytes);
        stats.output(bytes, doc.source);
        ps.val++;
        continue;
      }
      const n = copiesOf(doc.id, plan.sources[doc.source]?.epochs ?? 0, cfg.seed);
      if (n === 0) {
        stats.remove("mix.downsampled", bytes, doc.id, doc.text, `source ${doc.source} at ${plan.sources[doc.source]?.epochs.toFixed(2)} epochs`, doc.source);
        continue;
      }
      stats.output(bytes, doc.source);
      const textBytes = Buffer.byteLength(doc.text);
      const words = countWords(doc.text);
      ps.uniqueBytes += textBytes;
      ps.uniqueWords += words;
      ps.repeatedBytes += (n - 1) * textBytes;
      ps.repeatedWords += (n - 1) * words;
      for (let c = 0; c < n; c++) {
        const key = keyOf(doc, c);
        const b = Math.min(nBuckets - 1, Math.floor(key * nBuckets));
        buckets[b].write({ k: key, d: c === 0 ? doc : { ...doc, meta: { ...doc.meta, epoch: c + 1 } } });
        ps.out++;
        trainOut++;
      }
    }
  }
  for (const b of buckets) b.close();
  const val = valWriter.close();
  // pass B: each bucket sorted by key, in bucket order
  const trainWriter = new ShardedJsonlWriter(join(out.dir, "train"), cfg.shardDocs, 1 << 30);
  for (let i = 0; i < nBuckets; i++) {
    const file = join(work, `bucket-${i}.jsonl`);
    const rows = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { k: number; d: DataDoc });
    rows.sort((a, b) => a.k - b.k);
    for (const r of rows) trainWriter.write(r.d, 0);
  }
  const train = trainWriter.close();
  rmSync(work, { recursive: true, force: true });
  progress.finish();
  stats.seconds = (performance.now() - t0) / 1000;
  stats.extra.train_docs = trainOut;
  stats.extra.val_docs = Object.values(perSource).reduce((s, p) => s + p.val, 0);
  stats.extra.upsampled_copies = trainOut - (stats.docsOut - (stats.extra.val_docs as number));
  stats.extra.max_epochs = cfg.maxEpochs;
  const tallies = Object.values(perSource);
  const sum = (f: (t: SourceTally) => number) => tallies.reduce((s, t) => s + f(t), 0);
  const trainBytes = sum((t) => t.uniqueBytes + t.repeatedBytes);
  const trainWords = sum((t) => t.uniqueWords + t.repeatedWords);
  // tokens are not known at mix time: unique and repeated train text in bytes of text and whitespace words
  stats.extra.count_unit = "UTF-8 bytes of text and whitespace-separated words (tokens are not known at mix time)";
  stats.extra.train_unique_bytes = sum((t) => t.uniqueBytes);
  stats.extra.train_repeated_bytes = sum((t) => t.repeatedBytes);
  stats.extra.train_unique_words = sum((t) => t.uniqueWords);
  stats.extra.train_repeated_words = sum((t) => t.repeatedWords);
  const capped = Object.entries(plan.sources).filter(([, p]) => p.capped);
  if (capped.length > 0) stats.extra.capped_sources = capped.map(([n, p]) => `${n} (asked ${p.requestedEpochs.toFixed(2)} epochs, capped at ${p.epochs})`).join("; ");
  for (const [n, p] of Object.entries(plan.sources)) {
    const t = perSource[n];
    const e = stats.source(n).extra;
    e.epochs = Number(p.epochs.toFixed(4));
    if (p.capped) e.requested_epochs = Number(p.requestedEpochs.toFixed(4));
    e.train_docs = t?.out ?? 0;
    e.val_docs = t?.val ?? 0;
    e.unique_bytes = t?.uniqueBytes ?? 0;
    e.repeated_bytes = t?.repeatedBytes ?? 0;
    e.unique_words = t?.uniqueWords ?? 0;
    e.repeated_words = t?.repeatedWords ?? 0;
    e.train_share_words = trainWords > 0 ? Number((((t?.uniqueWords ?? 0) + (t?.repeatedWords ?? 0)) / trainWords).toFixed(4)) : 0;
  }
  stats.extra.train_text_bytes = trainBytes;
  const r = finishStep(out, stats, [...train, ...val]);
  return { ...r, train: train.map((p) => publishedPath(out, p)), val: val.map((p) => publishedPath(out, p)), plan };
}
