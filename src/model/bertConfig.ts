// BERT encoder configuration: typed plain data validated once at the edge (zod), and the Hugging
// Face BertConfig (config.json of BertForPreTraining / BertForSequenceClassification) in both
// directions, so a saved llmforge BERT loads in `transformers` and an HF BERT config is checked here.
import { existsSync } from "node:fs";
import { z } from "zod";
import { readFileChecked } from "../io/fsErrors.js";
import { VERSION } from "../version.js";
import { hfNumber } from "./hfConfig.js";
import { ModelConfigError, PRESETS } from "./config.js";

/** Every field of a BERT, after defaults. Plain data: serialisable as JSON. */
export interface BertConfig {
  family: "bert";
  vocabSize: number;
  /** Model width C; head width is hiddenSize / numAttentionHeads. */
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Hidden width of the feed-forward (intermediate) layer, 4·C in the original BERT. */
  intermediateSize: number;
  /** Longest sequence (learned absolute positions). */
  maxPositionEmbeddings: number;
  /** Segment (token type) embeddings: 2 for sentence pairs (next-sentence objective). */
  typeVocabSize: number;
  layerNormEps: number;
  /** Dropout on embeddings and residual branches (HF hidden_dropout_prob). */
  hiddenDropout: number;
  /** Dropout on attention probabilities (HF attention_probs_dropout_prob). */
  attentionDropout: number;
  /** Std of the normal init (HF initializer_range). */
  initializerRange: number;
  /** Classes of the sequence-classification head. */
  numLabels: number;
  padTokenId: number;
}

/** What {@link makeBertConfig} accepts: sizes required, the rest defaulted (BERT conventions). */
export type BertConfigInput = Partial<BertConfig> & Pick<BertConfig, "vocabSize" | "hiddenSize" | "numHiddenLayers" | "numAttentionHeads">;

const LIMITS = { layers: 1024, heads: 1024, width: 65536, vocabSize: 1 << 24, intermediate: 1 << 20, positions: 1 << 20, types: 1024, labels: 1 << 16 };

const positiveInt = (name: string, max: number) =>
  z.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`).max(max, `${name} must be at most ${max} (got a larger value: likely a typo)`);
const probability = (name: string) => z.number({ error: `${name} must be a number` }).min(0, `${name} must be in [0, 1)`).lt(1, `${name} must be in [0, 1)`);

const bertSchema = z.object({
  family: z.literal("bert", { error: 'family must be "bert"' }),
  vocabSize: positiveInt("vocabSize", LIMITS.vocabSize),
  hiddenSize: positiveInt("hiddenSize", LIMITS.width),
  numHiddenLayers: positiveInt("numHiddenLayers", LIMITS.layers),
  numAttentionHeads: positiveInt("numAttentionHeads", LIMITS.heads),
  intermediateSize: positiveInt("intermediateSize", LIMITS.intermediate),
  maxPositionEmbeddings: positiveInt("maxPositionEmbeddings", LIMITS.positions),
  typeVocabSize: positiveInt("typeVocabSize", LIMITS.types),
  layerNormEps: z.number({ error: "layerNormEps must be a number" }).positive("layerNormEps must be > 0").max(1, "layerNormEps must be at most 1"),
  hiddenDropout: probability("hiddenDropout"),
  attentionDropout: probability("attentionDropout"),
  initializerRange: z.number({ error: "initializerRange must be a number" }).positive("initializerRange must be > 0").max(10, "initializerRange must be at most 10"),
  numLabels: positiveInt("numLabels", LIMITS.labels),
  padTokenId: z.number({ error: "padTokenId must be a number" }).int("padTokenId must be a whole number").min(0, "padTokenId must be >= 0"),
}).strict();

/**
 * Checks an untrusted value (JSON from a file, CLI flags) is a complete, coherent BERT config.
 * `source` names where it came from, for the error message.
 */
export function validateBertConfig(value: unknown, source = "BERT config"): BertConfig {
  const parsed = bertSchema.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
    throw new ModelConfigError(`${source} is invalid:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  const problems: string[] = [];
  if (c.hiddenSize % c.numAttentionHeads !== 0) {
    problems.push(`hiddenSize ${c.hiddenSize} is not divisible by numAttentionHeads ${c.numAttentionHeads}: choose a width that is a multiple of the head count`);
  }
  if (c.padTokenId >= c.vocabSize) problems.push(`padTokenId ${c.padTokenId} is outside the vocabulary [0, ${c.vocabSize})`);
  if (problems.length > 0) throw new ModelConfigError(`${source} is invalid:\n  ${problems.join("\n  ")}`);
  return c;
}

