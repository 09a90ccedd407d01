// The decoder-only Transformer in two flavours from one config: gpt2 (learned positions,
// pre-LayerNorm, fused qkv, GELU(tanh) MLP, tied head) and llama (RoPE, RMSNorm, SwiGLU,
// grouped-query attention, optional untied head), each with dense MLPs or mixture-of-experts layers.
// hidden() gives the final hidden states, forward() the logits, loss() the cross-entropy (plus the
// MoE auxiliary losses in training); packed rows (several documents per row) via docStart.
import { Dropout, Embedding, LayerNorm, Linear, RMSNorm } from "../nn/layers.js";
import { FeedForward, type FeedForwardOptions, MoE, type MoEStep } from "../nn/moe.js";
import { Module, ModuleList, type Init, type ParamOptions } from "../nn/module.js";
import type { ParamGroup } from "../optim/optimizers.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import {
  add, causalAttention, crossEntropy, ids, linear, mulScalar, reshape, rope, slice, type IdsLike,
} from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, shapeStr, type Tensor, TensorError } from "../tensor/tensor.js";
import { assertWeightsFit, headDim, isMoeLayer, validateConfig, type GPTConfig } from "./config.js";
import { KVCache } from "./kvCache.js";

export interface GPTOptions {
  /** Seed of the weight init (and of dropout masks). Default 0. */
  seed?: number;
  /** Parameter dtype: f32 (default) or f64 (reference checks). */
  dtype?: DType;
  backend?: BackendName;
  /** false: zero-filled weights instead of the random init (faster when weights are loaded next). */
  initWeights?: boolean;
}

export interface ForwardOptions {
  /** Decode incrementally: positions start at cache.length, and the new keys/values are cached. */
  cache?: KVCache;
  /** Compute logits for the last position only: (B, 1, V). */
  lastOnly?: boolean;
  /**
   * Packed rows: docStart[b·T + t] is the index in row b where the document of position t starts.
   * Position t then attends to keys [docStart, t] only and has position id t - docStart, so a
   * packed row gives each document exactly what it would get alone in its own row.
   */
  docStart?: Int32Array;
}

/**
 * Replaces the attention of one layer (prefix tuning sets it): q (B, T, H, D), k/v (B, T, Hkv, D)
 * after RoPE -> (B, T, H, D).
 */
export type AttentionOverride = (q: Tensor, k: Tensor, v: Tensor, docStart: Int32Array | undefined) => Tensor;

type Norm = LayerNorm | RMSNorm;

/** Normal(std) init, or zeros when the weights will be overwritten by a load. */
type InitFor = (std: number) => Init;

function makeNorm(c: GPTConfig, po: ParamOptions): Norm {
  return c.flavour === "gpt2" ? new LayerNorm(c.nEmbd, c.normEps, { ...po, bias: c.bias }) : new RMSNorm(c.nEmbd, c.normEps, po);
}

/** Self-attention with one fused projection to q, k, v ((H + 2·Hkv)·D outputs, q heads first). */
class Attention extends Module {
  readonly c_attn: Linear;
  readonly c_proj: Linear;
  readonly drop: Dropout;
  /** When set, computes the attention instead of the causal kernel (prefix tuning). */
  override: AttentionOverride | null = null;

  constructor(private readonly c: GPTConfig, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    const D = headDim(c);
    this.c_attn = this.child("c_attn", new Linear(c.nEmbd, (c.nHead + 2 * c.nKvHead) * D, { ...po, bias: c.bias, init: init(c.initStd) }));
    // GPT-2's scaled init of residual projections.
    const projStd = c.initStd / Math.sqrt(2 * c.nLayer);
    this.c_proj = this.child("c_proj", new Linear(c.nHead * D, c.nEmbd, { ...po, bias: c.bias, init: init(projStd) }));
    this.drop = this.child("drop", new Dropout(c.dropout, rng));
  }

