// Shard plumbing shared by the steps: listing JSONL inputs, reading documents with file:line rejections,
// input fingerprints for resume/skip decisions, and finishing a step: its stats (JSON + Markdown, the
// completion marker) written last into the staging folder, which is then published whole.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { readJsonl } from "../io/jsonl.js";
import { assertFinishedInputs, STEP_MARKER, type StepOutput } from "../io/stepOutput.js";
import { DataStats } from "./stats.js";
import { DataConfigError, DataInputError, dataDocProblem, type DataDoc, type OnErrorPolicy } from "./types.js";

/** What every step returns: its output shard paths, its stats, and where they were written. */
export interface StepResult {
  outDir: string;
  outputs: string[];
  stats: DataStats;
  statsJsonPath: string;
  statsMarkdownPath: string;
}

const SHARD_RE = /\.(jsonl|ndjson)(\.gz)?$/;

/** Expands files and folders into a sorted list of JSONL shard files; refuses unfinished step folders. */
export function listShards(inputs: readonly string[]): string[] {
  assertFinishedInputs(inputs);
  const out: string[] = [];
  for (const inp of inputs) {
    const p = resolve(inp);
    if (!existsSync(p)) throw new DataConfigError(`input ${inp} does not exist`);
    if (statSync(p).isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => SHARD_RE.test(f) && !f.startsWith("."))
        .sort();
      if (files.length === 0) throw new DataConfigError(`input folder ${inp} holds no .jsonl shards`);
      for (const f of files) out.push(join(p, f));
    } else out.push(p);
  }
  return out;
}

/** `size:mtime` of a file, used to tell whether an output is up to date with its input. */
export function fingerprint(file: string): string {
  const st = statSync(file);
  return `${st.size}:${Math.round(st.mtimeMs)}`;
}

/** Reads the documents of a shard; malformed lines are rejected into `stats` (or thrown on `fail`). */
export async function* readDocs(file: string, stats: DataStats, onError: OnErrorPolicy): AsyncGenerator<{ doc: DataDoc; bytes: number }> {
  let n = 0;
  for await (const item of readJsonl<unknown>(file)) {
    n++;
    if (!item.ok) {
      if (onError === "fail") throw new DataInputError(file, item.line, item.error.reason);
      stats.reject(item.error.reason.startsWith("invalid JSON") ? "malformed JSON line" : item.error.reason, 0, `${file}:${item.line}`);
      continue;
    }
    const problem = dataDocProblem(item.value);
    if (problem) {
      if (onError === "fail") throw new DataInputError(file, item.line, problem);
      stats.reject(problem, 0, `${file}:${item.line}`);
      continue;
    }
    const v = item.value as Partial<DataDoc> & { text: string };
    const doc: DataDoc = { id: v.id ?? `${file}#${n}`, text: v.text, source: v.source ?? "unknown", meta: v.meta ?? {} };
    yield { doc, bytes: Buffer.byteLength(doc.text) };
  }
}

/**
 * Writes `stats.md` then `stats.json` (the completion marker) into the step's staging folder, publishes the folder
 * and returns the step's result with paths in the published folder.
 */
export function finishStep(out: StepOutput, stats: DataStats, outputs: string[]): StepResult {
  writeFileAtomicSync(join(out.dir, "stats.md"), stats.toMarkdown());
  writeFileAtomicSync(join(out.dir, STEP_MARKER), `${JSON.stringify(stats.toJSON(), null, 2)}\n`);
  out.publish();
  return { outDir: out.target, outputs: outputs.map((p) => publishedPath(out, p)), stats, statsJsonPath: join(out.target, STEP_MARKER), statsMarkdownPath: join(out.target, "stats.md") };
}

/** Where a file written under a step's staging folder lies once the folder is published. */
export function publishedPath(out: StepOutput, p: string): string {
  return join(out.target, relative(out.dir, p));
}

/** Output path of the i-th shard of a step. */
export function shardPath(outDir: string, i: number, prefix = "part"): string {
  return join(outDir, `${prefix}-${String(i).padStart(5, "0")}.jsonl`);
}
