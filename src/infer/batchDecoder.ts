// Decoding many sequences at once without tensors: a gpt2- or llama-flavour GPT's forward pass over the rows of one
// step (one new token per decoding sequence, or a prompt's tokens), each sequence in its own slot with its own
// key/value cache and position. The matmuls of a step run as one (rows, ·) GEMM over every sequence, on weights packed
// once (Kernels.gemmPacked, batch-invariant: a row's logits are bit for bit the same alone or in any batch); per layer,
// one Kernels.kvAppend call stores every row's key and value (RoPE first) and one Kernels.decodeAttention call attends
// every decoded row over its own cache. Generation, rollouts and the server decode through it; GPT.forward with a
// KVCache stays the definition, and test/infer/batchDecoder.test.ts holds this one to it.
import { headDim } from "../model/config.js";
import type { GPT } from "../model/gpt.js";
import { Embedding, LayerNorm, Linear, RMSNorm } from "../nn/layers.js";
import { DECODE_KEY_BLOCK, type Kernels, type PackedWeight } from "../tensor/backend/kernels.js";
import { QuantLinear, quantMatmul, type QuantWeight } from "../nn/quantLinear.js";

/** A plain Linear's weight (out, in), packed for the backend's gemmPacked (or a QuantLinear's quantised weight `q`), and its bias. */
interface Dense {
  w: PackedWeight | null;
  q?: QuantWeight;
  b: Float32Array | null;
  out: number;
  inp: number;
}

interface Norm {
  w: Float32Array;
  b: Float32Array | null;
  eps: number;
}

interface LayerWeights {
  ln1: Norm;
  attn: Dense;
  proj: Dense;
  ln2: Norm;
  fc: Dense;
  fcProj: Dense;
}

/** Why a model cannot use a {@link BatchDecoder} (null when it can). */
export function batchDecoderUnsupported(model: GPT): string | null {
  const c = model.config;
  if (c.moeExperts) return "mixture-of-experts layers have no batched decode path yet";
  if (model.dtype !== "f32") return `weights in ${model.dtype}`;
  if (!model.cacheable) return "an attention override (prefix tuning) is attached";
  const Norm = c.flavour === "gpt2" ? LayerNorm : RMSNorm;
  if (!(model.wte instanceof Embedding) || !(model.ln_f instanceof Norm)) return "the embeddings or the final norm are not plain modules";
  if (c.flavour === "gpt2" && !(model.wpe instanceof Embedding)) return "the position embedding is not a plain module";
  if (model.lm_head && model.lm_head.constructor !== Linear && !(model.lm_head instanceof QuantLinear)) return "the LM head is adapted";
  for (const b of model.h.items) {
    for (const l of [b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj]) if (l.constructor !== Linear && !(l instanceof QuantLinear)) return "a layer carries adapters (merge them first)";
    if (!(b.ln_1 instanceof Norm) || !(b.ln_2 instanceof Norm)) return `a norm is not a ${Norm.name}`;
  }
  return null;
}

/** Strides of a contiguous vector (for the backend's elementwise kernels). */
const UNIT_STRIDE: readonly number[] = [1];
/** Floats from which a residual add goes to the backend's kernel rather than a JS loop. */
const NATIVE_ADD_MIN = 512;

/** What one step feeds: `tokens` appended to the sequence in `slot`. */
export interface DecodeEntry {
  slot: number;
  tokens: ArrayLike<number>;
}

/** Errors of use (a full cache, a slot fed twice in one step, a token outside the vocabulary). */
export class BatchDecoderError extends Error {
  constructor(message: string) {
    super(`BatchDecoder: ${message}`);
    this.name = "BatchDecoderError";
  }
}

/**
 * `slots` sequences of up to `maxLen` tokens (default the block size), decoded together. Packs the weights of every
 * matmul (and the LM head, tied or not) once, when it is made: a copy in the kernels' layout, so those weights take
 * twice their memory while the decoder lives, and a decoder made before the weights change keeps the old ones (make a
 * new one). The embeddings and norms are read in place. Make it under the SIMD level it will run on. The caches grow
 * with the highest slot used (doubling), so slots are best used from 0 up.
 */
