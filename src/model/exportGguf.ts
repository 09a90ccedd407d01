// A model folder (or run) as one GGUF file for llama.cpp: the gpt2 or llama architecture's metadata
// keys and tensor names as llama.cpp's convert_hf_to_gguf.py writes them, the tokenizer embedded
// (tokenizer.ggml.*), weights in f32, f16, q8_0 or q4_0. Written atomically.
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve, sep } from "node:path";
import { headDim, makeConfig, type GPTConfig } from "./config.js";
import { GPT } from "./gpt.js";
import { ADAPTER_CONFIG_FILE, loadAdapter } from "./peftFormat.js";
import { resolveRunPaths } from "./runFolder.js";
import { loadModel } from "./serialize.js";
import { bytesToByteLevel } from "../tokenizer/byteLevel.js";
import { readTokenizerConfig } from "../tokenizer/chatTemplate.js";
import { HF_BYTELEVEL_PATTERN, pretokenizerPattern } from "../tokenizer/pretokenize.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { VERSION } from "../version.js";
import { GgmlType, type GgmlTypeId, gguf, type GgufTensorInput, type GgufValue, QK, writeGguf } from "../io/gguf.js";

/** An export that cannot be done as asked; the message says what to change. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExportError";
  }
}

/** Weight types of `llmforge export gguf --type`. */
export const GGUF_EXPORT_TYPES = ["f32", "f16", "q8_0", "q4_0"] as const;
export type GgufExportType = (typeof GGUF_EXPORT_TYPES)[number];

const TYPE_OF: Record<GgufExportType, GgmlTypeId> = { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0 };
/** llama_ftype values for general.file_type (ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q8_0). */
const FILE_TYPE: Record<GgufExportType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 };
/** llama.cpp token types (llama_token_type). */
const TOKEN_TYPE = { NORMAL: 1, CONTROL: 3, UNUSED: 5 } as const;

/** Refuses an output path that is the model folder or lies inside it (an export must never overwrite its source). */
export function assertOutsideModel(out: string, modelDir: string, run: string): void {
  const o = resolve(out);
  const m = resolve(modelDir);
  if (o === m || o.startsWith(m + sep) || o === resolve(run)) {
    throw new ExportError(`--out ${out} is inside the model folder ${modelDir}: write the export somewhere else (it must not overwrite or mix with its source)`);
  }
}

/** The same network with `bias: true` and every bias zero: exactly equal, and expressible as Hugging Face GPT-2. */
export function withZeroBiases(model: GPT): GPT {
  const out = new GPT(makeConfig({ ...model.config, bias: true }), { dtype: model.dtype, backend: model.backendName, initWeights: false });
  const own = new Map(model.namedParameters());
  for (const [n, p] of out.namedParameters()) {
    const src = own.get(n);
    if (src) p.data.set(src.contiguousData(), p.offset);
    else p.data.fill(0, p.offset, p.offset + p.size);
  }
  return out;
}

/**
 * The run's model, with an adapter stored beside its weights merged in (LoRA); adapters that are not a
 * weight update (bottleneck adapters, prefixes) cannot be expressed in a plain model file. A gpt2-flavour
 * model without biases gets zero biases (exact), since GPT-2 in transformers and llama.cpp always has them.
 */
export function loadExportModel(modelDir: string): { model: GPT; zeroBiases: boolean } {
  const model = loadModel(modelDir);
  if (model.config.moeExperts) throw new ExportError(`${modelDir} is a mixture-of-experts model: GGUF export of MoE layers is not supported yet (export hf writes them in Mixtral layout)`);
  if (existsSync(join(modelDir, ADAPTER_CONFIG_FILE))) {
    const handle = loadAdapter(model, modelDir);
    if (!handle.mergeInto) {
      throw new ExportError(`${modelDir} holds a ${handle.config.method} adapter beside the base weights: it changes the network's structure and cannot be exported as plain weights (train with LoRA or full fine-tuning to export)`);
    }
    handle.mergeInto();
  }
  if (model.config.flavour === "gpt2" && !model.config.bias) return { model: withZeroBiases(model), zeroBiases: true };
  return { model, zeroBiases: false };
}

