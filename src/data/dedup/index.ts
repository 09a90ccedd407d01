// The `dedup` step: exact (normalised-text hash) and near-duplicate (MinHash + LSH) removal, shard by shard.
// Pass 1 (worker threads) writes per-shard key and signature files; pass 2 goes band by band, joining equal
// band keys into clusters (union-find, verified on the estimated Jaccard); pass 3 streams the shards again and
// keeps the first document of each cluster. No text is held in memory: per document only a few integers.
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { Progress } from "../../io/progress.js";
import { writeFileAtomicSync } from "../../io/atomicWrite.js";
import { JsonlWriter } from "../../io/jsonl.js";
import { type StepOutput, withStepOutput } from "../../io/stepOutput.js";
import { defaultWorkerCount } from "../../io/workerPool.js";
import { runWorkerTasks } from "../mapSteps.js";
import { finishStep, listShards, readDocs, shardPath, type StepResult } from "../shards.js";
import { DataStats } from "../stats.js";
import { DataConfigError, type OnErrorPolicy } from "../types.js";
import { bandKey, estimateJaccard, exactKey, lshThreshold, minhashSignature, numPerm, type MinHashParams } from "./minhash.js";

export const dedupConfigSchema = z
  .object({
    exact: z.boolean().default(true),
    minhash: z
      .object({
        enabled: z.boolean().default(true),
        ngram: z.number().int().positive().default(5),
        /** 14 bands × 9 rows: S-curve midpoint (1/14)^(1/9) ≈ 0.75, so pairs at 0.8 are caught with p ≈ 0.93 (0.85: 0.99). */
        bands: z.number().int().positive().default(14),
        rows: z.number().int().positive().default(9),
        /** Candidates are joined only if their estimated Jaccard is at least this (null: every LSH candidate). */
        threshold: z.number().min(0).max(1).nullable().default(0.8),
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

/** Pass-1 work for one shard: keys file = per doc [exact, band_0 .. band_{b-1}] as float64; sig file = per doc uint32[bands*rows]. */
export interface SignTask {
  kind: "sign";
  input: string;
  keysFile: string;
  sigFile: string;
  params: MinHashParams;
  onError: OnErrorPolicy;
}

export interface SignResult {
  docs: number;
  bytes: number;
}

/** Computes the keys and signatures of one shard (runs on a worker thread). */
export async function signShard(t: SignTask): Promise<SignResult> {
  const bands = t.params.bands;
  const keys: number[] = [];
  const sigs: Uint32Array[] = [];
  let bytes = 0;
  for await (const { doc, bytes: b } of readDocs(t.input, new DataStats("sign"), t.onError)) {
    bytes += b;
    const sig = minhashSignature(doc.text, t.params);
    keys.push(exactKey(doc.text));
    for (let k = 0; k < bands; k++) keys.push(bandKey(sig, k, t.params.rows));
    sigs.push(sig);
  }
  const kbuf = Float64Array.from(keys);
  writeFileAtomicSync(t.keysFile, new Uint8Array(kbuf.buffer));
  const sbuf = new Uint32Array(sigs.length * numPerm(t.params));
  sigs.forEach((s, i) => {
    sbuf.set(s, i * s.length);
  });
  writeFileAtomicSync(t.sigFile, new Uint8Array(sbuf.buffer));
  return { docs: sigs.length, bytes };
}

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
  return withStepOutput(o.outDir, { command: "data dedup", step: "dedup", inputs: o.inputs, overwrite: o.overwrite }, (out) => dedupInto(cfg, inputs, out, o));
}

async function dedupInto(cfg: DedupConfig, inputs: string[], out: StepOutput, o: DedupRunOptions): Promise<StepResult> {
  const t0 = performance.now();
  const mh = cfg.minhash;
  const params: MinHashParams = { ngram: mh.ngram, bands: mh.bands, rows: mh.rows, seed: mh.seed };
  const P = numPerm(params);
  const work = join(out.dir, ".dedup-work");
  mkdirSync(work, { recursive: true });
  const onError = o.onError ?? "skip";
  const tasks: SignTask[] = inputs.map((input, i) => ({
    kind: "sign",
    input,
    keysFile: join(work, `keys-${i}.f64`),
    sigFile: join(work, `sig-${i}.u32`),
    params,
    onError,
  }));
  // pass 1: signatures (parallel)
  const p1 = new Progress("dedup: minhash", { unit: "shards", total: tasks.length, enabled: o.progress ?? true });
  const signed = (await runWorkerTasks(tasks, o.workers ?? defaultWorkerCount(), () => p1.tick(1))) as SignResult[];
  p1.finish();
  const offsets: number[] = [];
  let total = 0;
  for (const s of signed) {
    offsets.push(total);
    total += s.docs;
  }
  const uf = new MinRootUnionFind(total);
  const reason = new Uint8Array(total); // 1 = exact duplicate, 2 = near duplicate
  const cols = mh.bands + 1;
  const column = (shard: number, col: number): Float64Array => {
    const raw = readFileSync(tasks[shard].keysFile);
    const all = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const out = new Float64Array(signed[shard].docs);
    for (let d = 0; d < out.length; d++) out[d] = all[d * cols + col];
    return out;
  };
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
  try {
    if (cfg.exact) {
      const seen = new Map<number, number>();
      inputs.forEach((_, s) => {
        const col = column(s, 0);
        for (let d = 0; d < col.length; d++) {
          const g = offsets[s] + d;
          const first = seen.get(col[d]);
          if (first === undefined) seen.set(col[d], g);
          else if (uf.union(first, g)) {
            reason[g] = 1;
            exactDups++;
          }
        }
      });
    }
    if (mh.enabled) {
      const p2 = new Progress("dedup: lsh bands", { unit: "bands", total: mh.bands, enabled: o.progress ?? true });
      for (let b = 0; b < mh.bands; b++) {
        const buckets = new Map<number, number[]>();
        inputs.forEach((_, s) => {
          const col = column(s, b + 1);
          for (let d = 0; d < col.length; d++) {
            const g = offsets[s] + d;
            const members = buckets.get(col[d]);
            if (!members) {
              buckets.set(col[d], [g]);
              continue;
            }
            candidates++;
            if (uf.find(members[0]) === uf.find(g)) continue;
            let joined = false;
            if (mh.threshold === null) joined = uf.union(members[0], g);
            else {
              const sg = readSig(g);
              // compare with up to 8 earlier members of the bucket; join the first close enough
              for (const m of members.slice(0, 8)) {
                if (estimateJaccard(readSig(m), sg) >= mh.threshold) {
                  joined = uf.union(m, g);
                  break;
                }
              }
            }
            if (joined) nearPairs++;
            if (members.length < 8) members.push(g);
          }
        });
        p2.tick(1);
      }
      p2.finish();
    }
  } finally {
    for (const fd of sigFds) closeSync(fd);
  }
  // cluster sizes for the kept documents
  const size = new Int32Array(total);
  for (let g = 0; g < total; g++) size[uf.find(g)]++;
  // pass 3: stream and keep roots
  const stats = new DataStats("dedup");
  const outputs: string[] = [];
  const rootIds = new Map<number, string>();
  const p3 = new Progress("dedup: write", { unit: "shards", total: inputs.length, enabled: o.progress ?? true });
  for (let s = 0; s < inputs.length; s++) {
    const file = shardPath(out.dir, s);
    outputs.push(file);
    const w = new JsonlWriter(file);
    let d = 0;
    try {
      for await (const { doc, bytes } of readDocs(inputs[s], stats, onError)) {
        const g = offsets[s] + d++;
        stats.input(bytes);
        const root = uf.find(g);
        if (root === g) {
          if (size[g] > 1) rootIds.set(g, doc.id);
          stats.output(bytes);
          w.write(size[g] > 1 ? { ...doc, meta: { ...doc.meta, duplicates: size[g] - 1 } } : doc);
        } else {
          const rule = reason[g] === 1 ? "dedup.exact" : "dedup.near_duplicate";
          stats.remove(rule, bytes, doc.id, doc.text, `duplicate of ${rootIds.get(root) ?? `#${root}`}`);
        }
      }
      w.close();
    } catch (err) {
      w.abort();
      throw err;
    }
    p3.tick(1);
  }
  p3.finish();
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
    clusters_with_duplicates: rootIds.size,
  };
  return finishStep(out, stats, outputs);
}
