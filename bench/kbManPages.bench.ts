// Knowledge-base retrieval with questions people wrote: the one-line summaries of the man pages installed on this
// machine ("ls - list directory contents": the question is "list directory contents") against the pages' DESCRIPTION
// sections, from which those lines are removed. BM25 has only the words the two share; an embedder can learn how
// summaries and descriptions relate. The embedder (`kb train-embedder`) trains on the other pages, each with its summary as
// a heading over its description (heading/paragraph pairs), and on the held-out pages' descriptions without their
// summaries (adjacent paragraphs, crops, keyword queries); the fusion of hybrid search is chosen on a dev split.
// Run: node --import tsx bench/kbManPages.bench.ts   (writes $LLMFORGE_BENCH_OUT, default bench/results/kbManPages.md;
// ~30 minutes on 2 idle cores, a third of it rendering the pages with groff)
// Env: KB_MODEL (default /tmp/qs/sft), KB_STEPS (train-embedder steps, default 2000), KB_LR (5e-4), KB_MAN_PAGES (pages
// sampled, default all), KB_MAN_FAMILY_CAP (most pages of one family, default no limit), KB_QUESTIONS (test, default 2000), KB_DEV (dev, default 300), THREADS (2), KB_WORK (a folder
// kept between runs: rendered pages and a finished embedder there are reused), KB_SEED (train-embedder's seed, default 1).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_FUSION, describeFusion, type Fusion, type SearchMode } from "../src/kb/search.js";
import { setNativeThreads } from "../src/tensor/backend/native.js";
import { Rng } from "../src/tensor/rng.js";
import { buildKbs, chooseFusions, discordant, embedderIn, FUSION_GRID, type HeldQuestion, pct, type Score, scoreSearch, type Setup, searchSetups, signTestP } from "./kbEval.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "kbManPages.md");
const threads = Number(process.env.THREADS ?? "2");
setNativeThreads(threads);
const MAN = "/usr/share/man/man1";
const MODEL = process.env.KB_MODEL ?? "/tmp/qs/sft";
const STEPS = Number(process.env.KB_STEPS ?? "2000");
const LR = Number(process.env.KB_LR ?? "5e-4");
const PAGES = Number(process.env.KB_MAN_PAGES ?? "Infinity");
const NQ = Number(process.env.KB_QUESTIONS ?? "2000");
const NDEV = Number(process.env.KB_DEV ?? "300");
const FAMILY_CAP = Number(process.env.KB_MAN_FAMILY_CAP ?? "Infinity");
const SEED = Number(process.env.KB_SEED ?? "1");
const WORK = process.env.KB_WORK;
const run = promisify(execFile);

if (!existsSync(MAN)) {
  console.error(`${MAN} is missing (a system without manual pages)`);
  process.exit(1);
}
if (!existsSync(MODEL)) {
  console.error(`${MODEL} is missing: run \`llmforge quickstart --out /tmp/qs\` first, or set KB_MODEL to a run folder`);
  process.exit(1);
}

/** A man page rendered by groff as plain text (no overstrike, no hyphenation), cached in `dir`. */
async function render(file: string, dir: string): Promise<string | null> {
  const out = join(dir, `${basename(file)}.txt`);
  if (existsSync(out)) return readFileSync(out, "utf8");
  try {
    const { stdout } = await run("sh", ["-c", 'zcat -f "$1" | groff -mandoc -Tutf8 -P-cbu -rHY=0 -rLL=150n 2>/dev/null', "sh", file], { maxBuffer: 64 << 20 });
    writeFileSync(out, stdout);
    return stdout;
  } catch {
    return null;
  }
}