/** llama.cpp's pre-tokenizer name whose regex is exactly `pattern` (and whose merge rule matches `ignoreMerges`). */
export function ggufPretokenizerName(pattern: string, ignoreMerges: boolean): string {
  // llama.cpp's LLAMA3 regex ("llama-bpe" ignores merges for whole-token words, "dbrx" runs every merge).
  if (pattern === pretokenizerPattern({ style: "cl100k", digitGroup: 3 })) return ignoreMerges ? "llama-bpe" : "dbrx";
  if (pattern === pretokenizerPattern({ style: "gpt2" }) || pattern === HF_BYTELEVEL_PATTERN) {
    if (!ignoreMerges) return "gpt-2";
  }
  throw new ExportError(
    `the tokenizer's pre-tokenizer regex ${JSON.stringify(pattern.slice(0, 120))} (ignore_merges=${ignoreMerges}) has no llama.cpp equivalent; ` +
      'llama.cpp tokenizes with the GPT-4 style pattern with digit groups of 3 ("llama-bpe"/"dbrx") or GPT-2\'s ("gpt-2"): retrain the tokenizer with one of those',
  );
}

/** The tokenizer.ggml.* metadata for `tok`, padded with unused tokens up to the model's vocabulary `nVocab`. */
export function ggufTokenizerMetadata(tok: Tokenizer, nVocab: number, o: { eosToken?: string; bosToken?: string; padToken?: string; chatTemplate?: string }): Map<string, GgufValue> {
  const spec = tok.spec;
  const tokens: string[] = [];
  const types: number[] = [];
  const specialAt = new Map([...tok.specialTokens].map(([c, id]) => [id, c]));
  for (let id = 0; id < nVocab; id++) {
    const special = specialAt.get(id);
    const t = spec.tokens[id];
    if (special !== undefined) {
      tokens.push(special);
      types.push(TOKEN_TYPE.CONTROL);
    } else if (t) {
      tokens.push(bytesToByteLevel(t));
      types.push(TOKEN_TYPE.NORMAL);
    } else {
      tokens.push(`[PAD${id}]`);
      types.push(TOKEN_TYPE.UNUSED);
    }
  }
  const n = spec.merges.length / 3;
  const order = Array.from({ length: n }, (_, k) => k);
  const ranks = spec.mergeRanks;
  if (ranks) order.sort((x, y) => ranks[x] - ranks[y] || x - y);
  const merges = order.map((k) => `${tokens[spec.merges[3 * k]]} ${tokens[spec.merges[3 * k + 1]]}`);
  const meta = new Map<string, GgufValue>([
    ["tokenizer.ggml.model", gguf.str("gpt2")],
    ["tokenizer.ggml.pre", gguf.str(ggufPretokenizerName(spec.pattern, spec.ignoreMerges))],
    ["tokenizer.ggml.tokens", gguf.strs(tokens)],
    ["tokenizer.ggml.token_type", gguf.i32s(types)],
    ["tokenizer.ggml.merges", gguf.strs(merges)],
  ]);
  const id = (content: string | undefined): number | undefined => (content === undefined ? undefined : tok.specialTokens.get(content));
  const doc = id("<|endoftext|>");
  const eos = id(o.eosToken) ?? doc;
  const bos = id(o.bosToken) ?? doc;
  const pad = id(o.padToken) ?? id("<|pad|>") ?? eos;
  if (bos !== undefined) meta.set("tokenizer.ggml.bos_token_id", gguf.u32(bos));
  if (eos !== undefined) meta.set("tokenizer.ggml.eos_token_id", gguf.u32(eos));
  if (pad !== undefined) meta.set("tokenizer.ggml.padding_token_id", gguf.u32(pad));
  // llmforge starts every pretraining document (and `llmforge generate`'s context) with <|endoftext|>, so llama.cpp
  // adds it too; chat models are trained on the rendered template alone, so none is added there.
  meta.set("tokenizer.ggml.add_bos_token", gguf.bool(bos !== undefined && o.chatTemplate === undefined));
  meta.set("tokenizer.ggml.add_eos_token", gguf.bool(false));
  if (o.chatTemplate !== undefined) meta.set("tokenizer.chat_template", gguf.str(o.chatTemplate));
  return meta;
}

