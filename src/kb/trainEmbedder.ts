// `llmforge kb train-embedder`: contrastive training of a model folder into a text embedder. Pairs come from the
// corpus itself (a heading and the paragraph under it; adjacent paragraphs of a section; a random crop of a paragraph
// and the paragraph); the loss is symmetric
// InfoNCE with in-batch negatives at temperature 0.05 over mean-pooled, normalised hidden states, through the
// generic step loop (batch cursor, checkpoints, exact resume). Written as a model folder marked as an embedder.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { withFolderLock } from "../io/runLock.js";
import { loadRun } from "../model/runFolder.js";
import { saveModel } from "../model/serialize.js";
import { add, crossEntropy, ids as idsTensor, matmul, mulScalar, slice, transpose } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { markRunCompleted, planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import { headingText, splitBlocks } from "./chunk.js";
import { EMBEDDER_FILE, type EmbedderMark, l2Normalize, meanPool, meanPooledEmbeddings, padRows } from "./embed.js";
import { KbError } from "./store.js";
import { listKbFiles, readKbDocument, type KbReadFailure } from "./read.js";

/** The temperature of the InfoNCE loss (as in E5 / GTE training). */
export const EMBEDDER_TEMPERATURE = 0.05;

/** A training pair: two texts that belong together (token ids, cut to the length limit). */
export interface TextPair {
  a: number[];
  b: number[];
  kind: "heading" | "adjacent" | "crop";
}

/**
 * A query-like view of a paragraph (as Contriever's random cropping + word deletion): a random span of 10-40% of its
 * words (at least 3; queries are short), each word then dropped with probability 0.2.
 */
export function cropOf(paragraph: string, rng: Rng): string {
  const words = paragraph.split(/\s+/).filter(Boolean);
  const len = Math.max(3, Math.round(words.length * (0.1 + 0.3 * rng.uniform())));
  const start = rng.int(Math.max(1, words.length - len + 1));
  const span = words.slice(start, start + len);
  const kept = span.filter(() => rng.uniform() >= 0.2);
  return (kept.length >= 2 ? kept : span).join(" ");
}

/**
 * Pairs from documents: (heading, first paragraph under it), (paragraph, next paragraph) within a section, and
 * (random crop of a paragraph, the paragraph) for paragraphs of 2·minWords+ words (unless `crops` is false).
 * Paragraphs of fewer than `minWords` words are skipped; duplicates are dropped. Seeded (crops).
 */
export function corpusPairs(texts: readonly string[], o: { minWords?: number; crops?: boolean; seed?: number } = {}): { a: string; b: string; kind: TextPair["kind"] }[] {
  const minWords = o.minWords ?? 6;
  const rng = new Rng((o.seed ?? 0) ^ 0x0c0ffee);
  const out: { a: string; b: string; kind: TextPair["kind"] }[] = [];
  const seen = new Set<string>();
  const push = (a: string, b: string, kind: TextPair["kind"]) => {
    const key = `${a}\u0000${b}`;
    if (a === b || seen.has(key)) return;
    seen.add(key);
    out.push({ a, b, kind });
  };
  for (const text of texts) {
    let heading: string | null = null;
    let prev: string | null = null;
    for (const blk of splitBlocks(text)) {
      const t = text.slice(blk.start, blk.end).trim();
      if (blk.heading) {
        heading = headingText(t);
        prev = null;
        continue;
      }
      if (t.split(/\s+/).length < minWords) continue;
      if (heading !== null && prev === null) push(heading, t, "heading");
      if (prev !== null) push(prev, t, "adjacent");
      if (o.crops !== false && t.split(/\s+/).length >= 2 * minWords) push(cropOf(t, rng), t, "crop");
      prev = t;
    }
  }
  return out;
}

/** A batch: rows 0..B-1 are the first texts, rows B..2B-1 the second texts of B pairs. */
export interface PairBatch {
  ids: Int32Array;
  T: number;
  lengths: number[];
  pairs: number;
}

interface PairCursor {
  format: "llmforge.embed-pairs";
  version: 1;
  epoch: number;
  pos: number;
  fingerprint: string;
}

/** Pairs in a seeded shuffled order per epoch, `batchSize` at a time; the cursor (epoch, position) resumes exactly. */
export class PairBatches {
  private epoch = 0;
  private pos = 0;
  private order: Int32Array | null = null;
  private readonly fingerprint: string;

  constructor(
    private readonly pairs: readonly TextPair[],
    private readonly batchSize: number,
    private readonly seed: number,
  ) {
    if (pairs.length < 2) throw new KbError(`train-embedder needs at least 2 training pairs, found ${pairs.length} (give more text: paragraphs of 6+ words under headings or next to each other)`);
    if (!Number.isInteger(batchSize) || batchSize < 2) throw new KbError(`--batch must be >= 2 (the other pairs of a batch are the negatives), got ${batchSize}`);
    let h = 0x811c9dc5;
    const mix = (v: number) => {
      h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    };
    [pairs.length, batchSize, seed].forEach(mix);
    for (const p of pairs) [...p.a.slice(0, 4), ...p.b.slice(0, 4)].forEach(mix);
    this.fingerprint = `${pairs.length}:${h.toString(16)}`;
  }

  private epochOrder(): Int32Array {
    this.order ??= new Rng((this.seed * 1_000_003 + this.epoch) >>> 0).permutation(this.pairs.length);
    return this.order;
  }

  next(): PairBatch {
    const picked: TextPair[] = [];
    const B = Math.min(this.batchSize, this.pairs.length);
    for (let i = 0; i < B; i++) {
      picked.push(this.pairs[this.epochOrder()[this.pos]]);
      if (++this.pos === this.pairs.length) {
        this.epoch++;
        this.pos = 0;
        this.order = null;
      }
    }
    return { ...padRows([...picked.map((p) => p.a), ...picked.map((p) => p.b)]), pairs: B };
  }

  getCursor(): PairCursor {
    return { format: "llmforge.embed-pairs", version: 1, epoch: this.epoch, pos: this.pos, fingerprint: this.fingerprint };
  }

  setCursor(cursor: unknown): void {
    const c = cursor as Partial<PairCursor> | null;
    if (c?.format !== "llmforge.embed-pairs" || c.version !== 1) throw new KbError(`not an embedder batch cursor: ${JSON.stringify(cursor)?.slice(0, 120)}`);
    if (c.fingerprint !== this.fingerprint) throw new KbError(`the checkpoint was saved for other data or settings (fingerprint ${c.fingerprint}, now ${this.fingerprint}); resume with the same --data, --batch and --seed`);
    if (!Number.isInteger(c.epoch) || !Number.isInteger(c.pos) || (c.pos as number) < 0 || (c.pos as number) >= this.pairs.length) throw new KbError(`cursor out of range: epoch ${c.epoch}, pos ${c.pos}`);
    this.epoch = c.epoch as number;
    this.pos = c.pos as number;
    this.order = null;
  }
}

/**
 * Symmetric InfoNCE: z = normalised mean-pooled hidden states of the 2B rows; S = z_a z_b^T / temperature (B, B);
 * loss = (CE(S, diag) + CE(S^T, diag)) / 2, every other pair of the batch a negative.
 */
export function infoNceLoss(za: Tensor, zb: Tensor, temperature = EMBEDDER_TEMPERATURE): Tensor {
  const B = za.shape[0];
  const S = mulScalar(matmul(za, transpose(zb)), 1 / temperature); // (B, B)
  const diag = Int32Array.from({ length: B }, (_, i) => i);
  return mulScalar(add(crossEntropy(S, diag), crossEntropy(transpose(S), diag)), 0.5);
}

/** Held-out retrieval: each first text's partner ranked among all held-out second texts (top-1 accuracy, MRR). */
export function pairRetrieval(vecA: Float32Array[], vecB: Float32Array[]): { top1: number; mrr: number } {
  let top1 = 0;
  let mrr = 0;
  for (let i = 0; i < vecA.length; i++) {
    const dot = (v: Float32Array) => v.reduce((s, x, j) => s + x * vecA[i][j], 0);
    const own = dot(vecB[i]);
    let better = 0;
    for (let j = 0; j < vecB.length; j++) if (j !== i && dot(vecB[j]) > own) better++;
    if (better === 0) top1++;
    mrr += 1 / (better + 1);
  }
  return { top1: top1 / Math.max(1, vecA.length), mrr: mrr / Math.max(1, vecA.length) };
}

export interface TrainEmbedderOptions extends StageRunOptions {
  /** Run or model folder to start from. */
  model: string;
  /** Files or folders to build pairs from (any format `kb add` reads). */
  data: string[];
  /** Run folder; the embedder goes to OUT/model. */
  out: string;
  /** Longest text of a pair in tokens (default min(64, the model's context)). */
  maxTokens?: number;
  /** Share of pairs held out for evaluation (default 0.05, at most 256 pairs). */
  valFraction?: number;
  temperature?: number;
  /** Add (crop of a paragraph, paragraph) pairs (default true). */
  crops?: boolean;
}

export interface TrainEmbedderSummary {
  out: string;
  modelDir: string | null;
  pairs: { train: number; heldout: number; heading: number; adjacent: number; crop: number };
  failed: KbReadFailure[];
  training: StepLoopSummary;
  before: { top1: number; mrr: number } | null;
  after: { top1: number; mrr: number } | null;
}

/** Trains an embedder holding the lock of OUT; see {@link TrainEmbedderOptions}. */
export async function trainEmbedder(o: TrainEmbedderOptions): Promise<TrainEmbedderSummary> {
  return withFolderLock(o.out, "llmforge kb train-embedder", () => trainLocked(o));
}

function tokenizePairs(tok: Tokenizer, pairs: readonly { a: string; b: string; kind: TextPair["kind"] }[], maxTokens: number): TextPair[] {
  const cut = (t: string) => tok.encode(t).slice(0, maxTokens);
  return pairs.map((p) => ({ a: cut(p.a), b: cut(p.b), kind: p.kind })).filter((p) => p.a.length > 0 && p.b.length > 0);
}

async function trainLocked(o: TrainEmbedderOptions): Promise<TrainEmbedderSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  const temperature = o.temperature ?? EMBEDDER_TEMPERATURE;
  const recorded = {
    ...o, model: resolve(o.model), data: o.data.map((f) => resolve(f)), seed, temperature, valFraction: o.valFraction ?? 0.05, maxTokens: o.maxTokens ?? 64, crops: o.crops ?? true,
    weightDecay: o.weightDecay ?? 0, signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: { model: "--model", data: "--data", seed: "--seed", batchSize: "--batch", maxTokens: "--max-tokens", valFraction: "--val-fraction", temperature: "--temperature", crops: "--no-crops" },
    kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes" },
  });
  const e = plan.options;
  const run = loadRun(o.model, { backend: o.backend });
  const model = run.model;
  const maxTokens = Math.min(e.maxTokens, model.config.blockSize);

  const failed: KbReadFailure[] = [];
  const { files, missing } = listKbFiles(o.data);
  failed.push(...missing);
  const texts: string[] = [];
  for (const f of files) {
    const r = await readKbDocument(f);
    if (r.ok) texts.push(r.doc.text);
    else failed.push(r.failure);
  }
  for (const f of failed.slice(0, 10)) say(`train-embedder: skipped ${f.path}: ${f.reason}`);
  const all = tokenizePairs(run.tokenizer, corpusPairs(texts, { crops: e.crops, seed }), maxTokens);
  // held out by a seeded shuffle (at most 256 pairs: the evaluation ranks each against all others)
  const rng = new Rng(seed ^ 0x5a5a);
  const order = all.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nHeld = Math.min(256, Math.floor(all.length * e.valFraction));
  const held = order.slice(0, nHeld).map((i) => all[i]);
  const train = order.slice(nHeld).map((i) => all[i]);
  const kinds = (k: TextPair["kind"]) => all.filter((p) => p.kind === k).length;
  const pairs = { train: train.length, heldout: held.length, heading: kinds("heading"), adjacent: kinds("adjacent"), crop: kinds("crop") };
  say(`train-embedder: ${pairs.train} training pairs, ${pairs.heldout} held out (${pairs.heading} heading/paragraph, ${pairs.adjacent} adjacent paragraphs, ${pairs.crop} crops) from ${texts.length} documents`);
  mkdirSync(o.out, { recursive: true });
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-embedder-run", version: 1, writer: `llmforge ${VERSION}`, base: e.model, config: model.config, options: e, completed: undefined });
  }
  const batches = new PairBatches(train, o.batchSize, seed);
  const evalHeld = () => {
    const wasTraining = model.training;
    model.eval();
    try {
      return pairRetrieval(meanPooledEmbeddings(model, held.map((p) => p.a)), meanPooledEmbeddings(model, held.map((p) => p.b)));
    } finally {
      model.train(wasTraining);
    }
  };
  const before = plan.checkpoint || held.length < 2 ? null : evalHeld();
  if (before) say(`train-embedder: before: held-out top-1 ${(before.top1 * 100).toFixed(1)}%, MRR ${before.mrr.toFixed(3)} over ${held.length} pairs`);

  const training = await runStepLoop<PairBatch>({
    outDir: o.out, model, batches, label: "embedder",
    lossOf: (b) => {
      const z = l2Normalize(meanPool(model.hidden(idsTensor(b.ids, [2 * b.pairs, b.T])), b.lengths)); // (2B, C)
      return infoNceLoss(slice(z, 0, 0, b.pairs), slice(z, 0, b.pairs, 2 * b.pairs), temperature);
    },
    weightOf: (b) => b.pairs,
    tokensOf: (b) => b.lengths.reduce((s, n) => s + n, 0),
    maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, gradClip: e.gradClip,
    onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
    evaluate: held.length >= 2 ? () => evalHeld() : undefined,
    evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed, resume: plan.checkpoint !== null,
    extendTo: plan.extendTo, progress: o.progress, precision: o.precision, signal: o.signal, meta: { config: model.config, temperature },
  });
  const base = { out: o.out, pairs, failed, training, before };
  if (training.stoppedBy === "interrupted") return { ...base, modelDir: null, after: null };
  const after = held.length >= 2 ? tidy(() => noGrad(() => evalHeld())) : null;
  if (after) say(`train-embedder: after: held-out top-1 ${(after.top1 * 100).toFixed(1)}%, MRR ${after.mrr.toFixed(3)}`);
  const modelDir = join(o.out, "model");
  mkdirSync(modelDir, { recursive: true });
  model.eval();
  saveModel(modelDir, model);
  copyFileSync(run.paths.tokenizerFile, join(modelDir, "tokenizer.json"));
  const tokConfig = join(dirname(run.paths.tokenizerFile), "tokenizer_config.json");
  if (existsSync(tokConfig)) copyFileSync(tokConfig, join(modelDir, "tokenizer_config.json"));
  const mark: EmbedderMark = { format: "llmforge-embedder", version: 1, pooling: "mean", normalize: true, base: e.model, temperature, steps: training.steps };
  writeFileAtomicSync(join(modelDir, EMBEDDER_FILE), `${JSON.stringify(mark, null, 2)}\n`);
  const summary: TrainEmbedderSummary = { ...base, modelDir, after };
  writeFileAtomicSync(join(o.out, "embedder.json"), `${JSON.stringify({ format: "llmforge-embedder-summary", version: 1, writer: `llmforge ${VERSION}`, ...summary }, null, 2)}\n`);
  markRunCompleted(o.out, training.steps);
  return summary;
}
