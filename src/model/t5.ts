// The T5 encoder-decoder (Raffel et al. 2020; Hugging Face's T5ForConditionalGeneration maths and
// parameter names): shared token embedding, RMS layer norms without bias, relative position buckets
// (bidirectional in the encoder, causal in the decoder, computed by block 0 and shared by the
// others), no 1/sqrt(d) attention scaling (T5 folds it into the init), ReLU or gated-GELU MLPs, and
// an LM head tied to the embedding with the d_model^-0.5 rescale. Greedy generation runs the encoder
// once, caches the cross-attention keys/values once and grows the decoder's self-attention cache.
import { Dropout, Embedding, Linear, RMSNorm } from "../nn/layers.js";
import { Module, ModuleList, type Init, type ParamOptions } from "../nn/module.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import {
  add, argmax, concat, contiguous, crossEntropy, dropout, gelu, ids, linear, matmul, mul, mulScalar, permute, relu, reshape, slice, softmax,
  transpose, type IdsLike,
} from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { keep, noGrad, shapeStr, Tensor, TensorError, tidy } from "../tensor/tensor.js";
import { assertT5WeightsFit, validateT5Config, type T5Config } from "./t5Config.js";

/** Added to the scores of keys a query may not see (padding, the future); exp() of it is 0 in f32 and f64. */
const MASKED = -1e9;

export interface T5Options {
  /** Seed of the weight init (and of dropout masks). Default 0. */
  seed?: number;
  /** Parameter dtype: f32 (default) or f64 (reference checks). */
  dtype?: DType;
  backend?: BackendName;
  /** false: zero-filled weights instead of the random init (faster when weights are loaded next). */
  initWeights?: boolean;
}

/** One batch for the encoder-decoder: encoder ids with their padding mask, decoder ids, labels. */
export interface T5Batch {
  /** Encoder input ids (B, S). */
  inputIds: IdsLike;
  /** (B·S) 1 for real tokens, 0 for padding (default: all real). */
  attentionMask?: Int32Array;
  /** Decoder input ids (B, T); default: labels shifted right after decoderStartTokenId (-100 read as pad). */
  decoderInputIds?: IdsLike;
  /** (B·T) target ids; -100 is not scored. */
  labels: Int32Array;
}

/**
 * Hugging Face's T5 relative position bucket of `rel` = key position - query position: exact buckets
 * for short distances, logarithmic ones up to maxDistance, the last bucket beyond. Bidirectional
 * (encoder) uses half the buckets per direction; unidirectional (decoder) only looks back.
 * The logarithm is taken in float32, as PyTorch does, so buckets match it exactly.
 */
export function relativePositionBucket(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = 0;
  let nb = numBuckets;
  let n: number;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (rel > 0) buckets += nb;
    n = Math.abs(rel);
  } else {
    n = -Math.min(rel, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return buckets + n;
  const f = Math.fround;
  const scaled = f(f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact))) * (nb - maxExact));
  return buckets + Math.min(maxExact + Math.trunc(scaled), nb - 1);
}

type InitFor = (std: number) => Init;

