// Saving and loading a model folder in Hugging Face layout: dir/model.safetensors (HF tensor
// names) + dir/config.json (HF config), each written atomically, so `transformers` can
// `from_pretrained(dir)` it and llmforge can load HF GPT-2/Llama checkpoints back.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fromHfConfig, toHfConfig } from "./hfConfig.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { readSafetensors, writeSafetensors, type SafetensorsWriteDType, type WritableTensor } from "../io/safetensors.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import { VERSION } from "../version.js";
import type { GPTConfig } from "./config.js";
import type { GPT } from "./gpt.js";
import { assertHfExportable, fromHuggingFace, toHuggingFaceLazy } from "./hfWeights.js";
import { assertFiniteWeights } from "../nn/finiteWeights.js";

export const WEIGHTS_FILE = "model.safetensors";
export const CONFIG_FILE = "config.json";

/** A model folder that is missing, incomplete or inconsistent. */
export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelLoadError";
  }
}

export interface SaveModelOptions {
  /** Storage dtype of the weights (default F32). */
  dtype?: SafetensorsWriteDType;
  /** Extra string metadata for the safetensors header. */
  metadata?: Record<string, string>;
}

/**
 * Writes dir/model.safetensors and dir/config.json. The weights go first and the config last,
 * each atomically, so a folder with a config.json always has the matching weights.
 */
export function saveModel(dir: string, model: GPT, opts: SaveModelOptions = {}): void {
  assertHfExportable(model.config);
  const hf = toHuggingFaceLazy(model);
  assertFiniteWeights(model.namedParameters().map(([n, t]) => [n, t.contiguousData()] as const), `not saving the model in ${dir}`,
    "the weights diverged (lower the learning rate, or continue from an earlier checkpoint)");
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of hf) tensors.set(name, { shape: t.shape, data: t.data, dtype: opts.dtype ?? "F32" });
  writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: "pt", llmforge_version: VERSION, ...opts.metadata });
  const cfg = { ...toHfConfig(model.config), torch_dtype: opts.dtype === "BF16" ? "bfloat16" : "float32" };
  writeFileAtomicSync(join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
}

/** Reads and validates dir/config.json. */
export function loadModelConfig(dir: string): GPTConfig {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelLoadError(`model folder ${dir} does not exist`);
  if (!existsSync(path)) throw new ModelLoadError(`${path} is missing: expected a model folder written by saveModel (config.json + ${WEIGHTS_FILE})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ModelLoadError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if ((json as { model_type?: unknown } | null)?.model_type === "bert") {
    throw new ModelLoadError(`${dir}: this folder holds a bert model; it is an encoder (masked-LM / classification) and cannot be loaded as a GPT: load it with loadBert (model/bertFolder.ts)`);
  }
  if ((json as { model_type?: unknown } | null)?.model_type === "t5") {
    throw new ModelLoadError(`${dir}: this folder holds a t5 model; it is an encoder-decoder (text to text) and cannot be loaded as a GPT: load it with loadT5 (model/t5Folder.ts)`);
  }
  const arch = (json as { architectures?: unknown } | null)?.architectures;
  if (Array.isArray(arch) && arch.some((a) => String(a).endsWith("ForSequenceClassification"))) {
    throw new ModelLoadError(`${dir} holds a reward model (${arch.join(", ")}): it scores answers and cannot generate text; give a language model here (a run of \`llmforge train\` or \`llmforge sft\`), or use it with \`llmforge reward score\``);
  }
  return fromHfConfig(json, path);
}

/** Loads a model folder (saveModel layout, or a Hugging Face GPT-2/Llama safetensors checkpoint). */
export function loadModel(dir: string, opts: { backend?: BackendName; dtype?: DType } = {}): GPT {
  const config = loadModelConfig(dir);
  const path = join(dir, WEIGHTS_FILE);
  if (!existsSync(path)) throw new ModelLoadError(`${path} is missing: the folder has a config.json but no weights`);
  const { tensors } = readSafetensors(path);
  const floats = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw new ModelLoadError(`${path}: tensor "${name}" has dtype ${t.dtype}; weights must be F32, F64, BF16 or F16`);
    }
    floats.set(name, { shape: t.shape, data: t.data });
  }
  assertFiniteWeights([...floats].map(([n, t]) => [n, t.data] as const), path, "the model is unusable (the run that wrote it diverged)");
  return fromHuggingFace(config, floats, { ...opts, source: `weights in ${path}` });
}