export class BatchDecoder {
  readonly maxLen: number;
  readonly slots: number;
  readonly vocabSize: number;
  private readonly k: Kernels;
  private readonly llama: boolean;
  private readonly C: number;
  private readonly H: number;
  private readonly Hkv: number;
  private readonly D: number;
  private readonly M: number;
  private readonly ropeBase: number;
  private readonly wte: Float32Array;
  private readonly wpe: Float32Array | null;
  private readonly head: Dense;
  private readonly lnF: Norm;
  private readonly layers: LayerWeights[];
  private readonly lengths: Int32Array;
  /** Keys and values per layer, every slot in one buffer, slot s at s * slotStride: keys (maxLen / 16, Hkv, D, 16), values (maxLen, Hkv, D) (KvCaches). */
  private keys: Float32Array[];
  private values: Float32Array[];
  private capSlots = 0;
  private readonly slotStride: number;
  /** Step scratch, grown to the largest step (rows) seen. */
  private rows = 0;
  private x = new Float32Array(0);
  private xn = new Float32Array(0);
  private qkv = new Float32Array(0);
  private y = new Float32Array(0);
  private tmp = new Float32Array(0);
  private hid = new Float32Array(0);
  private act = new Float32Array(0);
  private stats = new Float32Array(0);
  private lse = new Float32Array(0);
  private logits = new Float32Array(0);
  /** Slot and position of every row of the step; the rows decodeAttention serves (row, slot, length). */
  private rowSlot = new Int32Array(0);
  private rowPos = new Int32Array(0);
  private attRow = new Int32Array(0);
  private attSlot = new Int32Array(0);
  private attLen = new Int32Array(0);

  /** A decoder on `model` (see {@link batchDecoderUnsupported}). */
  constructor(model: GPT, opts: { slots?: number; maxLen?: number } = {}) {
    const why = batchDecoderUnsupported(model);
    if (why) throw new BatchDecoderError(why);
    const c = model.config;
    const maxLen = opts.maxLen ?? c.blockSize;
    const slots = opts.slots ?? 1;
    if (!(Number.isInteger(maxLen) && maxLen >= 1 && maxLen <= c.blockSize)) throw new BatchDecoderError(`maxLen ${maxLen} is outside 1..${c.blockSize}`);
    if (!(Number.isInteger(slots) && slots >= 1)) throw new BatchDecoderError(`slots must be a whole number >= 1, got ${slots}`);
    this.maxLen = maxLen;
    this.slots = slots;
    this.k = model.wte.weight.kernels();
    this.llama = c.flavour === "llama";
    this.C = c.nEmbd;
    this.H = c.nHead;
    this.Hkv = c.nKvHead;
    this.D = headDim(c);
    this.M = c.mlpHidden;
    this.ropeBase = c.ropeBase;
    this.vocabSize = c.vocabSize;
    const f32 = (t: { contiguousData(): unknown }) => t.contiguousData() as Float32Array;
    const pack = (w: Float32Array, out: number, inp: number) => this.k.packWeight(w, 0, out, inp);
    const dense = (l: Linear | QuantLinear): Dense => {
      if (l instanceof QuantLinear) return { w: null, q: l.weight, b: l.bias ? f32(l.bias) : null, out: l.outFeatures, inp: l.inFeatures };
      const [out, inp] = l.weight.shape;
      return { w: pack(f32(l.weight), out, inp), b: l.bias ? f32(l.bias) : null, out, inp };
    };
    const norm = (n: LayerNorm | RMSNorm): Norm => ({ w: f32(n.weight), b: n instanceof LayerNorm && n.bias ? f32(n.bias) : null, eps: n.eps });
    this.wte = f32(model.wte.weight);
    this.wpe = model.wpe ? f32((model.wpe as Embedding).weight) : null;
    this.head = model.lm_head ? dense(model.lm_head) : { w: pack(this.wte, this.vocabSize, this.C), b: null, out: this.vocabSize, inp: this.C };
    this.lnF = norm(model.ln_f as LayerNorm | RMSNorm);
    this.layers = model.h.items.map((b) => ({
      ln1: norm(b.ln_1 as LayerNorm | RMSNorm),
      attn: dense(b.attn.c_attn),
      proj: dense(b.attn.c_proj),
      ln2: norm(b.ln_2 as LayerNorm | RMSNorm),
      fc: dense(b.mlp.c_fc),
      fcProj: dense(b.mlp.c_proj),
    }));
    this.lengths = new Int32Array(slots);
    this.slotStride = Math.ceil(maxLen / DECODE_KEY_BLOCK) * DECODE_KEY_BLOCK * this.Hkv * this.D;
    this.keys = this.layers.map(() => new Float32Array(0));
    this.values = this.layers.map(() => new Float32Array(0));
  }