/** Multi-head attention without biases or score scaling; keys/values from x or from the encoder. */
class T5Attention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly relative_attention_bias: Embedding | null;

  constructor(private readonly c: T5Config, hasBias: boolean, po: ParamOptions, private readonly rng: Rng, init: InitFor) {
    super();
    const inner = c.numHeads * c.dKv;
    const f = c.initFactor;
    // Hugging Face's T5 init: the 1/sqrt(d_kv) of attention folded into q.
    this.q = this.child("q", new Linear(c.dModel, inner, { ...po, bias: false, init: init(f * (c.dModel * c.dKv) ** -0.5) }));
    this.k = this.child("k", new Linear(c.dModel, inner, { ...po, bias: false, init: init(f * c.dModel ** -0.5) }));
    this.v = this.child("v", new Linear(c.dModel, inner, { ...po, bias: false, init: init(f * c.dModel ** -0.5) }));
    this.o = this.child("o", new Linear(inner, c.dModel, { ...po, bias: false, init: init(f * inner ** -0.5) }));
    this.relative_attention_bias = hasBias
      ? this.child("relative_attention_bias", new Embedding(c.relativeAttentionNumBuckets, c.numHeads, { ...po, init: init(f * c.dModel ** -0.5) }))
      : null;
  }

  /** x (B, T, C) -> (B, H, T, D) through projection `p`. */
  heads(x: Tensor, p: Linear): Tensor {
    const [B, T] = x.shape;
    return permute(reshape(p.forward(x), [B, T, this.c.numHeads, this.c.dKv]), [0, 2, 1, 3]);
  }

  /**
   * The position bias (1, H, Tq, Tk) of queries at positions [q0, q0 + Tq) over keys [0, Tk):
   * one learned scalar per head and relative-position bucket.
   */
  positionBias(q0: number, Tq: number, Tk: number, bidirectional: boolean): Tensor {
    if (!this.relative_attention_bias) throw new TensorError("T5Attention.positionBias: only block 0 has relative_attention_bias");
    const c = this.c;
    const buckets = new Int32Array(Tq * Tk);
    for (let i = 0; i < Tq; i++) {
      for (let j = 0; j < Tk; j++) buckets[i * Tk + j] = relativePositionBucket(j - (q0 + i), bidirectional, c.relativeAttentionNumBuckets, c.relativeAttentionMaxDistance);
    }
    const e = this.relative_attention_bias.forward(ids(buckets, [Tq, Tk])); // (Tq, Tk, H)
    return reshape(permute(e, [2, 0, 1]), [1, c.numHeads, Tq, Tk]);
  }

  /** q (B, H, T, D) over k, v (B, H, S, D) with bias broadcast to (B, H, T, S) -> (B, T, C) after o. */
  attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | null, training: boolean): Tensor {
    const [B, H, T, D] = q.shape;
    let scores = matmul(q, transpose(k, -2, -1)); // (B, H, T, S)
    if (bias) scores = add(scores, bias);
    const w = dropout(softmax(scores), this.c.dropout, training, this.rng);
    const y = permute(matmul(w, v), [0, 2, 1, 3]); // (B, T, H, D)
    return this.o.forward(reshape(y, [B, T, H * D]));
  }
}

/** layer.0 of every block: norm, self-attention, residual (bias = position bias + mask). */
class T5LayerSelfAttention extends Module {
  readonly SelfAttention: T5Attention;
  readonly layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(c: T5Config, hasBias: boolean, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    this.SelfAttention = this.child("SelfAttention", new T5Attention(c, hasBias, po, rng, init));
    this.layer_norm = this.child("layer_norm", new RMSNorm(c.dModel, c.layerNormEpsilon, po));
    this.dropout = this.child("dropout", new Dropout(c.dropout, rng));
  }

  forward(x: Tensor, bias: Tensor, cache?: SelfCache): Tensor {
    const a = this.SelfAttention;
    const h = this.layer_norm.forward(x);
    let k = a.heads(h, a.k);
    let v = a.heads(h, a.v);
    if (cache) {
      if (cache.k) {
        k = concat([cache.k, k], 2);
        v = concat([cache.v as Tensor, v], 2);
      }
      cache.k = k;
      cache.v = v;
    }
    return add(x, this.dropout.forward(a.attend(a.heads(h, a.q), k, v, bias, this.training)));
  }
}

/** layer.1 of a decoder block: norm, attention over the encoder output, residual. */
class T5LayerCrossAttention extends Module {
  readonly EncDecAttention: T5Attention;
  readonly layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(c: T5Config, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    this.EncDecAttention = this.child("EncDecAttention", new T5Attention(c, false, po, rng, init));
    this.layer_norm = this.child("layer_norm", new RMSNorm(c.dModel, c.layerNormEpsilon, po));
    this.dropout = this.child("dropout", new Dropout(c.dropout, rng));
  }

  /** The encoder's keys and values (B, H, S, D) for this layer. */
  memory(enc: Tensor): { k: Tensor; v: Tensor } {
    const a = this.EncDecAttention;
    return { k: a.heads(enc, a.k), v: a.heads(enc, a.v) };
  }

  forward(x: Tensor, mem: { k: Tensor; v: Tensor }, mask: Tensor | null): Tensor {
    const a = this.EncDecAttention;
    const q = a.heads(this.layer_norm.forward(x), a.q);
    return add(x, this.dropout.forward(a.attend(q, mem.k, mem.v, mask, this.training)));
  }
}

/** wi -> ReLU -> wo, or (T5 v1.1) wi_0 -> GELU(tanh), times wi_1 -> wo. */
class T5DenseFF extends Module {
  readonly wi: Linear | null = null;
  readonly wi_0: Linear | null = null;
  readonly wi_1: Linear | null = null;
  readonly wo: Linear;
  readonly dropout: Dropout;

