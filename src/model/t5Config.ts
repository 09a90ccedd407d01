// T5 encoder-decoder configuration: typed plain data validated once at the edge (zod), and the
// Hugging Face T5Config (config.json of T5ForConditionalGeneration) in both directions, so a saved
// llmforge T5 loads in `transformers` and an HF T5 checkpoint's config becomes a validated T5Config.
import { existsSync } from "node:fs";
import { totalmem } from "node:os";
import { z } from "zod";
import { readFileChecked } from "../io/fsErrors.js";
import { VERSION } from "../version.js";
import { hfNumber } from "./hfConfig.js";
import { formatBytes, formatCount, ModelConfigError, PRESETS } from "./config.js";

/** "relu": T5 1.0 (wi, ReLU, wo). "gated-gelu": T5 v1.1 (wo(gelu_tanh(wi_0 x) · wi_1 x)). */
export type T5FeedForward = "relu" | "gated-gelu";

/** Every field of a T5, after defaults. Plain data: serialisable as JSON. */
export interface T5Config {
  flavour: "t5";
  vocabSize: number;
  /** Model width C. */
  dModel: number;
  /** Width of one attention head; numHeads · dKv may differ from dModel (as in Hugging Face's T5). */
  dKv: number;
  /** Hidden width of the feed-forward layers. */
  dFf: number;
  /** Encoder blocks. */
  numLayers: number;
  /** Decoder blocks. */
  numDecoderLayers: number;
  numHeads: number;
  /** Relative position buckets (half for each direction in the encoder). */
  relativeAttentionNumBuckets: number;
  /** Distances from this one up share the last bucket. */
  relativeAttentionMaxDistance: number;
  feedForwardProj: T5FeedForward;
  layerNormEpsilon: number;
  dropout: number;
  /** Init scale (Hugging Face's initializer_factor). */
  initFactor: number;
  /** The LM head reuses the shared embedding, with the d_model^-0.5 rescale of the decoder output. */
  tieWordEmbeddings: boolean;
  padTokenId: number;
  eosTokenId: number;
  /** First decoder input (T5: the pad id). */
  decoderStartTokenId: number;
}

/** What {@link makeT5Config} accepts: sizes required, the rest defaulted (dKv = dModel / numHeads). */
export type T5ConfigInput = Partial<T5Config> & Pick<T5Config, "vocabSize" | "dModel" | "numLayers" | "numHeads">;

const LIMITS = { layers: 1024, heads: 1024, width: 65536, vocabSize: 1 << 24, dFf: 1 << 20, buckets: 4096, distance: 1 << 20 };

const positiveInt = (name: string, max: number) =>
  z.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`).max(max, `${name} must be at most ${max} (got a larger value: likely a typo)`);
const tokenId = (name: string) => z.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`).min(0, `${name} must be >= 0`);

const t5Schema = z.object({
  flavour: z.literal("t5", { error: 'flavour must be "t5"' }),
  vocabSize: positiveInt("vocabSize", LIMITS.vocabSize),
  dModel: positiveInt("dModel", LIMITS.width),
  dKv: positiveInt("dKv", LIMITS.width),
  dFf: positiveInt("dFf", LIMITS.dFf),
  numLayers: positiveInt("numLayers", LIMITS.layers),
  numDecoderLayers: positiveInt("numDecoderLayers", LIMITS.layers),
  numHeads: positiveInt("numHeads", LIMITS.heads),
  relativeAttentionNumBuckets: positiveInt("relativeAttentionNumBuckets", LIMITS.buckets),
  relativeAttentionMaxDistance: positiveInt("relativeAttentionMaxDistance", LIMITS.distance),
  feedForwardProj: z.enum(["relu", "gated-gelu"], { error: 'feedForwardProj must be "relu" or "gated-gelu"' }),
  layerNormEpsilon: z.number().positive("layerNormEpsilon must be > 0").max(1, "layerNormEpsilon must be at most 1"),
  dropout: z.number().min(0, "dropout must be in [0, 1)").lt(1, "dropout must be in [0, 1)"),
  initFactor: z.number().positive("initFactor must be > 0").max(100, "initFactor must be at most 100"),
  tieWordEmbeddings: z.boolean(),
  padTokenId: tokenId("padTokenId"),
  eosTokenId: tokenId("eosTokenId"),
  decoderStartTokenId: tokenId("decoderStartTokenId"),
}).strict();

