// `llmforge kb add` as one library call: reads files (unreadable ones counted and named), chunks them by the
// knowledge base's chunk size in tokens of its embedder's tokenizer, embeds the chunks, and stores each document in
// one transaction (unchanged files skipped by content hash, changed ones replaced).
import { chunkText, type TokenCounter, wordCounter } from "./chunk.js";
import { Embedder, embedderHash } from "./embed.js";
import { listKbFiles, readKbDocument, type KbReadFailure } from "./read.js";
import { KbError, KnowledgeBase, type PutResult } from "./store.js";

export interface KbAddOptions {
  kb: string;
  files: readonly string[];
  /** Model folder whose embeddings the knowledge base stores (fixed at creation; later adds must use the same). */
  embedder?: string | Embedder;
  /** Chunk size and overlap in tokens, used when the knowledge base is created (default 256 / 32, at most the embedder's context). */
  chunkTokens?: number;
  overlapTokens?: number;
  /** Chunks per embedding batch (default 16). */
  batchSize?: number;
  /** Called after each file (for progress). */
  onFile?: (path: string, result: PutResult | "failed") => void;
}

export interface KbAddSummary {
  added: number;
  replaced: number;
  unchanged: number;
  chunks: number;
  /** Files that gave no document, with the reason. */
  failed: KbReadFailure[];
}

/** Opens (or creates) the knowledge base and adds files; see {@link KbAddOptions}. */
export async function addToKb(o: KbAddOptions): Promise<KbAddSummary> {
  const embedder = typeof o.embedder === "string" ? Embedder.load(o.embedder) : (o.embedder ?? null);
  const chunkTokens = Math.min(o.chunkTokens ?? 256, embedder?.maxTokens ?? Number.POSITIVE_INFINITY);
  const kb = KnowledgeBase.open(o.kb, {
    create: {
      embedder: embedder ? embedder.info : null, tokenCounter: embedder ? `tokenizer of ${embedder.info.id}` : "words",
      chunkTokens, overlapTokens: o.overlapTokens ?? Math.floor(chunkTokens / 8),
    },
  });
  try {
    const built = kb.settings.embedder;
    if (built && !embedder) throw new KbError(`${o.kb} stores embeddings of ${built.id}: pass --embedder with that model to add files`);
    if (!built && embedder) throw new KbError(`${o.kb} was created without an embedder (BM25 only); create a new knowledge base to use ${embedder.info.id}`);
    if (built && embedder && embedderHash(built.id) !== embedderHash(embedder.info.id)) {
      throw new KbError(`${o.kb} was built with the embedder ${built.id}; ${embedder.info.id} is another model: add with the same embedder, or build a new knowledge base`);
    }
    const count: TokenCounter = embedder ? embedder.countTokens : wordCounter;
    const s: KbAddSummary = { added: 0, replaced: 0, unchanged: 0, chunks: 0, failed: [] };
    const { files, missing } = listKbFiles(o.files);
    s.failed.push(...missing);
    for (const file of files) {
      const r = await readKbDocument(file);
      if (!r.ok) {
        s.failed.push(r.failure);
        o.onFile?.(file, "failed");
        continue;
      }
      const doc = r.doc;
      if (kb.isUnchanged(doc.path, doc.sha256)) {
        s.unchanged++;
        o.onFile?.(doc.path, "unchanged");
        continue;
      }
      const chunks = chunkText(doc.text, { maxTokens: kb.settings.chunkTokens, overlapTokens: kb.settings.overlapTokens, count });
      const vectors = embedder ? embedder.embed(chunks.map((c) => (c.heading && !c.text.startsWith(c.heading) ? `${c.heading}\n${c.text}` : c.text)), { batchSize: o.batchSize }) : null;
      const res = kb.putDocument(doc, chunks, vectors);
      s[res]++;
      if (res !== "unchanged") s.chunks += chunks.length;
      o.onFile?.(doc.path, res);
    }
    return s;
  } finally {
    kb.close();
  }
}
