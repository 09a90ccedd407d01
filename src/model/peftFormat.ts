// Adapters on disk as Hugging Face PEFT keeps them: DIR/adapter_config.json + DIR/adapter_model.safetensors.
// LoRA uses PEFT's config fields and tensor names (base_model.model.<HF module>.lora_A.weight (r, in),
// lora_B.weight (out, r)), so PEFT-made adapters load here and ours load in PEFT. Bottleneck adapters and
// prefixes use an llmforge-specific config: {peft_type: "BOTTLENECK_ADAPTER" | "PREFIX_TUNING",
// llmforge: {format, version, base, peft}} with tensors under llmforge's parameter names
// (h.N.mlp.c_proj.adapter.down.weight ...; prefix.h.N.key / prefix.h.N.value (P, Hkv·D), a
// reparameterised prefix saved as the plain prefixes it computes). Every config carries the base
// model's fingerprint (llmforge.base), and an adapter made for another base model is refused.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { lockFolder } from "../io/runLock.js";
import { readSafetensors, writeSafetensors, type WritableTensor } from "../io/safetensors.js";
import { LoRALinear, LoRAPart } from "../nn/lora.js";
import {
  applyPeft, attachLora, loraSites, type LoraSite, parsePeftConfig, type PeftConfig, peftHandle, type PeftHandle,
} from "../nn/peft.js";
import { PrefixTuning } from "../nn/prefix.js";
import type { Tensor } from "../tensor/tensor.js";
import { VERSION } from "../version.js";
import type { GPTConfig } from "./config.js";
import { GPT } from "./gpt.js";
import type { HfTensor } from "./hfWeights.js";
import { CONFIG_FILE, loadModel, saveModel } from "./serialize.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
const FORMAT = "llmforge-adapter";
const FORMAT_VERSION = 1;
/** Files copied beside a merged model when found with the adapter or the base run. */
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"];

/** An adapter folder that is missing, malformed or made for another base model, or an adapter that cannot be saved or merged. */
export class AdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdapterError";
  }
}

/** The base model an adapter fits: its shape and a hash of its architecture fields (not dropout or init). */
export interface BaseFingerprint {
  config_hash: string;
  flavour: string;
  n_layer: number;
  n_head: number;
  n_kv_head: number;
  n_embd: number;
  vocab_size: number;
}

export function baseFingerprint(c: GPTConfig): BaseFingerprint {
  const arch = [c.flavour, c.nLayer, c.nHead, c.nKvHead, c.nEmbd, c.mlpHidden, c.blockSize, c.vocabSize, c.ropeBase, c.tiedEmbeddings, c.normEps, c.bias];
  const config_hash = createHash("sha256").update(JSON.stringify(arch)).digest("hex").slice(0, 16);
  return { config_hash, flavour: c.flavour, n_layer: c.nLayer, n_head: c.nHead, n_kv_head: c.nKvHead, n_embd: c.nEmbd, vocab_size: c.vocabSize };
}

const describe = (b: BaseFingerprint): string =>
  `a ${b.flavour} model with ${b.n_layer} layers, width ${b.n_embd}, ${b.n_head} heads (${b.n_kv_head} kv), vocab ${b.vocab_size}, config hash ${b.config_hash}`;

/** One Hugging Face Linear module and the llmforge rows it is. */
interface HfModule {
  hf: string;
  site: LoraSite;
}

/** Every Linear a LoRA adapter may target, under its HF name (gpt2 Conv1D modules, llama q_proj ... down_proj). */
function hfModules(model: GPT): HfModule[] {
  const c = model.config;
  const gpt2 = c.flavour === "gpt2";
  const pairs = gpt2
    ? [["attn.c_attn", "c_attn"], ["attn.c_proj", "c_proj"], ["mlp.c_fc", "c_fc"], ["mlp.c_proj", "mlp.c_proj"]]
    : [["self_attn.q_proj", "q"], ["self_attn.k_proj", "k"], ["self_attn.v_proj", "v"], ["self_attn.o_proj", "o"], ["mlp.gate_proj", "gate"], ["mlp.up_proj", "up"], ["mlp.down_proj", "down"]];
  const out: HfModule[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    for (const [suffix, target] of pairs) {
      const site = loraSites(model, target, 1, 1).find((s) => s.path.startsWith(`h.${i}.`)) as LoraSite;
      out.push({ hf: `${gpt2 ? `transformer.h.${i}` : `model.layers.${i}`}.${suffix}`, site });
    }
  }
  if (!c.tiedEmbeddings) out.push({ hf: "lm_head", site: loraSites(model, "lm_head", 1, 1)[0] });
  return out;
}

