// GPT model configuration: typed plain data validated once at the edge (zod), one size dial
// (`configFromDepth`, nanochat style), named presets up to GPT-2 small (124M), and a training
// memory estimate so configs that cannot fit are refused before anything is allocated.
import { existsSync } from "node:fs";
import { readFileChecked } from "../io/fsErrors.js";
import { totalmem } from "node:os";
import { z } from "zod";

/** A model configuration that does not make sense or does not fit; the message says what to change. */
export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelConfigError";
  }
}

export type Flavour = "gpt2" | "llama";

/** Every field of a GPT, after defaults. Plain data: serialisable as JSON. */
export interface GPTConfig {
  /** gpt2: learned positions, LayerNorm, GELU(tanh) MLP. llama: RoPE, RMSNorm, SwiGLU, GQA. */
  flavour: Flavour;
  nLayer: number;
  nHead: number;
  /** Key/value heads (grouped-query attention); equals nHead for plain multi-head attention. */
  nKvHead: number;
  /** Model width C. Head dim is nEmbd / nHead. */
  nEmbd: number;
  /** Longest sequence (context length). */
  blockSize: number;
  vocabSize: number;
  dropout: number;
  /** Std of the normal init (GPT-2: 0.02); residual projections get initStd / sqrt(2·nLayer). */
  initStd: number;
  /** RoPE base (theta); used by the llama flavour. */
  ropeBase: number;
  /** MLP hidden width (gpt2: 4·C; llama: SwiGLU width). */
  mlpHidden: number;
  /** The LM head reuses the token embedding matrix. */
  tiedEmbeddings: boolean;
  normEps: number;
  /** Biases in Linear and LayerNorm layers (GPT-2: true; Llama: false). */
  bias: boolean;
  /**
   * Mixture of experts: experts E per MoE layer (absent or 0: every layer has a dense MLP). When
   * set, the other moe* fields are filled with their defaults by {@link validateConfig}.
   */
  moeExperts?: number;
  /** Experts per token k (default 2). */
  moeTopK?: number;
  /** An always-on shared expert beside the routed ones (default false). */
  moeShared?: boolean;
  /** Every n-th layer is an MoE layer: layer i when (i + 1) % moeEvery == 0 (default 1: all). */
  moeEvery?: number;
  /** Renormalise the k selected router probabilities to sum to 1 (default true, as Mixtral). */
  moeNormalizeTopK?: boolean;
  /** 0: dropless routing (default). > 0: expert capacity ceil(factor · N · k / E) tokens in training. */
  moeCapacityFactor?: number;
  /** Weight of the load-balancing loss E · Σ f_e · P_e (default 0.01). */
  moeLoadBalanceCoef?: number;
  /** Weight of the router z-loss mean(logsumexp²) (default 0.001). */
  moeZLossCoef?: number;
}

/** The MoE fields of a config with their defaults (applied when moeExperts > 0). */
export const MOE_DEFAULTS = {
  moeTopK: 2, moeShared: false, moeEvery: 1, moeNormalizeTopK: true, moeCapacityFactor: 0, moeLoadBalanceCoef: 0.01, moeZLossCoef: 0.001,
} as const;

/** Hard limits beyond which a config is a typo, not a model. */
const LIMITS = { nLayer: 1024, nHead: 1024, nEmbd: 65536, blockSize: 1 << 20, vocabSize: 1 << 24, mlpHidden: 1 << 20, moeExperts: 1024 };
/** More parameters than this is refused outright (400 GB of f32 weights). */
const MAX_PARAMS = 1e11;

