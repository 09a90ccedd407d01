// Hugging Face `config.json` for GPT-2 (GPT2LMHeadModel), Llama (LlamaForCausalLM) and Mixtral
// (MixtralForCausalLM), both directions, so a saved llmforge model loads in `transformers` and an HF
// checkpoint's config becomes a validated GPTConfig. MoE models Mixtral cannot express are written
// as llmforge's own model types (llmforge_moe, llmforge_gpt2_moe) so `transformers` refuses them.
import { makeConfig, ModelConfigError, type GPTConfig } from "./config.js";
import { VERSION } from "../version.js";

export type HfConfigJson = Record<string, unknown>;

/**
 * Whether a llama-flavour MoE config is exactly Mixtral: an MoE block in every layer, top-k
 * renormalised, no shared expert, no biases. (Capacity and the z-loss only change training.)
 */
export function isMixtral(c: GPTConfig): boolean {
  return c.flavour === "llama" && !!c.moeExperts && c.moeEvery === 1 && c.moeNormalizeTopK !== false && !c.moeShared && !c.bias;
}

/** The MoE keys of config.json: Mixtral's names, then llmforge's for what Mixtral lacks. */
function moeHfFields(c: GPTConfig): HfConfigJson {
  if (!c.moeExperts) return {};
  return {
    num_local_experts: c.moeExperts,
    num_experts_per_tok: c.moeTopK,
    router_aux_loss_coef: c.moeLoadBalanceCoef,
    output_router_logits: false,
    router_jitter_noise: 0,
    llmforge_router_z_loss_coef: c.moeZLossCoef,
    llmforge_moe_every: c.moeEvery,
    llmforge_moe_shared_expert: c.moeShared,
    llmforge_moe_normalize_top_k: c.moeNormalizeTopK,
    llmforge_moe_capacity_factor: c.moeCapacityFactor,
  };
}

/** The Hugging Face config.json object for a GPTConfig. */
export function toHfConfig(c: GPTConfig): HfConfigJson {
  const base = toHfConfigDense(c);
  if (!c.moeExperts) return base;
  const [architectures, model_type] = c.flavour === "gpt2"
    ? [["LlmforgeGPT2MoEForCausalLM"], "llmforge_gpt2_moe"]
    : isMixtral(c) ? [["MixtralForCausalLM"], "mixtral"] : [["LlmforgeMoEForCausalLM"], "llmforge_moe"];
  const { llmforge_version, torch_dtype, ...rest } = base;
  return { ...rest, architectures, model_type, ...(model_type === "mixtral" ? { sliding_window: null } : {}), ...moeHfFields(c), torch_dtype, llmforge_version };
}

function toHfConfigDense(c: GPTConfig): HfConfigJson {
  if (c.flavour === "gpt2") {
    if (!c.bias) throw new ModelConfigError('Hugging Face GPT-2 always has biases: a gpt2-flavour model with bias=false cannot be exported as GPT2LMHeadModel (use flavour "llama")');
    return {
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      activation_function: "gelu_new",
      n_layer: c.nLayer,
      n_head: c.nHead,
      n_embd: c.nEmbd,
      n_positions: c.blockSize,
      n_ctx: c.blockSize,
      n_inner: c.mlpHidden === 4 * c.nEmbd ? null : c.mlpHidden,
      vocab_size: c.vocabSize,
      layer_norm_epsilon: c.normEps,
      initializer_range: c.initStd,
      attn_pdrop: c.dropout,
      embd_pdrop: c.dropout,
      resid_pdrop: c.dropout,
      scale_attn_weights: true,
      scale_attn_by_inverse_layer_idx: false,
      reorder_and_upcast_attn: false,
      tie_word_embeddings: c.tiedEmbeddings,
      use_cache: true,
      torch_dtype: "float32",
      llmforge_version: VERSION,
    };
  }
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_act: "silu",
    hidden_size: c.nEmbd,
    intermediate_size: c.mlpHidden,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nKvHead,
    head_dim: c.nEmbd / c.nHead,
    max_position_embeddings: c.blockSize,
    vocab_size: c.vocabSize,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeBase,
    rope_scaling: null,
    attention_bias: c.bias,
    mlp_bias: c.bias,
    attention_dropout: c.dropout,
    initializer_range: c.initStd,
    tie_word_embeddings: c.tiedEmbeddings,
    use_cache: true,
    torch_dtype: "float32",
    llmforge_version: VERSION,
  };
}

