// One-token decoding without tensors: the forward pass of a gpt2-flavour GPT for a single new token, over its own
// key/value cache, on preallocated buffers with the backend's kernels (GEMV through gemm, LayerNorm, GELU) and the
// attention of one query written out here. It is what generation calls per token: the Tensor path (GPT.forward
// with a KVCache) stays the definition, and test/infer/decodeSession.test.ts holds this one to it.
import { Embedding, LayerNorm, Linear } from "../nn/layers.js";
import type { Kernels } from "../tensor/backend/kernels.js";
import { headDim } from "../model/config.js";
import type { GPT } from "../model/gpt.js";

/** A plain Linear's weight (out, in) and bias as the session reads them. */
interface Dense {
  w: Float32Array;
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

/** Why a model cannot use a {@link DecodeSession} (null when it can). */
export function decodeSessionUnsupported(model: GPT): string | null {
  const c = model.config;
  if (c.flavour !== "gpt2") return `the ${c.flavour} flavour has no one-token path yet`;
  if (model.dtype !== "f32") return `weights in ${model.dtype}`;
  if (!model.cacheable) return "an attention override (prefix tuning) is attached";
  if (!(model.wte instanceof Embedding) || !(model.wpe instanceof Embedding) || !(model.ln_f instanceof LayerNorm)) return "the embeddings or the final norm are not plain modules";
  if (model.lm_head && model.lm_head.constructor !== Linear) return "the LM head is adapted";
  for (const b of model.h.items) {
    for (const l of [b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj]) if (l.constructor !== Linear) return "a layer carries adapters (merge them first)";
    if (!(b.ln_1 instanceof LayerNorm) || !(b.ln_2 instanceof LayerNorm)) return "a norm is not a LayerNorm";
  }
  return null;
}

/**
 * Feeds tokens one at a time at positions 0, 1, ... (up to the block size) and gives the logits of the last one.
 * Reads the model's weights in place (no copy): make a new session after the weights change.
 */
export class DecodeSession {
  readonly maxLen: number;
  private pos = 0;
  private readonly k: Kernels;
  private readonly C: number;
  private readonly H: number;
  private readonly Hkv: number;
  private readonly D: number;
  private readonly V: number;
  private readonly wte: Float32Array;
  private readonly wpe: Float32Array;
  private readonly head: Dense;
  private readonly lnF: Norm;
  private readonly layers: LayerWeights[];
  /** Keys and values per layer: (maxLen, Hkv, D). */
  private readonly keys: Float32Array[];
  private readonly values: Float32Array[];
  // scratch, reused every token
  private readonly x: Float32Array;
  private readonly xn: Float32Array;
  private readonly qkv: Float32Array;
  private readonly y: Float32Array;
  private readonly tmp: Float32Array;
  private readonly hid: Float32Array;
  private readonly act: Float32Array;
  private readonly scores: Float32Array;
  private readonly logits: Float32Array;
  private readonly stat = new Float32Array(2);

  /** A session on `model` (see {@link decodeSessionUnsupported}); `maxLen` positions (default the block size). */
  constructor(model: GPT, maxLen = model.config.blockSize) {
    const why = decodeSessionUnsupported(model);
    if (why) throw new Error(`DecodeSession: ${why}`);
    const c = model.config;
    if (!(Number.isInteger(maxLen) && maxLen >= 1 && maxLen <= c.blockSize)) throw new Error(`DecodeSession: maxLen ${maxLen} is outside 1..${c.blockSize}`);
    this.maxLen = maxLen;
    this.k = model.wte.weight.kernels();
    this.C = c.nEmbd;
    this.H = c.nHead;
    this.Hkv = c.nKvHead;
    this.D = headDim(c);
    this.V = c.vocabSize;
    const f32 = (t: { contiguousData(): unknown }) => t.contiguousData() as Float32Array;
    const dense = (l: Linear): Dense => ({ w: f32(l.weight), b: l.bias ? f32(l.bias) : null, out: l.weight.shape[0], inp: l.weight.shape[1] });
    const norm = (n: LayerNorm): Norm => ({ w: f32(n.weight), b: n.bias ? f32(n.bias) : null, eps: n.eps });
    this.wte = f32(model.wte.weight);
    this.wpe = f32((model.wpe as Embedding).weight);
    this.head = model.lm_head ? dense(model.lm_head) : { w: this.wte, b: null, out: this.V, inp: this.C };
    this.lnF = norm(model.ln_f as LayerNorm);
    this.layers = model.h.items.map((b) => ({
      ln1: norm(b.ln_1 as LayerNorm),
      attn: dense(b.attn.c_attn),
      proj: dense(b.attn.c_proj),
      ln2: norm(b.ln_2 as LayerNorm),
      fc: dense(b.mlp.c_fc),
      fcProj: dense(b.mlp.c_proj),
    }));
    const kv = maxLen * this.Hkv * this.D;
    this.keys = this.layers.map(() => new Float32Array(kv));
    this.values = this.layers.map(() => new Float32Array(kv));
    this.x = new Float32Array(this.C);
    this.xn = new Float32Array(this.C);
    this.qkv = new Float32Array((this.H + 2 * this.Hkv) * this.D);
    this.y = new Float32Array(this.H * this.D);
    this.tmp = new Float32Array(this.C);
    this.hid = new Float32Array(c.mlpHidden);
    this.act = new Float32Array(c.mlpHidden);
    this.scores = new Float32Array(this.H * maxLen);
    this.logits = new Float32Array(this.V);
  }

