// The first step of training: stream the corpus, pre-tokenise, and count pre-tokens in a hash
// map, on all cores (worker threads each count a share; the maps are summed at the end).
import { statSync } from "node:fs";
import { type CorpusReadOptions, readCorpus } from "./corpus.js";
import { compilePretokenizer, countPretokens } from "./pretokenize.js";
import { defaultWorkerCount, TokenizerWorkerPool } from "./workerPool.js";

export interface CountCorpusOptions extends CorpusReadOptions {
  /** Pre-tokenisation pattern. */
  pattern: string;
  /** Worker threads (default: all cores for inputs over 16 MB, else 1 = the calling thread). */
  workers?: number;
  /** Every n-th document is held out of training for evaluation (default 100; 0 = none). */
  holdoutEvery?: number;
  /** Stop holding out once this many bytes are held out (default 2 MB). */
  holdoutMaxBytes?: number;
  /** Called with bytes read so far. */
  onBytes?: (bytes: number) => void;
}

export interface CorpusCounts {
  counts: Map<string, number>;
  /** Documents held out of training (for bytes-per-token). */
  heldOut: string[];
  documents: number;
  /** UTF-8 bytes counted (held-out text excluded). */
  bytes: number;
  heldOutBytes: number;
  /** The first ~1 MB of training text, for evaluation when nothing is held out. */
  sample: string[];
}

const BATCH_CHARS = 1 << 20;

/** All cores for inputs over 16 MB; below that, starting threads costs more than it saves. */
export function autoWorkers(files: readonly string[]): number {
  let size = 0;
  for (const f of files) {
    try {
      size += statSync(f).size;
    } catch {
      // A missing file is reported by the reader with its name.
    }
  }
  return size > 16e6 ? defaultWorkerCount() : 1;
}

/** Counts pre-tokens over `files` (JSONL or text). */
export async function countCorpus(files: readonly string[], options: CountCorpusOptions): Promise<CorpusCounts> {
  const workers = Math.max(1, Math.floor(options.workers ?? autoWorkers(files)));
  const every = options.holdoutEvery ?? 100;
  const maxHeld = options.holdoutMaxBytes ?? 2_000_000;
  const heldOut: string[] = [];
  let heldOutBytes = 0;
  const sample: string[] = [];
  let sampleChars = 0;
  let documents = 0;
  let bytes = 0;
  let counts = new Map<string, number>();
  const re = compilePretokenizer(options.pattern);
  const pool = workers > 1 ? new TokenizerWorkerPool(workers) : null;
  const inFlight: Promise<unknown>[] = [];
  let batch: string[] = [];
  let batchChars = 0;
  let seq = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    if (pool) {
      let i = pool.leastBusy();
      while (pool.inFlight(i) >= 2) {
        await Promise.race(inFlight);
        i = pool.leastBusy();
      }
      const p = pool.request(i, { kind: "count", seq: seq++, texts: batch });
      inFlight.push(p);
      p.then(
        () => inFlight.splice(inFlight.indexOf(p), 1),
        () => undefined,
      );
    } else {
      for (const t of batch) countPretokens(re, t, counts);
    }
    batch = [];
    batchChars = 0;
  };
  try {
    if (pool) pool.broadcast({ kind: "count-init", pattern: options.pattern });
    for await (const doc of readCorpus(files, options)) {
      if (!doc.continues) documents++;
      const size = Buffer.byteLength(doc.text, "utf8");
      if (every > 0 && !doc.continues && documents % every === 0 && heldOutBytes < maxHeld) {
        heldOut.push(doc.text);
        heldOutBytes += size;
        continue;
      }
      bytes += size;
      if (sampleChars < 1_000_000) {
        sample.push(doc.text.slice(0, 1_000_000));
        sampleChars += Math.min(doc.text.length, 1_000_000);
      }
      batch.push(doc.text);
      batchChars += doc.text.length;
      if (batchChars >= BATCH_CHARS) {
        await flush();
        options.onBytes?.(bytes);
      }
    }
    await flush();
    if (pool) {
      await Promise.all(inFlight);
      for (let i = 0; i < pool.size; i++) {
        const reply = await pool.request(i, { kind: "count-finish" });
        if (reply.kind !== "counts") continue;
        if (counts.size === 0) {
          counts = reply.counts;
          continue;
        }
        for (const [k, v] of reply.counts) counts.set(k, (counts.get(k) ?? 0) + v);
      }
    }
  } finally {
    await pool?.close();
  }
  options.onBytes?.(bytes);
  return { counts, heldOut, documents, bytes, heldOutBytes, sample };
}
