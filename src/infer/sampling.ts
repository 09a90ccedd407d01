// Next-token selection from one row of logits: repetition penalty (as in Hugging Face / CTRL),
// temperature, top-k, top-p (nucleus) and seeded sampling; temperature 0 is greedy argmax.
import { nativeKernels } from "../tensor/backend/native.js";
import type { Rng } from "../tensor/rng.js";

/** From this vocabulary size on, greedy picks and whole-vocabulary sampling run in native kernels (vector passes). */
const NATIVE_EXP_MIN = 256;

export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise logits are divided by it. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability mass reaches p (1: all). */
  topP?: number;
  /** > 1 discourages tokens already seen: positive logits divided by it, negative multiplied. */
  repetitionPenalty?: number;
}

/** A sampling option out of range; the message names it. */
export class SamplingOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SamplingOptionError";
  }
}

/** Throws on options out of range (negative temperature, topP outside (0, 1], ...). */
export function checkSamplingOptions(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) {
    throw new SamplingOptionError(`temperature must be a number >= 0 (0 = greedy), got ${o.temperature}`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new SamplingOptionError(`topK must be a whole number >= 0 (0 = off), got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new SamplingOptionError(`topP must be in (0, 1], got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) {
    throw new SamplingOptionError(`repetitionPenalty must be > 0 (1 = off), got ${o.repetitionPenalty}`);
  }
}

/** In place: each distinct token of `history` gets its logit divided (if > 0) or multiplied by `penalty`. */
export function applyRepetitionPenalty(logits: Float64Array, history: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (const id of history) {
    if (seen.has(id) || id < 0 || id >= logits.length) continue;
    seen.add(id);
    const l = logits[id];
    logits[id] = l > 0 ? l / penalty : l * penalty;
  }
}

const argOut = new Float32Array(1);
const argIdx = new Int32Array(1);

/** Index of the largest value (the first one on ties); long f32 rows through the native maxAxis kernel. */
export function argmaxRow(x: ArrayLike<number>): number {
  if (nativeKernels && x instanceof Float32Array && x.length >= NATIVE_EXP_MIN) {
    nativeKernels.maxAxis(x, argOut, argIdx, 1, x.length, 1);
    return argIdx[0];
  }
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * Picks the next token from `logits` (one row of V values). `history` are the ids seen so far
 * (prompt + generated) for the repetition penalty. Deterministic for a given rng state.
 */
export function sampleToken(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng, history: Iterable<number> = []): number {
  const V = logits.length;
  if ((opts.repetitionPenalty ?? 1) === 1) {
    // The common cases without a copy of the row: greedy, and sampling over the whole vocabulary (the general path's
    // arithmetic without the native backend; with it, the exponentials in f32 by the native kernel).
    const t = opts.temperature ?? 1;
    if (t === 0) return argmaxRow(logits);
    if (!(opts.topK && opts.topK > 0 && opts.topK < V) && (opts.topP ?? 1) >= 1) return sampleWhole(logits, t, rng);
  }
  const l = Float64Array.from(logits);
  applyRepetitionPenalty(l, history, opts.repetitionPenalty ?? 1);
  const temperature = opts.temperature ?? 1;
  if (temperature === 0) return argmaxRow(l);
  const k = opts.topK && opts.topK > 0 ? Math.min(opts.topK, V) : V;
  const topP = opts.topP ?? 1;
  // Candidates by logit, descending (ties by id, for determinism). No sort is needed when
  // every token stays a candidate.
  const order = k < V ? topKIndices(l, k) : topP < 1 ? sortedIndices(l) : identity(V);
  let mx = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < order.length; i++) if (l[order[i]] > mx) mx = l[order[i]];
  const probs = new Float64Array(order.length);
  let sum = 0;
  for (let i = 0; i < order.length; i++) {
    probs[i] = Math.exp((l[order[i]] - mx) / temperature);
    sum += probs[i];
  }
  let n = order.length;
  if (topP < 1) {
    let cum = 0;
    for (let i = 0; i < order.length; i++) {
      cum += probs[i] / sum;
      if (cum >= topP) {
        n = i + 1;
        break;
      }
    }
    sum = 0;
    for (let i = 0; i < n; i++) sum += probs[i];
  }
  let r = rng.uniform() * sum;
  for (let i = 0; i < n; i++) {
    r -= probs[i];
    if (r < 0) return order[i];
  }
  return order[n - 1];
}

let probScratch = new Float64Array(0);
let shift32 = new Float32Array(0);
let exp32 = new Float32Array(0);

/**
 * Samples from softmax(logits / t) over every token, on reused scratch buffers. With the native backend the
 * probabilities are the f32 `softmax` kernel's (vector passes instead of V calls of Math.exp, which cost more than a
 * whole decoding step for 16 rows at V = 4096); without it, Math.exp in double.
 */
function sampleWhole(logits: ArrayLike<number>, t: number, rng: Rng): number {
  const V = logits.length;
  if (nativeKernels && V >= NATIVE_EXP_MIN) {
    if (exp32.length < V) {
      shift32 = new Float32Array(V);
      exp32 = new Float32Array(V);
    }
    let x: Float32Array;
    if (t === 1 && logits instanceof Float32Array) x = logits;
    else {
      for (let i = 0; i < V; i++) shift32[i] = logits[i] / t;
      x = shift32;
    }
    nativeKernels.softmax(x, exp32, 1, V, false);
    // the probabilities sum to 1 within f32 rounding: a draw past their sum takes the last likely token
    let r = rng.uniform();
    for (let i = 0; i < V; i++) {
      r -= exp32[i];
      if (r < 0) return i;
    }
    for (let i = V - 1; i > 0; i--) if (exp32[i] > 0) return i;
    return 0;
  }
  let mx = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) if (logits[i] > mx) mx = logits[i];
  if (probScratch.length < V) probScratch = new Float64Array(V);
  const probs = probScratch;
  let sum = 0;
  for (let i = 0; i < V; i++) {
    probs[i] = Math.exp((logits[i] - mx) / t);
    sum += probs[i];
  }
  let r = rng.uniform() * sum;
  for (let i = 0; i < V; i++) {
    r -= probs[i];
    if (r < 0) return i;
  }
  return V - 1;
}

