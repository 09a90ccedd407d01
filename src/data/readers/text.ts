// Whole-file inputs: gzip detection, binary and empty file detection, strict UTF-8 with the line of the
// first bad byte, and plain text split into one document per file or per blank-line paragraph block.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { decodeUtf8Strict } from "../../io/jsonl.js";
import type { ReadItem, ReaderOptions } from "./readItem.js";

/** Reads a file's bytes, gunzipping when it ends in `.gz` or starts with the gzip magic. */
export function readFileBytes(file: string): Buffer {
  const raw = readFileSync(file);
  if (file.endsWith(".gz") || (raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b)) return gunzipSync(raw);
  return raw;
}

/** True when the first 8 KiB look binary (NUL bytes or many control bytes). */
export function looksBinary(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, 8192);
  let ctrl = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    if (b === 0) return true;
    if (b < 9 || (b > 13 && b < 32)) ctrl++;
  }
  return n > 0 && ctrl / n > 0.1;
}

/** 1-based line of the first invalid UTF-8 sequence in `buf` (0 if valid). */
export function firstInvalidUtf8Line(buf: Buffer): number {
  let line = 1;
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    const end = nl < 0 ? buf.length : nl;
    if (decodeUtf8Strict(buf.subarray(start, end)) === null) return line;
    if (nl < 0) return 0;
    start = nl + 1;
    line++;
  }
}

export type DecodedFile = { ok: true; text: string; bytes: number } | { ok: false; reject: ReadItem & { kind: "reject" } };

/** Decodes a whole file to text, or says why it cannot be a text document (empty, binary, invalid UTF-8). */
export function decodeTextFile(file: string): DecodedFile {
  let buf: Buffer;
  try {
    buf = readFileBytes(file);
  } catch (err) {
    return { ok: false, reject: { kind: "reject", reason: "unreadable file", detail: err instanceof Error ? err.message : String(err), line: 0, bytes: 0 } };
  }
  if (buf.length === 0 || buf.toString("latin1").trim() === "") return { ok: false, reject: { kind: "reject", reason: "empty file", line: 0, bytes: buf.length } };
  if (looksBinary(buf)) return { ok: false, reject: { kind: "reject", reason: "binary file", line: 0, bytes: buf.length } };
  const text = decodeUtf8Strict(buf);
  if (text === null) return { ok: false, reject: { kind: "reject", reason: "invalid UTF-8", line: firstInvalidUtf8Line(buf), bytes: buf.length } };
  return { ok: true, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, bytes: buf.length };
}

/** Plain text: one document per file, or one per paragraph block (with its starting line). */
export function* readPlainText(text: string, opts: ReaderOptions): Generator<ReadItem> {
  if (opts.textSplit === "file") {
    yield sized({ kind: "doc", text, line: 0, meta: { kind: "text" } }, opts);
    return;
  }
  const lines = text.split(/\r?\n/);
  let block: string[] = [];
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    const l = i < lines.length ? lines[i] : "";
    if (l.trim() === "") {
      if (block.length > 0) yield sized({ kind: "doc", text: block.join("\n"), line: start, meta: { kind: "text" } }, opts);
      block = [];
    } else {
      if (block.length === 0) start = i + 1;
      block.push(l);
    }
  }
}

/** Turns an over-large document into a rejection. */
export function sized(item: ReadItem, opts: ReaderOptions): ReadItem {
  if (item.kind !== "doc") return item;
  const bytes = Buffer.byteLength(item.text);
  if (bytes > opts.maxDocBytes) return { kind: "reject", reason: "document too large", detail: `${bytes} bytes > ${opts.maxDocBytes}`, line: item.line || 1, bytes };
  return item;
}
