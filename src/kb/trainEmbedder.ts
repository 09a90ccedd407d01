// `llmforge kb train-embedder`: contrastive training of a model folder into a text embedder. Pairs come from the
// corpus itself (a heading and the paragraph under it; adjacent paragraphs of a section; a random crop of a paragraph
// and the paragraph; a keyword query, a few of a paragraph's content words, and the paragraph); the loss is symmetric
// InfoNCE with in-batch negatives at temperature 0.05 over mean-pooled, normalised hidden states, plus one hard
// negative per pair (the paragraph BM25 ranks first for the first text that is not its partner), through the
// generic step loop (batch cursor, checkpoints, exact resume). Written as a model folder marked as an embedder.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { withFolderLock } from "../io/runLock.js";
import { loadRun } from "../model/runFolder.js";
import { saveModel } from "../model/serialize.js";
import { add, concat, crossEntropy, ids as idsTensor, matmul, mulScalar, slice, transpose } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { markRunCompleted, planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import { headingText, splitBlocks } from "./chunk.js";
import { EMBEDDER_FILE, type EmbedderMark, l2Normalize, meanPool, meanPooledEmbeddings, padRows, type Pooling } from "./embed.js";
import { KbError } from "./store.js";
import { listKbFiles, readKbDocument, type KbReadFailure } from "./read.js";

/** The temperature of the InfoNCE loss (as in E5 / GTE training). */
export const EMBEDDER_TEMPERATURE = 0.05;

/** A training pair: two texts that belong together (token ids, cut to the length limit), and maybe a hard negative. */
export interface TextPair {
  a: number[];
  b: number[];
  kind: "heading" | "adjacent" | "crop" | "keywords";
  /** A text like b that does not belong to a (a BM25 hard negative). */
  n?: number[];
}

const words = (t: string): string[] => t.toLowerCase().match(/[a-z0-9_]+/g) ?? [];

/**
 * Okapi BM25 (k1 = 1.2, b = 0.75) over a fixed list of texts, in memory: what picks a pair's hard negative, the
 * text that matches its first text best without being its partner (so the embedder learns what BM25 confuses).
 */
export class MemoryBm25 {
  private readonly postings = new Map<string, { doc: number; tf: number }[]>();
  private readonly lengths: number[];
  private readonly avg: number;
  private score = new Float64Array(0);

  constructor(readonly texts: readonly string[]) {
    this.lengths = texts.map((t, doc) => {
      const tf = new Map<string, number>();
      const ws = words(t);
      for (const w of ws) tf.set(w, (tf.get(w) ?? 0) + 1);
      for (const [w, n] of tf) {
        const list = this.postings.get(w);
        if (list) list.push({ doc, tf: n });
        else this.postings.set(w, [{ doc, tf: n }]);
      }
      return ws.length;
    });
    this.avg = this.lengths.reduce((s, n) => s + n, 0) / Math.max(1, texts.length);
  }

  /** Indices of the best-scoring texts for `query`, best first (ties by index), at most k, skipping `exclude`. */
  search(query: string, k: number, exclude: ReadonlySet<number> = new Set()): number[] {
    const N = this.texts.length;
    // scores in one reused array, the documents touched listed once each (a corpus of 10⁵ pairs asks this per pair)
    if (this.score.length < N) this.score = new Float64Array(N);
    const score = this.score;
    const touched: number[] = [];
    for (const w of new Set(words(query))) {
      const list = this.postings.get(w);
      if (!list) continue;
      const idf = Math.log(1 + (N - list.length + 0.5) / (list.length + 0.5));
      for (const { doc, tf } of list) {
        if (score[doc] === 0) touched.push(doc);
        score[doc] += (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * this.lengths[doc]) / this.avg)); // > 0: idf > 0, tf >= 1
      }
    }
    const better = (x: number, y: number) => score[x] > score[y] || (score[x] === score[y] && x < y);
    const best: number[] = []; // the k best so far, best first
    for (const d of touched) {
      if (k <= 0 || exclude.has(d)) continue;
      if (best.length < k) best.push(d);
      else if (better(d, best[k - 1])) best[k - 1] = d;
      else continue;
      for (let i = best.length - 1; i > 0 && better(best[i], best[i - 1]); i--) [best[i], best[i - 1]] = [best[i - 1], best[i]];
    }
    for (const d of touched) score[d] = 0;
    return best;
  }
}

/**
 * Gives each pair a hard negative: of the second texts of all pairs, the one BM25 ranks first for the pair's first
 * text that is neither of the pair's texts (none when nothing else matches).
 */
