// What the knowledge-base benches share: scoring a search setup on held-out questions (recall@5, MRR@10, which
// questions were answered), the fusion weights tried on a dev split and the choice among them, and the paired sign
// test that says whether hybrid's gain over BM25 is more than chance.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { addToKb } from "../src/kb/build.js";
import { Embedder } from "../src/kb/embed.js";
import { describeFusion, type Fusion, KbSearcher, PLAIN_RRF, type SearchHit, type SearchMode } from "../src/kb/search.js";
import { KnowledgeBase } from "../src/kb/store.js";
import { trainEmbedder, type TrainEmbedderOptions, type TrainEmbedderSummary } from "../src/kb/trainEmbedder.js";

export interface Score {
  r5: number;
  mrr: number;
  ms: number;
  /** Per question: answered within the first 5. */
  hit5: boolean[];
}

/** A held-out question: its text, and whether a search hit answers it. */
export interface HeldQuestion {
  query: string;
  answers: (hit: SearchHit) => boolean;
}

/** recall@5 and MRR@10 of one search setup over `questions` (the rank of the first hit that answers each). */
export function scoreSearch(kbPath: string, embedder: Embedder | null, questions: readonly HeldQuestion[], mode: SearchMode, fusion?: Fusion): Score {
  const kb = KnowledgeBase.open(kbPath, { readonly: true });
  try {
    const searcher = new KbSearcher(kb, mode === "bm25" ? null : embedder);
    let mrr = 0;
    const hit5: boolean[] = [];
    const q0 = performance.now();
    for (const q of questions) {
      const rank = searcher.search(q.query, { k: 10, mode, fusion }).findIndex(q.answers);
      hit5.push(rank >= 0 && rank < 5);
      if (rank >= 0) mrr += 1 / (rank + 1);
    }
    const ms = (performance.now() - q0) / Math.max(1, questions.length);
    return { r5: hit5.filter(Boolean).length / Math.max(1, questions.length), mrr: mrr / Math.max(1, questions.length), ms, hit5 };
  } finally {
    kb.close();
  }
}

/** The fusions tried on the dev split: plain RRF, RRF with a smaller vector weight, and BM25-score + cosine fusion. */
export const FUSION_GRID: readonly Fusion[] = [
  PLAIN_RRF,
  ...[0.1, 0.2, 0.3, 0.5, 0.7].map((w): Fusion => ({ kind: "rrf", k: 60, bm25Weight: 1, vectorWeight: w })),
  ...[0.05, 0.1, 0.2, 0.3, 0.5].map((a): Fusion => ({ kind: "score", alpha: a })),
];

/**
 * The best weighted RRF (plain RRF aside) and the best score fusion of `rows` by `key` (higher is better), and of
 * those two the better one.
 */
export function chooseFusions<R extends { f: Fusion }>(rows: readonly R[], key: (r: R) => number): { rrf: R; score: R; chosen: R } {
  const best = (kind: Fusion["kind"]) => rows.filter((r) => r.f.kind === kind && r.f !== PLAIN_RRF).reduce((a, b) => (key(b) > key(a) ? b : a));
  const rrf = best("rrf");
  const score = best("score");
  return { rrf, score, chosen: key(score) > key(rrf) ? score : rrf };
}

/** Questions a answers at 5 and b does not, and the reverse (the discordant pairs of a paired comparison). */
export function discordant(a: Score, b: Score): { won: number; lost: number } {
  let won = 0;
  let lost = 0;
  a.hit5.forEach((h, i) => {
    if (h && !b.hit5[i]) won++;
    if (!h && b.hit5[i]) lost++;
  });
  return { won, lost };
}

/** Two-sided exact sign test on `won` against `lost` discordant pairs (ties dropped). */
export function signTestP(won: number, lost: number): number {
  const n = won + lost;
  if (n === 0) return 1;
  let tail = 0;
  let c = 1; // C(n, i)
  for (let i = 0; i <= Math.min(won, lost); i++) {
    tail += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** `kb train-embedder` into WORK/emb, or, when `reuse` and a finished one is there, its summary. */
export async function embedderIn(work: string, reuse: boolean, o: Omit<TrainEmbedderOptions, "out">): Promise<{ out: string; summary: TrainEmbedderSummary }> {
  const out = join(work, "emb");
  const file = join(out, "embedder.json");
  const summary = reuse && existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as TrainEmbedderSummary) : await trainEmbedder({ ...o, out });
  return { out, summary };
}

/** A knowledge base built in WORK/NAME.sqlite with one embedder, and how long adding took. */
export interface BenchKb {
  path: string;
  embedder: Embedder;
  addSeconds: number;
  chunks: number;
}

/** One knowledge base of `files` per embedder (base model, trained embedder: same tokenizer, so the same chunks). */
export async function buildKbs(work: string, files: readonly string[], base: string, trained: string): Promise<{ base: BenchKb; trained: BenchKb }> {
  const build = async (name: string, run: string): Promise<BenchKb> => {
    const embedder = Embedder.load(run);
    const path = join(work, `${name}.sqlite`);
    rmSync(path, { force: true });
    const a0 = performance.now();
    const s = await addToKb({ kb: path, files: [...files], embedder, chunkTokens: 96, overlapTokens: 12 });
    return { path, embedder, addSeconds: (performance.now() - a0) / 1000, chunks: s.chunks };
  };
  return { base: await build("base", base), trained: await build("trained", trained) };
}

/** The test table's rows: label, embeddings, which knowledge base, mode, fusion. */
export type Setup = readonly [string, string, "base" | "trained", SearchMode, Fusion?];

/**
 * BM25; the base model's vectors alone and in plain RRF; the trained embedder's alone, in plain RRF and in the two
 * dev-chosen fusions (rows 5 and 6).
 */
export function searchSetups(model: string, steps: number, rrf: Fusion, score: Fusion): Setup[] {
  const base = `${basename(model)} (mean-pooled LM)`;
  const trained = `train-embedder, ${steps} steps`;
  return [
    ["BM25 (FTS5)", "-", "base", "bm25"],
    ["vector", base, "base", "vector"],
    [`hybrid (${describeFusion(PLAIN_RRF)})`, base, "base", "hybrid", PLAIN_RRF],
    ["vector", trained, "trained", "vector"],
    [`hybrid (${describeFusion(PLAIN_RRF)})`, trained, "trained", "hybrid", PLAIN_RRF],
    [`hybrid (${describeFusion(rrf)}; dev-chosen)`, trained, "trained", "hybrid", rrf],
    [`hybrid (${describeFusion(score)}; dev-chosen)`, trained, "trained", "hybrid", score],
  ];
}
