// A GGUF file (written by `llmforge export gguf` or by llama.cpp's converters) as an llmforge model:
// gpt2 and llama architectures, F32/F16/Q8_0/Q4_0 tensors dequantised to f32, llama's Q/K rows un-permuted
// back from llama.cpp's interleaved RoPE layout, and the tokenizer rebuilt from tokenizer.ggml.* as a tokenizer.json.
import { makeConfig, type GPTConfig } from "./config.js";
import { GPT } from "./gpt.js";
import type { BackendName } from "../tensor/backend/index.js";
import { pretokenizerPattern } from "../tokenizer/pretokenize.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { GgmlType, GgufError, type GgufFile, ggufMeta, ggufTensorData, ggmlTypeName, readGguf } from "../io/gguf.js";

/** llama.cpp's pre-tokenizer names that llmforge reproduces: the regex (as llmforge writes it) and the merge rule. */
const PRETOKENIZERS: Record<string, { pattern: () => string; ignoreMerges: boolean }> = {
  "gpt-2": { pattern: () => pretokenizerPattern({ style: "gpt2" }), ignoreMerges: false },
  "llama-bpe": { pattern: () => pretokenizerPattern({ style: "cl100k", digitGroup: 3 }), ignoreMerges: true },
  llama3: { pattern: () => pretokenizerPattern({ style: "cl100k", digitGroup: 3 }), ignoreMerges: true },
  "llama-v3": { pattern: () => pretokenizerPattern({ style: "cl100k", digitGroup: 3 }), ignoreMerges: true },
  dbrx: { pattern: () => pretokenizerPattern({ style: "cl100k", digitGroup: 3 }), ignoreMerges: false },
  "smaug-bpe": { pattern: () => pretokenizerPattern({ style: "cl100k", digitGroup: 3 }), ignoreMerges: false },
};

/** llama.cpp token types (llama_token_type). */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** A GGUF file loaded as an llmforge model. */
export interface GgufRun {
  model: GPT;
  tokenizer: Tokenizer;
  /** tokenizer.chat_template, or null when the file has none. */
  chatTemplate: string | null;
  /** tokenizer.ggml.bos_token_id / eos_token_id when present. */
  bosTokenId: number | null;
  eosTokenId: number | null;
}

function metaNumber(f: GgufFile, key: string, fallback?: number): number {
  const v = ggufMeta(f, key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" && typeof v !== "bigint") throw new GgufError(f.path, `metadata "${key}" is ${v === undefined ? "missing" : `not a number (${JSON.stringify(v)})`}`);
  return Number(v);
}

function metaStrings(f: GgufFile, key: string, optional = false): string[] | null {
  const v = ggufMeta(f, key);
  if (v === undefined && optional) return null;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw new GgufError(f.path, `metadata "${key}" is ${v === undefined ? "missing" : "not an array of strings"}`);
  return v as string[];
}

/**
 * The Hugging Face tokenizer.json object equivalent to the file's tokenizer.ggml.* (BPE "gpt2" model only):
 * normal and byte tokens form the vocabulary, control and user-defined tokens are added (special) tokens,
 * unused ones (padding up to the model's vocabulary) are left out.
 */
export function ggufTokenizerJson(f: GgufFile): Record<string, unknown> {
  const model = ggufMeta(f, "tokenizer.ggml.model");
  if (model !== "gpt2") {
    throw new GgufError(f.path, `tokenizer.ggml.model is ${JSON.stringify(model)}: llmforge reads byte-level BPE tokenizers ("gpt2"), not SentencePiece ("llama") or others`);
  }
  const preName = ggufMeta(f, "tokenizer.ggml.pre") ?? "default";
  const pre = PRETOKENIZERS[String(preName)];
  if (!pre) {
    throw new GgufError(f.path, `tokenizer.ggml.pre is ${JSON.stringify(preName)}: llmforge reproduces the pre-tokenizers ${Object.keys(PRETOKENIZERS).join(", ")} only`);
  }
  const tokens = metaStrings(f, "tokenizer.ggml.tokens") as string[];
  const types = ggufMeta(f, "tokenizer.ggml.token_type");
  if (types !== undefined && (!Array.isArray(types) || types.length !== tokens.length)) {
    throw new GgufError(f.path, `tokenizer.ggml.token_type has ${Array.isArray(types) ? types.length : "no"} entries for ${tokens.length} tokens`);
  }
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  tokens.forEach((t, id) => {
    const type = types ? Number(types[id]) : TOKEN_TYPE.NORMAL;
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED) {
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    } else if (type === TOKEN_TYPE.NORMAL || type === TOKEN_TYPE.BYTE) {
      vocab[t] = id;
    }
  });
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: pre.pattern() }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
      ignore_merges: pre.ignoreMerges, vocab, merges: metaStrings(f, "tokenizer.ggml.merges", true) ?? [],
    },
  };
}

