// Batches of next-token pairs read sequentially from token shards (llm.c layout), with a
// cursor (epoch, shard, position) that checkpoints save so a resumed run sees the same data.

export type TokenArray = Uint16Array | Uint32Array;

export interface DataCursor {
  epoch: number;
  shard: number;
  pos: number;
}

export interface Batch {
  /** (B*T) input ids, row-major (B, T). */
  inputs: Int32Array;
  /** (B*T) targets: inputs shifted by one. */
  targets: Int32Array;
}

export class DataLoaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataLoaderError";
  }
}

/** Reads shards on demand (one held in memory at a time) and yields (B, T) batches. */
export class TokenDataLoader {
  private cursor: DataCursor = { epoch: 0, shard: 0, pos: 0 };
  private loadedIndex = -1;
  private tokens: TokenArray = new Uint16Array(0);

  constructor(
    readonly shards: readonly string[],
    readonly B: number,
    readonly T: number,
    private readonly readShard: (path: string) => TokenArray,
  ) {
    if (shards.length === 0) throw new DataLoaderError("no token shards given");
  }

  private load(i: number): TokenArray {
    if (this.loadedIndex !== i) {
      this.tokens = this.readShard(this.shards[i]);
      this.loadedIndex = i;
      const need = this.B * this.T + 1;
      if (this.tokens.length < need) {
        throw new DataLoaderError(
          `${this.shards[i]}: ${this.tokens.length} tokens, but one batch of ${this.B}×${this.T} needs ${need}; use a smaller --batch/--block or more data`,
        );
      }
    }
    return this.tokens;
  }

  /** The next batch; advances the cursor (wrapping to the next shard and epoch). */
  next(): Batch {
    const n = this.B * this.T;
    let tokens = this.load(this.cursor.shard);
    if (this.cursor.pos + n + 1 > tokens.length) {
      this.cursor.pos = 0;
      this.cursor.shard++;
      if (this.cursor.shard >= this.shards.length) {
        this.cursor.shard = 0;
        this.cursor.epoch++;
      }
      tokens = this.load(this.cursor.shard);
    }
    const p = this.cursor.pos;
    const inputs = new Int32Array(n);
    const targets = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      inputs[i] = tokens[p + i];
      targets[i] = tokens[p + i + 1];
    }
    this.cursor.pos += n;
    return { inputs, targets };
  }

  /** Largest token id seen in the loaded shard (to check against the model's vocabulary). */
  maxTokenId(): number {
    const t = this.load(this.cursor.shard);
    let m = 0;
    for (let i = 0; i < t.length; i++) if (t[i] > m) m = t[i];
    return m;
  }

  getCursor(): DataCursor {
    return { ...this.cursor };
  }

  setCursor(c: DataCursor): void {
    if (!(c.shard >= 0 && c.shard < this.shards.length) || c.pos < 0 || c.epoch < 0) {
      throw new DataLoaderError(`data cursor ${JSON.stringify(c)} does not fit ${this.shards.length} shard(s)`);
    }
    this.cursor = { ...c };
  }

  reset(): void {
    this.cursor = { epoch: 0, shard: 0, pos: 0 };
  }
}