/** Parameters of a T5 config (shared embedding, both stacks, untied head). */
export function t5ParamCount(c: T5Config): number {
  const inner = c.numHeads * c.dKv;
  const attn = 4 * c.dModel * inner;
  const ff = (c.feedForwardProj === "gated-gelu" ? 3 : 2) * c.dModel * c.dFf;
  const bias = c.relativeAttentionNumBuckets * c.numHeads;
  const enc = c.numLayers * (attn + ff + 2 * c.dModel) + bias + c.dModel;
  const dec = c.numDecoderLayers * (2 * attn + ff + 3 * c.dModel) + bias + c.dModel;
  return c.vocabSize * c.dModel * (c.tieWordEmbeddings ? 1 : 2) + enc + dec;
}

/** Refuses a T5 whose weights alone would not fit in memory, before anything is allocated. */
export function assertT5WeightsFit(c: T5Config, bytesPerElement = 4, limitBytes = 0.9 * totalmem()): void {
  const n = t5ParamCount(c);
  if (n * bytesPerElement > limitBytes) {
    throw new ModelConfigError(`the weights of this T5 alone need ${formatBytes(n * bytesPerElement)} (${formatCount(n)} parameters), more than the ${formatBytes(limitBytes)} available`);
  }
}

/**
 * Checks an untrusted value (JSON from a file, CLI flags) is a complete, coherent T5 config.
 * `source` names where it came from, for the error message.
 */
