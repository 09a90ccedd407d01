// `llmforge kb add|remove|search|stats|train-embedder`: knowledge bases (SQLite + FTS5 + embeddings) for retrieval.
// Thin shells over kb/.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { addToKb } from "../kb/build.js";
import { Embedder, POOLINGS } from "../kb/embed.js";
import { listKbFiles } from "../kb/read.js";
import { describeFusion, DEFAULT_FUSION, KbSearcher, parseFusion, type SearchMode, searchable } from "../kb/search.js";
import { KbError, KnowledgeBase } from "../kb/store.js";
import { trainEmbedder } from "../kb/trainEmbedder.js";
import {
  abortOnSignals, addLoopOptions, fractionOption, loopRunOptions, nonNegativeIntOption, oneOf, positiveIntOption as int, positiveNumberOption, reportInterrupted,
} from "./options.js";

/** The embedder to search with: --embedder, else the folder the knowledge base recorded (if it is still there). */
function searchEmbedder(kb: KnowledgeBase, flag: string | undefined, mode: SearchMode): Embedder | null {
  if (mode === "bm25") return null;
  const path = flag ?? kb.settings.embedder?.path;
  if (!kb.settings.embedder) throw new KbError(`${kb.path} has no embeddings (built without --embedder): use --mode bm25`);
  if (!path || !existsSync(path)) throw new KbError(`the embedder ${kb.settings.embedder.id} that built ${kb.path} is not at ${path ?? "(unknown)"}; pass --embedder with it`);
  return Embedder.load(path);
}

