// Reads training / sharding input as a stream of documents: JSONL from the data stage
// ({"text": ...} per line) or plain text files, cut into chunks at points where pre-tokenisation is unaffected.
import { InputLineError, openByteStream, readJsonl } from "../io/jsonl.js";

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
}

/** True for files read as JSONL (.jsonl, .ndjson, optionally .gz); anything else is plain UTF-8 text. */
export function isJsonlPath(file: string): boolean {
  return /\.(jsonl|ndjson)(\.gz)?$/i.test(file);
}

const LETTER = /\p{L}/u;
const SPACE = /\s/u;

/**
 * Index in `s` (searching back from `from`) where text can be cut without changing how the
 * cl100k and GPT-2 patterns split it: after a lone "\n" that follows a non-space and precedes a letter.
 * Returns -1 if there is none.
 */
export function safeCutIndex(s: string, from: number): number {
  for (let i = Math.min(from, s.length - 1); i >= 2; i--) {
    if (s.charCodeAt(i - 1) === 10 && LETTER.test(s[i]) && !SPACE.test(s[i - 2])) return i;
  }
  return -1;
}

/** Yields documents from JSONL and text files, in order. Invalid JSONL lines throw {@link InputLineError}. */
export async function* readCorpus(files: readonly string[], options: CorpusReadOptions = {}): AsyncGenerator<CorpusDocument> {
  const field = options.field ?? "text";
  const chunkChars = options.chunkChars ?? 4 << 20;
  for (const file of files) {
    if (isJsonlPath(file)) {
      for await (const item of readJsonl<Record<string, unknown>>(file)) {
        if (!item.ok) throw item.error;
        const v = item.value;
        const text = typeof v === "object" && v !== null ? v[field] : undefined;
        if (typeof text !== "string") {
          throw new InputLineError(file, item.line, `expected a JSON object with a string "${field}" field`);
        }
        yield { text, file, line: item.line, continues: false };
      }
      continue;
    }
    const decoder = new TextDecoder("utf-8");
    let pending = "";
    let continues = false;
    for await (const chunk of openByteStream(file) as AsyncIterable<Buffer>) {
      pending += decoder.decode(chunk, { stream: true });
      while (pending.length >= chunkChars) {
        const cut = safeCutIndex(pending, chunkChars);
        if (cut <= 0) break;
        yield { text: pending.slice(0, cut), file, line: 0, continues };
        continues = true;
        pending = pending.slice(cut);
        if (pending.length < chunkChars) break;
        // A cut found far back leaves a long rest; the while loop cuts it again.
      }
    }
    pending += decoder.decode();
    if (pending.length > 0 || !continues) yield { text: pending, file, line: 0, continues };
  }
}