/** 0, 1, ..., n - 1. */
function identity(n: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  return idx;
}

function sortedIndices(l: Float64Array): Int32Array {
  const idx = identity(l.length);
  return idx.sort((a, b) => l[b] - l[a] || a - b);
}

/**
 * The k largest entries' indices, descending (ties by id; NaN counts as -Infinity): the k-th largest value found by
 * quickselect on a copy (O(V)), then only the k candidates sorted.
 */
export function topKIndices(l: Float64Array, k: number): Int32Array {
  const V = l.length;
  const tmp = new Float64Array(V);
  for (let i = 0; i < V; i++) tmp[i] = Number.isNaN(l[i]) ? Number.NEGATIVE_INFINITY : l[i];
  const thr = kthLargest(tmp, k);
  const out = new Int32Array(k);
  let n = 0;
  for (let i = 0; i < V && n < k; i++) if (l[i] > thr) out[n++] = i;
  for (let i = 0; i < V && n < k; i++) if (l[i] === thr) out[n++] = i;
  for (let i = 0; i < V && n < k; i++) if (Number.isNaN(l[i])) out[n++] = i; // NaN, when fewer than k numbers
  const key = (i: number) => (Number.isNaN(l[i]) ? Number.NEGATIVE_INFINITY : l[i]);
  return out.sort((a, b) => key(b) - key(a) || a - b);
}

/** The k-th largest of `a` (1-based; a is reordered): iterative quickselect with a median-of-three pivot. */
function kthLargest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const want = k - 1; // index in descending order
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = x > y ? (y > z ? y : Math.min(x, z)) : x > z ? x : Math.min(y, z);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return a[want];
  }
  return a[want];
}