/** Fills BERT defaults (intermediate 4·C, 512 positions, 2 segment types, eps 1e-12, dropout 0.1) and validates. */
export function makeBertConfig(input: BertConfigInput, source = "BERT config"): BertConfig {
  return validateBertConfig({
    family: "bert",
    intermediateSize: 4 * input.hiddenSize,
    maxPositionEmbeddings: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    initializerRange: 0.02,
    numLabels: 2,
    padTokenId: 0,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  }, source);
}

/** Parameters of a BERT with its pretraining heads (tied decoder), plus the classifier when asked. */
export function bertParamCount(c: BertConfig, classifier = false): number {
  const C = c.hiddenSize;
  const emb = (c.vocabSize + c.maxPositionEmbeddings + c.typeVocabSize) * C + 2 * C;
  const layer = 4 * (C * C + C) + 2 * (C * c.intermediateSize) + c.intermediateSize + C + 4 * C;
  const heads = C * C + C + (C * C + C + 2 * C + c.vocabSize) + (2 * C + 2);
  return emb + c.numHiddenLayers * layer + heads + (classifier ? c.numLabels * C + c.numLabels : 0);
}

/** The Hugging Face config.json object (BertConfig keys). */
export function toHfBertConfig(c: BertConfig, architecture: "BertForPreTraining" | "BertForSequenceClassification" = "BertForPreTraining"): Record<string, unknown> {
  return {
    architectures: [architecture],
    model_type: "bert",
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    // The engine's GELU is the tanh approximation: HF's name for it, so transformers computes the same function.
    hidden_act: "gelu_new",
    hidden_dropout_prob: c.hiddenDropout,
    attention_probs_dropout_prob: c.attentionDropout,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    initializer_range: c.initializerRange,
    layer_norm_eps: c.layerNormEps,
    position_embedding_type: "absolute",
    pad_token_id: c.padTokenId,
    num_labels: c.numLabels,
    tie_word_embeddings: true,
    llmforge_version: VERSION,
  };
}

/** A Hugging Face BERT config.json (model_type "bert") as a validated BertConfig. */
export function fromHfBertConfig(json: unknown, source = "config.json"): BertConfig {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new ModelConfigError(`${source}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  if (j.model_type !== "bert") {
    throw new ModelConfigError(`${source}: this folder holds a ${JSON.stringify(j.model_type ?? "unknown")} model, not a bert model; load it with the loader of its family`);
  }
  const act = j.hidden_act ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") {
    throw new ModelConfigError(`${source}: hidden_act ${JSON.stringify(act)} is not supported: llmforge's GELU is the tanh approximation ("gelu_new"), and "gelu" (erf) would give other outputs`);
  }
  const posType = j.position_embedding_type ?? "absolute";
  if (posType !== "absolute") throw new ModelConfigError(`${source}: position_embedding_type ${JSON.stringify(posType)} is not supported (absolute positions only)`);
  const id2label = j.id2label && typeof j.id2label === "object" ? Object.keys(j.id2label).length : undefined;
  return makeBertConfig({
    vocabSize: hfNumber(j, "vocab_size", source),
    hiddenSize: hfNumber(j, "hidden_size", source),
    numHiddenLayers: hfNumber(j, "num_hidden_layers", source),
    numAttentionHeads: hfNumber(j, "num_attention_heads", source),
    intermediateSize: hfNumber(j, "intermediate_size", source),
    maxPositionEmbeddings: hfNumber(j, "max_position_embeddings", source, 512),
    typeVocabSize: hfNumber(j, "type_vocab_size", source, 2),
    layerNormEps: hfNumber(j, "layer_norm_eps", source, 1e-12),
    hiddenDropout: hfNumber(j, "hidden_dropout_prob", source, 0.1),
    attentionDropout: hfNumber(j, "attention_probs_dropout_prob", source, 0.1),
    initializerRange: hfNumber(j, "initializer_range", source, 0.02),
    numLabels: hfNumber(j, "num_labels", source, id2label ?? 2),
    padTokenId: hfNumber(j, "pad_token_id", source, 0),
  }, source);
}