/** The architecture metadata llama.cpp reads for this config (gpt2 or llama). */
function archMetadata(c: GPTConfig): Map<string, GgufValue> {
  const a = c.flavour;
  const meta = new Map<string, GgufValue>([
    ["general.architecture", gguf.str(a)],
    [`${a}.context_length`, gguf.u32(c.blockSize)],
    [`${a}.embedding_length`, gguf.u32(c.nEmbd)],
    [`${a}.feed_forward_length`, gguf.u32(c.mlpHidden)],
    [`${a}.block_count`, gguf.u32(c.nLayer)],
    [`${a}.attention.head_count`, gguf.u32(c.nHead)],
    [`${a}.attention.head_count_kv`, gguf.u32(c.nKvHead)],
  ]);
  if (a === "gpt2") {
    meta.set("gpt2.attention.layer_norm_epsilon", gguf.f32(c.normEps));
  } else {
    meta.set("llama.attention.layer_norm_rms_epsilon", gguf.f32(c.normEps));
    meta.set("llama.rope.freq_base", gguf.f32(c.ropeBase));
    meta.set("llama.rope.dimension_count", gguf.u32(headDim(c)));
    meta.set("llama.vocab_size", gguf.u32(c.vocabSize));
  }
  return meta;
}

/** A float tensor of the GGUF file, in row-major layout (rows of a PyTorch (out, in) weight). */
interface NamedTensor {
  name: string;
  shape: number[];
  data: () => ArrayLike<number>;
}

/**
 * Rows of one head-major projection (rows (h, j, i): D = 2·(D/2) rows a head, rotate_half pairs (i, i + D/2))
 * reordered to llama.cpp's interleaved RoPE layout (rows (h, i, j): pairs (2i, 2i + 1)), as convert_hf_to_gguf's permute.
 */
export function permuteForRope(data: ArrayLike<number>, heads: number, headDimN: number, cols: number): Float32Array {
  const out = new Float32Array(heads * headDimN * cols);
  const half = headDimN / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * headDimN + j * half + i) * cols;
        const dst = (h * headDimN + 2 * i + j) * cols;
        for (let k = 0; k < cols; k++) out[dst + k] = data[src + k];
      }
    }
  }
  return out;
}

/** Every weight of `model` under llama.cpp's tensor name, row-major (GGUF lists the dims reversed). */
export function ggufTensors(model: GPT): NamedTensor[] {
  const c = model.config;
  const params = new Map(model.namedParameters());
  const get = (name: string) => {
    const t = params.get(name);
    if (!t) throw new ExportError(`the model has no parameter "${name}" (a ${c.flavour} model with ${c.nLayer} layers)`);
    return t;
  };
  const out: NamedTensor[] = [];
  const whole = (name: string, param: string, optional = false): void => {
    if (optional && !params.has(param)) return;
    const t = get(param);
    out.push({ name, shape: [...t.shape], data: () => t.contiguousData() });
  };
  /** Rows [start, end) of a parameter, optionally permuted for RoPE (`ropeHeads` heads). */
  const rows = (name: string, param: string, start: number, end: number, ropeHeads = 0): void => {
    if (!params.has(param)) return;
    const t = get(param);
    const cols = t.ndim === 2 ? t.shape[1] : 1;
    const shape = t.ndim === 2 ? [end - start, cols] : [end - start];
    out.push({
      name, shape,
      data: () => {
        const d = t.contiguousData().subarray(start * cols, end * cols);
        return ropeHeads > 0 ? permuteForRope(d, ropeHeads, headDim(c), cols) : d;
      },
    });
  };
  whole("token_embd.weight", "wte.weight");
  if (c.flavour === "gpt2") whole("position_embd.weight", "wpe.weight");
  const D = headDim(c);
  const [qn, kvn, M] = [c.nHead * D, c.nKvHead * D, c.mlpHidden];
  for (let i = 0; i < c.nLayer; i++) {
    const [p, b] = [`h.${i}.`, `blk.${i}.`];
    for (const kind of ["weight", "bias"]) {
      const opt = kind === "bias";
      whole(`${b}attn_norm.${kind}`, `${p}ln_1.${kind}`, opt);
      whole(`${b}ffn_norm.${kind}`, `${p}ln_2.${kind}`, opt);
      whole(`${b}attn_output.${kind}`, `${p}attn.c_proj.${kind}`, opt);
      whole(`${b}ffn_down.${kind}`, `${p}mlp.c_proj.${kind}`, opt);
      if (c.flavour === "gpt2") {
        whole(`${b}attn_qkv.${kind}`, `${p}attn.c_attn.${kind}`, opt);
        whole(`${b}ffn_up.${kind}`, `${p}mlp.c_fc.${kind}`, opt);
      } else {
        rows(`${b}attn_q.${kind}`, `${p}attn.c_attn.${kind}`, 0, qn, c.nHead);
        rows(`${b}attn_k.${kind}`, `${p}attn.c_attn.${kind}`, qn, qn + kvn, c.nKvHead);
        rows(`${b}attn_v.${kind}`, `${p}attn.c_attn.${kind}`, qn + kvn, qn + 2 * kvn);
        rows(`${b}ffn_gate.${kind}`, `${p}mlp.c_fc.${kind}`, 0, M);
        rows(`${b}ffn_up.${kind}`, `${p}mlp.c_fc.${kind}`, M, 2 * M);
      }
    }
  }
  whole("output_norm.weight", "ln_f.weight");
  whole("output_norm.bias", "ln_f.bias", true);
  // Tied embeddings: no output.weight; llama.cpp's gpt2 and llama graphs then use token_embd.
  if (!c.tiedEmbeddings) whole("output.weight", "lm_head.weight");
  return out;
}

