// MinHash signatures over word n-gram shingles and LSH band keys: the pure, per-document half of
// near-duplicate detection. With b bands of r rows, two documents of Jaccard similarity s share at
// least one band with probability 1 - (1 - s^r)^b (the S-curve; threshold ≈ (1/b)^(1/r)).

/** MinHash parameters (plain data so they travel to worker threads). */
export interface MinHashParams {
  /** Words per shingle (5 = word 5-grams). */
  ngram: number;
  bands: number;
  rows: number;
  seed: number;
}

/** Number of hash functions = bands × rows. */
export const numPerm = (p: MinHashParams) => p.bands * p.rows;

/** The similarity at which the LSH S-curve is steepest: (1/b)^(1/r). */
export function lshThreshold(bands: number, rows: number): number {
  return (1 / bands) ** (1 / rows);
}

/** Probability that a pair of Jaccard similarity s becomes a candidate: 1 - (1 - s^r)^b. */
export function lshCandidateProbability(s: number, bands: number, rows: number): number {
  return 1 - (1 - s ** rows) ** bands;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashRange(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** True for ASCII letters/digits and any non-ASCII letter-like code unit (cheap word-character test). */
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c > 127 && c !== 0x2019 && c !== 0x201c && c !== 0x201d && c !== 0x2014 && c !== 0x2013);
}

/** Hashes of the lower-cased words of a text (punctuation and case ignored). */
export function wordHashes(text: string): Uint32Array {
  const t = text.toLowerCase();
  const out: number[] = [];
  let start = -1;
  for (let i = 0; i <= t.length; i++) {
    const w = i < t.length && isWordChar(t.charCodeAt(i));
    if (w && start < 0) start = i;
    else if (!w && start >= 0) {
      out.push(hashRange(t, start, i));
      start = -1;
    }
  }
  return Uint32Array.from(out);
}

/** Hashes of the word n-gram shingles (a text shorter than n words is one shingle). */
export function shingleHashes(text: string, ngram: number): Uint32Array {
  const w = wordHashes(text);
  if (w.length === 0) return new Uint32Array(0);
  const n = Math.min(ngram, w.length);
  const out = new Uint32Array(w.length - n + 1);
  for (let i = 0; i < out.length; i++) {
    let h = 0x9747b28c;
    for (let k = 0; k < n; k++) h = Math.imul(h ^ w[i + k], 0x5bd1e995) ^ (h >>> 15);
    out[i] = fmix32(h);
  }
  return out;
}

/** Per-permutation seeds derived from the seed. */
function permSeeds(p: MinHashParams): { xa: Uint32Array; ma: Uint32Array } {
  const k = numPerm(p);
  const xa = new Uint32Array(k);
  const ma = new Uint32Array(k);
  let s = p.seed >>> 0;
  for (let i = 0; i < k; i++) {
    s = fmix32(s + 0x9e3779b9 + i);
    xa[i] = s;
    s = fmix32(s ^ 0x5bd1e995);
    ma[i] = s | 1;
  }
  return { xa, ma };
}

const seedCache = new Map<string, { xa: Uint32Array; ma: Uint32Array }>();

/** The MinHash signature of a text: for each of bands×rows hash functions, the minimum over its shingles. Empty text → all 0xffffffff. */
export function minhashSignature(text: string, p: MinHashParams): Uint32Array {
  const key = `${p.bands}x${p.rows}:${p.seed}`;
  let seeds = seedCache.get(key);
  if (!seeds) {
    seeds = permSeeds(p);
    seedCache.set(key, seeds);
  }
  const { xa, ma } = seeds;
  const k = xa.length;
  const sig = new Uint32Array(k).fill(0xffffffff);
  const sh = shingleHashes(text, p.ngram);
  for (let j = 0; j < sh.length; j++) {
    const x = sh[j];
    for (let i = 0; i < k; i++) {
      // an independent-enough hash per permutation: xor a seed, multiply by an odd constant, mix the high bits down
      let h = Math.imul(x ^ xa[i], ma[i]);
      h ^= h >>> 15;
      h = Math.imul(h, 0x2c1b3c6d) >>> 0;
      if (h < sig[i]) sig[i] = h;
    }
  }
  return sig;
}

/** Fraction of equal signature entries: an unbiased estimate of Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  let eq = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
  return eq / a.length;
}

/** Exact Jaccard similarity of two texts' shingle sets (for tests and verification). */
export function exactJaccard(a: string, b: string, ngram: number): number {
  const A = new Set(shingleHashes(a, ngram));
  const B = new Set(shingleHashes(b, ngram));
  let inter = 0;
  for (const x of A) if (B.has(x)) inter++;
  const union = A.size + B.size - inter;
  return union === 0 ? 1 : inter / union;
}

/** A 52-bit key of band `b` of a signature (two independent 32-bit hashes of its rows). */
export function bandKey(sig: Uint32Array, b: number, rows: number): number {
  let h1 = 0x3c6ef372 ^ b;
  let h2 = 0xa54ff53a ^ Math.imul(b, 0x9e3779b9);
  const off = b * rows;
  for (let r = 0; r < rows; r++) {
    const x = sig[off + r];
    h1 = Math.imul(h1 ^ x, 0x01000193);
    h2 = Math.imul(h2 ^ fmix32(x), 0x5bd1e995) ^ (h2 >>> 13);
  }
  return (fmix32(h1) >>> 6) * 67108864 + (fmix32(h2) >>> 6);
}

/** The text as exact dedup compares it: lower case, punctuation dropped, whitespace collapsed. */
export function normalizeForExact(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** A 52-bit key of the normalised text. */
export function exactKey(text: string): number {
  const t = normalizeForExact(text);
  const h1 = hashRange(t, 0, t.length);
  let h2 = 0x27d4eb2f ^ t.length;
  for (let i = 0; i < t.length; i++) h2 = Math.imul(h2 ^ t.charCodeAt(i), 0x5bd1e995) ^ (h2 >>> 13);
  return (h1 >>> 6) * 67108864 + (fmix32(h2) >>> 6);
}
