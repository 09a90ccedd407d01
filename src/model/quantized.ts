// Quantised model folders (`llmforge quantize`): every Linear of the Transformer blocks and the LM head stored as
// int8 with per-output-channel scales or as q4_0 blocks, the rest in f32. A head tied to wte is stored as a quantised
// copy of wte under "lm_head" (config.json still says tied: the embedding lookup reads the f32 wte). Layout: config.json (the model's
// Hugging Face config plus `quantization_config`) and model.safetensors under llmforge's parameter names:
//   <linear>.qweight  I8 (out, in) for int8, or U8 (out, in/32·18) holding ggml q4_0 blocks row by row
//   <linear>.scales   F32 (out) for int8 (w = qweight · scales[row])
//   every other parameter (embeddings, norms, biases) F32 under its own name.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AtomicFileWriter, writeFileAtomicSync } from "../io/atomicWrite.js";
import { fromHfConfig, toHfConfig } from "./hfConfig.js";
import { GPT } from "./gpt.js";
import { Linear } from "../nn/layers.js";
import type { BackendName } from "../tensor/backend/index.js";
import { Tensor } from "../tensor/tensor.js";
import { VERSION } from "../version.js";
import { Q4_0_BLOCK_BYTES, QUANT_FORMATS, type QuantFormat, QuantLinear, quantizeWeight, quantUnsupported, type QuantWeight } from "../nn/quantLinear.js";

/** A quantised model folder that is missing, malformed or disagrees with its config. */
export class QuantModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuantModelError";
  }
}

/** `quantization_config` in config.json. */
export interface QuantizationConfig {
  quant_method: "llmforge";
  format: QuantFormat;
  version: 1;
  /** Dotted paths of the quantised Linear modules. */
  modules: string[];
}

export const QUANT_WEIGHTS_FILE = "model.safetensors";

/** Paths of the layers `llmforge quantize` stores quantised: every block's projections (MoE experts excepted) and an untied LM head. */
function quantizablePaths(model: GPT): string[] {
  const out: string[] = [];
  model.h.items.forEach((b, i) => {
    out.push(`h.${i}.attn.c_attn`, `h.${i}.attn.c_proj`);
    if (b.moe === null) out.push(`h.${i}.mlp.c_fc`, `h.${i}.mlp.c_proj`);
  });
  if (model.lm_head) out.push("lm_head");
  return out;
}

/** The plain Linear layers among {@link quantizablePaths}. */
export function quantizableLinears(model: GPT): [string, Linear][] {
  return quantizablePaths(model).map((p) => [p, model.getSubmodule(p)] as [string, Linear]).filter(([, l]) => l.constructor === Linear);
}

/**
 * Replaces the model's Linear layers (see the file comment) by {@link QuantLinear}s holding `format` weights, in place.
 * Layers whose rows do not divide into q4_0 blocks stay f32 (as llama.cpp does). Returns the quantised module paths.
 */
export function quantizeModel(model: GPT, format: QuantFormat): string[] {
  if (!QUANT_FORMATS.includes(format)) throw new QuantModelError(`unknown quantisation format "${format}": choose one of ${QUANT_FORMATS.join(", ")}`);
  const done: string[] = [];
  for (const [path, l] of quantizableLinears(model)) {
    const [out, inp] = l.weight.shape;
    if (quantUnsupported(format, inp)) continue;
    const q = quantizeWeight(l.weight.contiguousData(), out, inp, format);
    const bias = l.bias ? Tensor.from(l.bias.contiguousData(), [out], { backend: model.backendName }) : null;
    model.setSubmodule(path, new QuantLinear(q, bias));
    done.push(path);
  }
  // A head tied to wte gets a quantised copy of wte for its matmul (as llama.cpp quantises token_embd for both uses);
  // the embedding lookup keeps the f32 rows.
  const { vocabSize: V, nEmbd: C } = model.config;
  if (model.lm_head === null && !quantUnsupported(format, C)) {
    model.setInferenceHead(new QuantLinear(quantizeWeight(model.wte.weight.contiguousData(), V, C, format), null));
    done.push("lm_head");
  }
  model.eval();
  return done;
}

