// Document-level steps (clean, filter, pii, and `process` = all three in one pass) run shard by shard:
// each shard is a pure function of (input shard, config) -> (output shard, stats), run on this thread and worker threads,
// and a finished shard (output + stats with the input's fingerprint) is not redone on resume or rerun.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { Progress } from "../io/progress.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { JsonlWriter } from "../io/jsonl.js";
import { linkOrCopy, type StepOutput, withStepOutput } from "../io/stepOutput.js";
import { defaultWorkerCount, runTasks, siblingModule } from "../io/workerPool.js";
import { cleanDocument, parseCleanConfig, type CleanConfigInput } from "./clean.js";
import { buildFilterRules, filterDocument, parseFilterConfig, type FilterConfigInput } from "./filters/index.js";
import { parsePiiConfig, scrubDocument, type PiiConfigInput } from "./pii.js";
import { fingerprint, finishStep, listShards, readDocs, shardPath, type StepResult } from "./shards.js";
import { DataStats, type DataStatsJson } from "./stats.js";
import { DataConfigError, type DataDoc, type OnErrorPolicy } from "./types.js";

export type MapStepName = "clean" | "filter" | "pii" | "process";

/** Config of a map step; `process` takes all three parts. */
export interface MapStepConfig {
  clean?: CleanConfigInput;
  filter?: FilterConfigInput;
  pii?: PiiConfigInput;
}

/** A document function for one step: returns the kept (maybe changed) document or null, recording into stats. */
export type DocFn = (doc: DataDoc, bytes: number) => DataDoc | null;

/** Builds the per-document function of a map step (validating its config). */
export function makeDocFn(step: MapStepName, cfg: MapStepConfig, stats: DataStats): DocFn {
  const fns: DocFn[] = [];
  if (step === "clean" || step === "process") {
    const c = parseCleanConfig(cfg.clean);
    fns.push((d, b) => cleanDocument(d, c, stats, b));
  }
  if (step === "filter" || step === "process") {
    const rules = buildFilterRules(parseFilterConfig(cfg.filter));
    fns.push((d, b) => filterDocument(d, rules, stats, b));
  }
  if (step === "pii" || step === "process") {
    const p = parsePiiConfig(cfg.pii);
    fns.push((d) => scrubDocument(d, p, stats));
  }
  if (fns.length === 1) return fns[0];
  return (doc, bytes) => {
    let d: DataDoc | null = doc;
    for (const f of fns) {
      d = f(d, bytes);
      if (!d) return null;
    }
    return d;
  };
}

/** One unit of work: a shard through a step. */
export interface ShardTask {
  kind: "map";
  step: MapStepName;
  config: MapStepConfig;
  input: string;
  output: string;
  onError: OnErrorPolicy;
}