const PEFT_KEY = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/;
const peftKey = (hf: string, ab: "A" | "B"): string => `base_model.model.${hf}.lora_${ab}.weight`;

/** A LoRA module's rank and alpha as PEFT's config states them. */
interface ModuleRank {
  hf: string;
  r: number;
  alpha: number;
}

/**
 * The model's LoRA tensors under PEFT names (values, or with `which: "grad"` their gradients), one
 * A/B pair per HF module with its rank and alpha. A fused llmforge part spanning several HF modules
 * (llama c_attn -> q/k/v) gives each its slice of B and the shared A; several parts inside one HF
 * module (gpt2 q and v in c_attn) are written as one block LoRA (A stacked, B block-diagonal).
 */
export function loraPeftTensors(model: GPT, which: "data" | "grad" = "data"): { tensors: Map<string, HfTensor>; modules: ModuleRank[] } {
  const tensors = new Map<string, HfTensor>();
  const modules: ModuleRank[] = [];
  const get = (t: Tensor): Float32Array | Float64Array => (which === "grad" ? (t.grad?.contiguousData() ?? new Float64Array(t.size)) : t.contiguousData());
  for (const { hf, site } of hfModules(model)) {
    const layer = model.getSubmodule(site.path);
    if (!(layer instanceof LoRALinear)) continue;
    const [s, e] = [site.start, site.end];
    const parts = layer.parts.filter((p) => p.spec.start < e && s < p.spec.end);
    if (parts.length === 0) continue;
    const inF = layer.base.weight.shape[1];
    const R = parts.reduce((n, p) => n + p.spec.r, 0);
    const scale = parts[0].scale;
    const A = new Float64Array(R * inF);
    const B = new Float64Array((e - s) * R);
    let col = 0;
    for (const p of parts) {
      const r = p.spec.r;
      A.set(get(p.A), col * inF);
      const pb = get(p.B);
      for (let row = Math.max(s, p.spec.start); row < Math.min(e, p.spec.end); row++) {
        for (let j = 0; j < r; j++) B[(row - s) * R + col + j] = (pb[(row - p.spec.start) * r + j] * p.scale) / scale;
      }
      col += r;
    }
    tensors.set(peftKey(hf, "A"), { shape: [R, inF], data: A });
    tensors.set(peftKey(hf, "B"), { shape: [e - s, R], data: B });
    modules.push({ hf, r: R, alpha: parts[0].spec.rslora ? scale * Math.sqrt(R) : scale * R });
  }
  return { tensors, modules };
}

export interface SaveAdapterOptions {
  /** Recorded as base_model_name_or_path (e.g. the base run's folder or a hub id). */
  baseModel?: string;
}