interface RawTensor {
  dtype: "F32" | "I8" | "U8";
  shape: number[];
  bytes: Uint8Array;
}

/** Writes tensors of raw bytes as safetensors (the shared writer stores floats only; int8/uint8 need this). */
function writeRawSafetensors(path: string, tensors: Map<string, RawTensor>, metadata: Record<string, string>): void {
  const h: Record<string, unknown> = { __metadata__: metadata };
  let pos = 0;
  for (const [name, t] of tensors) {
    h[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + t.bytes.length] };
    pos += t.bytes.length;
  }
  let json = JSON.stringify(h);
  json += " ".repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const w = new AtomicFileWriter(path);
  try {
    w.write(head);
    w.write(Buffer.from(json, "utf8"));
    for (const t of tensors.values()) w.write(t.bytes);
    w.commit();
  } catch (err) {
    w.abort();
    throw err;
  }
}

/** Reads a safetensors file as raw tensors, checking every tensor's size and bounds. */
function readRawSafetensors(path: string): Map<string, RawTensor> {
  const buf = readFileSync(path);
  const fail = (why: string): never => {
    throw new QuantModelError(`${path}: ${why}`);
  };
  if (buf.length < 8) fail("truncated: no safetensors header");
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) fail(`truncated: the header needs ${n} bytes, the file has ${buf.length - 8}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  } catch (err) {
    return fail(`the header is not JSON (${(err as Error).message})`);
  }
  const size: Record<string, number> = { F32: 4, I8: 1, U8: 1 };
  const out = new Map<string, RawTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (!(t.dtype in size)) fail(`tensor "${name}" has dtype ${t.dtype}; a quantised model folder holds F32, I8 and U8`);
    const [b, e] = t.data_offsets;
    const numel = t.shape.reduce((a, c) => a * c, 1);
    if (e - b !== numel * size[t.dtype]) fail(`tensor "${name}" [${t.shape}] of ${t.dtype} spans ${e - b} bytes`);
    if (8 + n + e > buf.length) fail(`truncated: tensor "${name}" needs bytes up to ${8 + n + e}, the file has ${buf.length}`);
    const bytes = new Uint8Array(e - b);
    bytes.set(buf.subarray(8 + n + b, 8 + n + e));
    out.set(name, { dtype: t.dtype as RawTensor["dtype"], shape: t.shape, bytes });
  }
  return out;
}

const f32Bytes = (d: Float32Array): Uint8Array => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** Writes a model with QuantLinear layers as a quantised model folder (weights first, config last, each atomically). */
export function saveQuantizedModel(dir: string, model: GPT): QuantizationConfig {
  const modules: string[] = [];
  let format: QuantFormat | null = null;
  const tensors = new Map<string, RawTensor>();
  const quant = new Map<string, QuantWeight>();
  for (const path of quantizablePaths(model)) {
    const m = model.getSubmodule(path);
    if (!(m instanceof QuantLinear)) continue;
    if (format !== null && format !== m.weight.format) throw new QuantModelError(`${dir}: layers in both ${format} and ${m.weight.format}; one format a folder`);
    format = m.weight.format;
    quant.set(path, m.weight);
    modules.push(path);
  }
  if (format === null) throw new QuantModelError(`${dir}: the model has no quantised layers (run quantizeModel first)`);
  for (const [path, w] of quant) {
    tensors.set(`${path}.qweight`, w.format === "int8"
      ? { dtype: "I8", shape: [w.out, w.inp], bytes: w.data }
      : { dtype: "U8", shape: [w.out, (w.inp / 32) * Q4_0_BLOCK_BYTES], bytes: w.data });
    if (w.scales) tensors.set(`${path}.scales`, { dtype: "F32", shape: [w.out], bytes: f32Bytes(w.scales) });
  }
  for (const [name, p] of model.namedParameters()) tensors.set(name, { dtype: "F32", shape: [...p.shape], bytes: f32Bytes(p.contiguousData() as Float32Array) });
  const qc: QuantizationConfig = { quant_method: "llmforge", format, version: 1, modules };
  mkdirSync(dir, { recursive: true });
  writeRawSafetensors(join(dir, QUANT_WEIGHTS_FILE), tensors, { format: "llmforge-quantized", llmforge_version: VERSION, quantization: format });
  writeFileAtomicSync(join(dir, "config.json"), `${JSON.stringify({ ...toHfConfig(model.config), torch_dtype: "float32", quantization_config: qc }, null, 2)}\n`);
  return qc;
}

/** The `quantization_config` of a model folder written by {@link saveQuantizedModel}, or null for a plain folder. */
export function readQuantizationConfig(dir: string): QuantizationConfig | null {
  const path = join(dir, "config.json");
  if (!existsSync(path)) return null;
  let json: { quantization_config?: unknown };
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null; // the plain loader reports the broken JSON
  }
  const qc = json?.quantization_config as Partial<QuantizationConfig> | undefined;
  if (qc === undefined) return null;
  if (qc.quant_method !== "llmforge" || !QUANT_FORMATS.includes(qc.format as QuantFormat) || qc.version !== 1 || !Array.isArray(qc.modules)) {
    throw new QuantModelError(`${path}: quantization_config ${JSON.stringify(qc).slice(0, 160)} is not one llmforge reads (quant_method "llmforge", format ${QUANT_FORMATS.join("|")}, version 1, modules [...])`);
  }
  return qc as QuantizationConfig;
}

/** Loads a quantised model folder as a GPT whose quantised Linear layers compute on the stored weights. */
export function loadQuantizedModel(dir: string, opts: { backend?: BackendName } = {}): GPT {
  const qc = readQuantizationConfig(dir);
  if (!qc) throw new QuantModelError(`${join(dir, "config.json")} has no quantization_config: not a quantised model folder`);
  const config = fromHfConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), join(dir, "config.json"));
  const path = join(dir, QUANT_WEIGHTS_FILE);
  if (!existsSync(path)) throw new QuantModelError(`${path} is missing: the folder has a config.json but no weights`);
  const tensors = readRawSafetensors(path);
  const used = new Set<string>();
  const take = (name: string, dtype: RawTensor["dtype"], shape: number[]): Uint8Array => {
    const t = tensors.get(name);
    if (!t) throw new QuantModelError(`${path}: missing tensor "${name}"`);
    if (t.dtype !== dtype || t.shape.join() !== shape.join()) throw new QuantModelError(`${path}: tensor "${name}" is ${t.dtype} [${t.shape}], expected ${dtype} [${shape}] for this config`);
    used.add(name);
    return t.bytes;
  };
  const model = new GPT(config, { backend: opts.backend, initWeights: false });
  const quantWeight = (p: string, out: number, inp: number): QuantWeight => {
    const why = quantUnsupported(qc.format, inp);
    if (why) throw new QuantModelError(`${path}: "${p}" cannot be ${qc.format}: ${why}`);
    return qc.format === "int8"
      ? { format: "int8", out, inp, data: take(`${p}.qweight`, "I8", [out, inp]), scales: new Float32Array(take(`${p}.scales`, "F32", [out]).buffer) }
      : { format: "q4_0", out, inp, data: take(`${p}.qweight`, "U8", [out, (inp / 32) * Q4_0_BLOCK_BYTES]), scales: null };
  };
  for (const p of qc.modules) {
    if (p === "lm_head" && config.tiedEmbeddings) {
      model.setInferenceHead(new QuantLinear(quantWeight(p, config.vocabSize, config.nEmbd), null));
      continue;
    }
    const l = model.getSubmodule(p);
    if (!(l instanceof Linear)) throw new QuantModelError(`${join(dir, "config.json")}: quantization_config names "${p}", which is not a Linear layer of this model`);
    const [out, inp] = l.weight.shape;
    model.setSubmodule(p, new QuantLinear(quantWeight(p, out, inp), l.bias));
  }
  for (const [name, p] of model.namedParameters()) p.data.set(new Float32Array(take(name, "F32", [...p.shape]).buffer), p.offset);
  const extra = [...tensors.keys()].filter((n) => !used.has(n));
  if (extra.length) throw new QuantModelError(`${path}: tensors this config has no place for: ${extra.slice(0, 6).join(", ")}`);
  model.eval();
  return model;
}
