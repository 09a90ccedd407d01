// Search: reciprocal rank fusion by its definition, the GEMM vector scan against a plain loop (both backends,
// several blocks), batched embeddings equal to one-at-a-time ones, refusal of another embedder, and a small
// knowledge base built with embeddings and searched in all three modes, through the library and the CLI.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addToKb } from "../../src/kb/build.js";
import { Embedder, meanPooledEmbeddings } from "../../src/kb/embed.js";
import { BruteForceIndex, KbSearcher, parseFusion, plainScan, reciprocalRankFusion, scoreFusion } from "../../src/kb/search.js";
import { KnowledgeBase } from "../../src/kb/store.js";
import { getBackend, nativeKernels, refKernels } from "../../src/tensor/backend/index.js";
import { ids as idsTensor } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad } from "../../src/tensor/tensor.js";
import { writeCorpus, writeTinyModel } from "./fixture.js";

const ROOT = join(import.meta.dirname, "..", "..");
let dir: string;
let run: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-kb-search-"));
  writeCorpus(dir);
  run = writeTinyModel(dir).run;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("reciprocalRankFusion", () => {
  it("sums 1 / (60 + rank) over the lists", () => {
    const a = [{ id: 1, score: 9 }, { id: 2, score: 8 }, { id: 3, score: 7 }];
    const b = [{ id: 3, score: 0.9 }, { id: 4, score: 0.8 }];
    const f = reciprocalRankFusion([a, b]);
    expect(f.map((r) => r.id)).toEqual([3, 1, 2, 4]);
    expect(f[0].score).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(f[1].score).toBeCloseTo(1 / 61, 12);
    expect(f[3].score).toBeCloseTo(1 / 62, 12);
    expect(reciprocalRankFusion([a, []], 1).map((r) => r.score)).toEqual([1 / 2, 1 / 3, 1 / 4]);
  });

  it("weights each list: a light vector list reorders only near-ties of the BM25 list", () => {
    const bm = [{ id: 1, score: 9 }, { id: 2, score: 8 }, { id: 3, score: 7 }, { id: 4, score: 6 }];
    const vec = [{ id: 9, score: 0.9 }, { id: 2, score: 0.8 }];
    const f = reciprocalRankFusion([bm, vec], 60, [1, 0.3]);
    expect(f.map((r) => r.id)).toEqual([2, 1, 3, 4, 9]);
    expect(f[0].score).toBeCloseTo(1 / 62 + 0.3 / 62, 12);
    expect(f[4].score).toBeCloseTo(0.3 / 61, 12);
    // equal weights: the vector list's first hit, unknown to BM25, overtakes BM25's third
    expect(reciprocalRankFusion([bm, vec], 60, [1, 1]).map((r) => r.id)).toEqual([2, 1, 9, 3, 4]);
  });
});

describe("scoreFusion", () => {
  it("mixes min-max normalised BM25 and cosine over the union of candidates", () => {
    const bm = [{ id: 1, score: 10 }, { id: 2, score: 9 }, { id: 3, score: 5 }];
    const cos = new Map([[1, 0.1], [2, 0.5], [3, 0.3], [7, 0.2]]);
    const f = scoreFusion(bm, cos, 0.25);
    const want = new Map([[1, 0.75], [2, 0.75 * 0.8 + 0.25], [3, 0.25 * 0.5], [7, 0.25 * 0.25]]);
    expect(f.map((r) => r.id)).toEqual([2, 1, 3, 7]);
    for (const r of f) expect(r.score).toBeCloseTo(want.get(r.id) as number, 6);
    expect(scoreFusion(bm, cos, 0).map((r) => r.id)).toEqual([1, 2, 3, 7]);
    expect(scoreFusion([], new Map([[5, 0.4]]), 0.5)).toEqual([{ id: 5, score: 0.5 }]);
  });

  it("parses --fusion and refuses what it does not know", () => {
    expect(parseFusion("rrf")).toEqual({ kind: "rrf", k: 60, bm25Weight: 1, vectorWeight: 1 });
    expect(parseFusion("rrf:0.3")).toEqual({ kind: "rrf", k: 60, bm25Weight: 1, vectorWeight: 0.3 });
    expect(parseFusion("score:0.2")).toEqual({ kind: "score", alpha: 0.2 });
    for (const bad of ["score", "score:2", "rrf:-1", "mean", "rrf:x"]) expect(() => parseFusion(bad)).toThrow(/--fusion must be/);
  });
});

