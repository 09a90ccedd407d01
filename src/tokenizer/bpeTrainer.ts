// BPE training from word counts: pair counts kept incrementally (only the words that
// contain the merged pair are touched), a lazy max-heap picks the next merge. Ties go to
// the lower (left id, right id) pair, so training is deterministic.
import { utf8Bytes } from "./byteLevel.js";
import { PairIndex } from "./pairIndex.js";

export interface BpeTrainOptions {
  /** Number of merges to learn (the vocabulary grows by one token per merge). */
  numMerges: number;
  /** Stop when the most frequent pair occurs fewer than this many times (default 0: no limit beyond 1). */
  minFrequency?: number;
  /** Called every so often with the number of merges done. */
  onProgress?: (done: number) => void;
}

/** What training learned: merge triples (left, right, new id = 256 + k) in order, and stats. */
export interface BpeTrainResult {
  merges: Int32Array;
  /** Frequency of each merged pair when it was chosen. */
  mergeCounts: Float64Array;
  uniqueWords: number;
}

/**
 * Learns up to `numMerges` byte-pair merges from `counts` (pre-token -> occurrences).
 * Byte b has id b; merge k creates id 256 + k.
 */
export function trainBpeMerges(counts: ReadonlyMap<string, number>, options: BpeTrainOptions): BpeTrainResult {
  const minFreq = Math.max(1, options.minFrequency ?? 0);
  // Words as linked lists of symbols in one flat array.
  const W = counts.size;
  const wordCount = new Float64Array(W);
  const wordStart = new Int32Array(W);
  const encoded: Uint8Array[] = new Array(W);
  let total = 0;
  let w = 0;
  for (const [word, c] of counts) {
    const b = utf8Bytes(word);
    encoded[w] = b;
    wordCount[w] = c;
    wordStart[w] = total;
    total += b.length;
    w++;
  }
  const sym = new Int32Array(total);
  const next = new Int32Array(total);
  const prev = new Int32Array(total);
  for (let k = 0; k < W; k++) {
    const b = encoded[k];
    const s = wordStart[k];
    for (let i = 0; i < b.length; i++) {
      sym[s + i] = b[i];
      next[s + i] = i + 1 < b.length ? s + i + 1 : -1;
      prev[s + i] = i > 0 ? s + i - 1 : -1;
    }
  }
  encoded.length = 0;

  // Pair table: (a, b) -> pair id; per pair: count, and the words it occurs in (may repeat; deduped on use).
  const index = new PairIndex(1 << 16);
  let pairA = new Int32Array(1 << 16);
  let pairB = new Int32Array(1 << 16);
  let pairCount = new Float64Array(1 << 16);
  const where: number[][] = [];
  let nPairs = 0;
  const pairId = (a: number, b: number): number => {
    let p = index.get(a, b);
    if (p >= 0) return p;
    p = nPairs++;
    if (p === pairA.length) {
      const na = new Int32Array(p * 2);
      na.set(pairA);
      pairA = na;
      const nb = new Int32Array(p * 2);
      nb.set(pairB);
      pairB = nb;
      const nc = new Float64Array(p * 2);
      nc.set(pairCount);
      pairCount = nc;
    }
    pairA[p] = a;
    pairB[p] = b;
    where.push([]);
    index.set(a, b, p);
    return p;
  };
  const add = (a: number, b: number, c: number, word: number): number => {
    const p = pairId(a, b);
    pairCount[p] += c;
    const list = where[p];
    if (list.length === 0 || list[list.length - 1] !== word) list.push(word);
    return p;
  };
  for (let k = 0; k < W; k++) {
    for (let i = wordStart[k]; next[i] >= 0; i = next[i]) add(sym[i], sym[next[i]], wordCount[k], k);
  }

  // Lazy max-heap of (count, pair). An entry is valid when its count equals the pair's current count;
  // old pairs only lose occurrences, so a stale entry over-estimates and is re-pushed when popped.
  let hCount = new Float64Array(1 << 16);
  let hPair = new Int32Array(1 << 16);
  let hSize = 0;
  const better = (i: number, j: number): boolean => {
    if (hCount[i] !== hCount[j]) return hCount[i] > hCount[j];
    const pi = hPair[i];
    const pj = hPair[j];
    return pairA[pi] < pairA[pj] || (pairA[pi] === pairA[pj] && pairB[pi] < pairB[pj]);
  };
  const swap = (i: number, j: number) => {
    const c = hCount[i];
    hCount[i] = hCount[j];
    hCount[j] = c;
    const p = hPair[i];
    hPair[i] = hPair[j];
    hPair[j] = p;
  };
  const push = (p: number) => {
    if (hSize === hCount.length) {
      const c = new Float64Array(hSize * 2);
      c.set(hCount);
      hCount = c;
      const q = new Int32Array(hSize * 2);
      q.set(hPair);
      hPair = q;
    }
    let i = hSize++;
    hCount[i] = pairCount[p];
    hPair[i] = p;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!better(i, up)) break;
      swap(i, up);
      i = up;
    }
  };
  const popTop = () => {
    hSize--;
    hCount[0] = hCount[hSize];
    hPair[0] = hPair[hSize];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < hSize && better(l, m)) m = l;
      if (r < hSize && better(r, m)) m = r;
      if (m === i) break;
      swap(i, m);
      i = m;
    }
  };
  for (let p = 0; p < nPairs; p++) push(p);

  const merges: number[] = [];
  const mergeCounts: number[] = [];
  const stamp = new Int32Array(W).fill(-1);
  const touched: number[] = [];
  let mark = new Uint8Array(1 << 16);
  for (let m = 0; m < options.numMerges; m++) {
    // Find the best valid pair.
    let best = -1;
    while (hSize > 0) {
      const p = hPair[0];
      const c = hCount[0];
      popTop();
      if (c === pairCount[p]) {
        best = p;
        break;
      }
      if (pairCount[p] > 0) push(p);
    }
    if (best < 0 || pairCount[best] < minFreq) break;
    const a = pairA[best];
    const b = pairB[best];
    const z = 256 + m;
    merges.push(a, b, z);
    mergeCounts.push(pairCount[best]);
    const list = where[best];
    where[best] = [];
    touched.length = 0;
    if (mark.length < nPairs + 1024) {
      const nm = new Uint8Array((nPairs + 1024) * 2);
      nm.set(mark);
      mark = nm;
    }
    const touch = (p: number) => {
      if (p >= mark.length) {
        const nm = new Uint8Array(p * 2 + 1024);
        nm.set(mark);
        mark = nm;
      }
      if (mark[p] === 0) {
        mark[p] = 1;
        touched.push(p);
      }
    };
    for (let k = 0; k < list.length; k++) {
      const word = list[k];
      if (stamp[word] === m) continue;
      stamp[word] = m;
      const c = wordCount[word];
      let i = wordStart[word];
      while (i >= 0) {
        const j = next[i];
        if (j < 0) break;
        if (sym[i] !== a || sym[j] !== b) {
          i = j;
          continue;
        }
        const x = prev[i];
        const y = next[j];
        pairCount[best] -= c;
        if (x >= 0) {
          const sx = sym[x];
          pairCount[index.get(sx, a)] -= c;
          touch(add(sx, z, c, word));
        }
        if (y >= 0) {
          const sy = sym[y];
          pairCount[index.get(b, sy)] -= c;
          touch(add(z, sy, c, word));
        }
        sym[i] = z;
        next[i] = y;
        if (y >= 0) prev[y] = i;
        i = y;
      }
    }
    for (const p of touched) {
      mark[p] = 0;
      if (pairCount[p] > 0) push(p);
    }
    if (options.onProgress && (m & 255) === 0) options.onProgress(m);
  }
  return { merges: Int32Array.from(merges), mergeCounts: Float64Array.from(mergeCounts), uniqueWords: W };
}
