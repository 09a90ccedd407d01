// The one policy for text input files, shared by `data ingest` and the tokenizer: binary, UTF-16 and
// invalid UTF-8 files are rejected with the line of the first bad byte (never decoded as U+FFFD), and
// reads stop at a stated cap, so a gzip bomb is counted as too large instead of exhausting memory.
import { isUtf8 } from "node:buffer";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { openByteStream } from "./jsonl.js";

/** Default cap on the bytes read (after decompression) of one whole-file input: 64 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 64 << 20;
export { DEFAULT_MAX_LINE_BYTES } from "./jsonl.js";

/** Why an input file (or a unit of it) was not read: a stats category, specifics, and where. */
export interface InputRejection {
  /** Category used as the stats key: "binary file", "UTF-16 text", "invalid UTF-8", "file too large"... */
  reason: string;
  detail?: string;
  /** 1-based line, or 0 for the file as a whole. */
  line: number;
  bytes: number;
}

const isGzipName = (file: string): boolean => file.endsWith(".gz");
const hasGzipMagic = (b: Uint8Array): boolean => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

/** True when the first 8 KiB look binary (NUL bytes or over 10% control bytes). */
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

/** "LE" / "BE" when the head is UTF-16 (a byte-order mark, or ASCII text with every other byte NUL). */
export function utf16Order(head: Uint8Array): "LE" | "BE" | null {
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return "LE";
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return "BE";
  const n = Math.min(head.length, 8192) & ~1;
  if (n < 8) return null;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < n; i += 2) {
    if (head[i] === 0) evenNul++;
    if (head[i + 1] === 0) oddNul++;
  }
  const pairs = n / 2;
  if (oddNul > 0.9 * pairs && evenNul < 0.1 * pairs) return "LE";
  if (evenNul > 0.9 * pairs && oddNul < 0.1 * pairs) return "BE";
  return null;
}

/**
 * The rejection for a file's first bytes (`bytes` is the file's size): empty (nothing but
 * whitespace, when `head` is the whole file), UTF-16, binary; null when they may be UTF-8 text.
 */