export function withHardNegatives<P extends { a: string; b: string }>(pairs: readonly P[]): (P & { n?: string })[] {
  const texts = [...new Set(pairs.map((p) => p.b))];
  const at = new Map(texts.map((t, i) => [t, i]));
  const bm = new MemoryBm25(texts);
  return pairs.map((p) => {
    const own = new Set([at.get(p.b) as number, ...(at.has(p.a) ? [at.get(p.a) as number] : [])]);
    const [best] = bm.search(p.a, 1, own);
    return best === undefined ? { ...p } : { ...p, n: texts[best] };
  });
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

/** Keyword queries drawn per paragraph: the questions users type are the most common use, so they get the most pairs. */
export const KEYWORD_QUERIES = 3;

/** Words a keyword query leaves out (common English function words). */
const STOP_WORDS = new Set(
  ("the a an and or but if then else of to in on at by for with from into onto as is are was were be been being it its this that these those " +
    "there here their they them he she his her we you your our i me my not no can could may might will would shall should must do does did done " +
    "has have had having which who whom whose what when where why how than also such so very only just more most other some any each all both " +
    "one two out up down over under about after before between through during again further once same own too")
    .split(" "),
);

/**
 * A keyword query of a paragraph (as the queries users type into a search box, an inverse-cloze view): 3 to 6 of its
 * distinct content words (3+ letters, stop words out), lower-cased, in random order; null when it has fewer than 6.
 */
export function keywordQueryOf(paragraph: string, rng: Rng): string | null {
  const words = [...new Set((paragraph.match(/[A-Za-z][A-Za-z_]+/g) ?? []).map((w) => w.toLowerCase()).filter((w) => w.length >= 3 && !STOP_WORDS.has(w)))];
  if (words.length < 6) return null;
  const n = 3 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(words.length - i);
    [words[i], words[j]] = [words[j], words[i]];
  }
  return words.slice(0, n).join(" ");
}

/**
 * Pairs from documents: (heading, first paragraph under it), (paragraph, next paragraph) within a section, and
 * (random crop of a paragraph, the paragraph) for paragraphs of 2·minWords+ words (unless `crops` is false), and
 * `keywords` (keyword query, the paragraph) pairs (default 3, each a different draw; 0 = none) for paragraphs with 6+
 * distinct content words.
 * Paragraphs of fewer than `minWords` words are skipped; duplicates are dropped. Seeded (crops, keywords).
 */
export function corpusPairs(
  texts: readonly string[],
  o: { minWords?: number; crops?: boolean; keywords?: number; seed?: number } = {},
): { a: string; b: string; kind: TextPair["kind"] }[] {
  const minWords = o.minWords ?? 6;
  const rng = new Rng((o.seed ?? 0) ^ 0x0c0ffee);
  // a stream of its own, so that adding keyword pairs leaves the crops as they were
  const kwRng = new Rng((o.seed ?? 0) ^ 0x6b657977);
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
      for (let i = 0; i < (o.keywords ?? KEYWORD_QUERIES); i++) {
        const kw = keywordQueryOf(t, kwRng);
        if (kw !== null) push(kw, t, "keywords");
      }
      prev = t;
    }
  }
  return out;
}

