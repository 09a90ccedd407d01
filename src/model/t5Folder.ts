// Saving and loading a T5 model folder in Hugging Face layout: dir/model.safetensors (HF T5 tensor
// names, which are the module's own) + dir/config.json (T5Config keys), each written atomically,
// so `transformers` can T5ForConditionalGeneration.from_pretrained(dir) it and llmforge loads it back.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { readSafetensors, writeSafetensors, type SafetensorsWriteDType, type WritableTensor } from "../io/safetensors.js";
import { assertFiniteWeights } from "../nn/finiteWeights.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import { VERSION } from "../version.js";
import { CONFIG_FILE, ModelLoadError, WEIGHTS_FILE } from "./serialize.js";
import { T5 } from "./t5.js";
import { fromHfT5Config, isT5HfConfig, toHfT5Config, type T5Config } from "./t5Config.js";

/** Aliases of shared.weight that Hugging Face checkpoints may carry (tied, so never needed). */
const TIED_ALIASES = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"];

/** Writes dir/model.safetensors then dir/config.json, each atomically. */
export function saveT5(dir: string, model: T5, opts: { dtype?: SafetensorsWriteDType } = {}): void {
  const named = model.namedParameters();
  assertFiniteWeights(named.map(([n, t]) => [n, t.contiguousData()] as const), `not saving the model in ${dir}`,
    "the weights diverged (lower the learning rate, or continue from an earlier checkpoint)");
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of named) tensors.set(name, { shape: [...t.shape], data: t.contiguousData(), dtype: opts.dtype ?? "F32" });
  writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: "pt", llmforge_version: VERSION });
  const cfg = { ...toHfT5Config(model.config), torch_dtype: opts.dtype === "BF16" ? "bfloat16" : "float32" };
  writeFileAtomicSync(join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
}

/** Reads dir/config.json; a folder that holds no T5 is refused by name. */
export function loadT5Config(dir: string): T5Config {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelLoadError(`model folder ${dir} does not exist`);
  if (!existsSync(path)) throw new ModelLoadError(`${path} is missing: expected a T5 model folder (config.json + ${WEIGHTS_FILE})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ModelLoadError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!isT5HfConfig(json)) {
    const type = (json as { model_type?: unknown } | null)?.model_type;
    throw new ModelLoadError(`${dir} holds a ${JSON.stringify(type)} model, not a T5 (model_type "t5"); load it with the loader of its family`);
  }
  return fromHfT5Config(json, path);
}

/** Loads a T5 folder (saveT5's layout, or a Hugging Face T5 safetensors checkpoint). */
export function loadT5(dir: string, opts: { backend?: BackendName; dtype?: DType } = {}): T5 {
  const config = loadT5Config(dir);
  const path = join(dir, WEIGHTS_FILE);
  if (!existsSync(path)) throw new ModelLoadError(`${path} is missing: the folder has a config.json but no weights`);
  const { tensors } = readSafetensors(path);
  const state = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
  for (const [name, t] of tensors) {
    if (TIED_ALIASES.includes(name) || (name === "lm_head.weight" && config.tieWordEmbeddings)) continue;
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw new ModelLoadError(`${path}: tensor "${name}" has dtype ${t.dtype}; weights must be F32, F64, BF16 or F16`);
    }
    state.set(name, { shape: t.shape, data: t.data });
  }
  assertFiniteWeights([...state].map(([n, t]) => [n, t.data] as const), path, "the model is unusable (the run that wrote it diverged)");
  const model = new T5(config, { ...opts, initWeights: false });
  try {
    model.loadStateDict(state);
  } catch (err) {
    throw new ModelLoadError(`weights in ${path} do not fit the config in ${join(dir, CONFIG_FILE)}: ${(err as Error).message}`);
  }
  return model;
}