/** The summary of a page's NAME line (after the dash) and the first prose paragraphs of its DESCRIPTION (12-200 words). */
function parsePage(text: string): { summary: string; description: string } | null {
  const sections = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const line of text.split("\n")) {
    if (/^[A-Z][A-Z0-9 ,/()-]*$/.test(line.trimEnd()) && !line.startsWith(" ")) {
      cur = [];
      if (!sections.has(line.trim())) sections.set(line.trim(), cur);
      continue;
    }
    cur?.push(line);
  }
  const name = sections.get("NAME")?.map((l) => l.trim()).filter(Boolean).join(" ");
  const desc = sections.get("DESCRIPTION");
  if (!name || !desc) return null;
  const m = /\s[-\u2010\u2013\u2014]+\s(.*)$/.exec(name);
  const summary = m?.[1].trim() ?? "";
  if (summary.split(/\s+/).length < 3 || /manual page for|^(the )?(debian|program|command|tool|utility)$/i.test(summary)) return null;
  const paragraphs: string[] = [];
  let words = 0;
  for (const para of desc.join("\n").split(/\n\s*\n/)) {
    const t = para.replace(/[\u2010-]\n\s*/g, (h) => (h.startsWith("\u2010") ? "" : "-")).replace(/\s+/g, " ").trim();
    const n = t.split(" ").length;
    if (n < 5 || !/^[A-Za-z"“(]/.test(t)) continue;
    paragraphs.push(t);
    words += n;
    if (words >= 60 || paragraphs.length >= 4) break;
  }
  const description = paragraphs.join("\n\n").split(" ").slice(0, 200).join(" ");
  if (words < 12) return null;
  return { summary, description };
}

interface Page {
  name: string;
  summary: string;
  description: string;
  path: string;
}

const work = WORK ?? mkdtempSync(join(tmpdir(), "llmforge-kb-man-"));
mkdirSync(work, { recursive: true });
try {
  // 1. a seeded sample of the installed section-1 pages, rendered, parsed, without repeated summaries or descriptions
  const rng = new Rng(2026);
  const all = readdirSync(MAN).filter((f) => /\.1[a-z]*(\.gz)?$/.test(f)).sort();
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  // no family of pages (the name up to its first _ . or -) above FAMILY_CAP: a cloud SDK can install 16,000 pages of one kind
  const family = new Map<string, number>();
  const sample = all
    .filter((f) => {
      const k = f.split(/[_.-]/)[0];
      family.set(k, (family.get(k) ?? 0) + 1);
      return (family.get(k) as number) <= FAMILY_CAP;
    })
    .slice(0, PAGES);
  const capped = [...family].filter(([, n]) => n > FAMILY_CAP).map(([k, n]) => `${k} (${n} pages, ${FAMILY_CAP} kept)`);
  const renderDir = join(work, "render");
  mkdirSync(renderDir, { recursive: true });
  const r0 = performance.now();
  const texts: (string | null)[] = new Array(sample.length).fill(null);
  let next = 0;
  await Promise.all(
    Array.from({ length: threads }, async () => {
      while (next < sample.length) {
        const i = next++;
        texts[i] = await render(join(MAN, sample[i]), renderDir);
      }
    }),
  );
  const renderSeconds = (performance.now() - r0) / 1000;
  const kbDir = join(work, "kb");
  rmSync(kbDir, { recursive: true, force: true });
  mkdirSync(kbDir, { recursive: true });
  const pages: Page[] = [];
  const seenSummary = new Set<string>();
  const seenDescription = new Set<string>();
  let unparsed = 0;
  let repeated = 0;
  texts.forEach((t, i) => {
    const p = t === null ? null : parsePage(t);
    if (!p) {
      unparsed++;
      return;
    }
    const sk = p.summary.toLowerCase();
    const dk = p.description.slice(0, 120).toLowerCase();
    if (seenSummary.has(sk) || seenDescription.has(dk)) {
      repeated++;
      return;
    }
    seenSummary.add(sk);
    seenDescription.add(dk);
    const name = sample[i].replace(/\.gz$/, "");
    const path = resolve(kbDir, `${name}.txt`);
    writeFileSync(path, `${p.description}\n`);
    pages.push({ name, ...p, path });
  });
  const families = new Map<string, number>();
  for (const p of pages) {
    const k = p.name.split(/[_.-]/)[0];
    families.set(k, (families.get(k) ?? 0) + 1);
  }
  const topFamilies = [...families].sort((a, b) => b[1] - a[1]).slice(0, 4);
  const order = new Rng(7).permutation(pages.length);
  const test = Array.from(order.slice(0, NQ), (i) => pages[i]);
  const dev = Array.from(order.slice(NQ, NQ + NDEV), (i) => pages[i]);
  const heldNames = new Set([...test, ...dev].map((p) => p.name));
  if (pages.length < NQ + NDEV + 200) throw new Error(`only ${pages.length} usable pages for ${NQ} + ${NDEV} questions; raise KB_MAN_PAGES`);

  // 2. the embedder: summaries as headings on the training pages only
  const trainDir = join(work, "train");
  rmSync(trainDir, { recursive: true, force: true });
  mkdirSync(trainDir, { recursive: true });
  for (const p of pages) writeFileSync(join(trainDir, `${p.name}.md`), heldNames.has(p.name) ? `${p.description}\n` : `# ${p.summary}\n\n${p.description}\n`);
  const { out: embOut, summary: te } = await embedderIn(work, WORK !== undefined, {
    model: MODEL, data: [trainDir], batchSize: 32, steps: STEPS, lr: LR, warmupSteps: 20, evalEvery: 250, checkpointEvery: 10_000, seed: SEED, progress: false,
  });

  // 3. one knowledge base per embedder, the descriptions only
  const kbs = await buildKbs(work, pages.map((p) => p.path), MODEL, embOut);

  // 4. a question is answered by any chunk of its page; the fusion is chosen on the dev questions
  const asHeld = (ps: readonly Page[]): HeldQuestion[] => ps.map((p) => ({ query: p.summary, answers: (h) => h.path === p.path }));
  const score = (ps: readonly Page[], name: "base" | "trained", mode: SearchMode, fusion?: Fusion): Score => scoreSearch(kbs[name].path, kbs[name].embedder, asHeld(ps), mode, fusion);
  const devBm25 = score(dev, "trained", "bm25");
  const devRows = FUSION_GRID.map((f) => ({ f, s: score(dev, "trained", "hybrid", f) }));
  const { rrf: bestRrf, score: bestScore, chosen } = chooseFusions(devRows, (r) => r.s.r5 + 1e-3 * r.s.mrr);
  const setups: Setup[] = [
    ...searchSetups(MODEL, te.training.steps, bestRrf.f, bestScore.f),
    [`hybrid (${describeFusion(DEFAULT_FUSION)}; \`kb search\`'s default)`, `train-embedder, ${te.training.steps} steps`, "trained", "hybrid", DEFAULT_FUSION],
  ];
  const rows = setups.map(([m, e, kb, mode, f]) => ({ m, e, s: score(test, kb, mode, f) }));
  const bm = rows[0].s;
  const vec = rows[3].s;
  const hyb = rows[chosen === bestScore ? 6 : 5];
  const d = discordant(hyb.s, bm);
  const p = signTestP(d.won, d.lost);
  const beats = hyb.s.r5 > bm.r5 && p < 0.05;
  const dflt = rows[7].s;
  const dd = discordant(dflt, bm);

  const fmt = (s: Score) => `${pct(s.r5)} | ${s.mrr.toFixed(3)}`;
  const lines = [
    "## Knowledge-base retrieval: questions people wrote (man-page summaries)",
    "",
    `\`npm run bench -- kbManPages\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, ${threads} threads, 1-minute load average ${loadavg()[0].toFixed(1)} at the end. ` +
      `Corpus: ${pages.length} manual pages of section 1 installed on this machine (${sample.length === all.length ? `all ${all.length} pages` : `a seeded sample of ${sample.length} of ${all.length}`}${capped.length > 0 ? `, at most ${FAMILY_CAP} of one family: ${capped.join(", ")}` : ""}, rendered by groff in ${renderSeconds.toFixed(0)} s${WORK !== undefined ? " (pages an earlier run rendered into KB_WORK reused)" : ""}; ` +
      `${unparsed} without a NAME summary of 3+ words or a DESCRIPTION of 12+ words of prose, and ${repeated} repeating another page's summary or description, left out; ` +
      `most common families: ${topFamilies.map(([k, n]) => `${k} ${n}`).join(", ")}). Each page's document is the first prose paragraphs of its ` +
      `DESCRIPTION (12-200 words), without the NAME line; ${kbs.base.chunks} chunks of at most 96 tokens (overlap 12).`,
    "",
    `Questions: the NAME line's summary of ${test.length} test and ${dev.length} dev pages (\`ls - list directory contents\` asks "list directory contents"), written by the pages' authors, ` +
      "not derived from the text they are matched against; a question is answered at k when one of the first k chunks is from its page. " +
      `The base model is ${MODEL} (${kbs.base.embedder.model.config.nLayer} layers, width ${kbs.base.embedder.info.dim}); \`kb train-embedder\` trained it ${te.training.steps} steps (seed ${SEED}) ` +
      `(batch 32 pairs, InfoNCE with in-batch negatives and one BM25 hard negative per pair, temperature 0.05, lr ${LR}, mean pooling) on ${te.pairs.train} pairs ` +
      `(${te.pairs.heading} heading/paragraph pairs: the summaries of the ${pages.length - test.length - dev.length} other pages over their descriptions, and a few short lines read as headings; ${te.pairs.adjacent} adjacent paragraphs, ${te.pairs.crop} crops, ` +
      `${te.pairs.keywords} keyword queries: the held-out pages' descriptions enter only without their summaries) in ${te.training.seconds.toFixed(0)} s; ` +
      `loss ${te.training.firstLoss.toFixed(3)} -> ${te.training.lastLoss.toFixed(3)}` +
      (te.before && te.after ? `, held-out pair top-1 ${pct(te.before.top1)} -> ${pct(te.after.top1)} (${te.pairs.heldout} pairs)` : "") +
      ".",
    "",
    `Fusion chosen on the ${dev.length} dev questions (best recall@5, then MRR@10), with the trained embedder:`,
    "",
    "| fusion (dev) | recall@5 | MRR@10 |",
    "| --- | ---: | ---: |",
    `| BM25 alone | ${fmt(devBm25)} |`,
    ...devRows.map((r) => `| ${describeFusion(r.f)}${r === bestRrf || r === bestScore ? " (best of its kind)" : ""}${r === chosen ? " **chosen**" : ""} | ${fmt(r.s)} |`),
    "",
    `Test questions (${test.length}):`,
    "",
    "| search | embeddings | recall@5 | MRR@10 | ms / query |",
    "| --- | --- | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.m} | ${r.e} | ${fmt(r.s)} | ${r.s.ms.toFixed(1)} |`),
    "",
    `${beats ? "**Hybrid search beats BM25 alone**" : "**Hybrid search does not beat BM25 alone**"} with the dev-chosen fusion (${describeFusion(chosen.f)}): recall@5 ${pct(hyb.s.r5)} against ${pct(bm.r5)}, ` +
      `MRR@10 ${hyb.s.mrr.toFixed(3)} against ${bm.mrr.toFixed(3)}; question by question it answers ${d.won} within 5 that BM25 does not and misses ${d.lost} that BM25 answers ` +
      `(two-sided sign test: p = ${p < 1e-4 ? p.toExponential(1) : p.toFixed(4)}). The trained embedder alone: recall@5 ${pct(vec.r5)}. ` +
      `Hybrid search's default fusion (\`kb search\`, RAG), ${describeFusion(DEFAULT_FUSION)}${JSON.stringify(DEFAULT_FUSION) === JSON.stringify(chosen.f) ? ", the dev split's choice" : ""}: ` +
      `recall@5 ${pct(dflt.r5)}, ${dd.won} won and ${dd.lost} lost against BM25 (p = ${signTestP(dd.won, dd.lost).toFixed(4)}).`,
    "",
    `Adding the pages (read, chunk, embed, store): ${kbs.trained.addSeconds.toFixed(1)} s for ${kbs.trained.chunks} chunks with the trained embedder.`,
  ];
  const text = `${lines.join("\n")}\n`;
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, text);
  process.stdout.write(text);
} finally {
  if (WORK === undefined) rmSync(work, { recursive: true, force: true });
}
