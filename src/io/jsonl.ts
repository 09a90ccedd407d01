// Streaming JSONL (and plain line) reading with file:line positions, gzip by extension,
// and a JSONL writer that is atomic (temp file + rename on close).
import { createReadStream, existsSync, readFileSync, truncateSync } from "node:fs";
import { createGunzip } from "node:zlib";
import { join } from "node:path";
import { AtomicFileWriter, writeFileAtomicSync } from "./atomicWrite.js";

/** Default cap on one line (JSONL record) held in memory: 64 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 64 << 20;

/** A malformed input line (or, with line 0, a whole input file): names the file and the 1-based line number. */
export class InputLineError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
    readonly detail?: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ""}: ${reason}${detail ? ` (${detail})` : ""}`);
    this.name = "InputLineError";
  }
}

export interface RawLine {
  /** 1-based line number in the (decompressed) file. */
  line: number;
  /** Raw bytes of the line without the trailing newline (and without a trailing \r); empty when `tooLong`. */
  bytes: Buffer;
  /** Set (to the line's length) when the line was longer than the cap: it was skipped, not held in memory. */
  tooLong?: number;
}

/** Opens a file as a byte stream, gunzipping when the name ends in `.gz`. */
export function openByteStream(file: string): NodeJS.ReadableStream {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  return file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
}

const EMPTY = Buffer.alloc(0);

/**
 * Yields the lines of a file as raw bytes (no UTF-8 decoding yet, so invalid bytes can be reported).
 * A line longer than `maxLineBytes` is not kept: it comes back empty with `tooLong` set, so memory
 * stays bounded whatever the input (a gzip bomb of one endless line included).
 */
export async function* readLines(file: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): AsyncGenerator<RawLine> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let lineNo = 0;
  for await (const chunk of openByteStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const len = carryLen + (nl < 0 ? chunk.length : nl) - start;
      if (len > maxLineBytes) carry = [];
      if (nl < 0) {
        if (len <= maxLineBytes && start < chunk.length) carry.push(chunk.subarray(start));
        carryLen = len;
        break;
      }
      lineNo++;
      if (len > maxLineBytes) yield { line: lineNo, bytes: EMPTY, tooLong: len };
      else yield { line: lineNo, bytes: stripCr(carry.length > 0 ? Buffer.concat([...carry, chunk.subarray(start, nl)]) : chunk.subarray(start, nl)) };
      carry = [];
      carryLen = 0;
      start = nl + 1;
    }
  }
  if (carryLen > 0) {
    lineNo++;
    yield carryLen > maxLineBytes ? { line: lineNo, bytes: EMPTY, tooLong: carryLen } : { line: lineNo, bytes: stripCr(Buffer.concat(carry)) };
  }
}

function stripCr(b: Buffer): Buffer {
  return b.length > 0 && b[b.length - 1] === 13 ? b.subarray(0, b.length - 1) : b;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes UTF-8 strictly; returns null on invalid bytes. */
export function decodeUtf8Strict(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

export type JsonlItem<T> = { ok: true; line: number; value: T } | { ok: false; line: number; error: InputLineError };

/**
 * Yields parsed JSON values from a JSONL file; blank lines are skipped. Bad lines
 * (invalid UTF-8, invalid JSON, longer than `maxLineBytes`) come back as `{ok: false}` so the caller decides
 * whether to skip and count them or stop (`--on-error skip|fail`).
 */
export async function* readJsonl<T = unknown>(file: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): AsyncGenerator<JsonlItem<T>> {
  for await (const { line, bytes, tooLong } of readLines(file, maxLineBytes)) {
    if (tooLong !== undefined) {
      const gz = file.endsWith(".gz") ? " after decompression" : "";
      yield { ok: false, line, error: new InputLineError(file, line, "line too large", `${tooLong} bytes${gz}, over ${maxLineBytes}; raise --max-line-bytes`) };
      continue;
    }
    if (bytes.length === 0) continue;
    const text = decodeUtf8Strict(bytes);
    if (text === null) {
      yield { ok: false, line, error: new InputLineError(file, line, "invalid UTF-8") };
      continue;
    }
    if (text.trim() === "") continue;
    try {
      yield { ok: true, line, value: JSON.parse(text) as T };
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      yield { ok: false, line, error: new InputLineError(file, line, `invalid JSON: ${msg}`) };
    }
  }
}

/** Writes one JSON value per line to a temp file, renamed to `target` on `close()`. */
export class JsonlWriter {
  private readonly w: AtomicFileWriter;
  count = 0;
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(target: string) {
    this.w = new AtomicFileWriter(target);
  }

  write(value: unknown): void {
    const s = `${JSON.stringify(value)}\n`;
    this.pending.push(s);
    this.pendingBytes += s.length;
    this.count++;
    if (this.pendingBytes > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.w.write(this.pending.join(""));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Flushes and atomically moves the file into place. */
  close(): void {
    this.flush();
    this.w.commit();
  }

  /** Drops the output; nothing appears under the target name. */
  abort(): void {
    this.pending = [];
    this.w.abort();
  }
}

/**
 * Writes a data set's splits as `<dir>/<split>.jsonl` (each atomically) and a `<dir>/mix.json`
 * description (header + figures, atomically, last); returns the paths.
 */
export function writeJsonlSplits<S extends string>(
  dir: string, splits: Record<S, readonly unknown[]>, description: Record<string, unknown>,
): Record<S, string> & { mix: string } {
  const paths = {} as Record<S, string>;
  for (const split of Object.keys(splits) as S[]) {
    paths[split] = join(dir, `${split}.jsonl`);
    const w = new JsonlWriter(paths[split]);
    try {
      for (const r of splits[split]) w.write(r);
      w.close();
    } catch (err) {
      w.abort();
      throw err;
    }
  }
  const mix = join(dir, "mix.json");
  writeFileAtomicSync(mix, `${JSON.stringify(description, null, 2)}\n`);
  return { ...paths, mix };
}

/**
 * A resumable results file: a JSONL header line `{"format": format, ...}`, then one record per line. Returns the header
 * and the records (null header for a missing or empty file); `what` names the kind of file in errors. A torn last line (a run killed mid-write) is cut from the
 * file so that appends start clean; a bad header or line throws `fail(message)` naming file:line.
 */
export function readResultsFile<H extends { format?: unknown }, R>(file: string, format: string, what: string, fail: (message: string) => Error): { header: H | null; records: R[] } {
  if (!existsSync(file)) return { header: null, records: [] };
  const text = readFileSync(file, "utf8");
  const end = text.lastIndexOf("\n") + 1;
  if (end < text.length) truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  const lines = text.slice(0, end).split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0) return { header: null, records: [] };
  const parse = (l: string, n: number): unknown => {
    try {
      return JSON.parse(l);
    } catch (e) {
      throw fail(`${file}:${n}: not valid JSON (${(e as Error).message}); give --out a new file`);
    }
  };
  const header = parse(lines[0], 1) as H;
  if (header === null || typeof header !== "object" || header.format !== format) throw fail(`${file}:1: not ${what} (expected a header {"format":"${format}"}); give --out a new file`);
  return { header, records: lines.slice(1).map((l, i) => parse(l, i + 2) as R) };
}
