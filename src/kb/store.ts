// The knowledge-base file: one SQLite database (better-sqlite3, WAL) with documents, their chunks and offsets, an
// FTS5 index over chunk text (BM25), one float32 embedding per chunk, and a meta table naming the format version,
// the embedder and the chunking. Every document is added or replaced in one transaction; SQL takes parameters only.
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import type { Chunk } from "./chunk.js";

/** The `format` and `version` a knowledge base's meta table holds. */
export const KB_FORMAT = "llmforge-kb";
export const KB_VERSION = 1;

/** A knowledge-base file that is not one, is of a newer version, or is used with the wrong embedder. */
export class KbError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KbError";
  }
}

/** What built the vectors of a knowledge base: searching it with another embedder is refused. */
export interface EmbedderInfo {
  /** Folder name + hash of the weights (see embed.ts). */
  id: string;
  dim: number;
  /** Where the model folder was when the knowledge base was created (search loads it from there by default). */
  path?: string;
}

/** Settings recorded when a knowledge base is created. */
export interface KbSettings {
  /** The embedder, or null for a BM25-only knowledge base. */
  embedder: EmbedderInfo | null;
  /** What chunk sizes are counted in ("words", or the embedder's tokenizer). */
  tokenCounter: string;
  chunkTokens: number;
  overlapTokens: number;
}

/** A chunk as stored, with its document's path. */
export interface StoredChunk {
  id: number;
  docId: number;
  path: string;
  ordinal: number;
  text: string;
  start: number;
  end: number;
  tokens: number;
  heading: string | null;
}

export interface KbDocumentRow {
  id: number;
  path: string;
  sha256: string;
  bytes: number;
  format: string;
  addedAt: string;
  chunks: number;
}

export interface KbStats {
  documents: number;
  chunks: number;
  embeddings: number;
  tokens: number;
  settings: KbSettings;
  /** Bytes of the database file (without the WAL). */
  fileBytes: number;
}

/** The outcome of {@link KnowledgeBase.putDocument}. */
export type PutResult = "added" | "replaced" | "unchanged";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
  id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, format TEXT NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
  id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, ordinal INTEGER NOT NULL,
  text TEXT NOT NULL, start_char INTEGER NOT NULL, end_char INTEGER NOT NULL, tokens INTEGER NOT NULL, heading TEXT,
  UNIQUE (doc_id, ordinal));
CREATE TABLE IF NOT EXISTS embeddings (
  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE, model_id TEXT NOT NULL, vector BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize = 'porter unicode61 remove_diacritics 2');