/** Writes DIR/adapter_model.safetensors then DIR/adapter_config.json (each atomically) for the method `handle` attached. */
export function saveAdapter(dir: string, model: GPT, handle: PeftHandle, opts: SaveAdapterOptions = {}): void {
  const cfg = handle.config;
  const common = { task_type: "CAUSAL_LM", base_model_name_or_path: opts.baseModel ?? null };
  const llmforge = { format: FORMAT, version: FORMAT_VERSION, llmforge_version: VERSION, base: baseFingerprint(model.config), peft: cfg };
  let tensors: Map<string, WritableTensor>;
  let config: Record<string, unknown>;
  if (cfg.method === "lora") {
    const exp = loraPeftTensors(model);
    if (exp.modules.length === 0) throw new AdapterError("saveAdapter: the model has no LoRA layers (merged already?)");
    tensors = exp.tensors;
    const near = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.abs(b);
    // Pattern keys without the first name part ("h.0.attn.c_attn"): PEFT versions match them as `.*\.key$` or `(.*\.)?key$`.
    const key = (hf: string): string => hf.slice(hf.indexOf(".") + 1);
    const rank_pattern = Object.fromEntries(exp.modules.filter((m) => m.r !== cfg.r).map((m) => [key(m.hf), m.r]));
    const alpha_pattern = Object.fromEntries(exp.modules.filter((m) => !near(m.alpha, cfg.alpha)).map((m) => [key(m.hf), m.alpha]));
    // Short names (PEFT matches them as suffixes) when they pick out exactly these modules, else full names.
    const chosen = new Set(exp.modules.map((m) => m.hf));
    const suffixes = [...new Set([...chosen].map((n) => n.slice(n.lastIndexOf(".") + 1)))];
    const bySuffix = hfModules(model).filter((m) => suffixes.includes(m.hf.slice(m.hf.lastIndexOf(".") + 1)));
    const target_modules = bySuffix.length === chosen.size ? suffixes : [...chosen];
    config = {
      peft_type: "LORA", ...common, r: cfg.r, lora_alpha: cfg.alpha, lora_dropout: cfg.dropout, target_modules,
      fan_in_fan_out: model.config.flavour === "gpt2", bias: "none", use_rslora: cfg.rslora, modules_to_save: null,
      rank_pattern, alpha_pattern, init_lora_weights: true, inference_mode: true, use_dora: false, llmforge,
    };
  } else if (cfg.method === "adapter" || cfg.method === "prefix") {
    tensors = new Map([...handle.adapterState()].map(([n, t]) => [n, { shape: t.shape, data: t.contiguousData() }]));
    const prefix = model.namedModules().find(([p]) => p === "prefix")?.[1];
    if (cfg.method === "prefix" && prefix instanceof PrefixTuning) {
      const E = model.config.nKvHead * (model.config.nEmbd / model.config.nHead);
      tensors = new Map(prefix.plainPrefixes().flatMap(({ key, value }, l) => [
        [`prefix.h.${l}.key`, { shape: [cfg.numVirtualTokens, E], data: key }], [`prefix.h.${l}.value`, { shape: [cfg.numVirtualTokens, E], data: value }],
      ] as [string, WritableTensor][]));
      llmforge.peft = { ...cfg, projectionHidden: 0 };
    }
    config = { peft_type: cfg.method === "adapter" ? "BOTTLENECK_ADAPTER" : "PREFIX_TUNING", ...common, llmforge };
    if (cfg.method === "prefix") config.num_virtual_tokens = cfg.numVirtualTokens;
  } else {
    throw new AdapterError(`saveAdapter: method "${cfg.method}" adds no adapter to save (save the model with saveModel)`);
  }
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: "pt", llmforge_version: VERSION });
  writeFileAtomicSync(join(dir, ADAPTER_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

/** PEFT's rank_pattern / alpha_pattern lookup: a key matches a module name that ends with it at a dot boundary. */
function patternValue(pattern: unknown, name: string): number | undefined {
  if (!pattern || typeof pattern !== "object") return undefined;
  for (const [key, value] of Object.entries(pattern)) {
    let hit: boolean;
    try {
      hit = new RegExp(`^(.*\\.)?(${key})$`).test(name);
    } catch {
      hit = name === key || name.endsWith(`.${key}`);
    }
    if (hit && typeof value === "number") return value;
  }
  return undefined;
}

/** Reads and checks DIR/adapter_config.json (and that the weights file exists). */
export function readAdapterConfig(dir: string): Record<string, unknown> {
  if (!existsSync(dir)) throw new AdapterError(`adapter folder ${dir} does not exist`);
  const path = join(dir, ADAPTER_CONFIG_FILE);
  for (const f of [path, join(dir, ADAPTER_WEIGHTS_FILE)]) {
    if (!existsSync(f)) throw new AdapterError(`${f} is missing: an adapter folder holds ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new AdapterError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new AdapterError(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

/**
 * Loads the adapter in `dir` onto `model` (a base model: no adapter attached yet) and returns
 * its handle. Refuses an adapter whose recorded base model differs from `model`.
 */
export function loadAdapter(model: GPT, dir: string): PeftHandle {
  const json = readAdapterConfig(dir);
  const cfgPath = join(dir, ADAPTER_CONFIG_FILE);
  const wPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const lf = json.llmforge as { base?: BaseFingerprint; peft?: unknown } | undefined;
  const mine = baseFingerprint(model.config);
  if (lf?.base && lf.base.config_hash !== mine.config_hash) {
    throw new AdapterError(`${dir} is an adapter for ${describe(lf.base)}, but the model is ${describe(mine)}: load the adapter onto the base model it was trained on`);
  }
  const { tensors } = readSafetensors(wPath);
  const floats = (name: string): { shape: number[]; data: Float32Array | Float64Array } => {
    const t = tensors.get(name);
    if (!t || !(t.data instanceof Float32Array || t.data instanceof Float64Array)) throw new AdapterError(`${wPath}: tensor "${name}" is missing or not float`);
    return { shape: t.shape, data: t.data };
  };
  if (json.peft_type === "LORA") return loadLora(model, json, cfgPath, wPath, [...tensors.keys()], floats);
  if (json.peft_type !== "BOTTLENECK_ADAPTER" && json.peft_type !== "PREFIX_TUNING") {
    throw new AdapterError(`${cfgPath}: peft_type ${JSON.stringify(json.peft_type)} is not supported (LORA, or llmforge's BOTTLENECK_ADAPTER / PREFIX_TUNING)`);
  }
  if (!lf?.peft) throw new AdapterError(`${cfgPath}: a ${json.peft_type} adapter needs the "llmforge" section llmforge writes (method and options)`);
  const handle = applyPeft(model, parsePeftConfig(lf.peft, `${cfgPath} llmforge.peft`));
  const state = handle.adapterState();
  for (const name of tensors.keys()) if (!state.has(name)) throw new AdapterError(`${wPath}: unexpected tensor "${name}" for this ${json.peft_type} config`);
  for (const [name, p] of state) {
    const t = floats(name);
    if (t.shape.join() !== p.shape.join()) throw new AdapterError(`${wPath}: "${name}" has shape [${t.shape}], the model expects [${p.shape}]`);
    p.data.set(t.data, p.offset);
  }
  return handle;
}

function loadLora(
  model: GPT, json: Record<string, unknown>, cfgPath: string, wPath: string, names: string[],
  floats: (name: string) => { shape: number[]; data: Float32Array | Float64Array },
): PeftHandle {
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new AdapterError(`${cfgPath}: "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const [r0, alpha0, dropout] = [num("r"), num("lora_alpha"), num("lora_dropout", 0)];
  const rslora = json.use_rslora === true;
  if (json.use_dora === true) throw new AdapterError(`${cfgPath}: DoRA adapters (use_dora) are not supported`);
  const table = new Map(hfModules(model).map((m) => [m.hf, m]));
  const seen = new Set<string>();
  for (const name of names) {
    const m = PEFT_KEY.exec(name);
    if (!m) throw new AdapterError(`${wPath}: tensor "${name}" is not a LoRA weight (lora_A / lora_B); modules_to_save, biases and embeddings are not supported`);
    if (!table.has(m[1])) {
      throw new AdapterError(`${wPath}: "${name}" targets ${m[1]}, which this ${model.config.flavour} model does not have (its modules look like ${[...table.keys()].slice(0, 4).join(", ")}, ...)`);
    }
    seen.add(m[1]);
  }
  const sites: LoraSite[] = [];
  for (const hf of seen) {
    const { site } = table.get(hf) as HfModule;
    const [a, b] = [floats(peftKey(hf, "A")), floats(peftKey(hf, "B"))];
    const r = patternValue(json.rank_pattern, hf) ?? r0;
    const inF = (model.getSubmodule(site.path) as unknown as { weight: Tensor }).weight.shape[1];
    if (a.shape.join() !== `${r},${inF}` || b.shape.join() !== `${site.end - site.start},${r}`) {
      throw new AdapterError(`${wPath}: ${hf} has lora_A [${a.shape}] and lora_B [${b.shape}], expected [${r},${inF}] and [${site.end - site.start},${r}] (rank ${r} from ${cfgPath})`);
    }
    sites.push({ ...site, r, alpha: patternValue(json.alpha_pattern, hf) ?? alpha0 });
  }
  if (sites.length === 0) throw new AdapterError(`${wPath}: no LoRA tensors`);
  model.requiresGrad(false);
  attachLora(model, sites, { dropout, rslora });
  for (const [hf, { site }] of table) {
    if (!seen.has(hf)) continue;
    const part = (model.getSubmodule(site.path) as LoRALinear).parts.find((p) => p.spec.label === site.label) as LoRAPart;
    part.A.data.set(floats(peftKey(hf, "A")).data, part.A.offset);
    part.B.data.set(floats(peftKey(hf, "B")).data, part.B.offset);
  }
  const config: PeftConfig = parsePeftConfig({ method: "lora", r: r0, alpha: alpha0, dropout, rslora, targets: [...new Set(sites.map((s) => s.target))] });
  return peftHandle(model, config, model.namedModules().map(([, m]) => m).filter((m) => m instanceof LoRAPart));
}

export interface MergeAdapterOptions {
  /** Base run folder (RUN/model) or model folder. */
  model: string;
  adapter: string;
  out: string;
}

export interface MergeAdapterResult {
  modelDir: string;
  /** Tokenizer files copied beside the merged model (from the adapter folder, else the base run). */
  tokenizerFiles: string[];
  summary: string;
}

/**
 * Loads the base model, applies the LoRA adapter, merges it into the weights and writes `out` as a
 * plain model folder (saveModel layout: `llmforge generate` and `transformers` load it), with the
 * tokenizer files of the adapter folder or the base run. Holds the lock of `out` while it works.
 */
export function mergeAdapterFolder(o: MergeAdapterOptions): MergeAdapterResult {
  const modelDir = [join(o.model, "model"), o.model].find((d) => existsSync(join(d, CONFIG_FILE)));
  if (!modelDir) throw new AdapterError(`no model in ${o.model}: looked for ${join(o.model, "model", CONFIG_FILE)} and ${join(o.model, CONFIG_FILE)}`);
  if ([modelDir, o.model, o.adapter].some((d) => resolve(d) === resolve(o.out))) throw new AdapterError(`--out ${o.out} must be a new folder, not the base model or the adapter`);
  readAdapterConfig(o.adapter);
  const lock = lockFolder(o.out, "llmforge peft merge");
  try {
    return mergeLocked(o, modelDir);
  } finally {
    lock.release();
  }
}

function mergeLocked(o: MergeAdapterOptions, modelDir: string): MergeAdapterResult {
  const model = loadModel(modelDir);
  const handle = loadAdapter(model, o.adapter);
  if (!handle.mergeInto) throw new AdapterError(`${o.adapter}: a ${handle.config.method} adapter is not a weight update and cannot be merged; load it with loadAdapter instead`);
  const summary = handle.summary();
  handle.mergeInto();
  mkdirSync(o.out, { recursive: true });
  saveModel(o.out, model, { metadata: { peft_merged_adapter: resolve(o.adapter) } });
  const src = [o.adapter, join(o.model, "tokenizer"), o.model, modelDir].find((d) => existsSync(join(d, "tokenizer.json")));
  const tokenizerFiles = src ? TOKENIZER_FILES.filter((f) => existsSync(join(src, f))) : [];
  for (const f of tokenizerFiles) copyFileSync(join(src as string, f), join(o.out, f));
  return { modelDir, tokenizerFiles, summary };
}

/**
 * The plain base model under attached bottleneck adapters or prefixes (frozen during training, so
 * its weights are the base's): a new GPT holding the wrapped layers' base weights, to be saved as the
 * model folder the adapter is stored beside.
 */
export function baseModelOf(model: GPT): GPT {
  const plain = new GPT(model.config, { dtype: model.dtype, backend: model.backendName, initWeights: false });
  const own = new Map(model.namedParameters());
  for (const [n, p] of plain.namedParameters()) {
    const src = own.get(n) ?? own.get(n.replace(/\.(weight|bias)$/, ".base.$1"));
    if (!src) throw new AdapterError(`cannot find the base weight "${n}" under the attached adapter layers`);
    p.data.set(src.contiguousData(), p.offset);
  }
  return plain;
}