/** A batch: rows 0..B-1 are the first texts, rows B..2B-1 the second texts of B pairs, then B hard negatives if `negatives`. */
export interface PairBatch {
  ids: Int32Array;
  T: number;
  lengths: number[];
  pairs: number;
  negatives: boolean;
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
    // a pair without a negative of its own borrows another pair's partner (still a negative for it)
    const negatives = picked.some((p) => p.n);
    const neg = negatives ? picked.map((p, i) => p.n ?? picked[(i + 1) % B].b) : [];
    return { ...padRows([...picked.map((p) => p.a), ...picked.map((p) => p.b), ...neg]), pairs: B, negatives };
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
export function infoNceLoss(za: Tensor, zb: Tensor, temperature = EMBEDDER_TEMPERATURE, zn?: Tensor): Tensor {
  const B = za.shape[0];
  const diag = Int32Array.from({ length: B }, (_, i) => i);
  const S = mulScalar(matmul(za, transpose(zb)), 1 / temperature); // (B, B)
  if (!zn) return mulScalar(add(crossEntropy(S, diag), crossEntropy(transpose(S), diag)), 0.5);
  // with hard negatives: a's candidates are every b and every n, (B, 2B); b's are every a, as before
  const Sa = mulScalar(matmul(za, transpose(concat([zb, zn], 0))), 1 / temperature); // (B, 2B)
  return mulScalar(add(crossEntropy(Sa, diag), crossEntropy(transpose(S), diag)), 0.5);
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
  /** (keyword query, paragraph) pairs per paragraph (default 3; 0 = none). */
  keywords?: number;
  /** Give each pair a BM25 hard negative (default true). */
  hardNegatives?: boolean;
  /** How hidden states are pooled, in training and in the saved embedder (default "mean"). */
  pooling?: Pooling;
}

export interface TrainEmbedderSummary {
  out: string;
  modelDir: string | null;
  pairs: { train: number; heldout: number; heading: number; adjacent: number; crop: number; keywords: number };
  failed: KbReadFailure[];
  training: StepLoopSummary;
  before: { top1: number; mrr: number } | null;
  after: { top1: number; mrr: number } | null;
}

/** Trains an embedder holding the lock of OUT; see {@link TrainEmbedderOptions}. */
export async function trainEmbedder(o: TrainEmbedderOptions): Promise<TrainEmbedderSummary> {
  return withFolderLock(o.out, "llmforge kb train-embedder", () => trainLocked(o));
}

function tokenizePairs(tok: Tokenizer, pairs: readonly { a: string; b: string; n?: string; kind: TextPair["kind"] }[], maxTokens: number): TextPair[] {
  const cut = (t: string) => tok.encode(t).slice(0, maxTokens);
  return pairs
    .map((p) => {
      const n = p.n === undefined ? [] : cut(p.n);
      return { a: cut(p.a), b: cut(p.b), kind: p.kind, ...(n.length > 0 ? { n } : {}) };
    })
    .filter((p) => p.a.length > 0 && p.b.length > 0);
}

async function trainLocked(o: TrainEmbedderOptions): Promise<TrainEmbedderSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  const temperature = o.temperature ?? EMBEDDER_TEMPERATURE;
  const recorded = {
    ...o, model: resolve(o.model), data: o.data.map((f) => resolve(f)), seed, temperature, valFraction: o.valFraction ?? 0.05, maxTokens: o.maxTokens ?? 64, crops: o.crops ?? true,
    keywords: o.keywords ?? KEYWORD_QUERIES, hardNegatives: o.hardNegatives ?? true, pooling: o.pooling ?? "mean",
    weightDecay: o.weightDecay ?? 0, signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: { model: "--model", data: "--data", seed: "--seed", batchSize: "--batch", maxTokens: "--max-tokens", valFraction: "--val-fraction", temperature: "--temperature", crops: "--no-crops", keywords: "--keyword-queries", hardNegatives: "--no-hard-negatives", pooling: "--pooling" },
    kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes" },
  });
  const e = plan.options;
  const pooling = e.pooling as Pooling;
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
  const built = corpusPairs(texts, { crops: e.crops, keywords: e.keywords, seed });
  const all = tokenizePairs(run.tokenizer, e.hardNegatives ? withHardNegatives(built) : built, maxTokens);
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
  const pairs = { train: train.length, heldout: held.length, heading: kinds("heading"), adjacent: kinds("adjacent"), crop: kinds("crop"), keywords: kinds("keywords") };
  say(`train-embedder: ${pairs.train} training pairs, ${pairs.heldout} held out (${pairs.heading} heading/paragraph, ${pairs.adjacent} adjacent paragraphs, ${pairs.crop} crops, ${pairs.keywords} keyword queries) from ${texts.length} documents`);
  mkdirSync(o.out, { recursive: true });
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-embedder-run", version: 1, writer: `llmforge ${VERSION}`, base: e.model, config: model.config, options: e, completed: undefined });
  }
  const batches = new PairBatches(train, o.batchSize, seed);
  const evalHeld = () => {
    const wasTraining = model.training;
    model.eval();
    try {
      return pairRetrieval(meanPooledEmbeddings(model, held.map((p) => p.a), { pooling }), meanPooledEmbeddings(model, held.map((p) => p.b), { pooling }));
    } finally {
      model.train(wasTraining);
    }
  };
  const before = plan.checkpoint || held.length < 2 ? null : evalHeld();
  if (before) say(`train-embedder: before: held-out top-1 ${(before.top1 * 100).toFixed(1)}%, MRR ${before.mrr.toFixed(3)} over ${held.length} pairs`);

  const training = await runStepLoop<PairBatch>({
    outDir: o.out, model, batches, label: "embedder",
    lossOf: (b) => {
      const rows = (b.negatives ? 3 : 2) * b.pairs;
      const z = l2Normalize(meanPool(model.hidden(idsTensor(b.ids, [rows, b.T])), b.lengths, pooling)); // (2B or 3B, C)
      return infoNceLoss(slice(z, 0, 0, b.pairs), slice(z, 0, b.pairs, 2 * b.pairs), temperature, b.negatives ? slice(z, 0, 2 * b.pairs, rows) : undefined);
    },
    weightOf: (b) => b.pairs,
    tokensOf: (b) => b.lengths.reduce((s, n) => s + n, 0),
    maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps, weightDecay: e.weightDecay, ema: e.ema, gradClip: e.gradClip,
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
  const mark: EmbedderMark = { format: "llmforge-embedder", version: 1, pooling, normalize: true, base: e.model, temperature, steps: training.steps };
  writeFileAtomicSync(join(modelDir, EMBEDDER_FILE), `${JSON.stringify(mark, null, 2)}\n`);
  const summary: TrainEmbedderSummary = { ...base, modelDir, after };
  writeFileAtomicSync(join(o.out, "embedder.json"), `${JSON.stringify({ format: "llmforge-embedder-summary", version: 1, writer: `llmforge ${VERSION}`, ...summary }, null, 2)}\n`);
  markRunCompleted(o.out, training.steps);
  return summary;
}