/** Rows of a projection in llama.cpp's interleaved RoPE layout (rows (h, i, j)) back to llmforge's half-split layout (rows (h, j, i)). */
export function unpermuteForRope(data: ArrayLike<number>, heads: number, headDimN: number, cols: number): Float32Array {
  const out = new Float32Array(heads * headDimN * cols);
  const half = headDimN / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * headDimN + 2 * i + j) * cols;
        const dst = (h * headDimN + j * half + i) * cols;
        for (let k = 0; k < cols; k++) out[dst + k] = data[src + k];
      }
    }
  }
  return out;
}

/** The model config a GGUF file describes (gpt2 or llama metadata keys), checked against its tensors. */
export function ggufModelConfig(f: GgufFile): GPTConfig {
  const arch = ggufMeta(f, "general.architecture");
  if (arch !== "gpt2" && arch !== "llama") {
    throw new GgufError(f.path, `general.architecture is ${JSON.stringify(arch)}: llmforge runs the "gpt2" and "llama" architectures only`);
  }
  if (f.tensors.has("blk.0.ffn_gate_exps.weight") || f.tensors.has("blk.0.ffn_gate_inp.weight")) {
    throw new GgufError(f.path, "mixture-of-experts GGUF models are not supported (llmforge imports dense gpt2 and llama models)");
  }
  const scaling = ggufMeta(f, `${arch}.rope.scaling.type`);
  if (f.tensors.has("rope_freqs.weight") || (scaling !== undefined && scaling !== "none")) {
    throw new GgufError(f.path, `RoPE scaling (${scaling ?? "rope_freqs.weight"}) is not supported: llmforge's RoPE has a plain base frequency`);
  }
  const emb = f.tensors.get("token_embd.weight");
  if (emb?.shape.length !== 2) throw new GgufError(f.path, 'no 2-D tensor "token_embd.weight"');
  const nHead = metaNumber(f, `${arch}.attention.head_count`);
  const nEmbd = metaNumber(f, `${arch}.embedding_length`);
  const bias = f.tensors.has(arch === "gpt2" ? "blk.0.attn_qkv.bias" : "blk.0.attn_q.bias");
  const out = f.tensors.get("output.weight");
  const config = makeConfig({
    flavour: arch, nLayer: metaNumber(f, `${arch}.block_count`), nHead, nKvHead: metaNumber(f, `${arch}.attention.head_count_kv`, nHead), nEmbd,
    blockSize: metaNumber(f, `${arch}.context_length`), vocabSize: emb.shape[0], mlpHidden: metaNumber(f, `${arch}.feed_forward_length`),
    normEps: metaNumber(f, arch === "gpt2" ? "gpt2.attention.layer_norm_epsilon" : "llama.attention.layer_norm_rms_epsilon", 1e-5),
    ropeBase: arch === "llama" ? metaNumber(f, "llama.rope.freq_base", 10000) : undefined,
    // llama.cpp's GPT-2 converter writes the tied head as a copy of the embedding: tie it again when the bytes agree.
    tiedEmbeddings: !out || (out.type === emb.type && out.bytes === emb.bytes && Buffer.compare(f.buffer.subarray(out.offset, out.offset + out.bytes), f.buffer.subarray(emb.offset, emb.offset + emb.bytes)) === 0),
    bias,
  });
  if (emb.shape[1] !== nEmbd) throw new GgufError(f.path, `token_embd.weight is [${emb.shape}] but ${arch}.embedding_length is ${nEmbd}`);
  const ropeDims = ggufMeta(f, "llama.rope.dimension_count");
  if (arch === "llama" && ropeDims !== undefined && Number(ropeDims) !== nEmbd / nHead) {
    throw new GgufError(f.path, `llama.rope.dimension_count ${ropeDims} is not the head size ${nEmbd / nHead}: partial RoPE is not supported`);
  }
  return config;
}

/** Every llmforge parameter as its GGUF pieces: tensor names whose rows are concatenated in order, and whether Q/K rows need un-permuting. */
function parameterSources(c: GPTConfig): Map<string, { names: string[]; ropeHeads: number[] }> {
  const src = new Map<string, { names: string[]; ropeHeads: number[] }>();
  const one = (param: string, name: string) => src.set(param, { names: [name], ropeHeads: [0] });
  one("wte.weight", "token_embd.weight");
  if (c.flavour === "gpt2") one("wpe.weight", "position_embd.weight");
  for (let i = 0; i < c.nLayer; i++) {
    const [p, b] = [`h.${i}.`, `blk.${i}.`];
    for (const kind of ["weight", "bias"]) {
      one(`${p}ln_1.${kind}`, `${b}attn_norm.${kind}`);
      one(`${p}ln_2.${kind}`, `${b}ffn_norm.${kind}`);
      one(`${p}attn.c_proj.${kind}`, `${b}attn_output.${kind}`);
      one(`${p}mlp.c_proj.${kind}`, `${b}ffn_down.${kind}`);
      if (c.flavour === "gpt2") {
        one(`${p}attn.c_attn.${kind}`, `${b}attn_qkv.${kind}`);
        one(`${p}mlp.c_fc.${kind}`, `${b}ffn_up.${kind}`);
      } else {
        src.set(`${p}attn.c_attn.${kind}`, { names: [`${b}attn_q.${kind}`, `${b}attn_k.${kind}`, `${b}attn_v.${kind}`], ropeHeads: [c.nHead, c.nKvHead, 0] });
        src.set(`${p}mlp.c_fc.${kind}`, { names: [`${b}ffn_gate.${kind}`, `${b}ffn_up.${kind}`], ropeHeads: [0, 0] });
      }
    }
  }
  one("ln_f.weight", "output_norm.weight");
  one("ln_f.bias", "output_norm.bias");
  one("lm_head.weight", "output.weight");
  return src;
}