describe("BruteForceIndex", () => {
  const kernels = [refKernels, ...(nativeKernels ? [nativeKernels] : [])];
  for (const k of kernels) {
    it(`finds what a plain loop finds (${k.name} backend, blocks of rows)`, () => {
      const rng = new Rng(5);
      const N = 1037;
      const dim = 24;
      const m = Float32Array.from({ length: N * dim }, () => rng.normal());
      const ids = Int32Array.from({ length: N }, (_, i) => 10 * i + 3);
      const Q = 3;
      const q = Float32Array.from({ length: Q * dim }, () => rng.normal());
      const index = new BruteForceIndex(ids, m, dim, { kernels: k, blockRows: 200 });
      const got = index.search(q, 7);
      for (let i = 0; i < Q; i++) {
        const want = plainScan(ids, m, dim, q.subarray(i * dim, (i + 1) * dim), 7);
        expect(got[i].map((r) => r.id)).toEqual(want.map((r) => r.id));
        const direct = index.scoreIds(q.subarray(i * dim, (i + 1) * dim), [...want.map((r) => r.id), 4]);
        for (let j = 0; j < want.length; j++) expect(direct[j]).toBeCloseTo(want[j].score, 3);
        expect(direct[want.length]).toBeNaN();
        for (let j = 0; j < want.length; j++) expect(got[i][j].score).toBeCloseTo(want[j].score, 3);
      }
      expect(index.search(q.subarray(0, dim), 5000)[0].length).toBe(N);
    });
  }
});

describe("embeddings and search", () => {
  it("embeds in batches exactly as one at a time (mean of GPT.hidden, unit length)", () => {
    const e = Embedder.load(run);
    const seqs = [[5, 6, 7], [8], [9, 10, 11, 12, 13, 14], [15, 16]];
    const batched = meanPooledEmbeddings(e.model, seqs, { batchSize: 3 });
    for (let i = 0; i < seqs.length; i++) {
      const h = noGrad(() => e.model.hidden(idsTensor(seqs[i], [1, seqs[i].length])).toTypedArray());
      const C = e.info.dim;
      const mean = new Float64Array(C);
      for (let t = 0; t < seqs[i].length; t++) for (let c = 0; c < C; c++) mean[c] += h[t * C + c] / seqs[i].length;
      const norm = Math.hypot(...mean);
      for (let c = 0; c < C; c++) expect(batched[i][c]).toBeCloseTo(mean[c] / norm, 4);
    }
  });

  it("builds a knowledge base with embeddings and searches it in three modes", async () => {
    const kbPath = join(dir, "e.sqlite");
    const s = await addToKb({ kb: kbPath, files: [join(dir, "docs")], embedder: run, chunkTokens: 40 });
    expect(s.added).toBe(4);
    const kb = KnowledgeBase.open(kbPath, { readonly: true });
    expect(kb.stats().embeddings).toBe(kb.stats().chunks);
    const searcher = new KbSearcher(kb, Embedder.load(run));
    for (const [mode, fusion] of [["bm25"], ["vector"], ["hybrid"], ["hybrid", parseFusion("rrf")], ["hybrid", parseFusion("score:0.3")]] as const) {
      const hits = searcher.search("how does yeast make dough rise", { k: 3, mode, fusion });
      expect(hits.length).toBe(mode === "bm25" ? Math.min(3, kb.searchBm25("how does yeast make dough rise", 9).length) : 3);
      expect(hits.map((h) => h.rank)).toEqual(hits.map((_, i) => i + 1));
      for (const h of hits) expect(h.text.length).toBeGreaterThan(0);
      if (mode !== "vector") expect(hits[0].path).toMatch(/bread\.md$/);
      if (mode !== "bm25") for (const h of hits) if (h.cosine !== undefined) expect(Math.abs(h.cosine)).toBeLessThanOrEqual(1.0001);
      // score fusion looks up the cosine of every BM25 candidate
      if (fusion?.kind === "score") for (const h of hits) expect(h.cosine).toBeDefined();
      // a query with no letter or digit finds nothing in any mode (not every chunk by the empty text's embedding)
      for (const blank of ["", "   ", "?! --"]) expect(searcher.search(blank, { k: 3, mode, fusion })).toEqual([]);
    }
    kb.close();
    const blank = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "kb", "search", "--kb", kbPath, " "], { cwd: ROOT, encoding: "utf8" });
    expect(blank.status).not.toBe(0);
    expect(blank.stderr).toContain('the query " " has no letter or digit to search for');
    expect(blank.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    // the CLI prints JSON results with source and offsets
    const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "kb", "search", "--kb", kbPath, "--json", "-k", "2", "castling king rook"], {
      cwd: ROOT, encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { path: string; start: number; end: number; rank: number }[];
    expect(out.length).toBe(2);
    expect(out[0].path).toMatch(/chess\.md$/);
    expect(out[0].end).toBeGreaterThan(out[0].start);
  });

  it("refuses to search with another embedder, and to add with one", async () => {
    const kbPath = join(dir, "m.sqlite");
    await addToKb({ kb: kbPath, files: [join(dir, "docs")], embedder: run });
    const other = writeTinyModel(dir, 4).run;
    const kb = KnowledgeBase.open(kbPath, { readonly: true });
    expect(() => new KbSearcher(kb, Embedder.load(other))).toThrow(/was built with the embedder run3@[0-9a-f]{16}.*run4@.*another model/);
    kb.close();
    await expect(addToKb({ kb: kbPath, files: [join(dir, "docs")], embedder: other })).rejects.toThrow(/another model/);
    await expect(addToKb({ kb: kbPath, files: [join(dir, "docs")] })).rejects.toThrow(/pass --embedder/);
    expect(getBackend()).toBeDefined();
  });
});