export function rejectHead(head: Uint8Array, bytes: number): InputRejection | null {
  if (bytes <= head.length && Buffer.from(head.buffer, head.byteOffset, head.length).toString("latin1").trim() === "") {
    return { reason: "empty file", line: 0, bytes };
  }
  const order = utf16Order(head);
  if (order) return { reason: "UTF-16 text", detail: `UTF-16${order}; convert it to UTF-8, e.g. with iconv -f UTF-16 -t UTF-8`, line: 0, bytes };
  if (looksBinary(head)) return { reason: "binary file", line: 0, bytes };
  return null;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** 1-based line of the first invalid UTF-8 sequence in `buf` (0 if valid). */
export function firstInvalidUtf8Line(buf: Uint8Array): number {
  let line = 1;
  let start = 0;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  for (;;) {
    const nl = b.indexOf(10, start);
    const end = nl < 0 ? b.length : nl;
    if (!isUtf8(b.subarray(start, end))) return line;
    if (nl < 0) return 0;
    start = nl + 1;
    line++;
  }
}

function tooLarge(file: string, limit: number, bytes: number): InputRejection {
  const gz = isGzipName(file) ? " after decompression" : "";
  return { reason: "file too large", detail: `over ${limit} bytes${gz}; raise --max-file-bytes`, line: 0, bytes };
}

export type CappedRead = { ok: true; bytes: Buffer } | { ok: false; reject: InputRejection };

/**
 * Reads a whole file (gunzipped when its name ends in `.gz` or it starts with the gzip magic), but
 * never more than `maxBytes`: past that it returns a "file too large" rejection, having held at
 * most `maxBytes` in memory. Unreadable and corrupt gzip files are rejections too.
 */
export function readFileCapped(file: string, maxBytes: number): CappedRead {
  let raw: Buffer;
  try {
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      if (size > maxBytes) return { ok: false, reject: tooLarge(file, maxBytes, size) };
      raw = Buffer.allocUnsafe(size);
      let off = 0;
      while (off < size) {
        const n = readSync(fd, raw, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      raw = raw.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === "EISDIR" ? "is a folder" : code === "EACCES" ? "permission denied" : err instanceof Error ? err.message : String(err);
    return { ok: false, reject: { reason: "unreadable file", detail, line: 0, bytes: 0 } };
  }
  if (!isGzipName(file) && !hasGzipMagic(raw)) return { ok: true, bytes: raw };
  try {
    return { ok: true, bytes: gunzipSync(raw, { maxOutputLength: maxBytes }) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") return { ok: false, reject: tooLarge(file, maxBytes, raw.length) };
    return { ok: false, reject: { reason: "corrupt gzip", detail: err instanceof Error ? err.message : String(err), line: 0, bytes: raw.length } };
  }
}

export type DecodedText = { ok: true; text: string; bytes: number } | { ok: false; reject: InputRejection };

/** Decodes a whole file's bytes as UTF-8 text (BOM dropped), or says why they are not text. */
export function decodeTextBytes(buf: Buffer): DecodedText {
  const head = rejectHead(buf, buf.length);
  if (head) return { ok: false, reject: head };
  let text: string;
  try {
    text = strictUtf8.decode(buf);
  } catch {
    return { ok: false, reject: { reason: "invalid UTF-8", line: firstInvalidUtf8Line(buf), bytes: buf.length } };
  }
  return { ok: true, text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, bytes: buf.length };
}

/** Reads and decodes a whole text file under the cap ({@link readFileCapped} + {@link decodeTextBytes}). */
export function readTextFileCapped(file: string, maxBytes: number): DecodedText {
  const r = readFileCapped(file, maxBytes);
  return r.ok ? decodeTextBytes(r.bytes) : r;
}

const SEGMENT = 16 << 20;

/**
 * Checks a (possibly huge, possibly gzipped) text file by streaming it once, in bounded memory:
 * the same rejections as {@link decodeTextBytes} (empty, UTF-16, binary, invalid UTF-8 with its
 * line), for readers that stream the file afterwards. Returns null when it is clean UTF-8 text.
 */
export async function checkTextFileStream(file: string): Promise<InputRejection | null> {
  let carry: Buffer = Buffer.alloc(0);
  let headChecked = false;
  let line = 1;
  let bytes = 0;
  const valid = (seg: Buffer): boolean => {
    if (isUtf8(seg)) {
      for (let i = seg.indexOf(10); i >= 0; i = seg.indexOf(10, i + 1)) line++;
      return true;
    }
    line += firstInvalidUtf8Line(seg) - 1;
    return false;
  };
  try {
    for await (const chunk of openByteStream(file) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      carry = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      if (!headChecked) {
        if (carry.length < 8192) continue;
        const r = rejectHead(carry.subarray(0, 8192), bytes + 1);
        if (r) return { ...r, bytes };
        headChecked = true;
      }
      // Check whole lines; a line longer than a segment is checked up to a character boundary.
      let cut = carry.lastIndexOf(10) + 1;
      if (cut === 0 && carry.length >= SEGMENT) {
        cut = carry.length;
        for (let k = 1; k <= 3; k++) {
          if ((carry[cut - k] & 0xc0) !== 0x80) {
            if (carry[cut - k] >= 0xc0) cut -= k; // a lead byte whose sequence may go on in the next chunk
            break;
          }
        }
      }
      if (cut > 0) {
        if (!valid(carry.subarray(0, cut))) return { reason: "invalid UTF-8", line, bytes };
        carry = carry.subarray(cut);
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code?.startsWith("Z_") ? "corrupt gzip" : "unreadable file";
    return { reason, detail: err instanceof Error ? err.message : String(err), line: 0, bytes };
  }
  if (!headChecked) {
    const r = rejectHead(carry.subarray(0, 8192), bytes);
    if (r) return r;
  }
  return valid(carry) ? null : { reason: "invalid UTF-8", line, bytes };
}

/** Counts rejected input units by reason, keeping the first example (file:line) of each. */
export class InputRejects {
  readonly byReason = new Map<string, { count: number; example: string }>();
  total = 0;

  add(file: string, r: InputRejection): void {
    const where = `${file}${r.line > 0 ? `:${r.line}` : ""}${r.detail ? ` (${r.detail})` : ""}`;
    const e = this.byReason.get(r.reason);
    if (e) e.count++;
    else this.byReason.set(r.reason, { count: 1, example: where });
    this.total++;
  }

  /** Plain data for reports: reason -> {count, example}. */
  toJSON(): Record<string, { count: number; example: string }> {
    return Object.fromEntries(this.byReason);
  }

  /** One line per reason, e.g. "skipped 2 binary file (e.g. a.bin)"; empty when nothing was skipped. */
  summary(): string {
    return [...this.byReason].map(([reason, e]) => `skipped ${e.count} ${reason} (e.g. ${e.example})`).join("\n");
  }
}
