// Rows for causal-LM fine-tuning from tokenised examples: one example per padded row, or several
// packed best-fit-decreasing into a row with per-position document starts (attention stays inside a
// document); and SftBatches, a seeded, shuffled, resumable source of (B, T) batches over those rows.
import { SftConfigError, type TokenizedExample } from "./tokenizeChat.js";
import { mulberry32 } from "../data/filters/qualityClassifier.js";

/** Target value of a position whose loss is ignored. */
export const IGNORE_INDEX = -100;

/** "none": one example per row, padded; "bfd": best-fit decreasing bin packing of examples into rows. */
export type PackingMode = "none" | "bfd";

/**
 * One row of T positions. Position t predicts `targets[t]` from `inputs[0..t]` of its own document:
 * the engine lets t attend to keys `[docStart[t], t]` and uses position id `t - docStart[t]`.
 * Padding at the row's end is its own document (input = pad id, target = IGNORE_INDEX).
 */
export interface PackedRow {
  inputs: Int32Array;
  targets: Int32Array;
  docStart: Int32Array;
}

export interface PackingStats {
  examples: number;
  rows: number;
  seqLen: number;
  /** Positions holding example tokens (not padding). */
  filled: number;
  /** filled / (rows * seqLen): the share of compute spent on real tokens. */
  efficiency: number;
  /** Positions with a target (supervised). */
  targets: number;
}

/** Smallest open capacity >= n, by a segment tree over capacities 0..T (counts of rows with that much room). */
class CapacityIndex {
  private readonly size: number;
  private readonly tree: Int32Array;
  constructor(maxCapacity: number) {
    let s = 1;
    while (s <= maxCapacity) s *= 2;
    this.size = s;
    this.tree = new Int32Array(2 * s);
  }
  add(c: number, delta: number): void {
    for (let i = c + this.size; i >= 1; i >>= 1) this.tree[i] += delta;
  }
  firstAtLeast(n: number, node = 1, lo = 0, hi = this.size - 1): number {
    if (hi < n || this.tree[node] === 0) return -1;
    if (lo === hi) return lo;
    const mid = (lo + hi) >> 1;
    const left = this.firstAtLeast(n, 2 * node, lo, mid);
    return left >= 0 ? left : this.firstAtLeast(n, 2 * node + 1, mid + 1, hi);
  }
}

/** Positions an example needs (L tokens give L - 1 input/target pairs); throws if it cannot fit a row. */
function positionsOf(examples: readonly TokenizedExample[], seqLen: number): Int32Array {
  const n = new Int32Array(examples.length);
  examples.forEach((ex, i) => {
    if (ex.ids.length !== ex.supervised.length) throw new SftConfigError(`example ${i}: ids (${ex.ids.length}) and supervised (${ex.supervised.length}) differ in length`);
    if (ex.ids.length < 2) throw new SftConfigError(`example ${i} has ${ex.ids.length} token(s); at least 2 are needed for one prediction`);
    if (ex.ids.length - 1 > seqLen) {
      throw new SftConfigError(`example ${i} has ${ex.ids.length} tokens, more than a row of seqLen ${seqLen} holds (${seqLen + 1}); tokenise with maxLen = ${seqLen + 1}`);
    }
    n[i] = ex.ids.length - 1;
  });
  return n;
}

/** Which examples go in each row (deterministic). BFD places examples longest first into the fullest row they fit. */
export function planRows(positions: ArrayLike<number>, seqLen: number, mode: PackingMode): number[][] {
  if (mode === "none") return Array.from({ length: positions.length }, (_, i) => [i]);
  if (mode !== "bfd") throw new SftConfigError(`packing must be "none" or "bfd", got ${JSON.stringify(mode)}`);
  const order = Array.from({ length: positions.length }, (_, i) => i).sort((a, b) => positions[b] - positions[a] || a - b);
  const rows: number[][] = [];
  const buckets: number[][] = Array.from({ length: seqLen + 1 }, () => []);
  const index = new CapacityIndex(seqLen);
  for (const i of order) {
    const need = positions[i];
    const c = index.firstAtLeast(need);
    let r: number;
    if (c < 0) {
      r = rows.push([]) - 1;
    } else {
      r = buckets[c].pop() as number;
      index.add(c, -1);
    }
    rows[r].push(i);
    const room = (c < 0 ? seqLen : c) - need;
    if (room > 0) {
      buckets[room].push(r);
      index.add(room, 1);
    }
  }
  return rows;
}

