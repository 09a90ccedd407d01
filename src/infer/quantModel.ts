// `llmforge quantize`: a run folder in, a run folder out whose model folder holds quantised Linear layers
// (model/quantized.ts has the folder format, nn/quantLinear.ts the layer).
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { assertOutsideModel } from "../model/exportGguf.js";
import { QUANT_WEIGHTS_FILE, QuantModelError, quantizableLinears, quantizeModel, saveQuantizedModel } from "../model/quantized.js";
import { loadRun } from "../model/runFolder.js";
import { Linear } from "../nn/layers.js";
import { QUANT_FORMATS, type QuantFormat, QuantLinear } from "../nn/quantLinear.js";

export interface QuantizeRunOptions {
  /** Run folder or model folder (or .gguf file) to quantise. */
  model: string;
  to: QuantFormat | string;
  /** Output run folder: OUT/model (quantised) and OUT/tokenizer (copied). */
  out: string;
}

export interface QuantizeRunResult {
  out: string;
  format: QuantFormat;
  modules: number;
  /** Bytes of OUT/model/model.safetensors. */
  bytes: number;
}

/** `llmforge quantize`: loads a run, quantises its Linear layers and writes a run folder beside it. */
export function quantizeRun(o: QuantizeRunOptions): QuantizeRunResult {
  const format = o.to as QuantFormat;
  if (!QUANT_FORMATS.includes(format)) throw new QuantModelError(`unknown quantisation format "${o.to}": choose one of ${QUANT_FORMATS.join(", ")}`);
  const { model, tokenizer, paths } = loadRun(o.model);
  assertOutsideModel(o.out, paths.modelDir, o.model);
  if (model.h.items.some((b) => b.attn.c_attn.constructor !== Linear && !(b.attn.c_attn instanceof QuantLinear))) {
    throw new QuantModelError(`${o.model} carries adapters on its layers: merge them first (llmforge peft merge) and quantise the merged model`);
  }
  if (quantizableLinears(model).length === 0) throw new QuantModelError(`${o.model} is already quantised`);
  const modules = quantizeModel(model, format);
  if (modules.length === 0) throw new QuantModelError(`no layer of ${o.model} can be stored as ${format} (rows must be multiples of 32 values)`);
  saveQuantizedModel(join(o.out, "model"), model);
  mkdirSync(join(o.out, "tokenizer"), { recursive: true });
  writeFileAtomicSync(join(o.out, "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
  const cfg = join(dirname(paths.tokenizerFile), "tokenizer_config.json");
  if (!paths.tokenizerFile.endsWith(".gguf") && existsSync(cfg)) copyFileSync(cfg, join(o.out, "tokenizer", "tokenizer_config.json"));
  return { out: o.out, format, modules: modules.length, bytes: readFileSync(join(o.out, "model", QUANT_WEIGHTS_FILE)).length };
}
