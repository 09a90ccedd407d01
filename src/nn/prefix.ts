// Prefix tuning (Li & Liang 2021): per layer, P trained key/value vectors that every query attends
// to before its causal keys. Plain prefixes, or reparameterised through an MLP (embedding (P, C) ->
// Linear -> tanh -> Linear -> 2·L·Hkv·D) as the paper trains them. Set through Attention.override.
import {
  add, concat, expand, linear, matmul, mulScalar, permute, reshape, slice, softmax, tanh, transpose,
} from "../tensor/ops/index.js";
import type { Rng } from "../tensor/rng.js";
import { noGrad, shapeStr, Tensor, TensorError, tidy, untracked } from "../tensor/tensor.js";
import { Embedding, Linear } from "./layers.js";
import { Module, ModuleList, type ParamOptions } from "./module.js";

/**
 * Attention of q (B, T, H, D) over [P prefix keys; the T causal keys] -> (B, T, H, D), with k, v
 * (B, T, Hkv, D) and prefixKey/prefixValue (P, Hkv·D) or null. docStart (B·T, optional): position t
 * of row b attends to causal keys [docStart[b·T + t], t] (and to every prefix key). Composed ops
 * (T × (P + T) scores), so autograd covers it; GQA by grouping the queries of one kv head.
 */
export function prefixAttention(
  q: Tensor, k: Tensor, v: Tensor, prefixKey: Tensor | null, prefixValue: Tensor | null, docStart?: Int32Array,
): Tensor {
  const [B, T, H, D] = q.shape;
  const Hkv = k.shape[2];
  if (q.ndim !== 4 || k.ndim !== 4 || H % Hkv !== 0 || k.shape.join() !== v.shape.join() || k.shape[1] !== T) {
    throw new TensorError(`prefixAttention: q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}: expected (B, T, H, D) and (B, T, Hkv, D) with H a multiple of Hkv`);
  }
  const P = prefixKey ? prefixKey.shape[0] : 0;
  if (prefixKey && (prefixKey.shape.join() !== `${P},${Hkv * D}` || prefixValue?.shape.join() !== prefixKey.shape.join())) {
    throw new TensorError(`prefixAttention: prefixes ${shapeStr(prefixKey.shape)} / ${shapeStr(prefixValue?.shape ?? [])}, expected (P, ${Hkv * D})`);
  }
  if (docStart && docStart.length !== B * T) throw new TensorError(`prefixAttention: docStart has ${docStart.length} entries for (B, T) = (${B}, ${T})`);
  const G = H / Hkv;
  const qg = reshape(permute(q, [0, 2, 1, 3]), [B, Hkv, G * T, D]); // query head h = j·G + g reads kv head j
  let kk = permute(k, [0, 2, 1, 3]); // (B, Hkv, T, D)
  let vv = permute(v, [0, 2, 1, 3]);
  if (prefixKey && prefixValue && P > 0) {
    const heads = (p: Tensor): Tensor => expand(permute(reshape(p, [P, Hkv, D]), [1, 0, 2]), [B, Hkv, P, D]);
    kk = concat([heads(prefixKey), kk], 2); // (B, Hkv, P + T, D)
    vv = concat([heads(prefixValue), vv], 2);
  }
  // Additive mask (B or 1, 1, G·T, P + T): prefixes always visible, causal keys within the document.
  const mb = docStart ? B : 1;
  const m = new Float64Array(mb * G * T * (P + T));
  for (let b = 0; b < mb; b++) {
    for (let g = 0; g < G; g++) {
      for (let t = 0; t < T; t++) {
        const lo = docStart ? docStart[b * T + t] : 0;
        const row = ((b * G + g) * T + t) * (P + T) + P;
        for (let j = 0; j < T; j++) if (j < lo || j > t) m[row + j] = Number.NEGATIVE_INFINITY;
      }
    }
  }
  const mask = Tensor.from(m, [mb, 1, G * T, P + T], { dtype: q.dtype, backend: q.backend });
  const scores = add(mulScalar(matmul(qg, transpose(kk, -2, -1)), 1 / Math.sqrt(D)), mask); // (B, Hkv, G·T, P + T)
  const y = matmul(softmax(scores), vv); // (B, Hkv, G·T, D)
  return permute(reshape(y, [B, H, T, D]), [0, 2, 1, 3]);
}

/** The attention layer fields prefix tuning sets (GPT's Attention has them). */
export interface OverridableAttention {
  override: ((q: Tensor, k: Tensor, v: Tensor, docStart: Int32Array | undefined) => Tensor) | null;
}