/** Runs one shard in this thread; returns its stats. Output is written atomically. */
export async function processShard(t: ShardTask): Promise<DataStatsJson> {
  const t0 = performance.now();
  const stats = new DataStats(t.step);
  const fn = makeDocFn(t.step, t.config, stats);
  const w = new JsonlWriter(t.output);
  try {
    for await (const { doc, bytes } of readDocs(t.input, stats, t.onError)) {
      stats.input(bytes, doc.source);
      const out = fn(doc, bytes);
      if (out) {
        stats.output(out.text === doc.text ? bytes : Buffer.byteLength(out.text), doc.source);
        w.write(out);
      }
    }
    w.close();
  } catch (err) {
    w.abort();
    throw err;
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats.toJSON();
}

/** Runs one shard task in this thread (what shardWorker threads run too). */
export function runTaskHere(t: ShardTask): Promise<DataStatsJson> {
  return processShard(t);
}

const SHARD_WORKER = siblingModule(import.meta.url, "shardWorker");

/** Runs tasks on `workers` lanes (this thread and `workers - 1` shardWorker threads); results in task order. */
export function runWorkerTasks(tasks: ShardTask[], workers: number, onDone?: (i: number, r: DataStatsJson) => void): Promise<DataStatsJson[]> {
  return runTasks(tasks, workers, SHARD_WORKER, runTaskHere, onDone);
}

/** Options for {@link runMapStep}. */
export interface MapStepRunOptions {
  inputs: string[];
  outDir: string;
  /** Worker threads (default: all cores). */
  workers?: number;
  onError?: OnErrorPolicy;
  progress?: boolean;
  /** Redo shards even if their outputs are up to date. */
  force?: boolean;
  /** Replace a non-empty output folder that is not an earlier output of this step. */
  overwrite?: boolean;
}

interface ShardDone {
  input: string;
  inputFingerprint: string;
  configKey: string;
  stats: DataStatsJson;
}

const recordName = (i: number) => join(".shards", `part-${String(i).padStart(5, "0")}.done.json`);

/**
 * Runs a map step over all input shards into a staging folder published at the end, resuming: a shard whose
 * output and record (same input fingerprint and config) are in the staging folder of an interrupted run or in
 * the published folder of an earlier run is not redone. Writes `stats.json`/`stats.md` for the whole step.
 */
export async function runMapStep(step: MapStepName, config: MapStepConfig, o: MapStepRunOptions): Promise<StepResult> {
  // validate once in this thread so config mistakes surface before any worker starts
  makeDocFn(step, config, new DataStats(step));
  const inputs = listShards(o.inputs);
  if (inputs.length === 0) throw new DataConfigError(`${step}: no input shards`);
  return withStepOutput(o.outDir, { command: `data ${step}`, step, inputs: o.inputs, overwrite: o.overwrite, resumable: true }, (out) => mapInto(step, config, inputs, out, o));
}

/** The record of shard `i` in `dir` if it is up to date (its output there too), else null. */
function doneRecord(dir: string, i: number, input: string, configKey: string): ShardDone | null {
  const rp = join(dir, recordName(i));
  if (!existsSync(rp) || !existsSync(shardPath(dir, i))) return null;
  const rec = JSON.parse(readFileSync(rp, "utf8")) as ShardDone;
  return rec.input === input && rec.inputFingerprint === fingerprint(input) && rec.configKey === configKey ? rec : null;
}

async function mapInto(step: MapStepName, config: MapStepConfig, inputs: string[], out: StepOutput, o: MapStepRunOptions): Promise<StepResult> {
  const t0 = performance.now();
  const configKey = JSON.stringify({ step, config });
  const stats = new DataStats(step);
  const todo: ShardTask[] = [];
  const todoIdx: number[] = [];
  const outputs = inputs.map((_, i) => shardPath(out.dir, i));
  // an interrupted run's staging folder may hold shards of other inputs or temp files: only this run's stay
  const keep = new Set([...outputs.map((p) => basename(p)), ".shards"]);
  for (const n of readdirSync(out.dir)) if (!keep.has(n)) rmSync(join(out.dir, n), { recursive: true, force: true });
  let resumed = 0;
  // every shard's stats, resumed or run now, merged in shard order at the end
  const perShard: DataStatsJson[] = new Array(inputs.length);
  inputs.forEach((input, i) => {
    if (!o.force) {
      const staged = doneRecord(out.dir, i, input, configKey);
      const rec = staged ?? doneRecord(out.target, i, input, configKey);
      if (rec && !staged) {
        linkOrCopy(shardPath(out.target, i), outputs[i]); // reuse the published run's shard
        writeFileAtomicSync(join(out.dir, recordName(i)), JSON.stringify(rec));
      }
      if (rec) {
        perShard[i] = rec.stats;
        resumed++;
        return;
      }
    }
    todo.push({ kind: "map", step, config, input, output: outputs[i], onError: o.onError ?? "skip" });
    todoIdx.push(i);
  });
  const progress = new Progress(step, { unit: "shards", total: todo.length, enabled: o.progress ?? true });
  let docs = 0;
  let bytes = 0;
  // the largest shards first, so that the lanes end close together (a small shard last fills the gap)
  const size = todo.map((t) => statSync(t.input).size);
  const order = todo.map((_, k) => k).sort((a, b) => size[b] - size[a] || a - b);
  await runWorkerTasks(
    order.map((k) => todo[k]),
    o.workers ?? defaultWorkerCount(),
    (j, s) => {
      const k = order[j];
      const i = todoIdx[k];
      perShard[i] = s;
      const rec: ShardDone = { input: inputs[i], inputFingerprint: fingerprint(inputs[i]), configKey, stats: s };
      writeFileAtomicSync(join(out.dir, recordName(i)), JSON.stringify(rec));
      docs += s.docsIn;
      bytes += s.bytesIn;
      const el = progress.elapsed();
      progress.tick(1, `${(docs / Math.max(el, 1e-9)).toFixed(0)} docs/s ${(bytes / 1e6 / Math.max(el, 1e-9)).toFixed(2)} MB/s`);
    },
  );
  // merged in shard order (not run or completion order) so stats and their examples do not depend on thread timing
  for (const r of perShard) stats.merge(r);
  progress.finish();
  stats.seconds = (performance.now() - t0) / 1000;
  stats.extra.shards = inputs.length;
  stats.extra.shards_resumed = resumed;
  return finishStep(out, stats, outputs);
}