/** The storage type of one tensor: 1-D tensors and rows that do not divide into 32-value blocks stay f32, as llama.cpp's converter keeps them. */
export function tensorType(shape: readonly number[], type: GgufExportType): GgmlTypeId {
  if (shape.length < 2 || type === "f32") return GgmlType.F32;
  if ((type === "q8_0" || type === "q4_0") && shape[shape.length - 1] % QK !== 0) return GgmlType.F32;
  return TYPE_OF[type];
}

export interface ExportGgufOptions {
  /** Run folder (model in RUN/model, tokenizer in RUN/tokenizer) or model folder. */
  model: string;
  /** The .gguf file to write. */
  out: string;
  /** Weight type (default f16, as llama.cpp's converter). */
  type?: GgufExportType | string;
  /** tokenizer.json to use instead of the run's. */
  tokenizer?: string;
  /** general.name (default: the run folder's name). */
  name?: string;
}

export interface ExportGgufResult {
  out: string;
  architecture: string;
  type: GgufExportType;
  tensors: number;
  /** How many tensors were stored in `type` (the rest in f32). */
  typedTensors: number;
  pretokenizer: string;
}

/** Writes the model of a run as a GGUF file for llama.cpp; see {@link ExportGgufOptions}. */
export function exportGguf(o: ExportGgufOptions): ExportGgufResult {
  const type = (o.type ?? "f16") as GgufExportType;
  if (!GGUF_EXPORT_TYPES.includes(type)) throw new ExportError(`unknown GGUF weight type "${o.type}": choose one of ${GGUF_EXPORT_TYPES.join(", ")}`);
  const paths = resolveRunPaths(o.model, o.tokenizer);
  assertOutsideModel(o.out, paths.modelDir, o.model);
  const tok = Tokenizer.fromFile(paths.tokenizerFile);
  const { model } = loadExportModel(paths.modelDir);
  const c = model.config;
  if (tok.vocabSize > c.vocabSize) {
    throw new ExportError(`tokenizer ${paths.tokenizerFile} has ${tok.vocabSize} tokens but the model in ${paths.modelDir} has a vocabulary of ${c.vocabSize}: they do not belong together`);
  }
  const tcfg = readTokenizerConfig(dirname(paths.tokenizerFile)) ?? readTokenizerConfig(paths.modelDir);
  const meta = archMetadata(c);
  meta.set("general.type", gguf.str("model"));
  meta.set("general.name", gguf.str(o.name ?? basename(resolve(o.model))));
  meta.set("general.file_type", gguf.u32(FILE_TYPE[type]));
  meta.set("general.quantization_version", gguf.u32(2));
  meta.set("general.alignment", gguf.u32(32));
  meta.set("general.source.llmforge_version", gguf.str(VERSION));
  const tokMeta = ggufTokenizerMetadata(tok, c.vocabSize, {
    eosToken: tcfg?.eosToken, bosToken: tcfg?.bosToken, padToken: tcfg?.padToken, chatTemplate: tcfg?.chatTemplate,
  });
  for (const [k, v] of tokMeta) meta.set(k, v);
  const tensors: GgufTensorInput[] = ggufTensors(model).map((t) => ({ name: t.name, shape: t.shape, type: tensorType(t.shape, type), data: t.data }));
  writeGguf(o.out, meta, tensors);
  return {
    out: o.out, architecture: c.flavour, type, tensors: tensors.length,
    typedTensors: tensors.filter((t) => t.type === TYPE_OF[type]).length,
    pretokenizer: String(tokMeta.get("tokenizer.ggml.pre")?.value),
  };
}
