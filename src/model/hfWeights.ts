// Mapping between llmforge's parameters and Hugging Face tensor names and layouts:
// GPT-2 (Conv1D weights stored (in, out), i.e. transposed) and Llama (separate q/k/v and
// gate/up projections, which llmforge keeps fused row-wise in c_attn and c_fc); mixture-of-experts
// layers as Mixtral (llama flavour) or under llmforge's own GPT-2-style names (gpt2 flavour).
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import { headDim, ModelConfigError, type GPTConfig } from "./config.js";
import { GPT } from "./gpt.js";

/** One Hugging Face tensor: row-major data with its shape. */
export interface HfTensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

/** A tensor given to {@link fromHuggingFace}: any float array with a shape. */
export interface HfTensorInput {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** A weight mismatch between a model and a set of named tensors. */
export class WeightMappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WeightMappingError";
  }
}

/** Rows [start, end) of internal parameter `param` are HF tensor `hf` (transposed when `transpose`). */
interface Piece {
  param: string;
  hf: string;
  start: number;
  end: number;
  transpose: boolean;
}

/** Every piece of every parameter for this config. Each parameter is fully covered by its pieces. */
function layout(c: GPTConfig, shapes: Map<string, readonly number[]>): Piece[] {
  const pieces: Piece[] = [];
  const whole = (param: string, hf: string, transpose = false): void => {
    const s = shapes.get(param);
    if (!s) return; // absent parameter (e.g. no bias)
    pieces.push({ param, hf, start: 0, end: s[0], transpose });
  };
  const rows = (param: string, parts: [string, number][]): void => {
    if (!shapes.has(param)) return;
    let pos = 0;
    for (const [hf, n] of parts) {
      pieces.push({ param, hf, start: pos, end: pos + n, transpose: false });
      pos += n;
    }
  };
  if (c.flavour === "gpt2") {
    whole("wte.weight", "wte.weight");
    whole("wpe.weight", "wpe.weight");
    for (let i = 0; i < c.nLayer; i++) {
      const p = `h.${i}.`;
      for (const n of ["ln_1", "ln_2"]) {
        whole(`${p}${n}.weight`, `${p}${n}.weight`);
        whole(`${p}${n}.bias`, `${p}${n}.bias`);
      }
      for (const n of ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", ...moeFeedForwards(c, "moe.").flatMap((f) => [`${f}.c_fc`, `${f}.c_proj`])]) {
        whole(`${p}${n}.weight`, `${p}${n}.weight`, true); // Conv1D: (in, out)
        whole(`${p}${n}.bias`, `${p}${n}.bias`);
      }
      // llmforge's own names (no Hugging Face GPT-2 MoE exists): the router as nn.Linear (E, C), experts as GPT-2 MLPs.
      whole(`${p}moe.router.weight`, `${p}moe.router.weight`);
    }
    whole("ln_f.weight", "ln_f.weight");
    whole("ln_f.bias", "ln_f.bias");
    whole("lm_head.weight", "lm_head.weight");
    return pieces;
  }
  const D = headDim(c);
  const [qn, kvn, M] = [c.nHead * D, c.nKvHead * D, c.mlpHidden];
  whole("wte.weight", "model.embed_tokens.weight");
  for (let i = 0; i < c.nLayer; i++) {
    const p = `h.${i}.`;
    const hp = `model.layers.${i}.`;
    whole(`${p}ln_1.weight`, `${hp}input_layernorm.weight`);
    whole(`${p}ln_2.weight`, `${hp}post_attention_layernorm.weight`);
    for (const kind of ["weight", "bias"]) {
      rows(`${p}attn.c_attn.${kind}`, [[`${hp}self_attn.q_proj.${kind}`, qn], [`${hp}self_attn.k_proj.${kind}`, kvn], [`${hp}self_attn.v_proj.${kind}`, kvn]]);
      whole(`${p}attn.c_proj.${kind}`, `${hp}self_attn.o_proj.${kind}`);
      rows(`${p}mlp.c_fc.${kind}`, [[`${hp}mlp.gate_proj.${kind}`, M], [`${hp}mlp.up_proj.${kind}`, M]]);
      whole(`${p}mlp.c_proj.${kind}`, `${hp}mlp.down_proj.${kind}`);
      // Mixtral: block_sparse_moe.experts.E.{w1 = gate, w3 = up, w2 = down}; the shared expert is llmforge's own (same scheme).
      for (const f of moeFeedForwards(c, "")) {
        const hf = `${hp}block_sparse_moe.${f === "shared" ? "shared_expert" : f}`;
        rows(`${p}moe.${f}.c_fc.${kind}`, [[`${hf}.w1.${kind}`, M], [`${hf}.w3.${kind}`, M]]);
        whole(`${p}moe.${f}.c_proj.${kind}`, `${hf}.w2.${kind}`);
      }
    }
    whole(`${p}moe.router.weight`, `${hp}block_sparse_moe.gate.weight`);
  }
  whole("ln_f.weight", "model.norm.weight");
  whole("lm_head.weight", "lm_head.weight");
  return pieces;
}

/** Paths of an MoE layer's feed-forward networks under `prefix`: experts.0 .. experts.E-1, then shared. */
function moeFeedForwards(c: GPTConfig, prefix: string): string[] {
  const E = c.moeExperts ?? 0;
  const out = Array.from({ length: E }, (_, e) => `${prefix}experts.${e}`);
  if (E > 0 && c.moeShared) out.push(`${prefix}shared`);
  return out;
}

/** The HF shape of a piece of a parameter of shape `s`. */
function pieceShape(p: Piece, s: readonly number[]): number[] {
  const rowsN = p.end - p.start;
  if (s.length === 1) return [rowsN];
  return p.transpose ? [s[1], rowsN] : [rowsN, s[1]];
}