/** How a command chose a BERT size: --config FILE, --depth N or --preset NAME (the GPT presets' sizes), plus overrides. */
export interface BertModelChoice {
  preset?: string;
  depth?: number;
  config?: string;
  /** Longest sequence: maxPositionEmbeddings. */
  block?: number;
  /** Both dropouts (hidden and attention). */
  dropout?: number;
}

/**
 * The BertConfig a command asked for, with the vocabulary of its tokenizer. `--config` reads a
 * JSON file holding either a BertConfig (camelCase fields) or a Hugging Face BERT config.json.
 */
export function resolveBertConfig(c: BertModelChoice, vocabSize: number): BertConfig {
  const overrides: Partial<BertConfig> = { vocabSize };
  if (c.block !== undefined) overrides.maxPositionEmbeddings = c.block;
  if (c.dropout !== undefined) {
    overrides.hiddenDropout = c.dropout;
    overrides.attentionDropout = c.dropout;
  }
  if (c.config) {
    if (!existsSync(c.config)) throw new ModelConfigError(`--config ${c.config}: file not found`);
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(readFileChecked(c.config, "a model config JSON file").toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof SyntaxError) throw new ModelConfigError(`--config ${c.config}: not valid JSON (${err.message})`);
      throw err;
    }
    const base = raw.model_type !== undefined ? fromHfBertConfig({ ...raw, vocab_size: vocabSize }, c.config) : raw;
    return validateBertConfig({ ...makeBertDefaults(base as Partial<BertConfig>), ...overrides }, c.config);
  }
  if (c.depth !== undefined) {
    if (!Number.isInteger(c.depth) || c.depth < 1 || c.depth > 64) throw new ModelConfigError(`depth must be a whole number from 1 to 64, got ${c.depth}`);
    const width = 64 * c.depth;
    return makeBertConfig({ vocabSize, hiddenSize: width, numHiddenLayers: c.depth, numAttentionHeads: width / (c.depth < 4 ? 32 : 64), maxPositionEmbeddings: 256, ...overrides });
  }
  const name = c.preset ?? "mini";
  const p = PRESETS[name];
  if (!p) throw new ModelConfigError(`unknown model preset "${name}"; choose one of ${Object.keys(PRESETS).join(", ")}`);
  return makeBertConfig({ vocabSize, hiddenSize: p.nEmbd, numHiddenLayers: p.nLayer, numAttentionHeads: p.nHead, maxPositionEmbeddings: p.blockSize, ...overrides });
}

/** A partial BertConfig with the defaults of {@link makeBertConfig} under it (validation comes after). */
function makeBertDefaults(raw: Partial<BertConfig>): Partial<BertConfig> {
  const width = typeof raw.hiddenSize === "number" ? raw.hiddenSize : undefined;
  return {
    family: "bert", maxPositionEmbeddings: 512, typeVocabSize: 2, layerNormEps: 1e-12, hiddenDropout: 0.1, attentionDropout: 0.1,
    initializerRange: 0.02, numLabels: 2, padTokenId: 0, ...(width !== undefined ? { intermediateSize: 4 * width } : {}), ...raw,
  };
}
