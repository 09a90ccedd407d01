// `trainTokenizer`: the whole training stage as one call (count on all cores, learn merges,
// write DIR/tokenizer.json and DIR/train_report.json), shared by the CLI and the pipeline.
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { Progress } from "../io/progress.js";
import { InputRejects } from "../io/textInput.js";
import { assertFinishedInputs } from "../io/stepOutput.js";
import { countCorpus } from "./corpusCount.js";
import { EmptyCorpusError } from "./errors.js";
import { Tokenizer } from "./tokenizer.js";
import { resolveTrainOptions, type TokenizerTrainOptions } from "./trainOptions.js";

export interface TrainTokenizerOptions extends TokenizerTrainOptions {
  /** Directory for tokenizer.json and train_report.json (omit to keep the result in memory only). */
  outDir?: string;
  /** Worker threads for counting (default: all cores). */
  workers?: number;
  /** JSONL text field (default "text"). */
  field?: string;
  /** Every n-th document is held out to measure bytes per token (default 100; 0 = none). */
  holdoutEvery?: number;
  /** Print progress lines to stderr (default false). */
  progress?: boolean;
  /** Bad input files and lines (binary, UTF-16, invalid UTF-8, malformed JSONL): skip and count (default) or stop. */
  onError?: "skip" | "fail";
  /** JSONL lines longer than this are skipped unread (default 64 MiB). */
  maxLineBytes?: number;
}

/** What `trainTokenizer` reports (also written to DIR/train_report.json). */
export interface TokenizerTrainReport {
  format: "llmforge-tokenizer-train-report";
  version: 1;
  inputs: string[];
  vocabSize: number;
  requestedVocabSize: number;
  merges: number;
  specialTokens: string[];
  pattern: string;
  documents: number;
  trainBytes: number;
  uniquePretokens: number;
  heldOutDocuments: number;
  heldOutBytes: number;
  /** UTF-8 bytes per token on the held-out sample (on training text if nothing was held out). */
  bytesPerToken: number;
  bytesPerTokenOn: "held-out" | "training-sample";
  seconds: { count: number; merge: number; total: number };
  /** Training bytes per second over the whole run, in MB/s. */
  throughputMBps: number;
  /** Skipped input, by reason: count and the first file:line. */
  skipped: Record<string, { count: number; example: string }>;
}

export interface TrainTokenizerResult {
  tokenizer: Tokenizer;
  report: TokenizerTrainReport;
  tokenizerPath?: string;
  reportPath?: string;
}