/** The GPT a parsed GGUF file holds (f32 weights). Throws a {@link GgufError} naming the file for anything it cannot run. */
export function ggufModel(f: GgufFile, opts: { backend?: BackendName } = {}): GPT {
  for (const t of f.tensors.values()) {
    if (t.type !== GgmlType.F32 && t.type !== GgmlType.F16 && t.type !== GgmlType.Q8_0 && t.type !== GgmlType.Q4_0) {
      throw new GgufError(f.path, `tensor "${t.name}" has ggml ${ggmlTypeName(t.type)}; llmforge reads F32, F16, Q8_0 and Q4_0 (re-quantise the model with llama-quantize to one of those)`);
    }
  }
  const c = ggufModelConfig(f);
  const model = new GPT(c, { backend: opts.backend, initWeights: false });
  const sources = parameterSources(c);
  const used = new Set<string>();
  const D = c.nEmbd / c.nHead;
  for (const [param, p] of model.namedParameters()) {
    const s = sources.get(param);
    if (!s) throw new GgufError(f.path, `internal: no GGUF tensor maps to parameter "${param}"`);
    const cols = p.ndim === 2 ? p.shape[1] : 1;
    let row = 0;
    s.names.forEach((name, k) => {
      const info = f.tensors.get(name);
      if (!info) throw new GgufError(f.path, `missing tensor "${name}" (a ${c.flavour} model with ${c.nLayer} layers${c.bias ? " and biases" : ""} needs it)`);
      const n = info.shape.reduce((a, b) => a * b, 1);
      const infoCols = info.shape.length === 2 ? info.shape[1] : 1;
      if (infoCols !== cols || row * cols + n > p.size) {
        throw new GgufError(f.path, `tensor "${name}" is [${info.shape}]; the config (${c.flavour}, width ${c.nEmbd}, ${c.nHead}/${c.nKvHead} heads, MLP ${c.mlpHidden}) needs it to fill rows of ${cols} of "${param}" [${p.shape}]`);
      }
      let data = ggufTensorData(f, name);
      if (s.ropeHeads[k] > 0) data = unpermuteForRope(data, s.ropeHeads[k], D, cols);
      p.data.set(data, p.offset + row * cols);
      row += n / cols;
      used.add(name);
    });
    if (row * cols !== p.size) throw new GgufError(f.path, `tensors ${s.names.join(", ")} fill ${row} of the ${p.shape[0]} rows of "${param}" [${p.shape}]`);
  }
  if (c.tiedEmbeddings) used.add("output.weight");
  const extra = [...f.tensors.keys()].filter((n) => !used.has(n));
  if (extra.length > 0) throw new GgufError(f.path, `tensors llmforge's ${c.flavour} model has no place for: ${extra.slice(0, 8).join(", ")}${extra.length > 8 ? ", ..." : ""}`);
  model.eval();
  return model;
}

/**
 * Loads a GGUF file as a model, its tokenizer and chat template; see {@link GgufRun}.
 * Quantised tensors are dequantised to f32 (the model computes in f32).
 */
export function loadGgufRun(path: string, opts: { backend?: BackendName } = {}): GgufRun {
  const f = readGguf(path);
  const model = ggufModel(f, opts);
  const tokenizer = Tokenizer.fromHuggingFaceJson(JSON.stringify(ggufTokenizerJson(f)), `${path} (tokenizer.ggml.*)`);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new GgufError(path, `the tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight only ${model.config.vocabSize} rows`);
  }
  const template = ggufMeta(f, "tokenizer.chat_template");
  const id = (key: string): number | null => {
    const v = ggufMeta(f, key);
    return typeof v === "number" || typeof v === "bigint" ? Number(v) : null;
  };
  return {
    model, tokenizer, chatTemplate: typeof template === "string" ? template : null,
    bosTokenId: id("tokenizer.ggml.bos_token_id"), eosTokenId: id("tokenizer.ggml.eos_token_id"),
  };
}