/** Writes the row made of `members` into the three arrays at `offset` (T positions each). */
function fillRow(examples: readonly TokenizedExample[], members: readonly number[], seqLen: number, padId: number, out: PackedRow, offset: number): void {
  let t = 0;
  for (const i of members) {
    const { ids, supervised } = examples[i];
    const start = t;
    for (let j = 0; j + 1 < ids.length; j++, t++) {
      out.inputs[offset + t] = ids[j];
      out.targets[offset + t] = supervised[j + 1] ? ids[j + 1] : IGNORE_INDEX;
      out.docStart[offset + t] = start;
    }
  }
  const padStart = t;
  for (; t < seqLen; t++) {
    out.inputs[offset + t] = padId;
    out.targets[offset + t] = IGNORE_INDEX;
    out.docStart[offset + t] = padStart;
  }
}

export interface PackOptions {
  /** Positions per row (T). */
  seqLen: number;
  /** Input id of padding positions (their targets are ignored whatever it is, so pad may equal eos). */
  padId: number;
  /** Default "bfd". */
  packing?: PackingMode;
}

function checkPackOptions(o: PackOptions): void {
  if (!Number.isInteger(o.seqLen) || o.seqLen < 1) throw new SftConfigError(`seqLen must be a positive integer, got ${o.seqLen}`);
  if (!Number.isInteger(o.padId) || o.padId < 0) throw new SftConfigError(`padId must be a non-negative integer token id, got ${o.padId}`);
}

function statsOf(examples: readonly TokenizedExample[], positions: Int32Array, rows: number, seqLen: number): PackingStats {
  let filled = 0;
  let targets = 0;
  for (let i = 0; i < examples.length; i++) {
    filled += positions[i];
    const s = examples[i].supervised;
    for (let j = 1; j < s.length; j++) targets += s[j];
  }
  return { examples: examples.length, rows, seqLen, filled, efficiency: rows === 0 ? 0 : filled / (rows * seqLen), targets };
}

/** Packs all examples into materialised rows (for large data prefer {@link SftBatches}, which fills rows on demand). */
export function packExamples(examples: readonly TokenizedExample[], options: PackOptions): { rows: PackedRow[]; stats: PackingStats } {
  checkPackOptions(options);
  const T = options.seqLen;
  const positions = positionsOf(examples, T);
  const plan = planRows(positions, T, options.packing ?? "bfd");
  const rows = plan.map((members) => {
    const row = { inputs: new Int32Array(T), targets: new Int32Array(T), docStart: new Int32Array(T) };
    fillRow(examples, members, T, options.padId, row, 0);
    return row;
  });
  return { rows, stats: statsOf(examples, positions, rows.length, T) };
}

/** A (B, T) batch, row-major flat arrays of B * T. `tokens` = positions with a target. */
export interface SftBatch extends PackedRow {
  B: number;
  T: number;
  tokens: number;
  /** Epoch of the batch's first row. */
  epoch: number;
}

export interface SftBatchOptions extends PackOptions {
  batchSize: number;
  /** Seed of the per-epoch row order (default 0). */
  seed?: number;
  /** Default true; false keeps the packing order. */
  shuffle?: boolean;
}

/** Resume point of {@link SftBatches} (plain JSON, stored in checkpoints). */
export interface SftCursor {
  format: "llmforge.sft-batches";
  version: 1;
  epoch: number;
  /** Rows of this epoch's order already handed out. */
  pos: number;
  /** Hash of the rows and options: a cursor only fits the data and settings it came from. */
  fingerprint: string;
}