  constructor(c: T5Config, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    const inStd = init(c.initFactor * c.dModel ** -0.5);
    const opts = { ...po, bias: false, init: inStd };
    if (c.feedForwardProj === "relu") this.wi = this.child("wi", new Linear(c.dModel, c.dFf, opts));
    else {
      this.wi_0 = this.child("wi_0", new Linear(c.dModel, c.dFf, opts));
      this.wi_1 = this.child("wi_1", new Linear(c.dModel, c.dFf, opts));
    }
    this.wo = this.child("wo", new Linear(c.dFf, c.dModel, { ...po, bias: false, init: init(c.initFactor * c.dFf ** -0.5) }));
    this.dropout = this.child("dropout", new Dropout(c.dropout, rng));
  }

  forward(x: Tensor): Tensor {
    const h = this.wi ? relu(this.wi.forward(x)) : mul(gelu((this.wi_0 as Linear).forward(x)), (this.wi_1 as Linear).forward(x));
    return this.wo.forward(this.dropout.forward(h));
  }
}

/** The last layer of every block: norm, feed-forward, residual. */
class T5LayerFF extends Module {
  readonly DenseReluDense: T5DenseFF;
  readonly layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(c: T5Config, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    this.DenseReluDense = this.child("DenseReluDense", new T5DenseFF(c, po, rng, init));
    this.layer_norm = this.child("layer_norm", new RMSNorm(c.dModel, c.layerNormEpsilon, po));
    this.dropout = this.child("dropout", new Dropout(c.dropout, rng));
  }

  forward(x: Tensor): Tensor {
    return add(x, this.dropout.forward(this.DenseReluDense.forward(this.layer_norm.forward(x))));
  }
}

/** A block: layer = [self-attention, (cross-attention,) feed-forward], as Hugging Face numbers them. */
class T5Block extends Module {
  readonly layer: ModuleList<Module>;
  readonly self: T5LayerSelfAttention;
  readonly cross: T5LayerCrossAttention | null;
  readonly ff: T5LayerFF;

  constructor(c: T5Config, isDecoder: boolean, hasBias: boolean, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    this.self = new T5LayerSelfAttention(c, hasBias, po, rng, init);
    this.cross = isDecoder ? new T5LayerCrossAttention(c, po, rng, init) : null;
    this.ff = new T5LayerFF(c, po, rng, init);
    this.layer = this.child("layer", new ModuleList<Module>(this.cross ? [this.self, this.cross, this.ff] : [this.self, this.ff]));
  }
}

/** The encoder or decoder stack: blocks, then final_layer_norm and dropout. */
class T5Stack extends Module {
  readonly block: ModuleList<T5Block>;
  readonly final_layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(c: T5Config, readonly isDecoder: boolean, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    const n = isDecoder ? c.numDecoderLayers : c.numLayers;
    this.block = this.child("block", new ModuleList(Array.from({ length: n }, (_, i) => new T5Block(c, isDecoder, i === 0, po, rng, init))));
    this.final_layer_norm = this.child("final_layer_norm", new RMSNorm(c.dModel, c.layerNormEpsilon, po));
    this.dropout = this.child("dropout", new Dropout(c.dropout, rng));
  }

  /** Block 0's relative position bias (1, H, Tq, Tk), shared by every block of the stack. */
  positionBias(q0: number, Tq: number, Tk: number): Tensor {
    return this.block.at(0).self.SelfAttention.positionBias(q0, Tq, Tk, !this.isDecoder);
  }
}

/** Self-attention keys/values of one decoder layer so far: (B, H, t, D). */
interface SelfCache {
  k: Tensor | null;
  v: Tensor | null;
}

/**
 * Decoding state of one batch of sequences: the encoder's cross-attention keys/values per decoder
 * layer (computed once) and the decoder's self-attention keys/values (one position more per step).
 * Inference only; dispose() frees its tensors.
 */
export class T5Cache {
  /** Decoder positions already cached (the position of the next token). */
  length = 0;
  readonly self: SelfCache[];

  constructor(
    readonly cross: { k: Tensor; v: Tensor }[],
    /** (B, 1, 1, S): MASKED on encoder padding, else 0; null when nothing is padded. */
    readonly crossMask: Tensor | null,
    readonly batch: number,
  ) {
    this.self = cross.map(() => ({ k: null, v: null }));
  }

  /** Frees the cached tensors (their storage: the keys/values are views of the projections). */
  dispose(): void {
    for (const t of [...this.cross.flatMap((m) => [m.k, m.v]), ...this.self.flatMap((s) => [s.k, s.v]), this.crossMask]) t?.owner().dispose();
  }
}

