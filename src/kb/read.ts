// Reads a file into one knowledge-base document with the data pipeline's readers (text/Markdown, HTML, JSONL,
// email/mbox, code; gzip transparently), picked as `llmforge data ingest` picks them (detectFormat). A file that
// cannot be read becomes a rejection with the reason, never an exception; the caller counts and names them.
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { detectFormat, readFile } from "../data/ingest.js";
import type { ReaderOptions } from "../data/readers/readItem.js";
import { readFileCapped } from "../io/textInput.js";

/** A file read for the knowledge base: its text (the offsets of chunks index it) and the hash of its bytes. */
export interface KbDocument {
  path: string;
  text: string;
  format: string;
  /** sha256 of the file's bytes (after gunzip): re-adding an unchanged file is skipped. */
  sha256: string;
  bytes: number;
}

/** A file that gave no document, and why. */
export interface KbReadFailure {
  path: string;
  reason: string;
}

const READER_OPTIONS: ReaderOptions = { textSplit: "file", textField: "text", emailHeaders: true, maxDocBytes: 64 << 20, maxFileBytes: 64 << 20 };

/** Files under the given paths (folders walked in sorted order, hidden entries skipped); missing paths are failures. */
export function listKbFiles(paths: readonly string[]): { files: string[]; missing: KbReadFailure[] } {
  const files: string[] = [];
  const missing: KbReadFailure[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  for (const p of paths) {
    const abs = resolve(p);
    try {
      if (statSync(abs).isDirectory()) walk(abs);
      else files.push(abs);
    } catch (err) {
      missing.push({ path: abs, reason: (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or folder" : err instanceof Error ? err.message : String(err) });
    }
  }
  return { files, missing };
}

/** Reads one file as a knowledge-base document (JSONL records and mbox messages are joined by blank lines). */
export async function readKbDocument(file: string, opts: { maxFileBytes?: number } = {}): Promise<{ ok: true; doc: KbDocument } | { ok: false; failure: KbReadFailure }> {
  const path = resolve(file);
  const fail = (reason: string) => ({ ok: false as const, failure: { path, reason } });
  try {
    const read = readFileCapped(path, opts.maxFileBytes ?? READER_OPTIONS.maxFileBytes ?? 64 << 20);
    if (!read.ok) return fail(`${read.reject.reason}${read.reject.detail ? ` (${read.reject.detail})` : ""}`);
    const sha256 = createHash("sha256").update(read.bytes).digest("hex");
    const format = detectFormat(path, read.bytes.subarray(0, 4096).toString("latin1"));
    // the data pipeline's readers, as `llmforge data ingest` runs them; several documents (JSONL records, mbox messages) joined
    const parts: string[] = [];
    let firstReason = "";
    for await (const item of readFile(path, "auto", READER_OPTIONS)) {
      if (item.kind === "doc") parts.push(item.text);
      else firstReason ||= `${item.reason}${item.line ? ` at line ${item.line}` : ""}${item.detail ? ` (${item.detail})` : ""}`;
    }
    if (parts.length === 0) return fail(firstReason || "no text");
    const text = parts.join("\n\n").normalize("NFC");
    if (text.trim() === "") return fail("no text");
    return { ok: true, doc: { path, text, format, sha256, bytes: read.bytes.length } };
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}