/** A numeric key of a Hugging Face config.json (`fallback` when absent), or a ModelConfigError naming the file and key. */
export function hfNumber(json: Record<string, unknown>, key: string, source: string, fallback?: number): number {
  const v = json[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelConfigError(`${source}: missing "${key}"`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ModelConfigError(`${source}: "${key}" is ${JSON.stringify(v)}, expected a number`);
  return v;
}

function bool(json: HfConfigJson, key: string, source: string, fallback: boolean): boolean {
  const v = json[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new ModelConfigError(`${source}: "${key}" is ${JSON.stringify(v)}, expected true or false`);
  return v;
}

/** The moe* fields of a Mixtral / llmforge MoE config.json. */
function moeFromHf(j: HfConfigJson, source: string, type: string): Partial<GPTConfig> {
  if (type === "mixtral") {
    if (typeof j.sliding_window === "number" && j.sliding_window < hfNumber(j, "max_position_embeddings", source)) {
      throw new ModelConfigError(`${source}: sliding_window ${j.sliding_window} is not supported (llmforge attends to the whole context)`);
    }
    if (typeof j.router_jitter_noise === "number" && j.router_jitter_noise !== 0) {
      throw new ModelConfigError(`${source}: router_jitter_noise ${j.router_jitter_noise} is not supported (llmforge routes without noise)`);
    }
  }
  return {
    moeExperts: hfNumber(j, "num_local_experts", source),
    moeTopK: hfNumber(j, "num_experts_per_tok", source),
    moeLoadBalanceCoef: hfNumber(j, "router_aux_loss_coef", source, 0.001),
    moeZLossCoef: hfNumber(j, "llmforge_router_z_loss_coef", source, 0),
    moeEvery: hfNumber(j, "llmforge_moe_every", source, 1),
    moeShared: bool(j, "llmforge_moe_shared_expert", source, false),
    moeNormalizeTopK: bool(j, "llmforge_moe_normalize_top_k", source, true),
    moeCapacityFactor: hfNumber(j, "llmforge_moe_capacity_factor", source, 0),
  };
}

const MOE_TYPES: Record<string, "gpt2" | "llama"> = { mixtral: "llama", llmforge_moe: "llama", llmforge_gpt2_moe: "gpt2" };

/** A validated GPTConfig from a Hugging Face config.json object (gpt2, llama, mixtral or llmforge's MoE model_type). */
export function fromHfConfig(json: unknown, source = "config.json"): GPTConfig {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new ModelConfigError(`${source}: expected a JSON object`);
  const j = json as HfConfigJson;
  const type = j.model_type;
  const moeBase = typeof type === "string" ? MOE_TYPES[type] : undefined;
  if (moeBase) {
    const dense = fromHfConfig({ ...j, model_type: moeBase }, source);
    return makeConfig({ ...dense, ...moeFromHf(j, source, type as string) });
  }
  if (type === "gpt2") {
    const act = j.activation_function ?? "gelu_new";
    if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") {
      throw new ModelConfigError(`${source}: activation_function "${String(act)}" is not supported (llmforge's GPT-2 uses the tanh GELU, "gelu_new")`);
    }
    if (j.scale_attn_weights === false || j.scale_attn_by_inverse_layer_idx === true) {
      throw new ModelConfigError(`${source}: scale_attn_weights=false or scale_attn_by_inverse_layer_idx=true changes GPT-2's attention; not supported`);
    }
    const C = hfNumber(j, "n_embd", source);
    const drop = hfNumber(j, "resid_pdrop", source, 0);
    return makeConfig({
      flavour: "gpt2",
      nLayer: hfNumber(j, "n_layer", source),
      nHead: hfNumber(j, "n_head", source),
      nEmbd: C,
      blockSize: hfNumber(j, "n_positions", source),
      vocabSize: hfNumber(j, "vocab_size", source),
      mlpHidden: hfNumber(j, "n_inner", source, 4 * C),
      normEps: hfNumber(j, "layer_norm_epsilon", source, 1e-5),
      initStd: hfNumber(j, "initializer_range", source, 0.02),
      dropout: drop,
      tiedEmbeddings: bool(j, "tie_word_embeddings", source, true),
      bias: true,
    });
  }
  if (type === "llama") {
    const act = j.hidden_act ?? "silu";
    if (act !== "silu") throw new ModelConfigError(`${source}: hidden_act "${String(act)}" is not supported (llama flavour uses SwiGLU with silu)`);
    if (j.rope_scaling !== undefined && j.rope_scaling !== null) {
      throw new ModelConfigError(`${source}: rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported (plain RoPE only)`);
    }
    const C = hfNumber(j, "hidden_size", source);
    const H = hfNumber(j, "num_attention_heads", source);
    if (j.head_dim !== undefined && j.head_dim !== null && hfNumber(j, "head_dim", source) * H !== C) {
      throw new ModelConfigError(`${source}: head_dim ${String(j.head_dim)} × ${H} heads differs from hidden_size ${C} (not supported)`);
    }
    const attnBias = bool(j, "attention_bias", source, false);
    const mlpBias = bool(j, "mlp_bias", source, false);
    if (attnBias !== mlpBias) throw new ModelConfigError(`${source}: attention_bias and mlp_bias differ; llmforge supports both on or both off`);
    return makeConfig({
      flavour: "llama",
      nLayer: hfNumber(j, "num_hidden_layers", source),
      nHead: H,
      nKvHead: hfNumber(j, "num_key_value_heads", source, H),
      nEmbd: C,
      blockSize: hfNumber(j, "max_position_embeddings", source),
      vocabSize: hfNumber(j, "vocab_size", source),
      mlpHidden: hfNumber(j, "intermediate_size", source),
      normEps: hfNumber(j, "rms_norm_eps", source, 1e-6),
      ropeBase: hfNumber(j, "rope_theta", source, 10000),
      initStd: hfNumber(j, "initializer_range", source, 0.02),
      dropout: hfNumber(j, "attention_dropout", source, 0),
      tiedEmbeddings: bool(j, "tie_word_embeddings", source, false),
      bias: attnBias,
    });
  }
  throw new ModelConfigError(`${source}: model_type ${JSON.stringify(type)} is not supported (expected "gpt2", "llama" or "mixtral")`);
}
