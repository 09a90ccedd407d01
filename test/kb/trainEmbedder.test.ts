// `kb train-embedder`: pairs built from the corpus, the InfoNCE loss by its definition, the loss falling and held-out
// pair retrieval improving on a tiny model, exact resume from a checkpoint, and the output marked as an embedder.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDER_FILE, Embedder, meanPool, meanPooledEmbeddings } from "../../src/kb/embed.js";
import { corpusPairs, infoNceLoss, keywordQueryOf, MemoryBm25, trainEmbedder, type TrainEmbedderOptions, withHardNegatives } from "../../src/kb/trainEmbedder.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor } from "../../src/tensor/tensor.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { TOPICS, writeCorpus, writeTinyModel } from "./fixture.js";

let dir: string;
let run: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-kb-emb-"));
  writeCorpus(dir);
  run = writeTinyModel(dir).run;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const opts = (out: string, extra: Partial<TrainEmbedderOptions> = {}): TrainEmbedderOptions => ({
  model: run, data: [join(dir, "docs")], out, batchSize: 4, steps: 8, lr: 3e-3, warmupSteps: 1, evalEvery: 4, checkpointEvery: 4, seed: 5, valFraction: 0, progress: false, ...extra,
});
const losses = (out: string) => new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number").map((r) => r.loss as number);

