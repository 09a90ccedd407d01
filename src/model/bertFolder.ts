// BERT model folders in Hugging Face layout: dir/model.safetensors (HF BERT tensor names, the
// module names as they are) + dir/config.json (BertConfig keys), each written atomically, so
// `transformers` loads them with BertForPreTraining / BertForSequenceClassification.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { readSafetensors, writeSafetensors, type SafetensorsWriteDType, type WritableTensor } from "../io/safetensors.js";
import { assertFiniteWeights } from "../nn/finiteWeights.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import type { Tensor } from "../tensor/tensor.js";
import { VERSION } from "../version.js";
import { Bert } from "./bert.js";
import { type BertConfig, fromHfBertConfig, toHfBertConfig } from "./bertConfig.js";
import { CONFIG_FILE, ModelLoadError, WEIGHTS_FILE } from "./serialize.js";

/** Tensors of HF BERT checkpoints that llmforge derives instead of storing: the tied decoder and a position buffer. */
const DERIVED = new Set(["cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "bert.embeddings.position_ids"]);

/**
 * Writes dir/model.safetensors and dir/config.json (weights first, config last, each atomically).
 * The tied decoder weight is not stored (as `save_pretrained` drops tied tensors). `labels` (the
 * classifier's class names, in order) go in as id2label / label2id.
 */
export function saveBert(dir: string, model: Bert, opts: { dtype?: SafetensorsWriteDType; labels?: readonly string[] } = {}): void {
  const named = model.namedParameters();
  assertFiniteWeights(named.map(([n, t]) => [n, t.contiguousData()] as const), `not saving the model in ${dir}`,
    "the weights diverged (lower the learning rate, or continue from an earlier checkpoint)");
  const tensors = new Map<string, WritableTensor>();
  for (const [name, t] of named) tensors.set(name, { shape: t.shape, data: () => t.toTypedArray(), dtype: opts.dtype ?? "F32" });
  writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: "pt", llmforge_version: VERSION });
  const arch = model.classifier ? "BertForSequenceClassification" : "BertForPreTraining";
  const labels = opts.labels
    ? { id2label: Object.fromEntries(opts.labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(opts.labels.map((l, i) => [l, i])) }
    : {};
  const cfg = { ...toHfBertConfig(model.config, arch), ...labels, torch_dtype: opts.dtype === "BF16" ? "bfloat16" : "float32" };
  writeFileAtomicSync(join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
}

/** Reads dir/config.json as a BertConfig; a folder of another family is refused by name, before anything is allocated. */
export function loadBertConfig(dir: string): BertConfig {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelLoadError(`model folder ${dir} does not exist`);
  if (!existsSync(path)) throw new ModelLoadError(`${path} is missing: expected a BERT model folder (config.json + ${WEIGHTS_FILE})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ModelLoadError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const type = (json as { model_type?: unknown } | null)?.model_type;
  if (type !== "bert") {
    throw new ModelLoadError(`${dir}: this folder holds a ${JSON.stringify(type ?? "unknown")} model, not a bert model; give a BERT run (\`llmforge train --flavour bert --objective mlm\`), or load this one with the loader of its family`);
  }
  return fromHfBertConfig(json, path);
}

/**
 * Loads a BERT folder (saveBert layout or a Hugging Face BERT safetensors checkpoint with tanh GELU).
 * The classification head is built when the file holds `classifier.weight`; a classification
 * checkpoint without pretraining heads (`cls.*`) keeps those at their seeded init.
 */
export function loadBert(dir: string, opts: { backend?: BackendName; dtype?: DType } = {}): Bert {
  const config = loadBertConfig(dir);
  const path = join(dir, WEIGHTS_FILE);
  if (!existsSync(path)) throw new ModelLoadError(`${path} is missing: the folder has a config.json but no weights`);
  const { tensors } = readSafetensors(path);
  const classifier = tensors.has("classifier.weight");
  const model = new Bert(config, { ...opts, classifier, initWeights: false });
  const own = new Map(model.namedParameters());
  for (const [name, t] of tensors) {
    if (DERIVED.has(name)) continue;
    const p = own.get(name);
    if (!p) throw new ModelLoadError(`${path}: unexpected tensor "${name}" (not a parameter of a BERT with this config)`);
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw new ModelLoadError(`${path}: tensor "${name}" has dtype ${t.dtype}; weights must be F32, F64, BF16 or F16`);
    }
    if (t.shape.join(",") !== p.shape.join(",")) throw new ModelLoadError(`${path}: "${name}" has shape [${t.shape.join(", ")}], the config asks for [${p.shape.join(", ")}]`);
    p.data.set(t.data, p.offset);
  }
  const missing = [...own.keys()].filter((n) => !tensors.has(n));
  const fresh = missing.filter((n) => n.startsWith("cls.") && classifier);
  const absent = missing.filter((n) => !fresh.includes(n));
  if (absent.length > 0) throw new ModelLoadError(`${path}: missing ${absent.length} tensor(s): ${absent.slice(0, 5).join(", ")}${absent.length > 5 ? ", ..." : ""}`);
  if (fresh.length > 0) {
    const init = new Map(new Bert(config, { ...opts, classifier }).namedParameters());
    for (const n of fresh) {
      const p = own.get(n) as Tensor;
      p.data.set((init.get(n) as Tensor).contiguousData(), p.offset);
    }
  }
  assertFiniteWeights(model.namedParameters().map(([n, t]) => [n, t.contiguousData()] as const), path, "the model is unusable (the run that wrote it diverged)");
  return model;
}
