// The `dedup` step: exact (hash of the word sequence) and near-duplicate (MinHash + LSH) removal, shard by shard.
// Pass 1 (main + worker threads) writes per-shard key, signature and id files; pass 2 (main thread, in input
// order) goes band by band, joining equal band keys into clusters (union-find, verified on the estimated Jaccard)
// and writes audit/duplicates.jsonl (every removed id -> the kept id); pass 3 (main + worker threads) streams the
// shards again and keeps the first document of each cluster. No text is held in memory: per document only its
// keys. Which copy is kept and the output order depend on the input order only, never on worker count or timing.
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { Progress } from "../../io/progress.js";
import { JsonlWriter } from "../../io/jsonl.js";
import { type StepOutput, withStepOutput } from "../../io/stepOutput.js";
import { defaultWorkerCount, runOnPool, siblingModule, startTaskPool, type TaskPool } from "../../io/workerPool.js";
import { finishStep, listShards, shardPath, type StepResult } from "../shards.js";
import { DataStats, type DataStatsJson } from "../stats.js";
import { DataConfigError, type OnErrorPolicy } from "../types.js";
import { estimateJaccard, lshThreshold, minhashIsNative, numPerm, type MinHashParams } from "./minhash.js";
import { type DedupSignTask, type DedupTask, type DedupWriteTask, runDedupTask, type SignResult } from "./shardTasks.js";

export { type DedupSignTask, type DedupTask, type DedupWriteTask, runDedupTask, type SignResult, signShard, writeShard } from "./shardTasks.js";

/**
 * The audit file, relative to the step folder: one line per removed document, `{id, kept, reason,
 * estimated_jaccard}`. In a subfolder because a folder given as the next step's input is read as its .jsonl shards.
 */
export const AUDIT_FILE = "audit/duplicates.jsonl";