describe("train-embedder", () => {
  it("builds heading/paragraph and adjacent-paragraph pairs", () => {
    const text = `# About bread\n\n${TOPICS.bread.join("\n\n")}\n\nshort one\n\n## Next\n\n${TOPICS.chess[0]}`;
    const p = corpusPairs([text], { crops: false, keywords: 0 });
    expect(p.map((x) => x.kind)).toEqual(["heading", "adjacent", "adjacent", "heading"]);
    const withCrops = corpusPairs([text], { seed: 1, keywords: 0 });
    const crops = withCrops.filter((x) => x.kind === "crop");
    expect(crops.length).toBe(4);
    for (const c of crops) {
      const words = c.a.split(" ");
      expect(words.length).toBeLessThan(c.b.split(" ").length);
      for (const w of words) expect(c.b.split(" ")).toContain(w); // a crop only drops words
    }
    expect(corpusPairs([text], { seed: 1, keywords: 0 })).toEqual(withCrops);
    expect(p[0]).toMatchObject({ a: "About bread", b: TOPICS.bread[0] });
    expect(p[3]).toMatchObject({ a: "Next", b: TOPICS.chess[0] });
  });

  it("builds keyword-query pairs: 3-6 distinct content words of the paragraph, crops unchanged", () => {
    const text = `# About bread\n\n${TOPICS.bread.join("\n\n")}\n\nshort one`;
    const all = corpusPairs([text], { seed: 1 });
    const kw = all.filter((x) => x.kind === "keywords");
    expect(kw.length).toBe(3 * TOPICS.bread.length);
    for (const q of kw) {
      const words = q.a.split(" ");
      expect(words.length).toBeGreaterThanOrEqual(3);
      expect(words.length).toBeLessThanOrEqual(6);
      expect(new Set(words).size).toBe(words.length);
      const inPara = new Set(q.b.toLowerCase().match(/[a-z][a-z_]+/g));
      for (const w of words) {
        expect(w).toBe(w.toLowerCase());
        expect(inPara.has(w)).toBe(true);
        expect(["the", "and", "with", "from", "this"]).not.toContain(w);
      }
    }
    expect(all.filter((x) => x.kind !== "keywords")).toEqual(corpusPairs([text], { seed: 1, keywords: 0 }));
    expect(keywordQueryOf("the and of to a in", new Rng(1))).toBeNull();
  });

  it("picks each pair's BM25 hard negative among the other partners", () => {
    const bm = new MemoryBm25(["the cat sat", "a dog barked at the cat", "dogs and dogs", "nothing here"]);
    expect(bm.search("cat", 4)).toEqual([0, 1]); // the shorter text with the same term first
    expect(bm.search("dog cat", 4)[0]).toBe(1);
    expect(bm.search("cat", 4, new Set([0]))).toEqual([1]);
    expect(bm.search("zebra", 4)).toEqual([]);
    expect(bm.search("cat", 0)).toEqual([]);
    // the top-k selection equals a full sort of every matching text's score (ties by index), with exclusions
    const rng = new Rng(5);
    const vocab = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"];
    const texts = Array.from({ length: 60 }, () => Array.from({ length: 1 + rng.int(6) }, () => vocab[rng.int(vocab.length)]).join(" "));
    const big = new MemoryBm25(texts);
    const all = big.search("alpha beta zeta", texts.length);
    for (const k of [1, 3, 10]) {
      expect(big.search("alpha beta zeta", k)).toEqual(all.slice(0, k));
      const ex = new Set(all.slice(0, 2));
      expect(big.search("alpha beta zeta", k, ex)).toEqual(all.filter((d) => !ex.has(d)).slice(0, k));
    }
    expect(all.length).toBe(texts.filter((t) => /alpha|beta|zeta/.test(t)).length);
    const text = Object.entries(TOPICS).map(([t, ps]) => `# About ${t}\n\n${ps.join("\n\n")}`).join("\n\n");
    const pairs = withHardNegatives(corpusPairs([text], { seed: 2 }));
    const withNeg = pairs.filter((p) => p.n !== undefined);
    expect(withNeg.length).toBeGreaterThan(0.7 * pairs.length); // none only when no other text shares a word
    const wordsOf = (t: string) => new Set(t.toLowerCase().match(/[a-z0-9_]+/g));
    for (const p of withNeg) {
      expect(p.n).not.toBe(p.b);
      expect(p.n).not.toBe(p.a);
      expect(pairs.some((q) => q.b === p.n)).toBe(true); // a partner of another pair
      const a = wordsOf(p.a);
      expect([...wordsOf(p.n as string)].some((w) => a.has(w))).toBe(true); // BM25 matched it
    }
  });

  it("adds hard negatives to a's candidates in InfoNCE", () => {
    const za = Tensor.from([1, 0, 0, 1], [2, 2]);
    const zb = Tensor.from([0.6, 0.8, 0, 1], [2, 2]);
    const zn = Tensor.from([0.8, 0.6, 1, 0], [2, 2]);
    const dot = (a: number[], b: number[]) => (a[0] * b[0] + a[1] * b[1]) / 0.05;
    const A = [[1, 0], [0, 1]];
    const Bv = [[0.6, 0.8], [0, 1]];
    const N = [[0.8, 0.6], [1, 0]];
    const lse = (xs: number[]) => Math.log(xs.reduce((t, x) => t + Math.exp(x), 0));
    const ceA = [0, 1].reduce((s, i) => s + lse([...Bv, ...N].map((c) => dot(A[i], c))) - dot(A[i], Bv[i]), 0) / 2;
    const ceB = [0, 1].reduce((s, i) => s + lse(A.map((c) => dot(Bv[i], c))) - dot(Bv[i], A[i]), 0) / 2;
    expect(infoNceLoss(za, zb, 0.05, zn).item()).toBeCloseTo((ceA + ceB) / 2, 3);
  });

  it("computes symmetric InfoNCE with in-batch negatives", () => {
    const za = Tensor.from([1, 0, 0, 1], [2, 2]);
    const zb = Tensor.from([0.6, 0.8, 0, 1], [2, 2]);
    const S = [[0.6, 0], [0.8, 1]].map((r) => r.map((x) => x / 0.05)); // S[i][j] = za_i . zb_j / t
    const ce = (rows: number[][]) => rows.reduce((s, r, i) => s - (r[i] - Math.log(r.reduce((t, x) => t + Math.exp(x), 0))), 0) / rows.length;
    const want = (ce(S) + ce([[S[0][0], S[1][0]], [S[0][1], S[1][1]]])) / 2;
    expect(infoNceLoss(za, zb).item()).toBeCloseTo(want, 3);
  });

  it("lowers the loss, resumes exactly, and writes a marked embedder folder", async () => {
    const out = join(dir, "emb");
    const s = await trainEmbedder(opts(out, { steps: 24, checkpointEvery: 12, keywords: 1 }));
    const l = losses(out);
    expect(l).toHaveLength(24);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(l.slice(-6))).toBeLessThan(mean(l.slice(0, 6)) * 0.6);
    expect(s.pairs).toMatchObject({ train: 36, keywords: 12 }); // 4 heading + 8 adjacent + 12 crops + 12 keyword queries (1 per paragraph)
    expect(existsSync(join(out, "model", EMBEDDER_FILE))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "model", EMBEDDER_FILE), "utf8"))).toMatchObject({ format: "llmforge-embedder", temperature: 0.05, steps: 24 });
    const e = Embedder.load(out);
    expect(e.mark?.pooling).toBe("mean");
    expect(e.info.id).toMatch(/^emb@[0-9a-f]{16}$/);
    // resume from the step-12 checkpoint: the same losses as the uninterrupted run
    rmSync(join(out, "checkpoints", "step_00000024"), { recursive: true, force: true });
    const again = await trainEmbedder(opts(out, { steps: 24, checkpointEvery: 12, keywords: 1, resume: true }));
    expect(again.training.steps).toBe(24);
    expect(losses(out)).toEqual(l);
    await expect(trainEmbedder(opts(out, { steps: 24, batchSize: 3, keywords: 1, resume: true }))).rejects.toThrow(/--batch/);
  }, 60_000);

  it("pools by position-weighted mean: weight i+1 over 1+...+n, padding ignored", () => {
    // rows of lengths 3 and 1 in a (2, 3, 2) batch; the second row's padding holds junk that must not count
    const h = Tensor.from(Float32Array.from([1, 10, 2, 20, 4, 40, 5, 50, 99, 99, 99, 99]), [2, 3, 2]);
    const plain = meanPool(h, [3, 1]).toTypedArray();
    for (const [i, x] of [7 / 3, 70 / 3, 5, 50].entries()) expect(plain[i]).toBeCloseTo(x, 5);
    const weighted = meanPool(h, [3, 1], "weighted-mean").toTypedArray();
    const want = [(1 * 1 + 2 * 2 + 3 * 4) / 6, (1 * 10 + 2 * 20 + 3 * 40) / 6, 5, 50];
    for (const [i, x] of want.entries()) expect(weighted[i]).toBeCloseTo(x, 5);
  });

  it("trains and saves a weighted-mean embedder that embeds with the pooling it was trained with; --pooling is fixed on resume", async () => {
    const out = join(dir, "emb-weighted");
    await trainEmbedder(opts(out, { steps: 4, checkpointEvery: 2, keywords: 1, pooling: "weighted-mean" }));
    const e = Embedder.load(out);
    expect(e.mark?.pooling).toBe("weighted-mean");
    expect(e.pooling).toBe("weighted-mean");
    const text = "bread rises in a warm oven";
    const ids = e.tokenize(text);
    const [v] = e.embed([text]);
    expect(Array.from(v)).toEqual(Array.from(meanPooledEmbeddings(e.model, [ids], { pooling: "weighted-mean" })[0]));
    expect(Array.from(v)).not.toEqual(Array.from(meanPooledEmbeddings(e.model, [ids])[0]));
    await expect(trainEmbedder(opts(out, { steps: 4, keywords: 1, resume: true }))).rejects.toThrow(/--pooling/);
  }, 60_000);
});