  /** x (B, T, C) at positions [pos0, pos0 + T) -> (B, T, C). */
  forward(x: Tensor, layer: number, pos0: number, cache?: KVCache, docStart?: Int32Array): Tensor {
    const { nHead: H, nKvHead: Hkv } = this.c;
    const D = headDim(this.c);
    const [B, T] = x.shape;
    const qkv = reshape(this.c_attn.forward(x), [B, T, H + 2 * Hkv, D]); // (B, T, H+2Hkv, D)
    let q = slice(qkv, 2, 0, H); // (B, T, H, D) strided views into qkv
    let k = slice(qkv, 2, H, H + Hkv);
    const v = slice(qkv, 2, H + Hkv, H + 2 * Hkv);
    if (this.c.flavour === "llama") {
      q = rope(q, this.c.ropeBase, pos0, docStart);
      k = rope(k, this.c.ropeBase, pos0, docStart);
    }
    let y: Tensor; // (B, T, H, D)
    if (this.override) {
      if (cache) throw new TensorError("GPT.forward: a layer with an attention override (prefix tuning) cannot use a KV cache");
      y = this.override(q, k, v, docStart);
    } else if (cache) {
      cache.write(layer, pos0, k, v);
      y = pos0 === 0 ? causalAttention(q, k, v) : cache.attend(layer, q, pos0);
    } else {
      y = causalAttention(q, k, v, { docStart });
    }
    return this.drop.forward(this.c_proj.forward(reshape(y, [B, T, H * D])));
  }
}

/** The dense MLP (or one expert) of this config: c_fc std initStd, c_proj GPT-2's scaled init. */
function feedForwardOptions(c: GPTConfig, rng: Rng, init: InitFor): FeedForwardOptions {
  return {
    flavour: c.flavour, nEmbd: c.nEmbd, hidden: c.mlpHidden, bias: c.bias, fcInit: init(c.initStd),
    projInit: init(c.initStd / Math.sqrt(2 * c.nLayer)), dropout: c.dropout, dropoutRng: rng,
  };
}

class Block extends Module {
  readonly ln_1: Norm;
  readonly attn: Attention;
  readonly ln_2: Norm;
  /** The feed-forward part: a dense MLP (child "mlp") or a mixture of experts (child "moe"). */
  readonly ffn: FeedForward | MoE;

  constructor(c: GPTConfig, layer: number, po: ParamOptions, rng: Rng, init: InitFor) {
    super();
    this.ln_1 = this.child("ln_1", makeNorm(c, po));
    this.attn = this.child("attn", new Attention(c, po, rng, init));
    this.ln_2 = this.child("ln_2", makeNorm(c, po));
    const ff = feedForwardOptions(c, rng, init);
    this.ffn = isMoeLayer(c, layer)
      ? this.child("moe", new MoE({
        ...ff, experts: c.moeExperts ?? 0, topK: c.moeTopK ?? 0, shared: c.moeShared ?? false, normalizeTopK: c.moeNormalizeTopK ?? true,
        capacityFactor: c.moeCapacityFactor ?? 0, loadBalanceCoef: c.moeLoadBalanceCoef ?? 0, zLossCoef: c.moeZLossCoef ?? 0, routerInit: init(c.initStd),
      }, po))
      : this.child("mlp", new FeedForward(ff, po));
  }

  /** The dense MLP; an MoE layer has none (its experts are under `moe`). */
  get mlp(): FeedForward {
    if (this.ffn instanceof MoE) throw new TensorError("this layer is a mixture-of-experts layer (its experts are under .moe, not .mlp)");
    return this.ffn;
  }

  /** The mixture of experts, or null for a dense layer. */
  get moe(): MoE | null {
    return this.ffn instanceof MoE ? this.ffn : null;
  }

  forward(x: Tensor, layer: number, pos0: number, cache?: KVCache, docStart?: Int32Array): Tensor {
    const h = add(x, this.attn.forward(this.ln_1.forward(x), layer, pos0, cache, docStart));
    return add(h, this.ffn.forward(this.ln_2.forward(h)));
  }
}

/** Routing of the latest forward, per MoE layer (layer index, load per expert, auxiliary loss values). */
export interface MoELayerStats {
  layer: number;
  step: MoEStep;
}

/**
 * A GPT language model. Parameter names follow GPT-2's (`wte`, `h.N.attn.c_attn`, ...) for
 * both flavours, with Linear weights in (out, in) layout; {@link toHuggingFace} maps them to
 * the exact Hugging Face names and layouts.
 */
export class GPT extends Module {
  readonly config: GPTConfig;
  readonly dtype: DType;
  readonly backendName: BackendName | undefined;
  readonly wte: Embedding;
  readonly wpe: Embedding | null;
  readonly h: ModuleList<Block>;
  readonly ln_f: Norm;
  readonly lm_head: Linear | null;
  readonly drop: Dropout;
  /** The generator dropout draws from (its state belongs in a checkpoint). */
  readonly dropoutRng: Rng;

