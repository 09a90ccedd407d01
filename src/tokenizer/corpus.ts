// Reads training / sharding input as a stream of documents: JSONL from the data stage
// ({"text": ...} per line) or plain text files, cut into chunks at points where pre-tokenisation is unaffected.
// Bad input follows the data stage's policy (io/textInput): rejected with file:line, skipped and counted, or fatal.
import { requireFile } from "../io/fsErrors.js";
import { InputLineError, openByteStream, readJsonl } from "../io/jsonl.js";
import { checkTextFileStream, type InputRejection, type InputRejects } from "../io/textInput.js";

/** One document (or one chunk of a long text file; `continues` marks the chunks after the first). */
export interface CorpusDocument {
  text: string;
  file: string;
  /** 1-based line of the JSONL record, or 0 for text files. */
  line: number;
  /** True for the 2nd, 3rd... chunk of the same text file: same document, no end-of-text token before it. */
  continues: boolean;
}

export interface CorpusReadOptions {
  /** JSONL field holding the text (default "text"). */
  field?: string;
  /** Target chunk size for plain text files, in characters (default 4 MiB). */
  chunkChars?: number;
  /**
   * Bad input (binary, UTF-16 or invalid UTF-8 text files; malformed, invalid UTF-8, too long or text-less
   * JSONL lines): skip it and count it in `rejects`, or stop with an {@link InputLineError} (default here;
   * trainTokenizer and writeTokenShards default to skip, as `data ingest` does, and report the counts).
   */
  onError?: "skip" | "fail";
  /** Where skipped input is counted. */
  rejects?: InputRejects;
  /** JSONL lines longer than this are skipped unread (default 64 MiB). */
  maxLineBytes?: number;
}

/** Checks that every input is an existing regular file (one-line errors naming the path). */
export function checkCorpusFiles(files: readonly string[]): void {
  for (const f of files) requireFile(f, "a JSONL or text file");
}

/** True for files read as JSONL (.jsonl, .ndjson, optionally .gz); anything else is plain UTF-8 text. */
export function isJsonlPath(file: string): boolean {
  return /\.(jsonl|ndjson)(\.gz)?$/i.test(file);
}

const LETTER = /\p{L}/u;
const SPACE = /\s/u;

/**
 * Index in `s` (searching back from `from`) where text can be cut without changing how the
 * cl100k and GPT-2 patterns split it: before the space in "letter space letter" (the letter run
 * ends there and " word" starts a new pre-token), or after a lone "\n" between a non-space and a
 * letter. Returns -1 if there is none.
 */
export function safeCutIndex(s: string, from: number): number {
  for (let i = Math.min(from, s.length - 2); i >= 2; i--) {
    const c = s.charCodeAt(i);
    if (c === 32) {
      if (isLetterAt(s, i + 1) && isLetterBefore(s, i)) return i;
    } else if (s.charCodeAt(i - 1) === 10 && isLetterAt(s, i) && !SPACE.test(s[i - 2])) {
      return i;
    }
  }
  return -1;
}

function isLetterAt(s: string, i: number): boolean {
  const cp = s.codePointAt(i);
  return cp !== undefined && LETTER.test(String.fromCodePoint(cp));
}

function isLetterBefore(s: string, i: number): boolean {
  const lo = s.charCodeAt(i - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && i >= 2) return LETTER.test(s.slice(i - 2, i));
  return LETTER.test(s[i - 1]);
}

/** Cut point for a text with no safe cut for a long stretch: any index not inside a surrogate pair. */
function hardCutIndex(s: string, at: number): number {
  const c = s.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff ? at + 1 : at;
}

/** Yields documents from JSONL and text files, in order; bad input is skipped or fatal (`onError`). */
export async function* readCorpus(files: readonly string[], options: CorpusReadOptions = {}): AsyncGenerator<CorpusDocument> {
  const field = options.field ?? "text";
  const chunkChars = options.chunkChars ?? 4 << 20;
  checkCorpusFiles(files);
  const reject = (file: string, r: InputRejection): void => {
    if (options.onError !== "skip") throw new InputLineError(file, r.line, r.reason, r.detail);
    options.rejects?.add(file, r);
  };
  for (const file of files) {
    if (isJsonlPath(file)) {
      for await (const item of readJsonl<Record<string, unknown>>(file, options.maxLineBytes)) {
        if (!item.ok) {
          const e = item.error;
          const json = e.reason.startsWith("invalid JSON: ");
          reject(file, { reason: json ? "malformed JSON line" : e.reason, detail: json ? e.reason.slice(14) : e.detail, line: item.line, bytes: 0 });
          continue;
        }
        const v = item.value;
        const text = typeof v === "object" && v !== null ? v[field] : undefined;
        if (typeof text !== "string") {
          reject(file, { reason: `expected a JSON object with a string "${field}" field`, line: item.line, bytes: 0 });
          continue;
        }
        yield { text, file, line: item.line, continues: false };
      }
      continue;
    }
    // Checked whole before any of it is used, so a bad file is skipped entirely.
    const bad = await checkTextFileStream(file);
    if (bad) {
      reject(file, bad);
      continue;
    }
    const decoder = new TextDecoder("utf-8", { fatal: true });
    let pending = "";
    let continues = false;
    const decode = (chunk?: Buffer): string => {
      try {
        return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
      } catch {
        throw new InputLineError(file, 0, "invalid UTF-8", "the file changed while it was read");
      }
    };
    for await (const chunk of openByteStream(file) as AsyncIterable<Buffer>) {
      pending += decode(chunk);
      while (pending.length >= chunkChars) {
        let cut = safeCutIndex(pending, chunkChars);
        // No safe point in 16 chunks (e.g. a huge line of CJK without spaces): cut anyway, bounding
        // memory; the few pre-tokens at such a cut may differ from encoding the file whole.
        if (cut <= 0 && pending.length >= 16 * chunkChars) cut = hardCutIndex(pending, chunkChars);
        if (cut <= 0) break;
        yield { text: pending.slice(0, cut), file, line: 0, continues };
        continues = true;
        pending = pending.slice(cut);
        if (pending.length < chunkChars) break;
        // A cut found far back leaves a long rest; the while loop cuts it again.
      }
    }
    pending += decode();
    if (pending.length > 0 || !continues) yield { text: pending, file, line: 0, continues };
  }
}