  /** Tokens fed so far (the next token's position). */
  get length(): number {
    return this.pos;
  }

  /** Forgets every token fed (the cache is reused). */
  reset(): void {
    this.pos = 0;
  }

  /**
   * Feeds `token` at position {@link length} and returns the logits (V) of the next token: a view into the
   * session's buffer, overwritten by the next call.
   */
  step(token: number): Float32Array {
    const { C, H, Hkv, D } = this;
    const t = this.pos;
    if (t >= this.maxLen) throw new Error(`DecodeSession: the cache holds ${this.maxLen} positions; reset() before feeding more`);
    if (!(Number.isInteger(token) && token >= 0 && token < this.V)) throw new Error(`DecodeSession: token ${token} is outside the vocabulary of ${this.V}`);
    const x = this.x;
    for (let i = 0; i < C; i++) x[i] = this.wte[token * C + i] + this.wpe[t * C + i];
    const scale = 1 / Math.sqrt(D);
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      this.norm(x, L.ln1, this.xn);
      this.dense(L.attn, this.xn, this.qkv);
      // cache this position's keys and values: (t, Hkv, D)
      const kc = this.keys[l];
      const vc = this.values[l];
      const row = Hkv * D;
      kc.set(this.qkv.subarray(H * D, (H + Hkv) * D), t * row);
      vc.set(this.qkv.subarray((H + Hkv) * D, (H + 2 * Hkv) * D), t * row);
      // one query per head over positions 0..t
      this.attend(this.qkv, kc, vc, t, row, scale);
      this.dense(L.proj, this.y, this.tmp);
      for (let i = 0; i < C; i++) x[i] += this.tmp[i];
      this.norm(x, L.ln2, this.xn);
      this.dense(L.fc, this.xn, this.hid);
      this.k.unary("gelu", this.hid, this.act, this.hid.length);
      this.dense(L.fcProj, this.act, this.tmp);
      for (let i = 0; i < C; i++) x[i] += this.tmp[i];
    }
    this.norm(x, this.lnF, this.xn);
    this.dense(this.head, this.xn, this.logits);
    this.pos++;
    return this.logits;
  }