  constructor(config: GPTConfig, opts: GPTOptions = {}) {
    super();
    const c = validateConfig(config);
    this.config = c;
    this.dtype = opts.dtype ?? "f32";
    this.backendName = opts.backend;
    assertWeightsFit(c, this.dtype === "f64" ? 8 : 4);
    const seed = opts.seed ?? 0;
    const rng = new Rng(seed);
    this.dropoutRng = new Rng(seed ^ 0x5eed);
    const po: ParamOptions = { dtype: this.dtype, backend: opts.backend, rng };
    const init: InitFor = opts.initWeights === false ? () => ({ kind: "zeros" }) : (std) => ({ kind: "normal", std });
    const embInit = init(c.initStd);
    this.wte = this.child("wte", new Embedding(c.vocabSize, c.nEmbd, { ...po, init: embInit }));
    this.wpe = c.flavour === "gpt2" ? this.child("wpe", new Embedding(c.blockSize, c.nEmbd, { ...po, init: embInit })) : null;
    this.drop = this.child("drop", new Dropout(c.dropout, this.dropoutRng));
    this.h = this.child("h", new ModuleList(Array.from({ length: c.nLayer }, (_, i) => new Block(c, i, po, this.dropoutRng, init))));
    this.ln_f = this.child("ln_f", makeNorm(c, po));
    this.lm_head = c.tiedEmbeddings ? null : this.child("lm_head", new Linear(c.nEmbd, c.vocabSize, { ...po, bias: false, init: embInit }));
  }

  /**
   * AdamW parameter groups as nanoGPT makes them: weight decay on matrices (Linear weights and
   * embeddings), none on biases and norm weights.
   */
  paramGroups(weightDecay: number): ParamGroup[] {
    const params = this.parameters().filter((p) => p.requiresGrad);
    return [
      { params: params.filter((p) => p.ndim >= 2), weightDecay },
      { params: params.filter((p) => p.ndim < 2), weightDecay: 0 },
    ];
  }

  /** False when a layer computes attention through an override (prefix tuning): decode without a KV cache. */
  get cacheable(): boolean {
    return this.h.items.every((b) => b.attn.override === null);
  }

  /** A key/value cache sized for this model (batch sequences, up to maxLen positions). */
  createCache(batch = 1, maxLen = this.config.blockSize): KVCache {
    return new KVCache(this.config, { batch, maxLen, dtype: this.dtype, backend: this.backendName });
  }

  /**
   * idx (B, T) token ids -> logits (B, T, V), or (B, 1, V) with lastOnly. With a cache, runs
   * without autograd, places the tokens at positions cache.length.. and appends their keys/values.
   */
  forward(idx: IdsLike, opts: ForwardOptions = {}): Tensor {
    return this.head(this.hidden(idx, opts));
  }

  /**
   * Gives a model whose config ties the LM head to wte a head module of its own for inference: a quantised copy of
   * wte (model/quantized.ts), so the head's matmul reads quantised weights while the embedding lookup keeps wte.
   */
  setInferenceHead(head: Module & { forward(x: Tensor): Tensor }): void {
    if (!this.config.tiedEmbeddings) throw new TensorError("setInferenceHead: this model has an untied lm_head already (replace it with setSubmodule)");
    if (this.lm_head) throw new TensorError("setInferenceHead: the model has an inference head already");
    (this as { lm_head: unknown }).lm_head = this.child("lm_head", head);
  }

  /** The LM head: hidden states (..., C) -> logits (..., V) (tied to wte unless the config unties it). */
  head(x: Tensor): Tensor {
    return this.lm_head ? this.lm_head.forward(x) : linear(x, this.wte.weight);
  }

