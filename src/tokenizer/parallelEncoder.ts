// Batched encoding on all cores: worker threads each hold a copy of the tokenizer and encode a
// share of the batch. Create once, reuse across batches, close when done.
import { TokenizerError } from "./errors.js";
import type { Tokenizer } from "./tokenizer.js";
import { defaultWorkerCount, TokenizerWorkerPool } from "./workerPool.js";

/** Encodes batches of texts on worker threads; ids are identical to `tokenizer.encode` on each text. */
export class ParallelEncoder {
  private readonly pool: TokenizerWorkerPool;
  private seq = 0;

  constructor(tokenizer: Tokenizer, workers = defaultWorkerCount()) {
    if (!Number.isInteger(workers) || workers < 1) throw new TokenizerError(`workers must be a positive integer, got ${workers}`);
    this.pool = new TokenizerWorkerPool(workers);
    this.pool.broadcast({ kind: "encode-init", tokenizerJson: tokenizer.toHuggingFaceJson() });
  }

  /** Encodes `texts` (plain text: special tokens are not recognised) split evenly over the workers. */
  async encodeBatch(texts: readonly string[]): Promise<Int32Array[]> {
    const n = this.pool.size;
    // Split by characters so each worker gets about the same amount of text.
    let total = 0;
    for (const t of texts) total += t.length;
    const parts: string[][] = [];
    let cur: string[] = [];
    let acc = 0;
    for (const t of texts) {
      cur.push(t);
      acc += t.length;
      if (acc >= ((parts.length + 1) * total) / n && parts.length < n - 1) {
        parts.push(cur);
        cur = [];
      }
    }
    parts.push(cur);
    const replies = await Promise.all(
      parts.map((texts, i) => this.pool.request(i, { kind: "encode", seq: this.seq++, texts, eot: new Array(texts.length).fill(-1) })),
    );
    const out: Int32Array[] = [];
    for (const r of replies) {
      if (r.kind !== "encoded") throw new TokenizerError(`unexpected worker reply ${r.kind}`);
      for (let i = 0; i + 1 < r.offsets.length; i++) out.push(r.tokens.subarray(r.offsets[i], r.offsets[i + 1]));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