  /**
   * Feeds `tokens` at once into an empty session (the prompt): every layer as (T, ·) GEMMs and the backend's causal
   * attention, the keys and values cached; returns the logits (V) after the last token, as {@link step} would.
   * A session that already holds tokens feeds them one by one.
   */
  prefill(tokens: ArrayLike<number>): Float32Array {
    const T = tokens.length;
    if (T === 0) throw new Error("DecodeSession: nothing to prefill");
    if (this.pos > 0 || T === 1) {
      let out = this.logits;
      for (let i = 0; i < T; i++) out = this.step(tokens[i]);
      return out;
    }
    if (T > this.maxLen) throw new Error(`DecodeSession: ${T} tokens do not fit the cache of ${this.maxLen} positions`);
    const { C, H, Hkv, D } = this;
    const W = (H + 2 * Hkv) * D;
    const row = Hkv * D;
    const x = new Float32Array(T * C);
    const xn = new Float32Array(T * C);
    const qkv = new Float32Array(T * W);
    const y = new Float32Array(T * H * D);
    const tmp = new Float32Array(T * C);
    const hid = new Float32Array(T * this.hid.length);
    const act = new Float32Array(T * this.hid.length);
    const stats = new Float32Array(2 * T);
    const lse = new Float32Array(H * T);
    for (let t = 0; t < T; t++) {
      const tok = tokens[t];
      if (!(Number.isInteger(tok) && tok >= 0 && tok < this.V)) throw new Error(`DecodeSession: token ${tok} is outside the vocabulary of ${this.V}`);
      for (let i = 0; i < C; i++) x[t * C + i] = this.wte[tok * C + i] + this.wpe[t * C + i];
    }
    const norm = (n: Norm, out: Float32Array) => this.k.layerNorm(x, n.w, n.b, out, stats.subarray(0, T), stats.subarray(T), T, C, n.eps);
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      norm(L.ln1, xn);
      this.dense(L.attn, xn, qkv, T);
      const kc = this.keys[l];
      const vc = this.values[l];
      for (let t = 0; t < T; t++) {
        kc.set(qkv.subarray(t * W + H * D, t * W + (H + Hkv) * D), t * row);
        vc.set(qkv.subarray(t * W + (H + Hkv) * D, (t + 1) * W), t * row);
      }
      this.k.attention({ B: 1, T, H, Hkv, D, scale: 1 / Math.sqrt(D), q: qkv, qOff: 0, qRowStride: W, k: qkv, kOff: H * D, v: qkv, vOff: (H + Hkv) * D, kvRowStride: W, out: y, lse });
      this.dense(L.proj, y, tmp, T);
      for (let i = 0; i < T * C; i++) x[i] += tmp[i];
      norm(L.ln2, xn);
      this.dense(L.fc, xn, hid, T);
      this.k.unary("gelu", hid, act, hid.length);
      this.dense(L.fcProj, act, tmp, T);
      for (let i = 0; i < T * C; i++) x[i] += tmp[i];
    }
    // the head only for the last position
    this.x.set(x.subarray((T - 1) * C));
    this.norm(this.x, this.lnF, this.xn);
    this.dense(this.head, this.xn, this.logits);
    this.pos = T;
    return this.logits;
  }

  /**
   * y (H, D) = softmax(q·kᵀ · scale) · v for each head's query in qkv over cached positions 0..t (rows of `row`
   * floats): two batched GEMMs over the heads and a row softmax, so the work runs in the backend's kernels.
   */
  private attend(qkv: Float32Array, kc: Float32Array, vc: Float32Array, t: number, row: number, scale: number): void {
    const { H, D } = this;
    const L = t + 1;
    const s = this.scores; // (H, L)
    this.k.gemm({
      transA: false, transB: true, M: 1, N: L, K: D, alpha: scale, a: qkv, aOff: 0, lda: D, b: kc, bOff: 0, ldb: row,
      beta: 0, c: s, cOff: 0, ldc: L, batch: H, strideA: D, strideB: D, strideC: L,
    });
    this.k.softmax(s, s, H, L, false);
    this.k.gemm({
      transA: false, transB: false, M: 1, N: D, K: L, alpha: 1, a: s, aOff: 0, lda: L, b: vc, bOff: 0, ldb: row,
      beta: 0, c: this.y, cOff: 0, ldc: D, batch: H, strideA: L, strideB: D, strideC: D,
    });
  }

  /** out (n.w.length) = LayerNorm(x). */
  private norm(x: Float32Array, n: Norm, out: Float32Array): void {
    this.k.layerNorm(x, n.w, n.b, out, this.stat.subarray(0, 1), this.stat.subarray(1, 2), 1, this.C, n.eps);
  }

  /** out (rows, d.out) = x (rows, d.inp) · d.wᵀ + d.b. */
  private dense(d: Dense, x: Float32Array, out: Float32Array, rows = 1): void {
    this.k.gemm({
      transA: false, transB: true, M: rows, N: d.out, K: d.inp, alpha: 1, a: x, aOff: 0, lda: d.inp, b: d.w, bOff: 0, ldb: d.inp,
      beta: 0, c: out, cOff: 0, ldc: d.out, batch: 1, strideA: 0, strideB: 0, strideC: 0,
    });
    const b = d.b;
    if (b) for (let r = 0; r < rows; r++) for (let i = 0, o = r * d.out; i < d.out; i++) out[o + i] += b[i];
  }
}