  /**
   * idx (B, T) -> final hidden states (B, T, C) after the last norm (before the LM head), for
   * heads of other kinds (reward, value, class) and for embeddings. Options as {@link forward}.
   */
  hidden(idx: IdsLike, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    if (idx.shape.length !== 2) throw new TensorError(`GPT.forward: ids must be (B, T), got shape ${shapeStr(idx.shape)}`);
    const [B, T] = idx.shape;
    if (T < 1) throw new TensorError("GPT.forward: empty sequence (T = 0)");
    const cache = opts.cache;
    const pos0 = cache ? cache.length : 0;
    if (pos0 + T > c.blockSize) {
      throw new TensorError(`GPT.forward: positions up to ${pos0 + T} exceed the model's block size ${c.blockSize}; crop the context`);
    }
    for (let i = 0; i < idx.data.length; i++) {
      const id = idx.data[i];
      if (!(id >= 0 && id < c.vocabSize)) {
        throw new TensorError(`GPT.forward: token id ${id} at (${Math.floor(i / T)}, ${i % T}) is outside the vocabulary [0, ${c.vocabSize}); was the model trained with this tokenizer?`);
      }
    }
    if (opts.docStart) {
      if (cache) throw new TensorError("GPT.forward: docStart (packed rows) cannot be combined with a KV cache");
      checkDocStart(opts.docStart, B, T);
    }
    if (!cache) return this.run(idx, 0, undefined, opts.lastOnly ?? false, opts.docStart);
    if (cache.batch !== B) throw new TensorError(`GPT.forward: cache holds ${cache.batch} sequences, ids have ${B}`);
    if (pos0 + T > cache.maxLen) throw new TensorError(`GPT.forward: cache of ${cache.maxLen} positions is full (${pos0} used, ${T} more asked)`);
    const h = noGrad(() => this.run(idx, pos0, cache, opts.lastOnly ?? false, undefined));
    cache.length = pos0 + T;
    return h;
  }

  private run(idx: IdsLike, pos0: number, cache: KVCache | undefined, lastOnly: boolean, docStart: Int32Array | undefined): Tensor {
    const [B, T] = idx.shape;
    let x = this.wte.forward(idx); // (B, T, C)
    if (this.wpe) {
      if (docStart) {
        const pos = new Int32Array(B * T);
        for (let i = 0; i < pos.length; i++) pos[i] = (i % T) - docStart[i];
        x = add(x, this.wpe.forward(ids(pos, [B, T]))); // + (B, T, C)
      } else {
        const pos = new Int32Array(T);
        for (let t = 0; t < T; t++) pos[t] = pos0 + t;
        x = add(x, this.wpe.forward(ids(pos, [T]))); // + (T, C)
      }
    }
    x = this.drop.forward(x);
    for (let i = 0; i < this.h.length; i++) x = this.h.at(i).forward(x, i, pos0, cache, docStart);
    if (lastOnly && T > 1) x = slice(x, 1, T - 1, T); // (B, 1, C)
    return this.ln_f.forward(x);
  }

  /**
   * A copy with a larger vocabulary (new tokens such as chat markers): existing rows are kept and
   * new rows of the embedding (and of an untied head) start at the mean of the existing ones, so
   * the model's outputs for old tokens do not change.
   */
  withVocabSize(vocabSize: number): GPT {
    const old = this.config.vocabSize;
    if (!Number.isInteger(vocabSize) || vocabSize < old) throw new TensorError(`GPT.withVocabSize: ${vocabSize} must be a whole number >= the current ${old}`);
    const grown = new GPT({ ...this.config, vocabSize }, { dtype: this.dtype, backend: this.backendName, initWeights: false });
    const own = new Map(this.namedParameters());
    for (const [n, p] of grown.namedParameters()) {
      const src = own.get(n);
      if (!src) throw new TensorError(`GPT.withVocabSize: parameter "${n}" missing in the source (merge or detach adapters first)`);
      const d = src.contiguousData();
      p.data.set(d, p.offset);
      if (p.shape[0] === vocabSize && src.shape[0] === old && p.ndim === 2) {
        const C = p.shape[1];
        const mean = new Float64Array(C);
        for (let r = 0; r < old; r++) for (let c = 0; c < C; c++) mean[c] += d[r * C + c] / old;
        for (let r = old; r < vocabSize; r++) for (let c = 0; c < C; c++) p.data[p.offset + r * C + c] = mean[c];
      }
    }
    return grown;
  }

  /**
   * A copy with the same weights (copied once, straight from parameter to parameter), e.g. the
   * frozen reference model of RLHF. `frozen` (default true) sets requiresGrad false and eval mode.
   */
  clone(opts: { frozen?: boolean } = {}): GPT {
    const copy = new GPT(this.config, { dtype: this.dtype, backend: this.backendName, initWeights: false });
    const own = new Map(this.namedParameters());
    for (const [n, p] of copy.namedParameters()) {
      const src = own.get(n);
      if (!src) throw new TensorError(`GPT.clone: parameter "${n}" missing in the source (was an adapter attached? merge or detach it first)`);
      p.data.set(src.contiguousData(), p.offset);
    }
    copy.dropoutRng.setState(this.dropoutRng.getState());
    if (opts.frozen ?? true) copy.requiresGrad(false).eval();
    else copy.train(this.training);
    return copy;
  }