export function validateT5Config(value: unknown, source = "T5 config"): T5Config {
  const parsed = t5Schema.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
    throw new ModelConfigError(`${source} is invalid:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  const problems: string[] = [];
  const nb = c.relativeAttentionNumBuckets;
  if (nb < 4 || nb % 2 !== 0) problems.push(`relativeAttentionNumBuckets ${nb} must be even and at least 4 (half of them per direction in the encoder)`);
  if (c.relativeAttentionMaxDistance <= nb / 2) {
    problems.push(`relativeAttentionMaxDistance ${c.relativeAttentionMaxDistance} must exceed relativeAttentionNumBuckets / 2 = ${nb / 2} (distances below that each get a bucket of their own)`);
  }
  for (const key of ["padTokenId", "eosTokenId", "decoderStartTokenId"] as const) {
    if (c[key] >= c.vocabSize) problems.push(`${key} ${c[key]} is outside the vocabulary [0, ${c.vocabSize})`);
  }
  if (problems.length > 0) throw new ModelConfigError(`${source} is invalid:\n  ${problems.join("\n  ")}`);
  return c;
}

/** Fills T5 defaults (t5-small conventions, dropout 0, dKv = dModel / numHeads) and validates. */
export function makeT5Config(input: T5ConfigInput, source = "T5 config"): T5Config {
  if (input.dKv === undefined && input.dModel % input.numHeads !== 0) {
    throw new ModelConfigError(
      `${source} is invalid:\n  dModel ${input.dModel} is not divisible by numHeads ${input.numHeads}: give dKv (the head width; numHeads × dKv is the attention width) or a dModel divisible by numHeads`,
    );
  }
  const full = {
    flavour: "t5",
    dKv: Math.floor(input.dModel / input.numHeads),
    dFf: 4 * input.dModel,
    numDecoderLayers: input.numLayers,
    relativeAttentionNumBuckets: 32,
    relativeAttentionMaxDistance: 128,
    feedForwardProj: "relu",
    layerNormEpsilon: 1e-6,
    dropout: 0,
    initFactor: 1,
    tieWordEmbeddings: true,
    padTokenId: 0,
    eosTokenId: 1,
    decoderStartTokenId: 0,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  };
  return validateT5Config(full, source);
}

/** The Hugging Face config.json object (T5Config keys) for a T5Config. */
export function toHfT5Config(c: T5Config): Record<string, unknown> {
  return {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    vocab_size: c.vocabSize,
    d_model: c.dModel,
    d_kv: c.dKv,
    d_ff: c.dFf,
    num_layers: c.numLayers,
    num_decoder_layers: c.numDecoderLayers,
    num_heads: c.numHeads,
    relative_attention_num_buckets: c.relativeAttentionNumBuckets,
    relative_attention_max_distance: c.relativeAttentionMaxDistance,
    dropout_rate: c.dropout,
    layer_norm_epsilon: c.layerNormEpsilon,
    initializer_factor: c.initFactor,
    feed_forward_proj: c.feedForwardProj,
    dense_act_fn: c.feedForwardProj === "relu" ? "relu" : "gelu_new",
    is_gated_act: c.feedForwardProj === "gated-gelu",
    is_encoder_decoder: true,
    use_cache: true,
    tie_word_embeddings: c.tieWordEmbeddings,
    pad_token_id: c.padTokenId,
    eos_token_id: c.eosTokenId,
    decoder_start_token_id: c.decoderStartTokenId,
    llmforge_version: VERSION,
  };
}

/** A Hugging Face T5 config.json (model_type "t5") as a validated T5Config. */
export function fromHfT5Config(json: unknown, source = "config.json"): T5Config {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new ModelConfigError(`${source}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  if (j.model_type !== "t5") throw new ModelConfigError(`${source}: model_type ${JSON.stringify(j.model_type)} is not a T5 (expected "t5")`);
  const proj = j.feed_forward_proj ?? "relu";
  if (proj !== "relu" && proj !== "gated-gelu") {
    throw new ModelConfigError(`${source}: feed_forward_proj ${JSON.stringify(proj)} is not supported (llmforge's T5 has "relu" and "gated-gelu")`);
  }
  const tie = j.tie_word_embeddings ?? true;
  if (typeof tie !== "boolean") throw new ModelConfigError(`${source}: "tie_word_embeddings" is ${JSON.stringify(tie)}, expected true or false`);
  const layers = hfNumber(j, "num_layers", source);
  return makeT5Config({
    vocabSize: hfNumber(j, "vocab_size", source),
    dModel: hfNumber(j, "d_model", source),
    dKv: hfNumber(j, "d_kv", source),
    dFf: hfNumber(j, "d_ff", source),
    numLayers: layers,
    numDecoderLayers: hfNumber(j, "num_decoder_layers", source, layers),
    numHeads: hfNumber(j, "num_heads", source),
    relativeAttentionNumBuckets: hfNumber(j, "relative_attention_num_buckets", source, 32),
    relativeAttentionMaxDistance: hfNumber(j, "relative_attention_max_distance", source, 128),
    feedForwardProj: proj,
    layerNormEpsilon: hfNumber(j, "layer_norm_epsilon", source, 1e-6),
    dropout: hfNumber(j, "dropout_rate", source, 0.1),
    initFactor: hfNumber(j, "initializer_factor", source, 1),
    tieWordEmbeddings: tie,
    padTokenId: hfNumber(j, "pad_token_id", source, 0),
    eosTokenId: hfNumber(j, "eos_token_id", source, 1),
    decoderStartTokenId: hfNumber(j, "decoder_start_token_id", source, 0),
  }, source);
}

/** Whether a parsed config.json describes a T5 (so GPT loaders can refuse it by name). */
export function isT5HfConfig(json: unknown): boolean {
  return !!json && typeof json === "object" && (json as { model_type?: unknown }).model_type === "t5";
}

/** How `llmforge train --flavour t5` chose a model: --config FILE (T5 fields or a Hugging Face T5 config.json), --depth N or --preset NAME. */
export interface T5ModelChoice {
  preset?: string;
  depth?: number;
  config?: string;
  dropout?: number;
}

/**
 * The T5 config from --config FILE, --depth N (width 64·N, heads of 64, N blocks each side) or
 * --preset NAME (the GPT preset's layers, heads and width for each stack), sized to the vocabulary.
 */
export function resolveT5Config(c: T5ModelChoice, vocabSize: number): T5Config {
  const over = { vocabSize, ...(c.dropout !== undefined ? { dropout: c.dropout } : {}) };
  if (c.config) {
    if (!existsSync(c.config)) throw new ModelConfigError(`--config ${c.config}: file not found`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileChecked(c.config, "a T5 config JSON file").toString("utf8"));
    } catch (err) {
      if (err instanceof SyntaxError) throw new ModelConfigError(`--config ${c.config}: not valid JSON (${err.message})`);
      throw err;
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ModelConfigError(`--config ${c.config}: expected a JSON object`);
    const r = raw as Record<string, unknown>;
    if (r.model_type !== undefined) {
      const hf = fromHfT5Config(r, c.config);
      return validateT5Config({ ...hf, ...over }, c.config);
    }
    return makeT5Config({ ...(r as T5ConfigInput), ...over }, c.config);
  }
  if (c.depth !== undefined) return makeT5Config({ dModel: 64 * c.depth, numHeads: c.depth, numLayers: c.depth, ...over }, `--depth ${c.depth}`);
  const name = c.preset ?? "mini";
  const p = PRESETS[name];
  if (!p) throw new ModelConfigError(`unknown model preset "${name}"; choose one of ${Object.keys(PRESETS).join(", ")}`);
  return makeT5Config({ dModel: p.nEmbd, numHeads: p.nHead, numLayers: p.nLayer, ...over }, `preset ${name}`);
}