const positiveInt = (name: string, max: number) =>
  z.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`)
    .min(1, `${name} must be at least 1`).max(max, `${name} must be at most ${max} (got a larger value: likely a typo)`);

const configSchema = z.object({
  flavour: z.enum(["gpt2", "llama"], { error: 'flavour must be "gpt2" or "llama"' }),
  nLayer: positiveInt("nLayer", LIMITS.nLayer),
  nHead: positiveInt("nHead", LIMITS.nHead),
  nKvHead: positiveInt("nKvHead", LIMITS.nHead),
  nEmbd: positiveInt("nEmbd", LIMITS.nEmbd),
  blockSize: positiveInt("blockSize", LIMITS.blockSize),
  vocabSize: positiveInt("vocabSize", LIMITS.vocabSize),
  dropout: z.number().min(0, "dropout must be in [0, 1)").lt(1, "dropout must be in [0, 1)"),
  initStd: z.number().positive("initStd must be > 0").max(10, "initStd must be at most 10"),
  ropeBase: z.number().gt(1, "ropeBase must be > 1"),
  mlpHidden: positiveInt("mlpHidden", LIMITS.mlpHidden),
  tiedEmbeddings: z.boolean(),
  normEps: z.number().positive("normEps must be > 0").max(1, "normEps must be at most 1"),
  bias: z.boolean(),
  moeExperts: z.number({ error: "moeExperts must be a number" }).int("moeExperts must be a whole number").min(0, "moeExperts must be 0 (dense) or at least 2")
    .max(LIMITS.moeExperts, `moeExperts must be at most ${LIMITS.moeExperts}`).optional(),
  moeTopK: positiveInt("moeTopK", LIMITS.moeExperts).optional(),
  moeShared: z.boolean().optional(),
  moeEvery: positiveInt("moeEvery", LIMITS.nLayer).optional(),
  moeNormalizeTopK: z.boolean().optional(),
  moeCapacityFactor: z.number().min(0, "moeCapacityFactor must be 0 (dropless) or > 0").max(1024, "moeCapacityFactor must be at most 1024").optional(),
  moeLoadBalanceCoef: z.number().min(0, "moeLoadBalanceCoef must be >= 0").max(100, "moeLoadBalanceCoef must be at most 100").optional(),
  moeZLossCoef: z.number().min(0, "moeZLossCoef must be >= 0").max(100, "moeZLossCoef must be at most 100").optional(),
}).strict();

/** The input accepted by {@link makeConfig}: size fields required, the rest defaulted by flavour. */
export type GPTConfigInput = Partial<GPTConfig> & Pick<GPTConfig, "nLayer" | "nHead" | "nEmbd" | "vocabSize" | "blockSize">;

/** SwiGLU hidden width as Llama sizes it: 8/3 of the width, rounded up to a multiple of 32. */
export function swigluHidden(nEmbd: number): number {
  return Math.ceil((8 * nEmbd) / 3 / 32) * 32;
}

/** Fills flavour defaults (GPT-2 or Llama conventions) and validates. */
export function makeConfig(input: GPTConfigInput): GPTConfig {
  const flavour = input.flavour ?? "gpt2";
  const llama = flavour === "llama";
  const full = {
    flavour,
    nKvHead: input.nHead,
    dropout: 0,
    initStd: 0.02,
    ropeBase: 10000,
    mlpHidden: llama ? swigluHidden(input.nEmbd) : 4 * input.nEmbd,
    tiedEmbeddings: !llama,
    normEps: 1e-5,
    bias: !llama,
    ...stripUndefined(input),
  };
  return validateConfig(full);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Checks an untrusted value (JSON from a file, CLI flags) is a complete, coherent config.
 * `source` names where it came from, for the error message.
 */
export function validateConfig(value: unknown, source = "model config"): GPTConfig {
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
    throw new ModelConfigError(`${source} is invalid:\n${lines.join("\n")}`);
  }
  const c = withMoeDefaults(parsed.data, source);
  const problems: string[] = [];
  if (c.nEmbd % c.nHead !== 0) {
    problems.push(`nEmbd ${c.nEmbd} is not divisible by nHead ${c.nHead} (head dim must be whole; try nEmbd ${Math.round(c.nEmbd / c.nHead) * c.nHead || c.nHead})`);
  }
  if (c.nHead % c.nKvHead !== 0) problems.push(`nHead ${c.nHead} is not divisible by nKvHead ${c.nKvHead} (each kv head serves a whole group of query heads)`);
  if (c.flavour === "gpt2" && c.nKvHead !== c.nHead) {
    problems.push(`nKvHead ${c.nKvHead} differs from nHead ${c.nHead}: grouped-query attention needs flavour "llama"`);
  }
  if (c.flavour === "llama" && c.nEmbd % c.nHead === 0 && (c.nEmbd / c.nHead) % 2 !== 0) {
    problems.push(`head dim ${c.nEmbd / c.nHead} is odd: rotary embeddings (flavour llama) need an even head dim`);
  }
  if (c.moeExperts !== undefined) {
    const { moeExperts: E, moeTopK: k = 0, moeEvery: every = 1 } = c;
    if (E < 2) problems.push(`moeExperts ${E}: a mixture needs at least 2 experts (0 or absent: a dense MLP)`);
    if (k > E) problems.push(`moeTopK ${k} is larger than moeExperts ${E}: each token picks k different experts (lower --moe-top-k or raise --moe-experts)`);
    if (every > c.nLayer) problems.push(`moeEvery ${every} is larger than nLayer ${c.nLayer}: no layer would be a mixture-of-experts layer`);
  }
  if (problems.length > 0) throw new ModelConfigError(`${source} is invalid:\n  ${problems.join("\n  ")}`);
  const n = paramCount(c);
  if (n > MAX_PARAMS) {
    throw new ModelConfigError(`${source}: ${formatCount(n)} parameters is beyond what llmforge can hold (limit ${formatCount(MAX_PARAMS)}); reduce nLayer, nEmbd or vocabSize`);
  }
  return c;
}

const MOE_KEYS = ["moeExperts", ...Object.keys(MOE_DEFAULTS)] as (keyof GPTConfig)[];

/**
 * Dense configs carry no moe* fields (so their JSON is what it always was); MoE configs carry all
 * of them, defaults filled, in a fixed order. moe* options without moeExperts are an error, not silently ignored.
 */
function withMoeDefaults(c: GPTConfig, source: string): GPTConfig {
  if (!c.moeExperts) {
    const stray = MOE_KEYS.filter((key) => key !== "moeExperts" && c[key] !== undefined);
    if (stray.length > 0) throw new ModelConfigError(`${source} is invalid:\n  ${stray.join(", ")} set without moeExperts (give --moe-experts N to make a mixture-of-experts model)`);
    const { moeExperts: _e, ...dense } = c;
    return dense;
  }
  // The moe* fields last and in one order, however they came in (configs compare as JSON on resume).
  const rest = Object.fromEntries(Object.entries(c).filter(([key]) => !key.startsWith("moe")));
  const moe = Object.fromEntries(MOE_KEYS.map((key) => [key, c[key] ?? (MOE_DEFAULTS as Record<string, unknown>)[key]]));
  return { ...rest, ...moe } as GPTConfig;
}

/** Whether layer i (0-based) of this config is a mixture-of-experts layer. */
export function isMoeLayer(c: GPTConfig, i: number): boolean {
  return !!c.moeExperts && (i + 1) % (c.moeEvery ?? 1) === 0;
}

/** How many layers are mixture-of-experts layers. */
export function moeLayerCount(c: GPTConfig): number {
  let n = 0;
  for (let i = 0; i < c.nLayer; i++) if (isMoeLayer(c, i)) n++;
  return n;
}

/** Head dimension (nEmbd / nHead). */
export function headDim(c: GPTConfig): number {
  return c.nEmbd / c.nHead;
}

/** Exact number of parameters the GPT class allocates for this config. */
export function paramCount(c: GPTConfig): number {
  const C = c.nEmbd;
  const D = C / c.nHead;
  const qkv = (c.nHead + 2 * c.nKvHead) * D;
  const b = c.bias ? 1 : 0;
  const norm = c.flavour === "gpt2" ? C * (1 + b) : C;
  const attn = C * qkv + b * qkv + c.nHead * D * C + b * C;
  const mlp = mlpParams(c);
  const perLayer = 2 * norm + attn + mlp;
  const emb = c.vocabSize * C + (c.flavour === "gpt2" ? c.blockSize * C : 0);
  // An MoE layer replaces its MLP by a router (E, C), E experts and the optional shared one.
  const moeExtra = c.moeExperts ? moeLayerCount(c) * (c.moeExperts * C + (c.moeExperts - 1 + (c.moeShared ? 1 : 0)) * mlp) : 0;
  return emb + c.nLayer * perLayer + moeExtra + norm + (c.tiedEmbeddings ? 0 : c.vocabSize * C);
}

/** Parameters of one dense MLP (one expert) of this config. */
function mlpParams(c: GPTConfig): number {
  const C = c.nEmbd;
  const b = c.bias ? 1 : 0;
  return c.flavour === "gpt2"
    ? C * c.mlpHidden + b * c.mlpHidden + c.mlpHidden * C + b * C
    : C * 2 * c.mlpHidden + b * 2 * c.mlpHidden + c.mlpHidden * C + b * C;
}

/**
 * Parameters a token passes through: {@link paramCount} less the experts it is not routed to
 * (E - k per MoE layer). Equal to paramCount for dense models.
 */
export function activeParamCount(c: GPTConfig): number {
  if (!c.moeExperts) return paramCount(c);
  return paramCount(c) - moeLayerCount(c) * (c.moeExperts - (c.moeTopK ?? MOE_DEFAULTS.moeTopK)) * mlpParams(c);
}

/** "4.30M parameters", or "12.1M parameters (4.30M active)" for a mixture of experts. */
export function describeParamCount(c: GPTConfig): string {
  const total = `${formatCount(paramCount(c))} parameters`;
  return c.moeExperts ? `${total} (${formatCount(activeParamCount(c))} active: ${c.moeExperts} experts, top ${c.moeTopK})` : total;
}

/** Parameters excluding embeddings (the count scaling laws use). */
export function nonEmbeddingParamCount(c: GPTConfig): number {
  const emb = c.vocabSize * c.nEmbd + (c.flavour === "gpt2" ? c.blockSize * c.nEmbd : 0);
  return paramCount(c) - emb - (c.tiedEmbeddings ? 0 : c.vocabSize * c.nEmbd);
}

/** FLOPs of one training step per token (forward + backward): 6·N (active parameters) + attention (12·L·T·C). */
export function trainFlopsPerToken(c: GPTConfig, seqLen = c.blockSize): number {
  const active = nonEmbeddingParamCount(c) - (paramCount(c) - activeParamCount(c));
  return 6 * active + 6 * c.vocabSize * c.nEmbd + 12 * c.nLayer * seqLen * c.nEmbd;
}

export interface MemoryEstimate {
  params: number;
  /** Weights, gradients and AdamW moments (4 copies). */
  parameterBytes: number;
  /** Tensors kept for the backward pass plus the logits and their gradient. */
  activationBytes: number;
  /** Runtime overhead (Node, code, pools). */
  overheadBytes: number;
  totalBytes: number;
}

/**
 * Rough peak memory of a training step at batch × seqLen tokens: parameters, gradients and
 * two AdamW moments, plus the activations the backward pass keeps per layer (norm outputs,
 * qkv, attention output, MLP pre/post activation, residuals) and the logits with their gradient.
 */
export function estimateTrainingMemory(c: GPTConfig, opts: { batchSize: number; seqLen?: number; bytesPerElement?: number }): MemoryEstimate {
  const bpe = opts.bytesPerElement ?? 4;
  const tokens = opts.batchSize * (opts.seqLen ?? c.blockSize);
  const params = paramCount(c);
  const C = c.nEmbd;
  const D = C / c.nHead;
  const qkv = (c.nHead + 2 * c.nKvHead) * D;
  // gpt2: fc out, gelu out. llama: [gate; up], silu(gate) input copy and output, product, plus the
  // full-size gradients of the two slices of [gate; up] in the backward.
  const mlpActs = c.flavour === "gpt2" ? 2 * c.mlpHidden : 7 * c.mlpHidden;
  const rope = c.flavour === "llama" ? (c.nHead + c.nKvHead) * D : 0;
  const dropoutMasks = c.dropout > 0 ? 3 * C : 0;
  const perLayer = 8 * C + qkv + rope + mlpActs + c.nHead + dropoutMasks;
  // An MoE layer runs k experts (+ shared) per token, keeps the gathered rows, expert outputs, weighted
  // and concatenated copies (4·k·C) and the router's logits, probabilities and log-softmax (3·E).
  const k = c.moeTopK ?? MOE_DEFAULTS.moeTopK;
  const moeExtra = c.moeExperts ? (k - 1 + (c.moeShared ? 1 : 0)) * mlpActs + 4 * k * C + 3 * c.moeExperts : 0;
  // One layer's worth of transient gradients during backward, plus logits, their grad and lse.
  const perToken = (c.nLayer + 1) * perLayer + moeLayerCount(c) * moeExtra + 2 * C + 2 * c.vocabSize + 2;
  // 1.7: buffers the pool keeps between forward and backward (calibrated against peak RSS of
  // training steps at the bench sizes: within ~10% for gpt2 and llama).
  const activationBytes = Math.ceil(1.7 * perToken * tokens * bpe);
  const parameterBytes = 4 * params * bpe;
  const overheadBytes = 250 * 2 ** 20;
  return { params, parameterBytes, activationBytes, overheadBytes, totalBytes: parameterBytes + activationBytes + overheadBytes };
}

/**
 * Throws a ModelConfigError (before anything is allocated) when a training step at this
 * batch would need more memory than `limitBytes` (default: 90% of this machine's RAM).
 */
export function assertTrainingFits(c: GPTConfig, opts: { batchSize: number; seqLen?: number; bytesPerElement?: number; limitBytes?: number }): MemoryEstimate {
  const est = estimateTrainingMemory(c, opts);
  const limit = opts.limitBytes ?? 0.9 * totalmem();
  if (est.totalBytes > limit) {
    const T = opts.seqLen ?? c.blockSize;
    throw new ModelConfigError(
      `this model does not fit in memory for training: about ${formatBytes(est.totalBytes)} needed ` +
        `(${formatCount(est.params)} parameters: ${formatBytes(est.parameterBytes)} for weights, grads and AdamW state; ` +
        `activations at batch ${opts.batchSize} × ${T} tokens: ${formatBytes(est.activationBytes)}), ` +
        `but only ${formatBytes(limit)} is available. Reduce the batch size or sequence length, or choose a smaller model (--depth).`,
    );
  }
  return est;
}

/** Throws when the weights alone (inference) would not fit in `limitBytes` (default 90% of RAM). */
export function assertWeightsFit(c: GPTConfig, bytesPerElement = 4, limitBytes = 0.9 * totalmem()): void {
  const bytes = paramCount(c) * bytesPerElement;
  if (bytes > limitBytes) {
    throw new ModelConfigError(
      `the weights of this model alone need ${formatBytes(bytes)} (${formatCount(paramCount(c))} parameters), more than the ${formatBytes(limitBytes)} available`,
    );
  }
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export interface DepthOptions {
  vocabSize: number;
  blockSize: number;
  flavour?: Flavour;
  /** Overrides for any derived field. */
  overrides?: Partial<GPTConfig>;
}

/**
 * The one size dial (nanochat's --depth): width = 64·depth, head dim 64, so heads = depth.
 * Below depth 4 the head dim drops to 32 so a small model still has several heads
 * (depth 1: 64 wide, 2 heads; depth 2: 128 wide, 4 heads; depth 3: 192 wide, 6 heads).
 * depth 12 gives GPT-2 small's shape (768 wide, 12 heads).
 */
export function configFromDepth(depth: number, opts: DepthOptions): GPTConfig {
  if (!Number.isInteger(depth) || depth < 1 || depth > 64) {
    throw new ModelConfigError(`depth must be a whole number from 1 to 64, got ${depth}`);
  }
  const nEmbd = 64 * depth;
  const hd = depth < 4 ? 32 : 64;
  return makeConfig({
    flavour: opts.flavour ?? "gpt2",
    nLayer: depth,
    nHead: nEmbd / hd,
    nEmbd,
    vocabSize: opts.vocabSize,
    blockSize: opts.blockSize,
    ...opts.overrides,
  });
}

type PresetSize = Pick<GPTConfig, "nLayer" | "nHead" | "nEmbd" | "blockSize" | "vocabSize">;

/** Named sizes. Flavour and other fields come from {@link presetConfig}'s overrides. */
export const PRESETS: Readonly<Record<string, PresetSize & { description: string }>> = {
  tiny: { nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 128, vocabSize: 4096, description: "~0.4M params; tests and smoke runs" },
  mini: { nLayer: 4, nHead: 4, nEmbd: 256, blockSize: 256, vocabSize: 4096, description: "~4.3M params; the default bench size and quickstart-class model" },
  small: { nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, vocabSize: 8192, description: "~14M params; a longer laptop run" },
  medium: { nLayer: 8, nHead: 8, nEmbd: 512, blockSize: 512, vocabSize: 16384, description: "~34M params" },
  gpt2: { nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, vocabSize: 50257, description: "GPT-2 small, 124M params" },
};

/** A preset by name, with optional overrides (e.g. {flavour: "llama"} or {vocabSize}). */
export function presetConfig(name: string, overrides: Partial<GPTConfig> = {}): GPTConfig {
  const p = PRESETS[name];
  if (!p) throw new ModelConfigError(`unknown model preset "${name}"; choose one of ${Object.keys(PRESETS).join(", ")}`);
  const { description: _d, ...size } = p;
  return makeConfig({ ...size, ...overrides });
}

/** How a command chose a model size: --config FILE, --depth N or --preset NAME, plus overrides. */
export interface ModelChoice {
  preset?: string;
  depth?: number;
  config?: string;
  flavour?: "gpt2" | "llama";
  block?: number;
  dropout?: number;
  /** --moe-experts / --moe-top-k: a mixture-of-experts model (the other moe* fields at their defaults or from --config). */
  moeExperts?: number;
  moeTopK?: number;
}

/** The model config from --config FILE, --depth N or --preset NAME (in that order), sized to the vocabulary. */
export function resolveModelConfig(c: ModelChoice, vocabSize: number): GPTConfig {
  const overrides: Partial<GPTConfig> = { vocabSize };
  if (c.flavour) overrides.flavour = c.flavour;
  if (c.block) overrides.blockSize = c.block;
  if (c.dropout !== undefined) overrides.dropout = c.dropout;
  if (c.moeExperts !== undefined) overrides.moeExperts = c.moeExperts;
  if (c.moeTopK !== undefined) overrides.moeTopK = c.moeTopK;
  if (c.config) {
    if (!existsSync(c.config)) throw new ModelConfigError(`--config ${c.config}: file not found`);
    const raw = JSON.parse(readFileChecked(c.config, "a model config JSON file").toString("utf8")) as Partial<GPTConfig>;
    return validateConfig(makeConfig({ ...(raw as GPTConfig), ...overrides }), c.config);
  }
  if (c.depth !== undefined) return configFromDepth(c.depth, { vocabSize, blockSize: c.block ?? 256, flavour: c.flavour, overrides });
  return presetConfig(c.preset ?? "mini", overrides);
}