export interface T5GenerateOptions {
  /** (B·S) encoder padding mask (1 real, 0 pad); default all real. */
  attentionMask?: Int32Array;
  /** Most tokens generated per sequence. */
  maxNewTokens: number;
  /** Stop a sequence at this id (default: the config's eosTokenId; null: never). */
  eosTokenId?: number | null;
  /** false: recompute the whole decoder every step instead of using the cache (for checks). */
  useCache?: boolean;
  /** Chooses sequence b's next token from its logits row (V) and its tokens so far; default: the argmax (greedy). */
  pick?: (logits: ArrayLike<number>, b: number, history: readonly number[]) => number;
}

/**
 * A T5 model. Parameter names are Hugging Face's (`shared.weight`,
 * `encoder.block.0.layer.0.SelfAttention.q.weight`, `decoder.block.0.layer.1.EncDecAttention.k.weight`,
 * `lm_head.weight` when untied, ...) with Linear weights in (out, in) layout, so the state dict is the
 * safetensors file.
 */
export class T5 extends Module {
  readonly config: T5Config;
  readonly dtype: DType;
  readonly backendName: BackendName | undefined;
  readonly shared: Embedding;
  readonly encoder: T5Stack;
  readonly decoder: T5Stack;
  readonly lm_head: Linear | null;
  readonly dropoutRng: Rng;

  constructor(config: T5Config, opts: T5Options = {}) {
    super();
    const c = validateT5Config(config);
    this.config = c;
    this.dtype = opts.dtype ?? "f32";
    this.backendName = opts.backend;
    assertT5WeightsFit(c, this.dtype === "f64" ? 8 : 4);
    const seed = opts.seed ?? 0;
    const rng = new Rng(seed);
    this.dropoutRng = new Rng(seed ^ 0x5eed);
    const po: ParamOptions = { dtype: this.dtype, backend: opts.backend, rng };
    const init: InitFor = opts.initWeights === false ? () => ({ kind: "zeros" }) : (std) => ({ kind: "normal", std });
    this.shared = this.child("shared", new Embedding(c.vocabSize, c.dModel, { ...po, init: init(c.initFactor) }));
    this.encoder = this.child("encoder", new T5Stack(c, false, po, this.dropoutRng, init));
    this.decoder = this.child("decoder", new T5Stack(c, true, po, this.dropoutRng, init));
    this.lm_head = c.tieWordEmbeddings ? null : this.child("lm_head", new Linear(c.dModel, c.vocabSize, { ...po, bias: false, init: init(c.initFactor) }));
  }

  private checkIds(what: string, idx: IdsLike): void {
    if (idx.shape.length !== 2 || idx.shape[1] < 1) throw new TensorError(`T5: ${what} must be (B, T) with T >= 1, got shape ${shapeStr(idx.shape)}`);
    const V = this.config.vocabSize;
    const T = idx.shape[1];
    for (let i = 0; i < idx.data.length; i++) {
      const id = idx.data[i];
      if (!(id >= 0 && id < V)) throw new TensorError(`T5: ${what} id ${id} at (${Math.floor(i / T)}, ${i % T}) is outside the vocabulary [0, ${V})`);
    }
  }

  /** (B, 1, 1, S) additive mask (MASKED where attentionMask is 0), or null when nothing is masked. */
  private paddingMask(mask: Int32Array | undefined, B: number, S: number): Tensor | null {
    if (!mask) return null;
    if (mask.length !== B * S) throw new TensorError(`T5: attentionMask has ${mask.length} entries for (B, S) = (${B}, ${S})`);
    if (mask.every((m) => m !== 0)) return null;
    for (let b = 0; b < B; b++) {
      if (mask.subarray(b * S, (b + 1) * S).every((m) => m === 0)) throw new TensorError(`T5: row ${b} of the encoder input is all padding`);
    }
    const add = new Float64Array(B * S);
    for (let i = 0; i < add.length; i++) add[i] = mask[i] === 0 ? MASKED : 0;
    return Tensor.from(add, [B, 1, 1, S], { dtype: this.dtype, backend: this.backendName });
  }

  /** inputIds (B, S) -> encoder hidden states (B, S, C) after the final norm. */
  encode(inputIds: IdsLike, attentionMask?: Int32Array): Tensor {
    this.checkIds("encoder input", inputIds);
    const [B, S] = inputIds.shape;
    const mask = this.paddingMask(attentionMask, B, S);
    const enc = this.encoder;
    let x = enc.dropout.forward(this.shared.forward(inputIds)); // (B, S, C)
    const pos = enc.positionBias(0, S, S);
    const bias = mask ? add(pos, mask) : pos; // (B|1, H, S, S)
    for (const b of enc.block) x = b.ff.forward(b.self.forward(x, bias));
    return enc.dropout.forward(enc.final_layer_norm.forward(x));
  }