export const dedupConfigSchema = z
  .object({
    exact: z.boolean().default(true),
    minhash: z
      .object({
        enabled: z.boolean().default(true),
        ngram: z.number().int().positive().default(5),
        /**
         * 16 bands × 7 rows, verified at estimated Jaccard ≥ 0.7: chosen from the recall/precision sweep on the
         * near-duplicate holdout (bench/dedupCurve.bench.ts, 5 MinHash seeds): pairs of true Jaccard 0.80-0.85 are
         * found 99.4% of the time (worst seed 99.0%; all pairs ≥ 0.8: 99.7%), no hard negative (shared template or
         * paragraph, true Jaccard ≤ 0.6) removed. The old 14×9 at ≥ 0.8 found 71% of the 0.80-0.85 pairs: an
         * estimate of a pair at 0.8 falls below 0.8 half the time. Theory (S-curve alone): 0.977 at 0.80.
         */
        bands: z.number().int().positive().default(16),
        rows: z.number().int().positive().default(7),
        /** Candidates are joined only if their estimated Jaccard is at least this (null: every LSH candidate). */
        threshold: z.number().min(0).max(1).nullable().default(0.7),
        seed: z.number().int().default(1),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type DedupConfig = z.infer<typeof dedupConfigSchema>;
export type DedupConfigInput = z.input<typeof dedupConfigSchema>;

export function parseDedupConfig(input: unknown): DedupConfig {
  const r = dedupConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new DataConfigError(`invalid dedup config: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

const DEDUP_WORKER = siblingModule(import.meta.url, "dedupWorker");

/** Threads started on dedupWorker; the main thread is one more lane, and one pool serves both parallel passes. */
type DedupPool = TaskPool<DedupTask>;

/** Union-find over document indices where the root is always the smallest index (the first occurrence). */
export class MinRootUnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[x] !== r) {
      const n = this.parent[x];
      this.parent[x] = r;
      x = n;
    }
    return r;
  }
  union(a: number, b: number): boolean {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return false;
    if (ra < rb) this.parent[rb] = ra;
    else this.parent[ra] = rb;
    return true;
  }
}

/** Options for {@link runDedup}. */
export interface DedupRunOptions {
  inputs: string[];
  outDir: string;
  workers?: number;
  onError?: OnErrorPolicy;
  progress?: boolean;
  /** Replace a non-empty output folder that is not an earlier dedup output. */
  overwrite?: boolean;
}

/** Removes exact and near duplicates across all input shards, keeping the first document of each cluster. */
export async function runDedup(configInput: DedupConfigInput, o: DedupRunOptions): Promise<StepResult> {
  const cfg = parseDedupConfig(configInput);
  const inputs = listShards(o.inputs);
  return withStepOutput(o.outDir, { command: "data dedup", step: "dedup", inputs: o.inputs, overwrite: o.overwrite }, async (out) => {
    // `workers` lanes: the main thread and workers - 1 worker threads
    const workers = Math.min(o.workers ?? defaultWorkerCount(), inputs.length);
    const pool: DedupPool | null = workers > 1 ? startTaskPool<DedupTask>(DEDUP_WORKER, workers - 1) : null;
    try {
      return await dedupInto(cfg, inputs, out, o, pool);
    } finally {
      await pool?.close();
    }
  });
}

async function dedupInto(cfg: DedupConfig, inputs: string[], out: StepOutput, o: DedupRunOptions, pool: DedupPool | null): Promise<StepResult> {
  const t0 = performance.now();
  const mh = cfg.minhash;
  const params: MinHashParams = { ngram: mh.ngram, bands: mh.bands, rows: mh.rows, seed: mh.seed };
  const P = numPerm(params);
  const work = join(out.dir, ".dedup-work");
  mkdirSync(work, { recursive: true });
  const onError = o.onError ?? "skip";
  const tasks: DedupSignTask[] = inputs.map((input, i) => ({
    kind: "sign",
    input,
    keysFile: join(work, `keys-${i}.f64`),
    sigFile: join(work, `sig-${i}.u32`),
    idsFile: join(work, `ids-${i}.txt`),
    params,
    onError,
  }));
  // pass 1: keys and signatures (parallel, one task per shard; results in shard order whatever the timing)
  const p1 = new Progress("dedup: minhash", { unit: "shards", total: tasks.length, enabled: o.progress ?? true });
  const signed = (await runOnPool(pool, tasks, runDedupTask, () => p1.tick(1))) as SignResult[];
  p1.finish();
  const offsets: number[] = [];
  let total = 0;
  for (const s of signed) {
    offsets.push(total);
    total += s.docs;
  }
  // pass 2 (this thread, in global document order, so the clusters and the kept copy never depend on timing)
  const uf = new MinRootUnionFind(total);
  const reason = new Uint8Array(total); // 1 = exact duplicate, 2 = near duplicate
  const cols = mh.bands + 1;
  // all keys in memory: 8 × (bands + 1) bytes per document, less than the band's bucket map holds anyway
  const keyFiles = tasks.map((t) => {
    const raw = readFileSync(t.keysFile);
    if (raw.byteOffset % 8 === 0) return new Float64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8);
    return new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  });
  // signatures are read back on demand for verification (bounded memory)
  const sigFds = tasks.map((t) => openSync(t.sigFile, "r"));
  const shardOf = (g: number) => {
    let lo = 0;
    let hi = offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (offsets[mid] <= g) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const readSig = (g: number): Uint32Array => {
    const s = shardOf(g);
    const buf = new Uint32Array(P);
    readSync(sigFds[s], new Uint8Array(buf.buffer), 0, P * 4, (g - offsets[s]) * P * 4);
    return buf;
  };
  let exactDups = 0;
  let nearPairs = 0;
  let candidates = 0;
  let writeTasks: DedupWriteTask[] = [];
  try {
    if (cfg.exact) {
      const seen = new Map<number, number>();
      for (let s = 0; s < inputs.length; s++) {
        const keys = keyFiles[s];
        for (let d = 0; d < signed[s].docs; d++) {
          const g = offsets[s] + d;
          const k = keys[d * cols];
          const first = seen.get(k);
          if (first === undefined) seen.set(k, g);
          else if (uf.union(first, g)) {
            reason[g] = 1;
            exactDups++;
          }
        }
      }
    }
    if (mh.enabled) {
      const p2 = new Progress("dedup: lsh bands", { unit: "bands", total: mh.bands, enabled: o.progress ?? true });
      for (let b = 0; b < mh.bands; b++) {
        const buckets = new Map<number, number[]>();
        for (let s = 0; s < inputs.length; s++) {
          const keys = keyFiles[s];
          for (let d = 0; d < signed[s].docs; d++) {
            const g = offsets[s] + d;
            const key = keys[d * cols + 1 + b];
            const members = buckets.get(key);
            if (!members) {
              buckets.set(key, [g]);
              continue;
            }
            candidates++;
            if (uf.find(members[0]) === uf.find(g)) continue;
            let joined = false;
            if (mh.threshold === null) joined = uf.union(members[0], g);
            else {
              const sg = readSig(g);
              // compare with up to 8 earlier members of the bucket; join the first close enough
              for (const m of members) {
                if (estimateJaccard(readSig(m), sg) >= mh.threshold) {
                  joined = uf.union(m, g);
                  break;
                }
              }
            }
            if (joined) {
              nearPairs++;
              if (reason[g] === 0) reason[g] = 2;
            }
            if (members.length < 8) members.push(g);
          }
        }
        p2.tick(1);
      }
      p2.finish();
    }
    // decisions per document, the audit and pass 3
    const size = new Int32Array(total);
    for (let g = 0; g < total; g++) size[uf.find(g)]++;
    // ids of the kept first documents of clusters (only those: bounded by the number of clusters)
    const ids = (s: number): string[] => {
      const text = readFileSync(tasks[s].idsFile, "utf8");
      return text === "" ? [] : text.slice(0, -1).split("\n");
    };
    const rootIds = new Map<number, string>();
    for (let s = 0; s < inputs.length; s++) {
      const shardIds = ids(s);
      for (let d = 0; d < shardIds.length; d++) {
        const g = offsets[s] + d;
        if (uf.find(g) === g && size[g] > 1) rootIds.set(g, JSON.parse(shardIds[d]) as string);
      }
    }
    // duplicates.jsonl: every removed id -> the kept id, in input order (the same bytes whatever the worker count)
    const audit = new JsonlWriter(join(out.dir, AUDIT_FILE));
    const writes: DedupWriteTask[] = [];
    try {
      for (let s = 0; s < inputs.length; s++) {
        const shardIds = ids(s);
        const decision = new Uint8Array(signed[s].docs);
        const duplicates: number[] = [];
        const keptIds: string[] = [];
        for (let d = 0; d < decision.length; d++) {
          const g = offsets[s] + d;
          const root = uf.find(g);
          if (root === g) {
            if (size[g] > 1) {
              decision[d] = 1;
              duplicates.push(size[g] - 1);
            }
            continue;
          }
          const exact = reason[g] === 1;
          decision[d] = exact ? 2 : 3;
          const kept = rootIds.get(root) as string;
          keptIds.push(kept);
          // the estimate against the kept copy (the join may have gone through another member of the cluster); an
          // exact duplicate has the same words, so the same signature
          const est = exact ? 1 : estimateJaccard(readSig(g), readSig(root));
          audit.write({ id: JSON.parse(shardIds[d]) as string, kept, reason: exact ? "exact" : "near", estimated_jaccard: Number(est.toFixed(4)) });
        }
        writes.push({ kind: "dedup-write", input: inputs[s], output: shardPath(out.dir, s), onError, decision, duplicates, keptIds });
      }
      audit.close();
    } catch (err) {
      audit.abort();
      throw err;
    }
    writeTasks = writes;
  } finally {
    for (const fd of sigFds) closeSync(fd);
  }
  // pass 3: stream the shards again and write the kept documents (parallel; stats merged in shard order)
  const p3 = new Progress("dedup: write", { unit: "shards", total: inputs.length, enabled: o.progress ?? true });
  const shardStats = (await runOnPool(pool, writeTasks, runDedupTask, () => p3.tick(1))) as DataStatsJson[];
  p3.finish();
  const stats = new DataStats("dedup");
  for (const j of shardStats) stats.merge(j);
  rmSync(work, { recursive: true, force: true });
  stats.seconds = (performance.now() - t0) / 1000;
  stats.extra = {
    bands: mh.bands,
    rows: mh.rows,
    lsh_threshold: Number(lshThreshold(mh.bands, mh.rows).toFixed(4)),
    verify_threshold: mh.threshold === null ? "none" : mh.threshold,
    exact_duplicates: exactDups,
    near_duplicate_joins: nearPairs,
    lsh_candidates: candidates,
    clusters_with_duplicates: writeTasks.reduce((n, t) => n + t.duplicates.length, 0),
    signatures: minhashIsNative ? "native" : "typescript",
    audit: `${AUDIT_FILE} (removed id -> kept id, reason, estimated Jaccard)`,
  };
  return finishStep(out, stats, writeTasks.map((t) => t.output));
}