/** Trains a byte-level BPE tokenizer on JSONL/text files and (with `outDir`) writes it out. */
export async function trainTokenizer(files: readonly string[], options: TrainTokenizerOptions): Promise<TrainTokenizerResult> {
  const { pattern, numMerges, specials } = resolveTrainOptions(options);
  if (files.length === 0) throw new EmptyCorpusError("no input files given: pass JSONL or text files to train on");
  assertFinishedInputs(files); // not the shards of a data step that was killed or still runs
  const t0 = performance.now();
  const readProgress = new Progress("tokenizer train: reading", { unit: "MB", enabled: options.progress ?? false });
  let lastMB = 0;
  const rejects = new InputRejects();
  const corpus = await countCorpus(files, {
    onError: options.onError ?? "skip",
    rejects,
    maxLineBytes: options.maxLineBytes,
    pattern,
    workers: options.workers,
    field: options.field,
    holdoutEvery: options.holdoutEvery,
    onBytes: (b) => {
      const mb = Math.floor(b / 1e6);
      if (mb > lastMB) readProgress.tick(mb - lastMB);
      lastMB = mb;
    },
  });
  readProgress.finish(`${corpus.counts.size} unique pre-tokens`);
  let hasText = false;
  for (const k of corpus.counts.keys()) {
    if (/\S/u.test(k)) {
      hasText = true;
      break;
    }
  }
  if (!hasText) {
    throw new EmptyCorpusError(`the training corpus is empty: ${files.join(", ")} hold no text, only whitespace or nothing (JSONL needs a non-empty "${options.field ?? "text"}" field)${rejects.total > 0 ? `\n${rejects.summary()}` : ""}`);
  }
  const t1 = performance.now();
  const mergeProgress = new Progress("tokenizer train: merges", { unit: "merges", total: numMerges, enabled: options.progress ?? false });
  let lastDone = 0;
  const tokenizer = Tokenizer.fromWordCounts(corpus.counts, {
    ...options,
    pattern,
    onMergeProgress: (done) => {
      mergeProgress.tick(done - lastDone);
      lastDone = done;
      options.onMergeProgress?.(done, numMerges);
    },
  });
  const t2 = performance.now();
  const merges = tokenizer.spec.merges.length / 3;
  mergeProgress.tick(merges - lastDone);
  mergeProgress.finish();
  // Bytes per token on text the merges never saw.
  let evalTexts = corpus.heldOut;
  let on: TokenizerTrainReport["bytesPerTokenOn"] = "held-out";
  if (evalTexts.length === 0) {
    on = "training-sample";
    evalTexts = corpus.sample;
  }
  let evalBytes = 0;
  let evalTokens = 0;
  for (const t of evalTexts) {
    evalBytes += Buffer.byteLength(t, "utf8");
    evalTokens += tokenizer.encode(t).length;
  }
  const total = (performance.now() - t0) / 1000;
  const report: TokenizerTrainReport = {
    format: "llmforge-tokenizer-train-report",
    version: 1,
    inputs: [...files],
    vocabSize: tokenizer.vocabSize,
    requestedVocabSize: options.vocabSize,
    merges,
    specialTokens: specials,
    pattern,
    documents: corpus.documents,
    trainBytes: corpus.bytes,
    uniquePretokens: corpus.counts.size,
    heldOutDocuments: corpus.heldOut.length,
    heldOutBytes: corpus.heldOutBytes,
    bytesPerToken: evalTokens > 0 ? evalBytes / evalTokens : 0,
    bytesPerTokenOn: on,
    seconds: { count: (t1 - t0) / 1000, merge: (t2 - t1) / 1000, total },
    throughputMBps: corpus.bytes / 1e6 / Math.max(1e-9, (t2 - t0) / 1000),
    skipped: rejects.toJSON(),
  };
  const result: TrainTokenizerResult = { tokenizer, report };
  if (options.outDir) {
    result.tokenizerPath = join(options.outDir, "tokenizer.json");
    result.reportPath = join(options.outDir, "train_report.json");
    writeFileAtomicSync(result.tokenizerPath, tokenizer.toHuggingFaceJson());
    writeFileAtomicSync(result.reportPath, `${JSON.stringify(report, null, 2)}\n`);
  }
  return result;
}

/** A short human-readable summary of a training report. */
export function formatTrainReport(r: TokenizerTrainReport): string {
  const lines = [
    `vocab size        ${r.vocabSize} (${r.merges} merges + 256 bytes + ${r.specialTokens.length} special)${r.vocabSize < r.requestedVocabSize ? `; asked for ${r.requestedVocabSize}, the corpus ran out of pairs` : ""}`,
    `corpus            ${r.documents} documents, ${(r.trainBytes / 1e6).toFixed(2)} MB trained on, ${r.uniquePretokens} unique pre-tokens`,
    `bytes per token   ${r.bytesPerToken.toFixed(3)} on ${r.bytesPerTokenOn === "held-out" ? `${r.heldOutDocuments} held-out documents (${(r.heldOutBytes / 1e6).toFixed(2)} MB)` : "a training sample (nothing held out)"}`,
    `time              ${r.seconds.total.toFixed(2)} s (count ${r.seconds.count.toFixed(2)} s, merges ${r.seconds.merge.toFixed(2)} s)`,
    `throughput        ${r.throughputMBps.toFixed(2)} MB/s`,
    ...Object.entries(r.skipped ?? {}).map(([reason, e]) => `skipped           ${e.count} × ${reason} (e.g. ${e.example})`),
  ];
  return lines.join("\n");
}