function shapesOf(model: GPT): Map<string, readonly number[]> {
  return new Map(model.namedParameters().map(([n, t]) => [n, t.shape]));
}

/** One HF tensor, produced on demand (so a writer holds at most one converted tensor at a time). */
export interface LazyHfTensor {
  shape: number[];
  /** The data in HF layout: a view of the parameter when no rearranging is needed, else a fresh copy. */
  data: () => Float32Array | Float64Array;
}

/** Every weight of `model` under its Hugging Face name, converted when asked for. */
export function toHuggingFaceLazy(model: GPT): Map<string, LazyHfTensor> {
  const params = new Map(model.namedParameters());
  const out = new Map<string, LazyHfTensor>();
  for (const p of layout(model.config, shapesOf(model))) {
    const t = params.get(p.param);
    if (!t) throw new WeightMappingError(`internal: parameter "${p.param}" missing from the model`);
    const cols = t.ndim === 2 ? t.shape[1] : 1;
    const rowsN = p.end - p.start;
    const data = (): Float32Array | Float64Array => {
      const src = t.contiguousData();
      if (!p.transpose) return src.subarray(p.start * cols, p.end * cols);
      const d = t.dtype === "f64" ? new Float64Array(rowsN * cols) : new Float32Array(rowsN * cols);
      for (let r = 0; r < rowsN; r++) {
        for (let k = 0; k < cols; k++) d[k * rowsN + r] = src[(p.start + r) * cols + k];
      }
      return d;
    };
    out.set(p.hf, { shape: pieceShape(p, t.shape), data });
  }
  return out;
}

/** Every weight of `model` under its Hugging Face name, in HF layout (copies). */
export function toHuggingFace(model: GPT): Map<string, HfTensor> {
  const out = new Map<string, HfTensor>();
  for (const [name, t] of toHuggingFaceLazy(model)) out.set(name, { shape: t.shape, data: t.data().slice() });
  return out;
}

/** Names that HF checkpoints carry but that are buffers, not weights. */
function isIgnorable(name: string): boolean {
  return /(^|\.)attn\.(masked_)?bias$/.test(name) || name.endsWith("rotary_emb.inv_freq");
}

/**
 * A GPT with the weights of `tensors` (Hugging Face names and layouts). Accepts GPT-2 names
 * with or without the `transformer.` prefix. Every expected tensor must be present with its
 * exact shape; unknown names are an error (so a wrong config is never half-loaded).
 */
export function fromHuggingFace(
  config: GPTConfig, tensors: ReadonlyMap<string, HfTensorInput>, opts: { backend?: BackendName; dtype?: DType; source?: string } = {},
): GPT {
  const source = opts.source ?? "weights";
  const byName = new Map<string, HfTensorInput>();
  for (const [name, t] of tensors) {
    if (isIgnorable(name)) continue;
    const key = config.flavour === "gpt2" && name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
    byName.set(key, t);
  }
  const model = new GPT(config, { backend: opts.backend, dtype: opts.dtype, initWeights: false });
  const params = new Map(model.namedParameters());
  const pieces = layout(config, shapesOf(model));
  const missing: string[] = [];
  const wrong: string[] = [];
  const used = new Set<string>();
  for (const p of pieces) {
    const t = params.get(p.param);
    if (!t) throw new WeightMappingError(`internal: parameter "${p.param}" missing from the model`);
    const src = byName.get(p.hf);
    const expected = pieceShape(p, t.shape);
    if (!src) {
      missing.push(`${p.hf} ${JSON.stringify(expected)}`);
      continue;
    }
    used.add(p.hf);
    if (src.shape.join(",") !== expected.join(",")) {
      wrong.push(`${p.hf}: shape ${JSON.stringify(src.shape)}, expected ${JSON.stringify(expected)}`);
      continue;
    }
    const dst = t.data;
    const base = t.offset;
    const cols = t.ndim === 2 ? t.shape[1] : 1;
    const rowsN = p.end - p.start;
    const sd = src.data;
    if (!p.transpose) {
      for (let i = 0; i < rowsN * cols; i++) dst[base + p.start * cols + i] = sd[i];
    } else {
      for (let r = 0; r < rowsN; r++) {
        for (let k = 0; k < cols; k++) dst[base + (p.start + r) * cols + k] = sd[k * rowsN + r];
      }
    }
  }
  // Some exporters write the tied head as its own copy of the embedding: it carries nothing new.
  if (config.tiedEmbeddings && byName.has("lm_head.weight")) used.add("lm_head.weight");
  const unexpected = [...byName.keys()].filter((n) => !used.has(n));
  if (missing.length || wrong.length || unexpected.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length}: ${list(missing)}`);
    if (wrong.length) parts.push(`wrong shape ${wrong.length}: ${list(wrong)}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${list(unexpected)}`);
    for (const p of model.parameters()) p.dispose();
    throw new WeightMappingError(
      `${source} do not match a ${config.flavour} model with ${config.nLayer} layers, width ${config.nEmbd}, vocab ${config.vocabSize}: ${parts.join("; ")}. Does config.json belong to these weights?`,
    );
  }
  return model;
}

function list(xs: string[]): string {
  return xs.length <= 6 ? xs.join(", ") : `${xs.slice(0, 6).join(", ")}, ... (${xs.length - 6} more)`;
}

/** Throws a ModelConfigError when `config` cannot be written in Hugging Face's format. */
export function assertHfExportable(config: GPTConfig): void {
  if (config.flavour === "gpt2" && !config.bias) {
    throw new ModelConfigError('a gpt2-flavour model without biases has no Hugging Face GPT-2 equivalent (use flavour "llama")');
  }
}
