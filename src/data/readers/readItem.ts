// What a reader yields: a document (without its final id) or a rejected input unit with the
// file:line it came from and why, so ingest can count it or stop (`--on-error skip|fail`).

/** A document as read, before ingest assigns its id and source. */
export interface ReadDoc {
  kind: "doc";
  text: string;
  /** 1-based line where the document starts (0 for whole-file documents). */
  line: number;
  /** Reader-provided id (e.g. a JSONL id field); ingest prefixes the source. */
  id?: string;
  meta: Record<string, unknown>;
}

/** An input unit that did not become a document. */
export interface ReadReject {
  kind: "reject";
  /** Category used as the stats key, e.g. "malformed JSON line". */
  reason: string;
  /** Specifics shown with the file:line example. */
  detail?: string;
  line: number;
  bytes: number;
}

export type ReadItem = ReadDoc | ReadReject;

/** Options shared by the readers. */
export interface ReaderOptions {
  /** Plain text: one document per file, or one per blank-line-separated paragraph block. */
  textSplit: "file" | "paragraph";
  /** JSONL: dotted path of the text field. */
  textField: string;
  /** JSONL: dotted path of an id field (optional). */
  idField?: string;
  /** Email: put From/To/Date/Subject lines above the body. */
  emailHeaders: boolean;
  /** Units larger than this are rejected (`document too large`). */
  maxDocBytes: number;
  /** Whole-file formats: files larger than this (after decompression) are rejected unread (`file too large`; default 64 MiB). */
  maxFileBytes?: number;
  /** JSONL: lines longer than this are rejected unread (`line too large`; default 64 MiB). */
  maxLineBytes?: number;
}
