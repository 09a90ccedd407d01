// Knowledge-base search: BM25 (FTS5), vector (a pluggable index; brute force = one GEMM of the query rows against
// every stored vector held as one matrix), and hybrid = a fusion of the two lists: weighted reciprocal rank fusion
// (plain RRF is weights 1 and 1) or a convex combination of normalised scores. Refuses an embedder other than the
// one that built the knowledge base.
import type { Kernels } from "../tensor/backend/kernels.js";
import { getBackend } from "../tensor/backend/index.js";
import { type Embedder, embedderHash } from "./embed.js";
import { KbError, type KnowledgeBase, type StoredChunk } from "./store.js";

/** A scored id, best first in every list. */
export interface Scored {
  id: number;
  score: number;
}

/** Nearest-neighbour search over unit vectors by inner product (cosine). Brute force is one implementation. */
export interface VectorIndex {
  readonly size: number;
  readonly dim: number;
  /** The k best rows for each query row (queries: (Q, dim) row-major), best first. */
  search(queries: Float32Array, k: number): Scored[][];
  /** The score of one query (dim) against the given ids (NaN for an id not indexed); lets score fusion see every candidate. */
  scoreIds?(query: Float32Array, ids: readonly number[]): Float32Array;
}

/** The k largest of scores[off .. off + n) with their ids (insertion into a sorted list; k is small), best first. */
function topK(scores: Float32Array, ids: ArrayLike<number>, k: number, off = 0, n = scores.length): Scored[] {
  const best: Scored[] = [];
  for (let i = 0; i < n; i++) {
    const s = scores[off + i];
    if (best.length === k && !(s > best[k - 1].score)) continue;
    if (best.length < k) best.push({ id: ids[i], score: s });
    else best[k - 1] = { id: ids[i], score: s };
    for (let j = best.length - 1; j > 0 && best[j - 1].score < best[j].score; j--) [best[j - 1], best[j]] = [best[j], best[j - 1]];
  }
  return best;
}

/**
 * Every vector in one row-major matrix (N, dim); a search is scores (Q, N) = queries (Q, dim) @ matrix^T by the
 * backend's GEMM (native: packed AVX-512/AVX2, threaded), then a top-k pass. Rows are scanned in blocks so that the
 * score buffer stays small for millions of rows.
 */
export class BruteForceIndex implements VectorIndex {
  readonly size: number;
  private readonly kernels: Kernels;
  constructor(
    readonly ids: Int32Array,
    readonly matrix: Float32Array,
    readonly dim: number,
    o: { kernels?: Kernels; blockRows?: number } = {},
  ) {
    if (matrix.length !== ids.length * dim) throw new RangeError(`BruteForceIndex: ${matrix.length} numbers for ${ids.length} rows of ${dim}`);
    this.size = ids.length;
    this.kernels = o.kernels ?? getBackend();
    this.blockRows = o.blockRows ?? 65536;
  }
  private readonly blockRows: number;
  private rowOf: Map<number, number> | null = null;

  scoreIds(query: Float32Array, ids: readonly number[]): Float32Array {
    if (query.length !== this.dim) throw new RangeError(`BruteForceIndex.scoreIds: the query has ${query.length} numbers, not ${this.dim}`);
    this.rowOf ??= new Map(Array.from(this.ids, (id, i) => [id, i]));
    const out = new Float32Array(ids.length);
    ids.forEach((id, i) => {
      const r = this.rowOf?.get(id);
      if (r === undefined) {
        out[i] = Number.NaN;
        return;
      }
      let d = 0;
      for (let j = 0, o = r * this.dim; j < this.dim; j++) d += query[j] * this.matrix[o + j];
      out[i] = d;
    });
    return out;
  }

  search(queries: Float32Array, k: number): Scored[][] {
    const Q = queries.length / this.dim;
    if (!Number.isInteger(Q)) throw new RangeError(`BruteForceIndex.search: ${queries.length} numbers is not a whole number of ${this.dim}-vectors`);
    const kk = Math.min(k, this.size);
    const results: Scored[][] = Array.from({ length: Q }, () => []);
    if (kk <= 0 || Q === 0) return results;
    const rows = Math.min(this.blockRows, this.size);
    const scores = new Float32Array(Q * rows);
    for (let r0 = 0; r0 < this.size; r0 += rows) {
      const n = Math.min(rows, this.size - r0);
      // scores (Q, n) = queries (Q, dim) @ matrix[r0 : r0 + n]^T (dim, n)
      this.kernels.gemm({
        transA: false, transB: true, M: Q, N: n, K: this.dim, alpha: 1, a: queries, aOff: 0, lda: this.dim, b: this.matrix, bOff: r0 * this.dim, ldb: this.dim,
        beta: 0, c: scores, cOff: 0, ldc: n, batch: 1, strideA: 0, strideB: 0, strideC: 0,
      });
      const blockIds = this.ids.subarray(r0, r0 + n);
      for (let q = 0; q < Q; q++) results[q] = mergeTop(results[q], topK(scores, blockIds, kk, q * n, n), kk);
    }
    return results;
  }
}

