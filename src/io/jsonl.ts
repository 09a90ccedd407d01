// Streaming JSONL (and plain line) reading with file:line positions, gzip by extension,
// and a JSONL writer that is atomic (temp file + rename on close).
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { AtomicFileWriter } from "./atomicWrite.js";

/** A malformed input line: names the file and the 1-based line number. */
export class InputLineError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "InputLineError";
  }
}

export interface RawLine {
  /** 1-based line number in the (decompressed) file. */
  line: number;
  /** Raw bytes of the line without the trailing newline (and without a trailing \r). */
  bytes: Buffer;
}

/** Opens a file as a byte stream, gunzipping when the name ends in `.gz`. */
export function openByteStream(file: string): NodeJS.ReadableStream {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  return file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
}

/** Yields the lines of a file as raw bytes (no UTF-8 decoding yet, so invalid bytes can be reported). */
export async function* readLines(file: string): AsyncGenerator<RawLine> {
  let carry: Buffer[] = [];
  let lineNo = 0;
  for await (const chunk of openByteStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      let piece = chunk.subarray(start, nl);
      if (carry.length > 0) {
        piece = Buffer.concat([...carry, piece]);
        carry = [];
      }
      lineNo++;
      yield { line: lineNo, bytes: stripCr(piece) };
      start = nl + 1;
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
  }
  if (carry.length > 0) {
    lineNo++;
    yield { line: lineNo, bytes: stripCr(Buffer.concat(carry)) };
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
 * (invalid UTF-8, invalid JSON) come back as `{ok: false}` so the caller decides
 * whether to skip and count them or stop (`--on-error skip|fail`).
 */
export async function* readJsonl<T = unknown>(file: string): AsyncGenerator<JsonlItem<T>> {
  for await (const { line, bytes } of readLines(file)) {
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