  /** Tokens held by `slot` (the next token's position). */
  length(slot: number): number {
    this.checkSlot(slot);
    return this.lengths[slot];
  }

  /** Forgets the tokens of `slot` after the first `len` (all of them by default); its cache is kept for reuse. */
  truncate(slot: number, len = 0): void {
    this.checkSlot(slot);
    if (!(Number.isInteger(len) && len >= 0 && len <= this.lengths[slot])) throw new BatchDecoderError(`cannot truncate slot ${slot} of ${this.lengths[slot]} tokens to ${len}`);
    this.lengths[slot] = len;
  }

  /**
   * Makes `dst` hold the first `len` tokens of `src` (all by default) by copying their keys and values: many
   * completions of one prompt share its prefill.
   */
  copy(src: number, dst: number, len = this.length(src)): void {
    this.checkSlot(dst);
    if (!(Number.isInteger(len) && len >= 0 && len <= this.length(src))) throw new BatchDecoderError(`slot ${src} holds ${this.lengths[src]} tokens, not ${len}`);
    if (src === dst) {
      this.lengths[dst] = len;
      return;
    }
    const kvw = this.Hkv * this.D;
    if (len > 0) {
      this.reserve(dst);
      const [s, d] = [src * this.slotStride, dst * this.slotStride];
      // keys come in blocks of 16 positions: the blocks that hold the first len (later positions are written before read)
      const keyFloats = Math.ceil(len / DECODE_KEY_BLOCK) * DECODE_KEY_BLOCK * kvw;
      for (let l = 0; l < this.layers.length; l++) {
        this.keys[l].copyWithin(d, s, s + keyFloats);
        this.values[l].copyWithin(d, s, s + len * kvw);
      }
    }
    this.lengths[dst] = len;
  }