  /**
   * Mean next-token cross-entropy of logits(idx) against targets (B·T ids, row-major);
   * targets equal to ignoreIndex (default -100) are skipped. A mixture-of-experts model in training
   * mode adds its auxiliary losses ({@link GPT.moeAuxLoss}) to the mean (not to "sum" or "none").
   */
  loss(
    idx: IdsLike, targets: Int32Array | IdsLike,
    opts: { ignoreIndex?: number; reduction?: "mean" | "sum" | "none"; docStart?: Int32Array } = {},
  ): Tensor {
    const t = targets instanceof Int32Array ? targets : targets.data;
    if (t.length !== idx.data.length) {
      throw new TensorError(`GPT.loss: ${t.length} targets for ${idx.data.length} input ids (shape ${shapeStr(idx.shape)})`);
    }
    const ce = crossEntropy(this.forward(idx, { docStart: opts.docStart }), t, { ignoreIndex: opts.ignoreIndex, reduction: opts.reduction });
    const aux = (opts.reduction ?? "mean") === "mean" ? this.moeAuxLoss() : null;
    return aux ? add(ce, aux) : ce;
  }

  /** The routing of the latest forward, one entry per MoE layer (empty for a dense model). */
  moeStats(): MoELayerStats[] {
    const out: MoELayerStats[] = [];
    this.h.items.forEach((b, layer) => {
      const step = b.moe?.last;
      if (step) out.push({ layer, step });
    });
    return out;
  }

  /**
   * The auxiliary loss of the latest forward: the mean over MoE layers of loadBalanceCoef · lb +
   * zLossCoef · z (differentiable unless under noGrad). Null for dense models and in eval mode.
   */
  moeAuxLoss(): Tensor | null {
    const terms = this.moeStats().map((s) => s.step.aux).filter((a): a is Tensor => a !== null);
    if (terms.length === 0) return null;
    return mulScalar(terms.reduce((a, b) => add(a, b)), 1 / terms.length);
  }

  /**
   * Scalars for a training log from the latest forward: moe_aux (what loss() added), moe_lb and
   * moe_z (means over layers), moe_dropped (share of assignments over capacity) and per layer
   * moe_h<i>_load_max / _load_min (the busiest / idlest expert's load ÷ the balanced k/E: 1, 1 when
   * balanced). Null for dense models.
   */
  moeMetrics(): Record<string, number> | null {
    const stats = this.moeStats();
    if (stats.length === 0) return null;
    const c = this.config;
    const k = c.moeTopK ?? 1;
    const E = c.moeExperts ?? 1;
    const out: Record<string, number> = { moe_aux: 0, moe_lb: 0, moe_z: 0, moe_dropped: 0 };
    for (const { layer, step } of stats) {
      out.moe_aux += ((c.moeLoadBalanceCoef ?? 0) * step.loadBalanceLoss + (c.moeZLossCoef ?? 0) * step.zLoss) / stats.length;
      out.moe_lb += step.loadBalanceLoss / stats.length;
      out.moe_z += step.zLoss / stats.length;
      out.moe_dropped += step.dropped / (step.tokens * k) / stats.length;
      out[`moe_h${layer}_load_max`] = (Math.max(...step.load) * E) / k;
      out[`moe_h${layer}_load_min`] = (Math.min(...step.load) * E) / k;
    }
    return out;
  }
}

/** docStart must hold, per row, non-decreasing document starts with docStart[t] <= t. */
function checkDocStart(d: Int32Array, B: number, T: number): void {
  if (d.length !== B * T) throw new TensorError(`GPT.forward: docStart has ${d.length} entries for (B, T) = (${B}, ${T})`);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const s = d[b * T + t];
      const ok = t === 0 ? s === 0 : s === d[b * T + t - 1] || s === t;
      if (!ok) throw new TensorError(`GPT.forward: docStart[${b}, ${t}] = ${s}: a position belongs to the document of the position before it (same start) or starts one (start = ${t})`);
    }
  }
}
