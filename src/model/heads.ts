// Scalar heads on the transformer trunk: a reward model (trunk + Linear C->1 without bias) read at the
// last real token of each right-padded sequence, and its model folder in Hugging Face's
// sequence-classification layout (GPT2/LlamaForSequenceClassification, num_labels 1, `score.weight`).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { toHfConfig, fromHfConfig } from "./hfConfig.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { readSafetensors, writeSafetensors, type WritableTensor } from "../io/safetensors.js";
import { Linear } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import { expand, gather, reshape, type IdsLike } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import type { Tensor } from "../tensor/tensor.js";
import { VERSION } from "../version.js";
import { GPT, type ForwardOptions } from "./gpt.js";
import { assertHfExportable, fromHuggingFace, toHuggingFaceLazy } from "./hfWeights.js";
import { CONFIG_FILE, WEIGHTS_FILE } from "./serialize.js";

/** The scalar head's tensor name in a model folder (as in Hugging Face's *ForSequenceClassification). */
export const SCORE_WEIGHT = "score.weight";

/** A reward model that cannot be built, read or written; the message says what to give instead. */
export class RewardModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RewardModelError";
  }
}

/**
 * The transformer of a language model without its LM head (a copy: the config is made "tied" so
 * no head matrix exists; the input embedding is kept).
 */
export function trunkOf(policy: GPT): GPT {
  const trunk = new GPT({ ...policy.config, tiedEmbeddings: true }, { dtype: policy.dtype, backend: policy.backendName, initWeights: false });
  const own = new Map(policy.namedParameters());
  for (const [n, p] of trunk.namedParameters()) {
    const src = own.get(n);
    if (!src) throw new RewardModelError(`the base model has no plain weight "${n}" (adapters or prefixes attached?): merge them into the weights first (\`llmforge peft merge\`)`);
    p.data.set(src.contiguousData(), p.offset);
  }
  trunk.dropoutRng.setState(policy.dropoutRng.getState());
  return trunk;
}

/**
 * Trunk + scalar head (Linear C->1, no bias). `values` gives the head at every position (B, T) (a
 * value model for PPO reads these); `rewards` reads it at the last real token of each sequence.
 */
export class RewardModel extends Module {
  readonly trunk: GPT;
  readonly score: Linear;

  /** A new head on `trunk` (normal init, std 1/(C+1) as OpenRLHF's value head), or the given weights. */
  constructor(trunk: GPT, opts: { seed?: number; scoreWeight?: ArrayLike<number> } = {}) {
    super();
    const C = trunk.config.nEmbd;
    this.trunk = this.child("trunk", trunk);
    const po = { dtype: trunk.dtype, backend: trunk.backendName, rng: new Rng(opts.seed ?? 0), bias: false };
    this.score = this.child("score", new Linear(C, 1, { ...po, init: { kind: "normal", std: 1 / (C + 1) } }));
    if (opts.scoreWeight) {
      if (opts.scoreWeight.length !== C) throw new RewardModelError(`${SCORE_WEIGHT} has ${opts.scoreWeight.length} values; the trunk's width is ${C}`);
      this.score.weight.data.set(opts.scoreWeight, this.score.weight.offset);
    }
  }

  get config(): GPT["config"] {
    return this.trunk.config;
  }

  get dropoutRng(): Rng {
    return this.trunk.dropoutRng;
  }

  /** idx (B, T) -> the head's value at every position (B, T). */
  values(idx: IdsLike, opts: ForwardOptions = {}): Tensor {
    const [B, T] = idx.shape;
    return reshape(this.score.forward(this.trunk.hidden(idx, opts)), [B, T]); // (B, T, 1) -> (B, T)
  }

  /**
   * idx (B, T) right-padded, lengths (B) real tokens per row -> rewards (B,) read at position
   * lengths[b] - 1. Causal attention keeps padding after a token from changing it, so the pad id
   * and the padded width never move or change a reward.
   */
  rewards(idx: IdsLike, lengths: Int32Array): Tensor {
    const [B, T] = idx.shape;
    if (lengths.length !== B) throw new RewardModelError(`rewards: ${lengths.length} lengths for ${B} sequences`);
    const last = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      if (!(lengths[b] >= 1 && lengths[b] <= T)) throw new RewardModelError(`rewards: sequence ${b} has length ${lengths[b]}, expected 1..${T}`);
      last[b] = lengths[b] - 1;
    }
    return gather(this.values(idx), last); // (B,)
  }

  /**
   * Packed rows: idx (R, T) holding several sequences per row (docStart keeps each to itself, as in
   * {@link ForwardOptions}) -> rewards (N,) read at the flat positions `ends` (row·T + t) of their last tokens.
   */
  rewardsAt(idx: IdsLike, ends: Int32Array, docStart?: Int32Array): Tensor {
    const [R, T] = idx.shape;
    for (const e of ends) if (!(e >= 0 && e < R * T)) throw new RewardModelError(`rewardsAt: end ${e} is outside the ${R}×${T} rows`);
    const flat = reshape(this.values(idx, { docStart }), [1, R * T]);
    return gather(expand(flat, [ends.length, R * T]), ends); // (N,)
  }
}

