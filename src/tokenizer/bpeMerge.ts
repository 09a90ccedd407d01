// BPE inside one pre-token: repeatedly merge the adjacent pair with the lowest rank
// (leftmost on ties). A plain scan for short words and a linked list + binary heap for
// long ones, so a run of 100k identical characters stays O(n log n), not quadratic.
import { PairIndex } from "./pairIndex.js";

/** The merge rules of a vocabulary: (left id, right id) -> (rank, merged id). */
export class MergeRules {
  readonly index: PairIndex;
  /** rank[k], result[k]: the k-th registered merge. */
  private rank: Int32Array;
  private result: Int32Array;
  count = 0;

  constructor(expected = 1024) {
    this.index = new PairIndex(expected);
    this.rank = new Int32Array(Math.max(16, expected));
    this.result = new Int32Array(Math.max(16, expected));
  }

  /** Registers left+right -> result with a rank (lower merges first). A pair keeps its first registration. */
  add(left: number, right: number, rank: number, result: number): void {
    if (this.index.get(left, right) >= 0) return;
    if (this.count === this.rank.length) {
      const r = new Int32Array(this.count * 2);
      r.set(this.rank);
      this.rank = r;
      const s = new Int32Array(this.count * 2);
      s.set(this.result);
      this.result = s;
    }
    this.rank[this.count] = rank;
    this.result[this.count] = result;
    this.index.set(left, right, this.count++);
  }

  /** Slot of the merge for (a, b), or -1. */
  slot(a: number, b: number): number {
    return this.index.get(a, b);
  }
  rankOf(slot: number): number {
    return this.rank[slot];
  }
  resultOf(slot: number): number {
    return this.result[slot];
  }
}

/** Words at least this long use the heap path. Both paths give identical output (tested). */
export const HEAP_THRESHOLD = 48;

/**
 * Applies `rules` to the symbol ids `syms[0..n)` and returns the final ids.
 * `syms` is used as scratch space.
 */
export function mergeSymbols(syms: Int32Array, n: number, rules: MergeRules, heapThreshold = HEAP_THRESHOLD): Int32Array {
  if (n < 2) return syms.slice(0, n);
  return n < heapThreshold ? mergeByScan(syms, n, rules) : mergeByHeap(syms, n, rules);
}

const NONE = 0x7fffffff;

function mergeByScan(syms: Int32Array, n: number, rules: MergeRules): Int32Array {
  // ranks[i] = rank of the pair (syms[i], syms[i+1]), NONE if no rule.
  const ranks = new Int32Array(n);
  const slots = new Int32Array(n);
  for (let i = 0; i < n - 1; i++) {
    const s = rules.slot(syms[i], syms[i + 1]);
    slots[i] = s;
    ranks[i] = s < 0 ? NONE : rules.rankOf(s);
  }
  ranks[n - 1] = NONE;
  let len = n;
  for (;;) {
    let best = NONE;
    let at = -1;
    for (let i = 0; i < len - 1; i++) {
      if (ranks[i] < best) {
        best = ranks[i];
        at = i;
      }
    }
    if (at < 0) break;
    syms[at] = rules.resultOf(slots[at]);
    // Remove position at+1.
    for (let i = at + 1; i < len - 1; i++) {
      syms[i] = syms[i + 1];
      ranks[i] = ranks[i + 1];
      slots[i] = slots[i + 1];
    }
    len--;
    ranks[len - 1] = NONE;
    if (at + 1 < len) {
      const s = rules.slot(syms[at], syms[at + 1]);
      slots[at] = s;
      ranks[at] = s < 0 ? NONE : rules.rankOf(s);
    } else {
      ranks[at] = NONE;
    }
    if (at > 0) {
      const s = rules.slot(syms[at - 1], syms[at]);
      slots[at - 1] = s;
      ranks[at - 1] = s < 0 ? NONE : rules.rankOf(s);
    }
  }
  return syms.slice(0, len);
}

function mergeByHeap(syms: Int32Array, n: number, rules: MergeRules): Int32Array {
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  // Min-heap of (rank, position), packed as rank * 2^24... kept in two parallel arrays.
  let hRank = new Int32Array(n);
  let hPos = new Int32Array(n);
  let hSize = 0;
  const less = (i: number, j: number) => hRank[i] < hRank[j] || (hRank[i] === hRank[j] && hPos[i] < hPos[j]);
  const swap = (i: number, j: number) => {
    const r = hRank[i];
    hRank[i] = hRank[j];
    hRank[j] = r;
    const p = hPos[i];
    hPos[i] = hPos[j];
    hPos[j] = p;
  };
  const push = (rank: number, pos: number) => {
    if (hSize === hRank.length) {
      const r = new Int32Array(hSize * 2);
      r.set(hRank);
      hRank = r;
      const p = new Int32Array(hSize * 2);
      p.set(hPos);
      hPos = p;
    }
    let i = hSize++;
    hRank[i] = rank;
    hPos[i] = pos;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(i, parent)) break;
      swap(i, parent);
      i = parent;
    }
  };
  const pop = () => {
    hSize--;
    if (hSize > 0) {
      hRank[0] = hRank[hSize];
      hPos[0] = hPos[hSize];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < hSize && less(l, m)) m = l;
        if (r < hSize && less(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
  };
  for (let i = 0; i < n - 1; i++) {
    const s = rules.slot(syms[i], syms[i + 1]);
    if (s >= 0) push(rules.rankOf(s), i);
  }
  const dead = new Uint8Array(n);
  while (hSize > 0) {
    const rank = hRank[0];
    const pos = hPos[0];
    pop();
    if (dead[pos]) continue;
    const right = next[pos];
    if (right < 0) continue;
    // The entry is stale unless the pair now at pos still has this rank.
    const s = rules.slot(syms[pos], syms[right]);
    if (s < 0 || rules.rankOf(s) !== rank) continue;
    syms[pos] = rules.resultOf(s);
    dead[right] = 1;
    const after = next[right];
    next[pos] = after;
    if (after >= 0) prev[after] = pos;
    const before = prev[pos];
    if (before >= 0) {
      const sl = rules.slot(syms[before], syms[pos]);
      if (sl >= 0) push(rules.rankOf(sl), before);
    }
    if (after >= 0) {
      const sr = rules.slot(syms[pos], syms[after]);
      if (sr >= 0) push(rules.rankOf(sr), pos);
    }
  }
  let count = 0;
  for (let i = 0; i >= 0; i = next[i]) count++;
  const out = new Int32Array(count);
  let k = 0;
  for (let i = 0; i >= 0; i = next[i]) out[k++] = syms[i];
  return out;
}
