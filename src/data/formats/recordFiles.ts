// Reading record files for the data converters (SFT conversations, preference records): JSONL and JSON-array
// files or folders of them, each record with its start line; the bad-record report (skip or fail with
// file:line) and the JSONL-plus-stats output that `llmforge data convert` writes.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { writeFileAtomicSync } from "../../io/atomicWrite.js";
import { decodeUtf8Strict, JsonlWriter, readJsonl } from "../../io/jsonl.js";
import type { StepResult } from "../shards.js";
import type { DataStats } from "../stats.js";
import { DataConfigError, DataInputError, type OnErrorPolicy } from "../types.js";

/** One record of a file with its 1-based start line, or why the text there is not a record. */
export type RawRecord = { line: number; value: unknown } | { line: number; reason: string; detail: string };

const DATA_FILE = /\.(jsonl|ndjson|json)(\.gz)?$/i;

/** The data files of a path: the file itself, or a folder's JSON/JSONL files (sorted, dataset_info.json left out). */
export function dataFiles(path: string): string[] {
  if (!existsSync(path)) throw new DataConfigError(`input ${path} does not exist`);
  if (/\.(csv|tsv|parquet|arrow|txt)$/i.test(path)) throw new DataConfigError(`${path}: only JSON and JSONL files can be converted`);
  if (!statSync(path).isDirectory()) return [path];
  const files = readdirSync(path)
    .filter((f) => DATA_FILE.test(f) && !f.startsWith(".") && f !== "dataset_info.json")
    .sort();
  if (files.length === 0) throw new DataConfigError(`input folder ${path} holds no .json or .jsonl files`);
  return files.map((f) => join(path, f));
}

const lineAt = (text: string, pos: number) => text.slice(0, pos).split("\n").length;

/** Where each element of a top-level JSON array starts (1-based line, offset) and ends; tolerant of bad elements. */
function arrayElements(text: string): { line: number; start: number; end: number }[] {
  const spans: { line: number; start: number; end: number }[] = [];
  let cur: { line: number; start: number; end: number } | undefined;
  let line = 1;
  let depth = 0;
  let inStr = false;
  let esc = false;
  let expect = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") line++;
    if (inStr) {
      if (esc) esc = false;
      else if (c === "\\") esc = true;
      else if (c === '"') inStr = false;
      continue;
    }
    if (expect && c !== " " && c !== "\t" && c !== "\n" && c !== "\r" && c !== "]") {
      cur = { line, start: i, end: text.length };
      spans.push(cur);
      expect = false;
    }
    if (c === '"') inStr = true;
    else if (c === "[" || c === "{") expect = ++depth === 1;
    else if ((c === "]" && depth === 1) || (c === "," && depth === 1)) {
      if (cur) cur.end = i;
      cur = undefined;
      expect = c === ",";
      if (c === "]") depth--;
    } else if (c === "]" || c === "}") depth--;
  }
  return spans;
}

/**
 * Records of one file with their start lines. A `.json` file holding a JSON array is read whole; when it is not
 * valid JSON, each element is parsed alone so one bad element is one rejection. A `.json` file holding one object
 * is one record; anything else is read as JSONL (as the Hugging Face `json` loader does).
 */
export async function* readRecords(file: string): AsyncGenerator<RawRecord> {
  if (/\.json(\.gz)?$/i.test(file)) {
    const raw = readFileSync(file);
    const text = decodeUtf8Strict(file.endsWith(".gz") ? gunzipSync(raw) : raw);
    if (text === null) return yield { line: 0, reason: "invalid UTF-8", detail: "the file is not UTF-8 text" };
    const start = text.length - text.trimStart().length;
    let whole: unknown;
    let error = "";
    try {
      whole = JSON.parse(text);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (!error && !Array.isArray(whole)) return yield { line: lineAt(text, start), value: whole };
    if (text[start] === "[") {
      const spans = arrayElements(text);
      if (spans.length === 0 && error) return yield { line: lineAt(text, start), reason: "malformed JSON file", detail: error };
      for (const [i, sp] of spans.entries()) {
        if (!error) yield { line: sp.line, value: (whole as unknown[])[i] };
        else {
          try {
            yield { line: sp.line, value: JSON.parse(text.slice(sp.start, sp.end)) };
          } catch (err) {
            yield { line: sp.line, reason: "malformed JSON array element", detail: err instanceof Error ? err.message : String(err) };
          }
        }
      }
      return;
    }
  }
  for await (const it of readJsonl(file)) {
    if (it.ok) yield { line: it.line, value: it.value };
    else yield { line: it.line, reason: it.error.reason.startsWith("invalid JSON") ? "malformed JSON line" : it.error.reason, detail: it.error.reason };
  }
}

/** Adds one to a counter in `stats.extra`. */
export const bump = (stats: DataStats, key: string) => {
  stats.extra[key] = (Number(stats.extra[key]) || 0) + 1;
};

/** A record that was not written, and why. */
export interface SkippedRecord {
  file: string;
  /** 1-based line where the record starts (0: the whole file). */
  line: number;
  reason: string;
  removed: boolean;
}

/** Reports a record not written: rejected (thrown under onError "fail"), or removed (well-formed, nothing to train on) when `removedText` is given. */
export type SkipFn = (file: string, line: number, bytes: number, reason: string, detail?: string, removedText?: string) => void;

/** The {@link SkipFn} of a converter run: counts into `stats`, throws a {@link DataInputError} naming file:line under `onError: "fail"`. */
export function recordSkipper(stats: DataStats, onError: OnErrorPolicy | undefined, onSkip?: (s: SkippedRecord) => void): SkipFn {
  return (file, line, bytes, reason, detail, removedText) => {
    const full = detail ? `${reason} (${detail})` : reason;
    if (removedText === undefined && onError === "fail") throw new DataInputError(file, line, full);
    if (removedText !== undefined) stats.remove(reason, bytes, `${file}:${line}${detail ? ` (${detail})` : ""}`, removedText);
    else stats.reject(reason, bytes, `${file}:${line}${detail ? ` (${detail})` : ""}`);
    onSkip?.({ file, line, reason: full, removed: removedText !== undefined });
  };
}

/**
 * Writes `items` to the JSONL file `out` (atomically) and the stats beside it as `<out minus .jsonl>.stats.json`
 * and `.stats.md`. Nothing appears under `out` when iterating throws.
 */
export async function writeJsonlWithStats(out: string, items: AsyncIterable<unknown>, stats: DataStats): Promise<StepResult> {
  const t0 = performance.now();
  const w = new JsonlWriter(out);
  try {
    for await (const item of items) w.write(item);
  } catch (err) {
    w.abort();
    throw err;
  }
  w.close();
  stats.seconds = (performance.now() - t0) / 1000;
  const stem = out.replace(/\.jsonl$/i, "");
  const statsJsonPath = `${stem}.stats.json`;
  const statsMarkdownPath = `${stem}.stats.md`;
  writeFileAtomicSync(statsJsonPath, `${JSON.stringify(stats.toJSON(), null, 2)}\n`);
  writeFileAtomicSync(statsMarkdownPath, stats.toMarkdown());
  return { outDir: dirname(out), outputs: [out], stats, statsJsonPath, statsMarkdownPath };
}