function mergeTop(a: Scored[], b: Scored[], k: number): Scored[] {
  return a.length === 0 ? b : [...a, ...b].sort((x, y) => y.score - x.score).slice(0, k);
}

/** The definition of the vector scan: a plain loop of dot products (the oracle the GEMM scan is tested against). */
export function plainScan(ids: ArrayLike<number>, matrix: Float32Array, dim: number, query: Float32Array, k: number): Scored[] {
  const n = matrix.length / dim;
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let j = 0; j < dim; j++) d += query[j] * matrix[i * dim + j];
    s[i] = d;
  }
  return topK(s, ids, Math.min(k, n));
}

/** The constant of reciprocal rank fusion (Cormack et al. 2009). */
export const RRF_K = 60;

/**
 * Weighted reciprocal rank fusion: score(id) = sum over lists of weight_list / (k + rank), rank from 1; best first,
 * ties by id. Weights default to 1 each (plain RRF).
 */
export function reciprocalRankFusion(lists: readonly (readonly Scored[])[], k = RRF_K, weights?: readonly number[]): Scored[] {
  const acc = new Map<number, number>();
  lists.forEach((list, l) => {
    const w = weights?.[l] ?? 1;
    for (let i = 0; i < list.length; i++) acc.set(list[i].id, (acc.get(list[i].id) ?? 0) + w / (k + i + 1));
  });
  return [...acc].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score || a.id - b.id);
}

/**
 * Convex score fusion over candidates (the union of the BM25 and the vector list): each score min-max normalised
 * over the candidates that have it (a candidate BM25 did not match counts 0; one without a cosine counts 0), then
 * score = (1 - alpha)·bm25' + alpha·cosine'. With a weak embedder and a small alpha, the cosine only reorders
 * candidates whose BM25 scores are close, instead of pushing in candidates of its own.
 */
export function scoreFusion(bm25: readonly Scored[], cosine: ReadonlyMap<number, number>, alpha: number): Scored[] {
  const norm = (m: ReadonlyMap<number, number>): ((id: number) => number) => {
    const v = [...m.values()].filter(Number.isFinite);
    const lo = Math.min(...v);
    const span = Math.max(...v) - lo;
    return (id) => {
      const x = m.get(id);
      return x === undefined || !Number.isFinite(x) ? 0 : span > 0 ? (x - lo) / span : 1;
    };
  };
  const b = norm(new Map(bm25.map((r) => [r.id, r.score])));
  const c = norm(cosine);
  const ids = new Set([...bm25.map((r) => r.id), ...cosine.keys()]);
  return [...ids].map((id) => ({ id, score: (1 - alpha) * b(id) + alpha * c(id) })).sort((x, y) => y.score - x.score || x.id - y.id);
}

/**
 * How hybrid search fuses its two lists. `rrf`: weighted reciprocal rank fusion (plain RRF: both weights 1).
 * `score`: {@link scoreFusion} with weight alpha on the cosine.
 */
export type Fusion = { kind: "rrf"; k?: number; bm25Weight?: number; vectorWeight?: number } | { kind: "score"; alpha: number };

/** Plain reciprocal rank fusion (k = 60, equal weights), as in Cormack et al. 2009. */
export const PLAIN_RRF: Fusion = { kind: "rrf", k: RRF_K, bm25Weight: 1, vectorWeight: 1 };

/**
 * The default fusion of hybrid search: score fusion with a small cosine weight, so that a weak embedder only reorders
 * BM25 candidates whose scores are close instead of displacing BM25's hits (plain RRF lost a quarter of them with the
 * quickstart-size embedder). Chosen on the dev split of the knowledge-base benchmark's questions (bench/kb.bench.ts,
 * never its test questions) among weighted RRF and score fusion weights: see bench/results/kb.md.
 */
export const DEFAULT_FUSION: Fusion = { kind: "score", alpha: 0.05 };

/** "rrf:W" (weighted RRF, vector weight W; "rrf" = plain, W = 1) or "score:A" (score fusion, cosine weight A) -> a Fusion. */
export function parseFusion(text: string): Fusion {
  const m = /^(rrf|score)(?::([0-9]*\.?[0-9]+))?$/.exec(text.trim());
  const w = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!m || (m[1] === "score" && (w === undefined || w > 1))) {
    throw new KbError(`--fusion must be rrf, rrf:W (vector weight W >= 0, BM25 weight 1) or score:A (0 <= A <= 1, the cosine's share), got "${text}"`);
  }
  return m[1] === "rrf" ? { kind: "rrf", k: RRF_K, bm25Weight: 1, vectorWeight: w ?? 1 } : { kind: "score", alpha: w as number };
}

/** A fusion in words, for tables and logs. */
export function describeFusion(f: Fusion): string {
  if (f.kind === "score") return `score fusion, cosine weight ${f.alpha}`;
  const bw = f.bm25Weight ?? 1;
  const vw = f.vectorWeight ?? 1;
  return bw === 1 && vw === 1 ? `RRF k=${f.k ?? RRF_K}` : `weighted RRF k=${f.k ?? RRF_K}, BM25 ${bw} / vector ${vw}`;
}

export type SearchMode = "bm25" | "vector" | "hybrid";