export interface PrefixTuningOptions {
  nLayer: number;
  /** Key/value width per layer: Hkv · D. */
  kvDim: number;
  /** Model width C (the reparameterisation's embedding width). */
  nEmbd: number;
  numVirtualTokens: number;
  /** Hidden width of the reparameterisation MLP; 0 = plain prefixes. */
  projectionHidden: number;
  /** Std of the normal init of the prefixes (or of the embedding). */
  initStd: number;
  po: ParamOptions;
}

/** One layer's plain prefixes: key and value (P, Hkv·D). */
class LayerPrefix extends Module {
  readonly key: Tensor;
  readonly value: Tensor;

  constructor(P: number, E: number, std: number, po: ParamOptions & { rng: Rng }) {
    super();
    const make = () => untracked(() => Tensor.randn([P, E], { dtype: po.dtype, backend: po.backend, std, rng: po.rng, requiresGrad: true }));
    this.key = this.param("key", make());
    this.value = this.param("value", make());
  }
}

/**
 * The prefixes of every layer. Plain: `h.N.key` / `h.N.value` (P, Hkv·D). Reparameterised:
 * `embedding` (P, C) -> `mlp_in` -> tanh -> `mlp_out` (columns [2l·E, (2l+1)·E) are layer l's keys,
 * the next E its values, E = Hkv·D, as PEFT's prefix encoder lays them out).
 */
export class PrefixTuning extends Module {
  readonly h: ModuleList<LayerPrefix> | null = null;
  readonly embedding: Embedding | null = null;
  readonly mlpIn: Linear | null = null;
  readonly mlpOut: Linear | null = null;

  constructor(readonly opts: PrefixTuningOptions) {
    super();
    const { nLayer: L, kvDim: E, numVirtualTokens: P, projectionHidden: hid, initStd, po } = opts;
    if (!(Number.isInteger(P) && P >= 1)) throw new TensorError(`PrefixTuning: numVirtualTokens must be a whole number >= 1, got ${P}`);
    const rng = po.rng;
    if (!rng) throw new TensorError("PrefixTuning: an rng is needed for the init");
    if (hid > 0) {
      this.embedding = this.child("embedding", new Embedding(P, opts.nEmbd, { ...po, init: { kind: "normal", std: initStd } }));
      this.mlpIn = this.child("mlp_in", new Linear(opts.nEmbd, hid, po));
      this.mlpOut = this.child("mlp_out", new Linear(hid, 2 * L * E, po));
    } else {
      this.h = this.child("h", new ModuleList(Array.from({ length: L }, () => new LayerPrefix(P, E, initStd, { ...po, rng }))));
    }
  }

  /** Layer l's prefixes: key and value (P, Hkv·D), computed through the MLP when reparameterised. */
  layer(l: number): { key: Tensor; value: Tensor } {
    if (this.h) return this.h.at(l);
    const { embedding, mlpIn, mlpOut } = this as { embedding: Embedding; mlpIn: Linear; mlpOut: Linear };
    const E = this.opts.kvDim;
    const hidden = tanh(mlpIn.forward(embedding.weight)); // (P, hid)
    const bias = mlpOut.bias ? slice(mlpOut.bias, 0, 2 * l * E, (2 * l + 2) * E) : null;
    const kv = linear(hidden, slice(mlpOut.weight, 0, 2 * l * E, (2 * l + 2) * E), bias); // (P, 2E)
    return { key: slice(kv, 1, 0, E), value: slice(kv, 1, E, 2 * E) };
  }

  /** Every layer's prefixes as plain arrays (the reparameterisation evaluated once): what is saved. */
  plainPrefixes(): { key: Float32Array | Float64Array; value: Float32Array | Float64Array }[] {
    return tidy(() => noGrad(() => Array.from({ length: this.opts.nLayer }, (_, l) => {
      const { key, value } = this.layer(l);
      return { key: key.toTypedArray(), value: value.toTypedArray() };
    })));
  }

  /** Points each layer's attention override at prefix attention with this module's prefixes. */
  attach(layers: readonly OverridableAttention[]): void {
    if (layers.length !== this.opts.nLayer) throw new TensorError(`PrefixTuning: ${layers.length} attention layers for ${this.opts.nLayer} prefixes`);
    layers.forEach((attn, l) => {
      attn.override = (q, k, v, docStart) => {
        const { key, value } = this.layer(l);
        return prefixAttention(q, k, v, key, value, docStart);
      };
    });
  }
}