  /**
   * Decoder ids (B, T) at positions [cache.length, ...) -> logits (B, T, V), attending to the encoder
   * output `enc` (B, S, C) (or, with a cache, to its cached keys/values).
   */
  decode(decoderIds: IdsLike, enc: Tensor | null, attentionMask?: Int32Array, cache?: T5Cache): Tensor {
    this.checkIds("decoder input", decoderIds);
    const [B, T] = decoderIds.shape;
    const dec = this.decoder;
    const q0 = cache ? cache.length : 0;
    let crossMask: Tensor | null;
    let mems: { k: Tensor; v: Tensor }[];
    if (cache) {
      if (cache.batch !== B) throw new TensorError(`T5.decode: cache holds ${cache.batch} sequences, ids have ${B}`);
      crossMask = cache.crossMask;
      mems = cache.cross;
    } else {
      if (enc?.ndim !== 3 || enc.shape[0] !== B) throw new TensorError(`T5.decode: encoder output must be (${B}, S, ${this.config.dModel})`);
      crossMask = this.paddingMask(attentionMask, B, enc.shape[1]);
      mems = dec.block.items.map((b) => (b.cross as T5LayerCrossAttention).memory(enc));
    }
    let x = dec.dropout.forward(this.shared.forward(decoderIds)); // (B, T, C)
    const Tk = q0 + T;
    let bias = dec.positionBias(q0, T, Tk); // (1, H, T, Tk)
    if (T > 1) {
      const causal = new Float64Array(T * Tk);
      for (let i = 0; i < T; i++) for (let j = q0 + i + 1; j < Tk; j++) causal[i * Tk + j] = MASKED;
      bias = add(bias, Tensor.from(causal, [1, 1, T, Tk], { dtype: this.dtype, backend: this.backendName }));
    }
    dec.block.items.forEach((b, i) => {
      x = b.self.forward(x, bias, cache?.self[i]);
      x = (b.cross as T5LayerCrossAttention).forward(x, mems[i], crossMask);
      x = b.ff.forward(x);
    });
    x = dec.dropout.forward(dec.final_layer_norm.forward(x));
    if (cache) cache.length = Tk;
    return this.head(x);
  }

  /** Decoder hidden states (..., C) -> logits (..., V); tied: the shared embedding after the d_model^-0.5 rescale. */
  head(x: Tensor): Tensor {
    return this.lm_head ? this.lm_head.forward(x) : linear(mulScalar(x, this.config.dModel ** -0.5), this.shared.weight);
  }