/** One search result: the chunk with its source and offsets, its rank score, and the scores behind it. */
export interface SearchHit extends StoredChunk {
  rank: number;
  /** The mode's score: BM25 (higher is better), cosine, or the fused score. */
  score: number;
  bm25?: number;
  cosine?: number;
}

/** Refuses to search a knowledge base with vectors of another embedder. */
export function checkEmbedder(kb: KnowledgeBase, embedder: Embedder): void {
  const built = kb.settings.embedder;
  if (!built) throw new KbError(`${kb.path} was built without an embedder (BM25 only): search it with --mode bm25, or rebuild it with --embedder`);
  if (embedderHash(built.id) !== embedderHash(embedder.info.id) || built.dim !== embedder.info.dim) {
    throw new KbError(
      `${kb.path} was built with the embedder ${built.id} (${built.dim} dimensions); ${embedder.info.id} (${embedder.info.dim} dimensions) is another model, ` +
        "and its vectors are not comparable: search with the embedder that built it, or rebuild the knowledge base with this one",
    );
  }
}

/** Whether a query has anything to search for (a letter or digit); {@link KbSearcher.search} finds nothing for one without. */
export const searchable = (query: string): boolean => /[\p{L}\p{N}]/u.test(query);

/** A knowledge base open for searching: its vector index is loaded once. */
export class KbSearcher {
  private index: VectorIndex | null = null;
  constructor(
    readonly kb: KnowledgeBase,
    readonly embedder: Embedder | null,
    private readonly makeIndex: (v: { ids: Int32Array; dim: number; matrix: Float32Array }) => VectorIndex = (v) => new BruteForceIndex(v.ids, v.matrix, v.dim),
    /** How hybrid search fuses BM25 and vectors unless a search says otherwise. */
    readonly fusion: Fusion = DEFAULT_FUSION,
  ) {
    if (embedder) checkEmbedder(kb, embedder);
  }

  private vectorIndex(): VectorIndex {
    this.index ??= this.makeIndex(this.kb.loadVectors());
    return this.index;
  }

  /**
   * Ranked chunk ids by one mode; `depth` candidates from each list before fusion (default max(50, 4k)). With score
   * fusion, every BM25 candidate gets its cosine from the index (when the index can score given ids).
   */
  rank(
    query: string,
    mode: SearchMode,
    k: number,
    o: { depth?: number; fusion?: Fusion } = {},
  ): { hits: Scored[]; bm25: Map<number, number>; cosine: Map<number, number> } {
    // A query with no word in it matches nothing (the vector side would rank every chunk by the empty text's embedding).
    if (!searchable(query)) return { hits: [], bm25: new Map(), cosine: new Map() };
    const depth = o.depth ?? Math.max(50, 4 * k);
    const fusion = o.fusion ?? this.fusion;
    const bm25 = mode === "vector" ? [] : this.kb.searchBm25(query, mode === "bm25" ? k : depth);
    let vec: Scored[] = [];
    const cosine = new Map<number, number>();
    if (mode !== "bm25") {
      if (!this.embedder) throw new KbError(`--mode ${mode} needs the embedder that built ${this.kb.path} (--embedder)`);
      const q = this.embedder.embed([query])[0];
      const index = this.vectorIndex();
      vec = index.search(q, mode === "vector" ? k : depth)[0];
      for (const r of vec) cosine.set(r.id, r.score);
      const missing = mode === "hybrid" && fusion.kind === "score" ? bm25.filter((r) => !cosine.has(r.id)).map((r) => r.id) : [];
      if (missing.length > 0 && index.scoreIds) {
        const s = index.scoreIds(q, missing);
        missing.forEach((id, i) => {
          if (Number.isFinite(s[i])) cosine.set(id, s[i]);
        });
      }
    }
    const fused = () =>
      fusion.kind === "score" ? scoreFusion(bm25, cosine, fusion.alpha) : reciprocalRankFusion([bm25, vec], fusion.k ?? RRF_K, [fusion.bm25Weight ?? 1, fusion.vectorWeight ?? 1]);
    const hits = mode === "bm25" ? bm25 : mode === "vector" ? vec : fused();
    return { hits: hits.slice(0, k), bm25: new Map(bm25.map((r) => [r.id, r.score])), cosine };
  }

  /** The k best chunks for a query, with their text, source and offsets. */
  search(query: string, o: { k?: number; mode?: SearchMode; fusion?: Fusion } = {}): SearchHit[] {
    const mode = o.mode ?? (this.embedder ? "hybrid" : "bm25");
    const { hits, bm25, cosine } = this.rank(query, mode, o.k ?? 5, { fusion: o.fusion });
    const chunks = new Map(this.kb.chunks(hits.map((h) => h.id)).map((c) => [c.id, c]));
    return hits.flatMap((h, i) => {
      const c = chunks.get(h.id);
      if (!c) return [];
      const b = bm25.get(h.id);
      const v = cosine.get(h.id);
      return [{ ...c, rank: i + 1, score: h.score, ...(b !== undefined ? { bm25: b } : {}), ...(v !== undefined ? { cosine: v } : {}) }];
    });
  }
}
