// The dedup step's per-shard work, run on worker threads (dedupWorker.ts) or in the main thread: pass 1 computes a
// shard's keys, MinHash signatures and ids into scratch files; pass 3 writes a shard's kept documents. Apart from
// index.ts so that a worker loads only what these need (no config schema, no step-folder code): a quicker start.
import { writeFileSync } from "node:fs";
import { JsonlWriter } from "../../io/jsonl.js";
import { readDocs } from "../shards.js";
import { DataStats, type DataStatsJson } from "../stats.js";
import type { OnErrorPolicy } from "../types.js";
import { bandKey, exactKeyOf, minhashSignature, numPerm, type MinHashParams } from "./minhash.js";

/** Pass-1 work for one shard: keys file = per doc [exact, band_0 .. band_{b-1}] as float64; sig file = per doc uint32[bands*rows]; ids file = one JSON string per line. */
export interface DedupSignTask {
  kind: "sign";
  input: string;
  keysFile: string;
  sigFile: string;
  idsFile: string;
  params: MinHashParams;
  onError: OnErrorPolicy;
}

/** Pass-3 work for one shard: write the kept documents, count the removed ones (decided by the main thread). */
export interface DedupWriteTask {
  kind: "dedup-write";
  input: string;
  output: string;
  onError: OnErrorPolicy;
  /** Per document: 0 = kept, 1 = kept, first of a cluster, 2 = exact duplicate, 3 = near duplicate. */
  decision: Uint8Array;
  /** Per kept first document (decision 1), in order: how many duplicates it stands for. */
  duplicates: number[];
  /** Per removed document (decision 2 or 3), in order: the id of the kept copy. */
  keptIds: string[];
}

/** The dedup step's worker-thread tasks. */
export type DedupTask = DedupSignTask | DedupWriteTask;

export interface SignResult {
  docs: number;
  bytes: number;
}

/** Runs a dedup task on this thread (a dedupWorker's, or the main one with one worker). */
export function runDedupTask(t: DedupTask): Promise<SignResult | DataStatsJson> {
  return t.kind === "sign" ? signShard(t) : writeShard(t);
}

/** Computes the keys, signatures and ids of one shard (runs on a worker thread). */
export async function signShard(t: DedupSignTask): Promise<SignResult> {
  const { bands, rows } = t.params;
  const P = numPerm(t.params);
  const cols = bands + 1;
  let keys = new Float64Array(cols * 256);
  let sigs = new Uint32Array(P * 256);
  const ids: string[] = [];
  const exact = new Uint32Array(2);
  let n = 0;
  let bytes = 0;
  for await (const { doc, bytes: b } of readDocs(t.input, new DataStats("sign"), t.onError)) {
    bytes += b;
    if ((n + 1) * P > sigs.length) {
      const s2 = new Uint32Array(sigs.length * 2);
      s2.set(sigs);
      sigs = s2;
      const k2 = new Float64Array(keys.length * 2);
      k2.set(keys);
      keys = k2;
    }
    const sig = minhashSignature(doc.text, t.params, sigs.subarray(n * P, (n + 1) * P), exact);
    keys[n * cols] = exactKeyOf(exact);
    for (let k = 0; k < bands; k++) keys[n * cols + 1 + k] = bandKey(sig, k, rows);
    ids.push(JSON.stringify(doc.id));
    n++;
  }
  // scratch files of this run only (removed at its end, never resumed from): no fsync, no atomic rename
  writeFileSync(t.keysFile, new Uint8Array(keys.buffer, 0, n * cols * 8));
  writeFileSync(t.sigFile, new Uint8Array(sigs.buffer, 0, n * P * 4));
  writeFileSync(t.idsFile, ids.length ? `${ids.join("\n")}\n` : "");
  return { docs: n, bytes };
}

/** Writes the kept documents of one shard (runs on a worker thread); returns the shard's stats. */
export async function writeShard(t: DedupWriteTask): Promise<DataStatsJson> {
  const stats = new DataStats("dedup");
  const w = new JsonlWriter(t.output);
  let d = 0;
  let firsts = 0;
  let removed = 0;
  try {
    for await (const { doc, bytes } of readDocs(t.input, stats, t.onError)) {
      const what = t.decision[d++];
      stats.input(bytes, doc.source);
      if (what === 0) {
        stats.output(bytes, doc.source);
        w.write(doc);
      } else if (what === 1) {
        stats.output(bytes, doc.source);
        w.write({ ...doc, meta: { ...doc.meta, duplicates: t.duplicates[firsts++] } });
      } else {
        const rule = what === 2 ? "dedup.exact" : "dedup.near_duplicate";
        stats.remove(rule, bytes, doc.id, doc.text, `duplicate of ${t.keptIds[removed++]}`, doc.source);
      }
    }
    w.close();
  } catch (err) {
    w.abort();
    throw err;
  }
  return stats.toJSON();
}