/** FNV-1a over 32-bit values. */
function fnv(values: Iterable<number>, h = 0x811c9dc5): number {
  for (const v of values) {
    for (let s = 0; s < 32; s += 8) h = Math.imul(h ^ ((v >>> s) & 0xff), 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Batches of B packed rows, in a seeded shuffled order that changes every epoch. Rows stream on
 * across epoch ends (a batch may hold the last rows of one epoch and the first of the next), so every
 * batch is full. `getCursor()`/`setCursor()` make a resumed run see exactly the same batches.
 */
export class SftBatches {
  readonly stats: PackingStats;
  readonly B: number;
  readonly T: number;
  private readonly plan: number[][];
  private readonly fingerprint: string;
  private epochNow = 0;
  private pos = 0;
  private order: Int32Array | null = null;

  constructor(
    private readonly examples: readonly TokenizedExample[],
    private readonly options: SftBatchOptions,
  ) {
    checkPackOptions(options);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new SftConfigError(`batchSize must be a positive integer, got ${options.batchSize}`);
    if (examples.length === 0) throw new SftConfigError("no training examples: every conversation was skipped or the input is empty");
    this.B = options.batchSize;
    this.T = options.seqLen;
    const positions = positionsOf(examples, this.T);
    this.plan = planRows(positions, this.T, options.packing ?? "bfd");
    this.stats = statsOf(examples, positions, this.plan.length, this.T);
    const mode = options.packing === "none" ? 0 : 1;
    const head = [this.T, this.B, mode, options.seed ?? 0, options.shuffle === false ? 0 : 1, options.padId];
    let h = fnv(head);
    for (const row of this.plan) h = fnv([row.length, ...row.map((i) => positions[i])], h);
    for (const ex of examples) h = fnv(ex.ids.subarray(0, 8), h);
    this.fingerprint = `${this.plan.length}:${h.toString(16)}`;
  }

  /** Rows per epoch. */
  get rows(): number {
    return this.plan.length;
  }

  /** The epoch the next row comes from (0-based). */
  get epoch(): number {
    return this.epochNow;
  }

  private epochOrder(): Int32Array {
    if (this.order === null) {
      const n = this.plan.length;
      const order = Int32Array.from({ length: n }, (_, i) => i);
      if (this.options.shuffle !== false) {
        const rand = mulberry32(fnv([this.options.seed ?? 0, this.epochNow]));
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          const t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
      }
      this.order = order;
    }
    return this.order;
  }

  /** The next batch (new arrays each call). */
  next(): SftBatch {
    const { B, T } = this;
    const batch: SftBatch = { inputs: new Int32Array(B * T), targets: new Int32Array(B * T), docStart: new Int32Array(B * T), B, T, tokens: 0, epoch: this.epochNow };
    for (let b = 0; b < B; b++) {
      const r = this.epochOrder()[this.pos];
      fillRow(this.examples, this.plan[r], T, this.options.padId, batch, b * T);
      if (++this.pos === this.plan.length) {
        this.epochNow++;
        this.pos = 0;
        this.order = null;
      }
    }
    for (let i = 0; i < B * T; i++) if (batch.targets[i] !== IGNORE_INDEX) batch.tokens++;
    return batch;
  }

  /** Where the stream stands, as JSON-safe data. */
  getCursor(): SftCursor {
    return { format: "llmforge.sft-batches", version: 1, epoch: this.epochNow, pos: this.pos, fingerprint: this.fingerprint };
  }

  /** Continues from a cursor that {@link getCursor} gave for the same examples and options. */
  setCursor(cursor: unknown): void {
    const c = cursor as Partial<SftCursor> | null;
    if (typeof c !== "object" || c === null || c.format !== "llmforge.sft-batches" || c.version !== 1) {
      throw new SftConfigError(`not an SFT batch cursor (expected {"format": "llmforge.sft-batches", "version": 1, ...}), got ${JSON.stringify(cursor)?.slice(0, 120)}`);
    }
    if (c.fingerprint !== this.fingerprint) {
      throw new SftConfigError(`the cursor was saved for other data or settings (fingerprint ${c.fingerprint}, these are ${this.fingerprint}); resume with the same examples, seqLen, batchSize, packing and seed`);
    }
    if (!Number.isInteger(c.epoch) || (c.epoch as number) < 0 || !Number.isInteger(c.pos) || (c.pos as number) < 0 || (c.pos as number) >= this.plan.length) {
      throw new SftConfigError(`cursor epoch/pos out of range: epoch ${c.epoch}, pos ${c.pos} (rows per epoch ${this.plan.length})`);
    }
    this.epochNow = c.epoch as number;
    this.pos = c.pos as number;
    this.order = null;
  }
}