export function registerKbCommands(program: Command): void {
  const kb = program.command("kb").description("knowledge bases: add documents, search them (BM25, vector, hybrid), train an embedder");

  kb.command("add")
    .description("add files or folders (txt, md, html, jsonl, email, code; gzip) to a knowledge base, creating it if needed; changed files are replaced, unchanged ones skipped")
    .requiredOption("--kb <file>", "knowledge base (SQLite file)")
    .option("--embedder <run>", "model folder whose embeddings are stored (fixed when the knowledge base is created; none = BM25 only)")
    .option("--chunk-tokens <n>", "chunk size in tokens when creating (default 256, at most the embedder's context)", int)
    .option("--overlap <n>", "tokens of overlap between chunks when creating (default chunk size / 8)", (v: string) => Number.parseInt(v, 10))
    .option("--quiet", "no per-file lines")
    .argument("<files...>")
    .action(async (files: string[], o) => {
      const s = await addToKb({
        kb: o.kb, files, embedder: o.embedder, chunkTokens: o.chunkTokens, overlapTokens: o.overlap,
        onFile: o.quiet ? undefined : (p, r) => process.stderr.write(`${r}: ${p}\n`),
      });
      for (const f of s.failed) process.stderr.write(`unreadable: ${f.path}: ${f.reason}\n`);
      console.log(`${o.kb}: ${s.added} added, ${s.replaced} replaced, ${s.unchanged} unchanged, ${s.failed.length} unreadable; ${s.chunks} chunks written`);
      if (s.failed.length > 0 && s.added + s.replaced + s.unchanged === 0) process.exitCode = 1;
    });

  kb.command("remove")
    .description("remove documents (by the paths they were added from) and their chunks")
    .requiredOption("--kb <file>", "knowledge base")
    .argument("<files...>")
    .action((files: string[], o) => {
      const base = KnowledgeBase.open(o.kb);
      try {
        let removed = 0;
        const paths = files.flatMap((f) => (existsSync(f) ? listKbFiles([f]).files : [resolve(f)]));
        for (const p of paths) {
          if (base.removeDocument(p)) removed++;
          else process.stderr.write(`not in the knowledge base: ${p}\n`);
        }
        console.log(`${o.kb}: ${removed} documents removed`);
      } finally {
        base.close();
      }
    });

  kb.command("search")
    .description("search a knowledge base: BM25, vector (the embedder that built it) or hybrid (a fusion of both lists)")
    .requiredOption("--kb <file>", "knowledge base")
    .option("-k, --k <n>", "results", int, 5)
    .option("--mode <m>", "bm25 | vector | hybrid (default: hybrid with embeddings, else bm25)", oneOf(["bm25", "vector", "hybrid"]))
    .option("--embedder <run>", "the embedder (default: where the knowledge base recorded it)")
    .option("--fusion <f>", `hybrid: rrf (plain reciprocal rank fusion), rrf:W (vector list weight W, BM25 1) or score:A (normalised scores, cosine share A) (default: ${describeFusion(DEFAULT_FUSION)})`, parseFusion)
    .option("--json", "one JSON array of results")
    .argument("<query>")
    .action((query: string, o) => {
      if (!searchable(query)) throw new KbError(`the query ${JSON.stringify(query)} has no letter or digit to search for`);
      const base = KnowledgeBase.open(o.kb, { readonly: true });
      try {
        const mode: SearchMode = o.mode ?? (base.settings.embedder ? "hybrid" : "bm25");
        const searcher = new KbSearcher(base, searchEmbedder(base, o.embedder, mode));
        const hits = searcher.search(query, { k: o.k, mode, fusion: o.fusion });
        if (o.json) {
          console.log(JSON.stringify(hits.map(({ docId: _d, ...h }) => h), null, 2));
          return;
        }
        if (hits.length === 0) console.log("no results");
        for (const h of hits) {
          const extra = [h.bm25 !== undefined ? `bm25 ${h.bm25.toFixed(2)}` : "", h.cosine !== undefined ? `cosine ${h.cosine.toFixed(3)}` : ""].filter(Boolean).join(", ");
          console.log(`[${h.rank}] ${h.path} (characters ${h.start}-${h.end}) score ${h.score.toFixed(4)}${extra ? ` (${extra})` : ""}`);
          console.log(`    ${h.text.replace(/\s+/g, " ").slice(0, 300)}`);
        }
      } finally {
        base.close();
      }
    });

  kb.command("stats")
    .description("documents, chunks, embeddings and settings of a knowledge base")
    .requiredOption("--kb <file>", "knowledge base")
    .option("--json", "as JSON")
    .action((o) => {
      const base = KnowledgeBase.open(o.kb, { readonly: true });
      try {
        const s = base.stats();
        if (o.json) console.log(JSON.stringify({ ...s, files: base.documents() }, null, 2));
        else {
          console.log(`${o.kb}: ${s.documents} documents, ${s.chunks} chunks (${s.tokens} tokens), ${s.embeddings} embeddings, ${(s.fileBytes / 1048576).toFixed(1)} MiB`);
          console.log(`embedder: ${s.settings.embedder ? `${s.settings.embedder.id} (${s.settings.embedder.dim} dimensions)` : "none (BM25 only)"}; chunks of ${s.settings.chunkTokens} tokens (${s.settings.tokenCounter}), overlap ${s.settings.overlapTokens}`);
        }
      } finally {
        base.close();
      }
    });

  const te = kb
    .command("train-embedder")
    .description("train a model folder into a text embedder: InfoNCE with in-batch and BM25 hard negatives on pairs from the corpus (heading/paragraph, adjacent paragraphs, crops, keyword queries)")
    .requiredOption("--model <run>", "run or model folder to start from")
    .requiredOption("--data <files...>", "files or folders to build pairs from")
    .requiredOption("--out <dir>", "run folder; the embedder is written to OUT/model")
    .option("--batch <n>", "pairs per batch (the other pairs are each pair's negatives)", int, 32)
    .option("--max-tokens <n>", "longest text of a pair in tokens", int, 64)
    .option("--temperature <t>", "InfoNCE temperature", positiveNumberOption, 0.05)
    .option("--val-fraction <f>", "share of pairs held out (at most 256)", fractionOption, 0.05)
    .option("--no-crops", "no (random crop of a paragraph, paragraph) pairs")
    .option("--keyword-queries <n>", "(keyword query: 3-6 content words of a paragraph, paragraph) pairs per paragraph; 0 = none", nonNegativeIntOption, 3)
    .option("--no-hard-negatives", "no BM25 hard negative per pair (the paragraph that best matches the first text without being its partner)")
    .option("--pooling <p>", `how hidden states become the vector: ${POOLINGS.join(" or ")} (position-weighted, as SGPT)`, oneOf(POOLINGS), "mean");
  addLoopOptions(te, { steps: 500, lr: 5e-4, weightDecay: 0, evalEvery: 100, keep: 2 }).action(async (o) => {
    const signal = abortOnSignals();
    const s = await trainEmbedder({
      model: o.model, data: o.data, out: o.out, batchSize: o.batch, maxTokens: o.maxTokens, temperature: o.temperature, valFraction: o.valFraction, crops: o.crops, keywords: o.keywordQueries, hardNegatives: o.hardNegatives, pooling: o.pooling,
      ...loopRunOptions(o, signal),
    });
    if (reportInterrupted(s.training, signal)) return;
    const t = s.training;
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log(
      `trained ${t.steps} steps in ${t.seconds.toFixed(1)} s, loss ${t.firstLoss.toFixed(3)} -> ${t.lastLoss.toFixed(3)}; ` +
        (s.after ? `held-out top-1 ${s.before ? `${pct(s.before.top1)} -> ` : ""}${pct(s.after.top1)}; ` : "") +
        `embedder in ${s.modelDir}`,
    );
  });
}
