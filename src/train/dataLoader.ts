// Batches of next-token pairs from token shards (llm.c layout): rows are windows of T+1 tokens,
// taken in order or in a seeded random order per (epoch, shard), with a cursor (epoch, shard,
// position) that checkpoints save so a resumed run sees exactly the same batches.
import { Rng } from "../tensor/rng.js";

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

/**
 * Reads shards on demand (one held in memory at a time) and yields (B, T) batches. With a
 * shuffle seed, each row is a random non-overlapping window of the shard (a fresh permutation
 * per epoch and shard, derived from the seed, so nothing but the cursor needs saving); without
 * one, rows are consecutive windows, as llm.c reads.
 */
export class TokenDataLoader {
  private cursor: DataCursor = { epoch: 0, shard: 0, pos: 0 };
  private loadedIndex = -1;
  private tokens: TokenArray = new Uint16Array(0);
  private order: Int32Array | null = null;
  private orderKey = "";

  constructor(
    readonly shards: readonly string[],
    readonly B: number,
    readonly T: number,
    private readonly readShard: (path: string) => TokenArray,
    readonly shuffleSeed: number | null = null,
  ) {
    if (shards.length === 0) throw new DataLoaderError("no token shards given");
  }

  /** Window order of the current (epoch, shard): a seeded permutation of the T-token windows. */
  private windowOrder(windows: number): Int32Array {
    const key = `${this.cursor.epoch}:${this.cursor.shard}:${windows}`;
    if (this.order && this.orderKey === key) return this.order;
    const order = new Int32Array(windows);
    for (let i = 0; i < windows; i++) order[i] = i;
    const rng = new Rng((this.shuffleSeed ?? 0) ^ Math.imul(this.cursor.epoch + 1, 0x9e3779b1) ^ Math.imul(this.cursor.shard + 1, 0x85ebca6b));
    for (let i = windows - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    this.order = order;
    this.orderKey = key;
    return order;
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
    const { B, T } = this;
    const n = B * T;
    const shuffle = this.shuffleSeed !== null;
    // Position counts tokens when reading in order, windows when shuffled.
    const fits = (tokens: TokenArray): boolean =>
      shuffle ? this.cursor.pos + B <= Math.floor((tokens.length - 1) / T) : this.cursor.pos + n + 1 <= tokens.length;
    let tokens = this.load(this.cursor.shard);
    if (!fits(tokens)) {
      this.cursor.pos = 0;
      this.cursor.shard++;
      if (this.cursor.shard >= this.shards.length) {
        this.cursor.shard = 0;
        this.cursor.epoch++;
      }
      tokens = this.load(this.cursor.shard);
    }
    const inputs = new Int32Array(n);
    const targets = new Int32Array(n);
    if (shuffle) {
      const order = this.windowOrder(Math.floor((tokens.length - 1) / T));
      for (let r = 0; r < B; r++) {
        const start = order[this.cursor.pos + r] * T;
        for (let i = 0; i < T; i++) {
          inputs[r * T + i] = tokens[start + i];
          targets[r * T + i] = tokens[start + i + 1];
        }
      }
      this.cursor.pos += B;
    } else {
      const p = this.cursor.pos;
      for (let i = 0; i < n; i++) {
        inputs[i] = tokens[p + i];
        targets[i] = tokens[p + i + 1];
      }
      this.cursor.pos += n;
    }
    return { inputs, targets };
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