  /** Labels shifted right after decoderStartTokenId, -100 replaced by the pad id (Hugging Face's _shift_right). */
  shiftRight(labels: Int32Array, B: number, T: number): IdsLike {
    const c = this.config;
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      out[b * T] = c.decoderStartTokenId;
      for (let t = 1; t < T; t++) {
        const l = labels[b * T + t - 1];
        out[b * T + t] = l === -100 ? c.padTokenId : l;
      }
    }
    return ids(out, [B, T]);
  }

  /** Logits (B, T, V) of a batch (decoder inputs from the labels unless given). */
  forward(batch: T5Batch): Tensor {
    const dec = this.decoderInputs(batch);
    return this.decode(dec, this.encode(batch.inputIds, batch.attentionMask), batch.attentionMask);
  }

  private decoderInputs(batch: T5Batch): IdsLike {
    const B = batch.inputIds.shape[0];
    if (batch.decoderInputIds) {
      if (batch.decoderInputIds.data.length !== batch.labels.length) {
        throw new TensorError(`T5: ${batch.labels.length} labels for decoder inputs of shape ${shapeStr(batch.decoderInputIds.shape)}`);
      }
      return batch.decoderInputIds;
    }
    if (batch.labels.length % B !== 0) throw new TensorError(`T5: ${batch.labels.length} labels do not split into ${B} rows`);
    return this.shiftRight(batch.labels, B, batch.labels.length / B);
  }

  /** Mean cross-entropy of the decoder's predictions against the labels (-100 skipped). */
  loss(batch: T5Batch, opts: { reduction?: "mean" | "sum" | "none" } = {}): Tensor {
    return crossEntropy(this.forward(batch), batch.labels, { ignoreIndex: -100, reduction: opts.reduction });
  }

  /** Runs the encoder and returns a decoding cache holding every decoder layer's cross-attention keys/values. */
  startDecoding(inputIds: IdsLike, attentionMask?: Int32Array): T5Cache {
    return noGrad(() => {
      const [B, S] = inputIds.shape;
      const made = tidy(() => {
        const enc = this.encode(inputIds, attentionMask);
        const cross = this.decoder.block.items.map((b) => (b.cross as T5LayerCrossAttention).memory(enc));
        return cross.flatMap((m) => [m.k, m.v]);
      });
      const mask = this.paddingMask(attentionMask, B, S);
      if (mask) keep(mask);
      for (const t of made) keep(t);
      const cross = Array.from({ length: made.length / 2 }, (_, i) => ({ k: made[2 * i], v: made[2 * i + 1] }));
      return new T5Cache(cross, mask, B);
    });
  }

  /** One decoder step with the cache: ids (B, 1) -> logits (B, 1, V); the self-attention cache grows by one. */
  decodeStep(cache: T5Cache, tokens: IdsLike): Tensor {
    return noGrad(() => {
      const before = cache.self.map((s) => [s.k, s.v]);
      const logits = tidy(() => {
        const l = this.decode(tokens, null, undefined, cache);
        for (const s of cache.self) {
          keep(s.k as Tensor);
          keep(s.v as Tensor);
        }
        return l;
      });
      for (const [k, v] of before) {
        k?.owner().dispose();
        v?.owner().dispose();
      }
      return logits;
    });
  }

  /**
   * Decoding (greedy unless `pick` chooses): the encoder runs once, then one token per step from
   * decoderStartTokenId (with the KV cache unless useCache is false). Returns the new ids of each sequence, without the start token
   * and cut after its end-of-sequence id.
   */
  generate(inputIds: IdsLike, opts: T5GenerateOptions): number[][] {
    this.checkIds("encoder input", inputIds);
    const [B] = inputIds.shape;
    const eos = opts.eosTokenId === undefined ? this.config.eosTokenId : opts.eosTokenId;
    const out: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    const wasTraining = this.training;
    this.eval();
    const choose = opts.pick;
    const pick = (logits: Tensor): Int32Array => tidy(() => {
      const last = slice(logits, 1, logits.shape[1] - 1, logits.shape[1]); // (B, 1, V)
      if (!choose) return argmax(last, 2);
      const V = last.shape[2];
      const rows = contiguous(last).contiguousData();
      return Int32Array.from({ length: B }, (_, b) => choose(rows.subarray(b * V, (b + 1) * V), b, out[b]));
    });
    const record = (next: Int32Array): void => {
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        out[b].push(next[b]);
        if (next[b] === eos) done[b] = true;
      }
    };
    try {
      if (opts.useCache === false) {
        noGrad(() => tidy(() => {
          const enc = this.encode(inputIds, opts.attentionMask);
          const seq: number[][] = Array.from({ length: B }, () => [this.config.decoderStartTokenId]);
          for (let s = 0; s < opts.maxNewTokens && !done.every(Boolean); s++) {
            const T = seq[0].length;
            const next = tidy(() => pick(this.decode(ids(seq.flat(), [B, T]), enc, opts.attentionMask)));
            record(next);
            for (let b = 0; b < B; b++) seq[b].push(next[b]);
          }
        }));
        return out;
      }
      const cache = this.startDecoding(inputIds, opts.attentionMask);
      try {
        let tokens: Int32Array = new Int32Array(B).fill(this.config.decoderStartTokenId);
        for (let s = 0; s < opts.maxNewTokens && !done.every(Boolean); s++) {
          const step = tokens;
          const next = tidy(() => pick(this.decodeStep(cache, ids(step, [B, 1]))));
          record(next);
          tokens = next;
        }
      } finally {
        cache.dispose();
      }
      return out;
    } finally {
      this.train(wasTraining);
    }
  }

  /**
   * AdamW parameter groups: weight decay on matrices (Linear weights, embeddings, the relative
   * position biases), none on the layer norm weights.
   */
  paramGroups(weightDecay: number): { params: Tensor[]; weightDecay: number }[] {
    const params = this.parameters().filter((p) => p.requiresGrad);
    return [
      { params: params.filter((p) => p.ndim >= 2), weightDecay },
      { params: params.filter((p) => p.ndim < 2), weightDecay: 0 },
    ];
  }
}