const ARCHITECTURE = { gpt2: "GPT2ForSequenceClassification", llama: "LlamaForSequenceClassification" } as const;

/** True when a config.json object describes a sequence classifier / reward model (not a language model). */
export function isRewardModelConfig(json: unknown): boolean {
  const arch = (json as { architectures?: unknown } | null)?.architectures;
  return Array.isArray(arch) && arch.some((a) => typeof a === "string" && a.endsWith("ForSequenceClassification"));
}

export interface SaveRewardModelOptions {
  /** Written as pad_token_id (Hugging Face reads the last token that is not this id; it must not occur inside a sequence). */
  padTokenId?: number | null;
  eosTokenId?: number | null;
  /** More config.json entries (e.g. how the model was trained, under `llmforge_reward`). */
  extra?: Record<string, unknown>;
}

/**
 * Writes dir/model.safetensors (trunk under Hugging Face names, `transformer.`-prefixed for GPT-2, and
 * `score.weight` (1, C)) then dir/config.json (architecture, num_labels 1), each atomically.
 */
export function saveRewardModel(dir: string, rm: RewardModel, o: SaveRewardModelOptions = {}): void {
  const c = rm.config;
  assertHfExportable(c);
  const prefix = c.flavour === "gpt2" ? "transformer." : "";
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of toHuggingFaceLazy(rm.trunk)) if (name !== "lm_head.weight") tensors.set(prefix + name, { shape: t.shape, data: t.data });
  tensors.set(SCORE_WEIGHT, { shape: [1, c.nEmbd], data: () => rm.score.weight.contiguousData() });
  writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: "pt", llmforge_version: VERSION });
  const cfg = {
    ...toHfConfig(c), architectures: [ARCHITECTURE[c.flavour]], num_labels: 1, id2label: { "0": "LABEL_0" }, label2id: { LABEL_0: 0 },
    pad_token_id: o.padTokenId ?? null, eos_token_id: o.eosTokenId ?? null, ...o.extra,
  };
  writeFileAtomicSync(join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
}

/**
 * Loads a reward model folder (saveRewardModel's, or a Hugging Face GPT-2/Llama sequence classifier
 * with one label). A language model folder is refused with a message saying so.
 */
export function loadRewardModel(dir: string, opts: { backend?: BackendName; dtype?: DType } = {}): { model: RewardModel; config: Record<string, unknown> } {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path)) throw new RewardModelError(`${path} is missing: expected a reward model folder (from \`llmforge reward\`)`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new RewardModelError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!isRewardModelConfig(json)) {
    throw new RewardModelError(
      `${dir} holds a language model (${JSON.stringify(json.architectures ?? "no architectures")}), not a reward model: ` +
        "train one from it with `llmforge reward --model RUN --data F --out RM` and give RM here",
    );
  }
  const labels = json.num_labels ?? Object.keys((json.id2label as object | undefined) ?? { 0: 0 }).length;
  if (labels !== 1) throw new RewardModelError(`${path}: num_labels is ${JSON.stringify(labels)}; a reward model has one scalar output (num_labels 1)`);
  const config = { ...fromHfConfig(json, path), tiedEmbeddings: true }; // the trunk has no LM head
  const weights = join(dir, WEIGHTS_FILE);
  if (!existsSync(weights)) throw new RewardModelError(`${weights} is missing: the folder has a config.json but no weights`);
  const floats = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
  for (const [name, t] of readSafetensors(weights).tensors) {
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) throw new RewardModelError(`${weights}: tensor "${name}" has dtype ${t.dtype}; weights must be floats`);
    if (name !== "lm_head.weight") floats.set(name, { shape: t.shape, data: t.data });
  }
  const score = floats.get(SCORE_WEIGHT);
  if (!score || score.shape.join(",") !== `1,${config.nEmbd}`) {
    throw new RewardModelError(`${weights}: expected "${SCORE_WEIGHT}" of shape [1, ${config.nEmbd}], found ${score ? JSON.stringify(score.shape) : "none"}`);
  }
  floats.delete(SCORE_WEIGHT);
  const trunk = fromHuggingFace(config, floats, { ...opts, source: `weights in ${weights}` });
  return { model: new RewardModel(trunk, { scoreWeight: score.data }), config: json };
}