`;

/** Distinct word terms of `query` (letters, digits, underscore; lower-cased), at most `max` of them. */
export function queryTerms(query: string, max = 64): string[] {
  const seen = new Set<string>();
  for (const m of query.normalize("NFC").toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)) {
    seen.add(m[0]);
    if (seen.size >= max) break;
  }
  return [...seen];
}

/**
 * An FTS5 MATCH expression for user text: each word term in double quotes (a string, never an operator, column
 * filter or prefix), joined with OR. Quotes, parentheses, `*`, `:`, `NEAR`, `AND`, control characters and SQL in the
 * input end up as quoted words or are dropped. Null when the text has no word terms.
 */
export function ftsQuery(query: string): string | null {
  const terms = queryTerms(query);
  return terms.length ? terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(" OR ") : null;
}

/** A knowledge base file, open. Close it with {@link close}. */
export class KnowledgeBase {
  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    readonly settings: KbSettings,
  ) {}

  /**
   * Opens a knowledge base; with `create`, a missing file is created with `create`'s settings. An existing file must
   * be an llmforge knowledge base of a version this code reads.
   */
  static open(path: string, o: { create?: KbSettings; readonly?: boolean } = {}): KnowledgeBase {
    const isNew = !existsSync(path);
    if (isNew && !o.create) throw new KbError(`${path}: no such knowledge base (create it with \`llmforge kb add --kb ${path} FILES...\`)`);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: !isNew && o.readonly === true, fileMustExist: !isNew });
    } catch (err) {
      throw new KbError(`${path}: cannot open as SQLite (${err instanceof Error ? err.message : String(err)})`);
    }
    try {
      if (!db.readonly) db.pragma("journal_mode = WAL");
      db.pragma("foreign_keys = ON");
      db.pragma("synchronous = NORMAL");
      const hasMeta = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
      if (!hasMeta) {
        const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
        if (tables.n > 0 || !o.create) throw new KbError(`${path}: an SQLite database but not an llmforge knowledge base (no meta table)`);
        const s = o.create;
        db.transaction(() => {
          db.exec(SCHEMA);
          const put = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
          put.run("format", KB_FORMAT);
          put.run("version", String(KB_VERSION));
          put.run("settings", JSON.stringify(s));
          put.run("created_at", new Date().toISOString());
        })();
        return new KnowledgeBase(path, db, s);
      }
      const meta = new Map((db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
      if (meta.get("format") !== KB_FORMAT) throw new KbError(`${path}: meta format is ${JSON.stringify(meta.get("format"))}, expected "${KB_FORMAT}"`);
      const v = Number(meta.get("version"));
      if (v !== KB_VERSION) throw new KbError(`${path}: knowledge base version ${meta.get("version")}; this llmforge reads version ${KB_VERSION}`);
      const settings = JSON.parse(meta.get("settings") ?? "null") as KbSettings | null;
      if (!settings || typeof settings.chunkTokens !== "number") throw new KbError(`${path}: meta settings missing or damaged`);
      return new KnowledgeBase(path, db, settings);
    } catch (err) {
      db.close();
      if (err instanceof KbError) throw err;
      throw new KbError(`${path}: not a usable knowledge base (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The stored document at `path` (absolute, as added), or null. */
  document(path: string): KbDocumentRow | null {
    const r = this.db
      .prepare("SELECT d.id, d.path, d.sha256, d.bytes, d.format, d.added_at AS addedAt, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) AS chunks FROM documents d WHERE d.path = ?")
      .get(path) as KbDocumentRow | undefined;
    return r ?? null;
  }

  documents(): KbDocumentRow[] {
    return this.db
      .prepare("SELECT d.id, d.path, d.sha256, d.bytes, d.format, d.added_at AS addedAt, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) AS chunks FROM documents d ORDER BY d.path")
      .all() as KbDocumentRow[];
  }

  /** Whether `path` is stored with this content hash (so adding it again would change nothing). */
  isUnchanged(path: string, sha256: string): boolean {
    return (this.db.prepare("SELECT sha256 FROM documents WHERE path = ?").get(path) as { sha256: string } | undefined)?.sha256 === sha256;
  }

  /**
   * Adds a document with its chunks (and one vector per chunk when the knowledge base has an embedder), replacing
   * an older version at the same path, all in one transaction: on any error, or a crash, nothing of it is stored
   * and an older version stays. `onChunk` is a test hook called after each chunk is written.
   */
  putDocument(
    doc: { path: string; sha256: string; bytes: number; format: string },
    chunks: readonly Chunk[],
    vectors: readonly Float32Array[] | null,
    onChunk?: (i: number) => void,
  ): PutResult {
    const emb = this.settings.embedder;
    if (emb && (!vectors || vectors.length !== chunks.length)) throw new KbError(`${doc.path}: ${chunks.length} chunks but ${vectors?.length ?? 0} vectors (this knowledge base stores one vector per chunk)`);
    const run = this.db.transaction((): PutResult => {
      const old = this.db.prepare("SELECT id, sha256 FROM documents WHERE path = ?").get(doc.path) as { id: number; sha256: string } | undefined;
      if (old && old.sha256 === doc.sha256) return "unchanged";
      if (old) this.deleteDocumentRows(old.id);
      const docId = Number(
        this.db.prepare("INSERT INTO documents (path, sha256, bytes, format, added_at) VALUES (?, ?, ?, ?, ?)").run(doc.path, doc.sha256, doc.bytes, doc.format, new Date().toISOString())
          .lastInsertRowid,
      );
      const insChunk = this.db.prepare("INSERT INTO chunks (doc_id, ordinal, text, start_char, end_char, tokens, heading) VALUES (?, ?, ?, ?, ?, ?, ?)");
      const insFts = this.db.prepare("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)");
      const insVec = this.db.prepare("INSERT INTO embeddings (chunk_id, model_id, vector) VALUES (?, ?, ?)");
      chunks.forEach((c, i) => {
        const id = Number(insChunk.run(docId, c.ordinal, c.text, c.start, c.end, c.tokens, c.heading ?? null).lastInsertRowid);
        insFts.run(id, c.heading && !c.text.startsWith(c.heading) ? `${c.heading}\n${c.text}` : c.text);
        if (emb && vectors) {
          const v = vectors[i];
          if (v.length !== emb.dim) throw new KbError(`${doc.path}: chunk ${i} has a vector of ${v.length} numbers; the embedder ${emb.id} gives ${emb.dim}`);
          insVec.run(id, emb.id, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        }
        onChunk?.(i);
      });
      return old ? "replaced" : "added";
    });
    return run.immediate();
  }

  private deleteDocumentRows(docId: number): void {
    this.db.prepare("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)").run(docId);
    this.db.prepare("DELETE FROM documents WHERE id = ?").run(docId); // chunks and embeddings by ON DELETE CASCADE
  }

  /** Removes a document and its chunks; false when it was not stored. */
  removeDocument(path: string): boolean {
    return this.db.transaction(() => {
      const old = this.db.prepare("SELECT id FROM documents WHERE path = ?").get(path) as { id: number } | undefined;
      if (!old) return false;
      this.deleteDocumentRows(old.id);
      return true;
    }).immediate();
  }

  stats(): KbStats {
    const n = (sql: string) => (this.db.prepare(sql).get() as { n: number | null }).n ?? 0;
    const page = this.db.pragma("page_count", { simple: true }) as number;
    const size = this.db.pragma("page_size", { simple: true }) as number;
    return {
      documents: n("SELECT count(*) AS n FROM documents"), chunks: n("SELECT count(*) AS n FROM chunks"), embeddings: n("SELECT count(*) AS n FROM embeddings"),
      tokens: n("SELECT sum(tokens) AS n FROM chunks"), settings: this.settings, fileBytes: page * size,
    };
  }

  /**
   * BM25 over chunk text (FTS5 `bm25()`, negated so that higher is better), best first. The query is user text:
   * it is turned into quoted terms by {@link ftsQuery} and passed as a parameter.
   */
  searchBm25(query: string, k: number): { id: number; score: number }[] {
    const match = ftsQuery(query);
    if (match === null || k <= 0) return [];
    const rows = this.db.prepare("SELECT rowid AS id, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?").all(match, k) as { id: number; rank: number }[];
    return rows.map((r) => ({ id: r.id, score: -r.rank }));
  }

  /** Chunks by id (with their document's path), in the order of `ids`; ids not stored are left out. */
  chunks(ids: readonly number[]): StoredChunk[] {
    const get = this.db.prepare(
      "SELECT c.id, c.doc_id AS docId, d.path, c.ordinal, c.text, c.start_char AS start, c.end_char AS end, c.tokens, c.heading FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?",
    );
    return ids.flatMap((id) => {
      const r = get.get(id) as StoredChunk | undefined;
      return r ? [r] : [];
    });
  }

  /** Every stored vector as one row-major matrix (N, dim) with the chunk id of each row. */
  loadVectors(): { ids: Int32Array; dim: number; matrix: Float32Array } {
    const emb = this.settings.embedder;
    if (!emb) throw new KbError(`${this.path} has no embeddings (it was built without --embedder): use --mode bm25`);
    const count = (this.db.prepare("SELECT count(*) AS n FROM embeddings").get() as { n: number }).n;
    const ids = new Int32Array(count);
    const matrix = new Float32Array(count * emb.dim);
    let i = 0;
    for (const r of this.db.prepare("SELECT chunk_id AS id, model_id AS model, vector FROM embeddings ORDER BY chunk_id").iterate() as Iterable<{ id: number; model: string; vector: Buffer }>) {
      if (r.model !== emb.id) throw new KbError(`${this.path}: chunk ${r.id} was embedded by ${r.model}, not by the knowledge base's embedder ${emb.id}`);
      if (r.vector.byteLength !== emb.dim * 4) throw new KbError(`${this.path}: chunk ${r.id} has a vector of ${r.vector.byteLength} bytes, expected ${emb.dim * 4}`);
      ids[i] = r.id;
      matrix.set(new Float32Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.byteLength)), i * emb.dim);
      i++;
    }
    return { ids, dim: emb.dim, matrix };
  }
}