  /**
   * Feeds each entry's tokens at the next positions of its slot and returns the logits (entries, V) after each
   * entry's last token: a view into the decoder's buffer, overwritten by the next call. Every entry names a
   * different slot; an entry with no tokens is an error.
   */
  step(entries: readonly DecodeEntry[]): Float32Array {
    const { C, H, Hkv, D } = this;
    const E = entries.length;
    if (E === 0) return this.logits.subarray(0, 0);
    const seen = new Set<number>();
    let N = 0;
    let top = 0;
    for (const e of entries) {
      this.checkSlot(e.slot);
      if (seen.has(e.slot)) throw new BatchDecoderError(`slot ${e.slot} is fed twice in one step`);
      seen.add(e.slot);
      if (e.tokens.length === 0) throw new BatchDecoderError(`nothing to feed slot ${e.slot}`);
      if (this.lengths[e.slot] + e.tokens.length > this.maxLen) {
        throw new BatchDecoderError(`slot ${e.slot} holds ${this.lengths[e.slot]} tokens: ${e.tokens.length} more do not fit its ${this.maxLen} positions`);
      }
      for (let i = 0; i < e.tokens.length; i++) {
        const tok = e.tokens[i];
        if (!(Number.isInteger(tok) && tok >= 0 && tok < this.vocabSize)) throw new BatchDecoderError(`token ${tok} is outside the vocabulary of ${this.vocabSize}`);
      }
      N += e.tokens.length;
      top = Math.max(top, e.slot);
    }
    this.grow(N, E);
    this.reserve(top);
    const W = (H + 2 * Hkv) * D;
    const { x, xn, qkv, y, tmp, hid, act, rowSlot, rowPos, attRow, attSlot, attLen, slotStride } = this;
    // every row's slot and position; the rows that attend over the cache: all but a fresh prompt's (p0 = 0, several
    // tokens), which runs the backend's causal attention over its own rows instead
    let nAtt = 0;
    for (let r = 0, ei = 0; ei < E; ei++) {
      const e = entries[ei];
      const p0 = this.lengths[e.slot];
      const T = e.tokens.length;
      for (let i = 0; i < T; i++, r++) {
        rowSlot[r] = e.slot;
        rowPos[r] = p0 + i;
        if (p0 > 0 || T === 1) {
          attRow[nAtt] = r;
          attSlot[nAtt] = e.slot;
          attLen[nAtt++] = p0 + i + 1;
        }
      }
    }
    // embeddings: (N, C), rows in entry order
    for (let r = 0, ei = 0; ei < E; ei++) {
      const e = entries[ei];
      const p0 = this.lengths[e.slot];
      for (let i = 0; i < e.tokens.length; i++, r++) {
        const tok = e.tokens[i];
        const o = r * C;
        x.set(this.wte.subarray(tok * C, tok * C + C), o);
        if (this.wpe) for (let j = 0, po = (p0 + i) * C; j < C; j++) x[o + j] += this.wpe[po + j];
      }
    }
    const scale = 1 / Math.sqrt(D);
    const fc = this.llama ? 2 * this.M : this.M;
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      this.norm(x, L.ln1, xn, N);
      this.dense(L.attn, xn, qkv, N);
      const caches = { kCache: this.keys[l], vCache: this.values[l], slotStride };
      this.k.kvAppend({ n: N, H, Hkv, D, qkv, qkvOff: 0, qkvRowStride: W, slot: rowSlot, pos: rowPos, ropeBase: this.llama ? this.ropeBase : 0, ...caches });
      if (nAtt > 0) this.k.decodeAttention({ n: nAtt, H, Hkv, D, scale, q: qkv, qOff: 0, qRowStride: W, row: attRow, slot: attSlot, len: attLen, out: y, ...caches });
      for (let r = 0, ei = 0; ei < E; ei++) {
        const T = entries[ei].tokens.length;
        if (this.lengths[entries[ei].slot] === 0 && T > 1) {
          // a fresh prompt: the backend's causal attention over its own (rotated) rows
          this.k.attention({ B: 1, T, H, Hkv, D, scale, q: qkv, qOff: r * W, qRowStride: W, k: qkv, kOff: r * W + H * D, v: qkv, vOff: r * W + (H + Hkv) * D, kvRowStride: W, out: y.subarray(r * H * D), lse: this.lse });
        }
        r += T;
      }
      this.dense(L.proj, y, tmp, N);
      this.residual(x, tmp, N);
      this.norm(x, L.ln2, xn, N);
      this.dense(L.fc, xn, hid, N);
      if (this.llama) {
        // hid rows are [gate (M); up (M)]: act = silu(gate) · up
        const M = this.M;
        this.k.unary("silu", hid, tmp, N * fc);
        for (let r = 0; r < N; r++) for (let i = 0, a = r * M, h = r * fc; i < M; i++) act[a + i] = tmp[h + i] * hid[h + M + i];
      } else {
        this.k.unary("gelu", hid, act, N * fc);
      }
      this.dense(L.fcProj, act, tmp, N);
      this.residual(x, tmp, N);
    }
    // the head only for each entry's last row: (E, C) -> (E, V)
    for (let r = 0, ei = 0; ei < E; ei++) {
      r += entries[ei].tokens.length;
      x.copyWithin(ei * C, (r - 1) * C, r * C); // ei <= r - 1: rows move up, none is overwritten before it is read
      this.lengths[entries[ei].slot] += entries[ei].tokens.length;
    }
    this.norm(x, this.lnF, xn, E);
    this.dense(this.head, xn, this.logits, E);
    return this.logits.subarray(0, E * this.vocabSize);
  }

  /**
   * x (rows, C) += d (rows, C): a JS loop for a few hundred floats, the backend's kernel above that (16 rows of width
   * 192: 1.3-1.7 µs against 5.6-7.3 µs in JS, Zen 5; the kernel's call costs about 1 µs, more than one row's loop).
   */
  private residual(x: Float32Array, d: Float32Array, rows: number): void {
    const n = rows * this.C;
    if (n >= NATIVE_ADD_MIN && this.k.name === "native") this.k.binary("add", x, 0, UNIT_STRIDE, d, 0, UNIT_STRIDE, x, [n]);
    else for (let i = 0; i < n; i++) x[i] += d[i];
  }

  /** out (rows, C) = the norm of x (rows, C). */
  private norm(x: Float32Array, n: Norm, out: Float32Array, rows: number): void {
    const a = this.stats.subarray(0, rows);
    if (this.llama) this.k.rmsNorm(x, n.w, out, a, rows, this.C, n.eps);
    else this.k.layerNorm(x, n.w, n.b, out, a, this.stats.subarray(rows, 2 * rows), rows, this.C, n.eps);
  }

  /** out (rows, d.out) = x (rows, d.inp) · Wᵀ + d.b, each row's result independent of the others (batch-invariant). */
  private dense(d: Dense, x: Float32Array, out: Float32Array, rows: number): void {
    if (d.q) quantMatmul(x, rows, d.q, d.b, out, this.k.name !== "ref");
    else this.k.gemmPacked(x, rows, d.w as PackedWeight, d.b, out);
  }

  private grow(N: number, E: number): void {
    if (this.logits.length < E * this.vocabSize) this.logits = new Float32Array(Math.max(E, this.slots) * this.vocabSize);
    if (N <= this.rows) return;
    const { C, H, Hkv, D } = this;
    const fc = this.llama ? 2 * this.M : this.M;
    this.rows = N;
    this.x = new Float32Array(N * C);
    this.xn = new Float32Array(N * C);
    this.qkv = new Float32Array(N * (H + 2 * Hkv) * D);
    this.y = new Float32Array(N * H * D);
    this.tmp = new Float32Array(N * Math.max(C, fc));
    this.hid = new Float32Array(N * fc);
    this.act = new Float32Array(N * this.M);
    this.stats = new Float32Array(2 * N);
    this.lse = new Float32Array(H * N);
    this.rowSlot = new Int32Array(N);
    this.rowPos = new Int32Array(N);
    this.attRow = new Int32Array(N);
    this.attSlot = new Int32Array(N);
    this.attLen = new Int32Array(N);
  }

  /** Grows the caches to hold slots 0..slot (doubling, at most `slots`), keeping what they hold. */
  private reserve(slot: number): void {
    if (slot < this.capSlots) return;
    const cap = Math.min(this.slots, Math.max(slot + 1, 2 * this.capSlots));
    const grow = (old: Float32Array) => {
      const a = new Float32Array(cap * this.slotStride);
      a.set(old);
      return a;
    };
    this.keys = this.keys.map(grow);
    this.values = this.values.map(grow);
    this.capSlots = cap;
  }

  private checkSlot(slot: number): void {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.slots)) throw new BatchDecoderError(`slot ${slot} is outside 0..${this.slots - 1}`);
  }
}
