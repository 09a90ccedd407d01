// GPT (gpt2 and llama flavours) -> ONNX for onnxruntime: the forward pass of src/model/gpt.ts as an
// opset-17 graph (input_ids (batch, sequence) int64 -> logits (batch, sequence, vocab) float32),
// optionally with past/present key-value tensors for decoding, written atomically with metadata.
import { existsSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, isAbsolute } from "node:path";
import { headDim, paramCount, type GPTConfig } from "./config.js";
import type { GPT } from "./gpt.js";
import { ADAPTER_CONFIG_FILE } from "./peftFormat.js";
import { CONFIG_FILE, loadModel } from "./serialize.js";
import { Linear } from "../nn/layers.js";
import type { Tensor } from "../tensor/tensor.js";
import { readTokenizerConfig, Tokenizer } from "../tokenizer/index.js";
import { VERSION } from "../version.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { attr, OnnxGraphBuilder, OnnxType } from "../io/onnx.js";

/** A model that cannot be exported to ONNX as it is, or an output path that would damage the model folder. */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxExportError";
  }
}

/** The opset written: LayerNormalization exists from 17 on; ReduceMean and Split still behave as below. */
export const ONNX_OPSET = 17;

export interface OnnxGraphOptions {
  /**
   * Add past/present key-value tensors for incremental decoding (default false). Inputs then are
   * input_ids plus `past_key_values.N.key` / `past_key_values.N.value` (batch, kv_heads, past_sequence, head_dim)
   * for each layer N (pass past_sequence 0 for the first call); outputs are logits plus
   * `present.N.key` / `present.N.value` (batch, kv_heads, past_sequence + sequence, head_dim). The new
   * tokens sit at positions past_sequence.. (no padding: every row of a batch has the same past length).
   */
  kvCache?: boolean;
  /** Extra metadata_props (string key/values), e.g. token ids from the tokenizer. */
  metadata?: Record<string, string>;
}

export interface ExportOnnxOptions extends OnnxGraphOptions {
  /** tokenizer.json to read the eos/bos/pad ids from (default: the run's tokenizer when one is found; none is fine). */
  tokenizer?: string;
}

/** What {@link exportOnnx} wrote. */
export interface ExportOnnxResult {
  outFile: string;
  /** The model folder that was read (RUN/model or RUN). */
  modelDir: string;
  /** The tokenizer the metadata token ids came from, or null when none was found. */
  tokenizerFile: string | null;
  bytes: number;
  params: number;
  nodes: number;
  inputs: string[];
  outputs: string[];
  kvCache: boolean;
  /** Wall time of load + build + write, seconds. */
  seconds: number;
}

/** f32 copy of a parameter's values (f64 models are narrowed; f32 parameters are viewed). */
function f32(t: Tensor): Float32Array {
  const d = t.contiguousData();
  return d instanceof Float32Array ? d : Float32Array.from(d);
}

/**
 * Throws an {@link OnnxExportError} when `model` is not a plain GPT: an attached LoRA or bottleneck
 * adapter (merge it first), prefix tuning (an attention override), or any extra parameters.
 */
export function assertOnnxExportable(model: GPT): void {
  const c = model.config;
  if (c.moeExperts) throw new OnnxExportError("mixture-of-experts models cannot be exported to ONNX yet (export hf writes them in Mixtral layout)");
  if (!model.cacheable) {
    throw new OnnxExportError("the model has prefix tuning attached (an attention override): ONNX export takes plain GPT weights; prefix tuning has no merged form");
  }
  const sites = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];
  for (let i = 0; i < c.nLayer; i++) {
    for (const s of sites) {
      const m = model.getSubmodule(`h.${i}.${s}`);
      if (!(m instanceof Linear)) {
        throw new OnnxExportError(
          `h.${i}.${s} is a ${m.constructor.name}, not a plain Linear: an adapter is attached. Merge a LoRA adapter into the weights first ` +
            "(`llmforge peft merge --model RUN --adapter DIR --out DIR2`) and export the merged folder; bottleneck adapters cannot be exported",
        );
      }
    }
  }
  const n = model.parameters().reduce((s, p) => s + p.size, 0);
  if (n !== paramCount(c)) throw new OnnxExportError(`the model holds ${n} parameters where its config describes ${paramCount(c)}: extra modules are attached (merge or detach them first)`);
}

/**
 * Builds the ONNX graph of `model`'s forward pass (eval mode: no dropout) and returns the builder,
 * ready to encode. The math is the one of GPT.forward: gpt2 = learned positions, LayerNorm (opset 17
 * LayerNormalization), GELU with the tanh approximation, fused c_attn; llama = RoPE (half-split pairs,
 * precomputed cos/sin tables of blockSize rows), RMSNorm, SwiGLU, grouped kv heads. Causal attention
 * with scale 1/sqrt(head_dim), mask built at run time (no blockSize² table). Linear weights stay in
 * llmforge's (out, in) layout and run as Gemm(transB=1); the tied head reuses the embedding initializer.
 */
export function buildOnnxGraph(model: GPT, opts: OnnxGraphOptions = {}): OnnxGraphBuilder {
  assertOnnxExportable(model);
  const c = model.config;
  const D = headDim(c);
  const { nHead: H, nKvHead: Hkv, nEmbd: C } = c;
  const G = H / Hkv;
  const b = new OnnxGraphBuilder(`llmforge_${c.flavour}`);
  const kv = opts.kvCache ?? false;
  const P = (name: string) => model.getSubmodule(name) as unknown as { weight: Tensor; bias: Tensor | null };
  const weight = (name: string, t: Tensor): string => b.initializer(name, f32(t), t.shape);

  const ids = b.input("input_ids", OnnxType.int64, ["batch", "sequence"]);
  const past: [string, string][] = [];
  if (kv) {
    for (let i = 0; i < c.nLayer; i++) {
      past.push([
        b.input(`past_key_values.${i}.key`, OnnxType.float, ["batch", Hkv, "past_sequence", D]),
        b.input(`past_key_values.${i}.value`, OnnxType.float, ["batch", Hkv, "past_sequence", D]),
      ]);
    }
  }
  // Shapes and positions: positions [p0, p0 + T) where p0 is the past length (0 without a cache).
  const idsShape = b.op("Shape", [ids]); // [B, T]
  const T = b.op("Gather", [idsShape, b.int64([1], [])], { axis: attr.int(0) }); // scalar
  const p0 = kv ? b.op("Gather", [b.op("Shape", [past[0][0]]), b.int64([2], [])], { axis: attr.int(0) }) : b.int64([0], []);
  const end = b.op("Add", [p0, T]); // scalar p0 + T
  const p0v = b.op("Unsqueeze", [p0, b.int64([0])]); // (1,)
  const endv = b.op("Unsqueeze", [end, b.int64([0])]); // (1,)
  const rows = b.op("Range", [p0, end, b.int64([1], [])]); // (T,) query positions
  const cols = b.op("Range", [b.int64([0], []), end, b.int64([1], [])]); // (S,) key positions, S = p0 + T
  const future = b.op("Greater", [cols, b.op("Unsqueeze", [rows, b.int64([1])])]); // (T, S) bool: key after query
  const negInf = b.float([Number.NEGATIVE_INFINITY], []);
  const shapeOf = (tail: number[]) => b.op("Concat", [idsShape, b.int64(tail)], { axis: attr.int(0) }); // [B, T, ...tail]
  const qkvShape = shapeOf([H + 2 * Hkv, D]);
  const q5Shape = shapeOf([Hkv, G, D]);
  const flat = b.int64([-1, C]);

  // Embeddings -> x (N, C), N = B·T.
  const wte = weight("wte.weight", model.wte.weight);
  let x = b.op("Gather", [wte, ids], { axis: attr.int(0) }); // (B, T, C)
  if (model.wpe) {
    const wpe = weight("wpe.weight", model.wpe.weight);
    x = b.op("Add", [x, b.op("Slice", [wpe, p0v, endv, b.int64([0])])]); // + (T, C)
  }
  x = b.op("Reshape", [x, flat]); // (N, C)

  // RoPE tables (llama): cos/sin (blockSize, D) with angle pos·base^(-2i/D) repeated over both halves.
  let cosT = "";
  let sinT = "";
  if (c.flavour === "llama") {
    const cos = new Float32Array(c.blockSize * D);
    const sin = new Float32Array(c.blockSize * D);
    for (let p = 0; p < c.blockSize; p++) {
      for (let i = 0; i < D / 2; i++) {
        const theta = p * c.ropeBase ** (-(2 * i) / D);
        cos[p * D + i] = cos[p * D + i + D / 2] = Math.cos(theta);
        sin[p * D + i] = sin[p * D + i + D / 2] = Math.sin(theta);
      }
    }
    const slice = (name: string, data: Float32Array) =>
      b.op("Unsqueeze", [b.op("Slice", [b.initializer(name, data, [c.blockSize, D]), p0v, endv, b.int64([0])]), b.int64([1])]); // (T, 1, D)
    cosT = slice("rope.cos", cos);
    sinT = slice("rope.sin", sin);
  }
  /** x (B, T, heads, D) -> x·cos + rotate_half(x)·sin, rotate_half([x1, x2]) = [-x2, x1]. */
  const rope = (t: string): string => {
    const [x1, x2] = b.node("Split", [t, b.int64([D / 2, D / 2])], 2, { axis: attr.int(3) });
    const rot = b.op("Concat", [b.op("Neg", [x2]), x1], { axis: attr.int(3) });
    return b.op("Add", [b.op("Mul", [t, cosT]), b.op("Mul", [rot, sinT])]);
  };

  const linear = (inp: string, name: string): string => {
    const m = P(name);
    const inputs = [inp, weight(`${name}.weight`, m.weight)];
    if (m.bias) inputs.push(weight(`${name}.bias`, m.bias));
    return b.op("Gemm", inputs, { transB: attr.int(1) });
  };
  const norm = (inp: string, name: string): string => {
    const m = P(name);
    const w = weight(`${name}.weight`, m.weight);
    if (c.flavour === "gpt2") {
      const inputs = [inp, w];
      if (m.bias) inputs.push(weight(`${name}.bias`, m.bias));
      return b.op("LayerNormalization", inputs, { axis: attr.int(-1), epsilon: attr.float(c.normEps) });
    }
    const ms = b.op("ReduceMean", [b.op("Mul", [inp, inp])], { axes: attr.ints([-1]), keepdims: attr.int(1) }); // (N, 1)
    const rms = b.op("Sqrt", [b.op("Add", [ms, b.float([c.normEps], [])])]);
    return b.op("Mul", [b.op("Div", [inp, rms]), w]);
  };
  const scale = b.float([1 / Math.sqrt(D)], []);
  const gelu = (t: string): string => {
    // 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)))
    const x3 = b.op("Mul", [b.op("Mul", [t, t]), t]);
    const inner = b.op("Mul", [b.float([Math.sqrt(2 / Math.PI)], []), b.op("Add", [t, b.op("Mul", [x3, b.float([0.044715], [])])])]);
    return b.op("Mul", [b.op("Mul", [t, b.float([0.5], [])]), b.op("Add", [b.float([1], []), b.op("Tanh", [inner])])]);
  };
  const presentNames: string[] = [];

  for (let i = 0; i < c.nLayer; i++) {
    const pre = `h.${i}`;
    // Attention.
    const qkv = b.op("Reshape", [linear(norm(x, `${pre}.ln_1`), `${pre}.attn.c_attn`), qkvShape]); // (B, T, H + 2Hkv, D)
    let [q, k, v] = b.node("Split", [qkv, b.int64([H, Hkv, Hkv])], 3, { axis: attr.int(2) });
    if (c.flavour === "llama") {
      q = rope(q);
      k = rope(k);
    }
    const q5 = b.op("Transpose", [b.op("Reshape", [q, q5Shape])], { perm: attr.ints([0, 2, 3, 1, 4]) }); // (B, Hkv, G, T, D)
    let kT = b.op("Transpose", [k], { perm: attr.ints([0, 2, 1, 3]) }); // (B, Hkv, T, D)
    let vT = b.op("Transpose", [v], { perm: attr.ints([0, 2, 1, 3]) });
    if (kv) {
      kT = b.op("Concat", [past[i][0], kT], { axis: attr.int(2) }, `present.${i}.key`); // (B, Hkv, S, D)
      vT = b.op("Concat", [past[i][1], vT], { axis: attr.int(2) }, `present.${i}.value`);
      presentNames.push(kT, vT);
    }
    const kU = b.op("Unsqueeze", [b.op("Transpose", [kT], { perm: attr.ints([0, 1, 3, 2]) }), b.int64([2])]); // (B, Hkv, 1, D, S)
    const scores = b.op("Mul", [b.op("MatMul", [q5, kU]), scale]); // (B, Hkv, G, T, S)
    const att = b.op("Softmax", [b.op("Where", [future, negInf, scores])], { axis: attr.int(-1) });
    const y5 = b.op("MatMul", [att, b.op("Unsqueeze", [vT, b.int64([2])])]); // (B, Hkv, G, T, D)
    const y = b.op("Reshape", [b.op("Transpose", [y5], { perm: attr.ints([0, 3, 1, 2, 4]) }), flat]); // (B, T, Hkv, G, D) -> (N, C)
    x = b.op("Add", [x, linear(y, `${pre}.attn.c_proj`)]);
    // MLP.
    const h = linear(norm(x, `${pre}.ln_2`), `${pre}.mlp.c_fc`); // (N, M) or (N, 2M)
    let a: string;
    if (c.flavour === "gpt2") {
      a = gelu(h);
    } else {
      const [gate, up] = b.node("Split", [h, b.int64([c.mlpHidden, c.mlpHidden])], 2, { axis: attr.int(1) });
      a = b.op("Mul", [b.op("Mul", [gate, b.op("Sigmoid", [gate])]), up]);
    }
    x = b.op("Add", [x, linear(a, `${pre}.mlp.c_proj`)]);
  }
  const hf = norm(x, "ln_f");
  const head = model.lm_head ? weight("lm_head.weight", model.lm_head.weight) : wte;
  const logits2 = b.op("Gemm", [hf, head], { transB: attr.int(1) }); // (N, V)
  b.op("Reshape", [logits2, shapeOf([c.vocabSize])], {}, "logits"); // (B, T, V)
  b.output("logits", OnnxType.float, ["batch", "sequence", c.vocabSize]);
  for (let i = 0; i < presentNames.length; i += 2) {
    b.output(presentNames[i], OnnxType.float, ["batch", Hkv, "total_sequence", D]);
    b.output(presentNames[i + 1], OnnxType.float, ["batch", Hkv, "total_sequence", D]);
  }
  return b;
}

/** The doc_string of an exported model: what goes in, what comes out, and the limits. */
function docString(c: GPTConfig, kv: boolean): string {
  const io = kv
    ? "Inputs: input_ids int64 (batch, sequence) and past_key_values.N.key/value float32 (batch, kv_heads, past_sequence, head_dim) " +
      "(past_sequence may be 0). Outputs: logits float32 (batch, sequence, vocab) and present.N.key/value (batch, kv_heads, past_sequence + sequence, head_dim). " +
      "The new tokens take positions past_sequence.. ; all rows share one past length (no attention mask, no padding)."
    : "No-cache variant: input_ids int64 (batch, sequence) -> logits float32 (batch, sequence, vocab); every call recomputes the whole sequence " +
      "(positions 0..sequence-1, causal attention, no attention mask or padding).";
  return `llmforge ${VERSION} ${c.flavour} GPT (${c.nLayer} layers, width ${c.nEmbd}, ${c.nHead} heads, ${c.nKvHead} kv heads, vocab ${c.vocabSize}). ` +
    `${io} Sequences (with the past) are limited to the block size ${c.blockSize}; token ids must be in [0, ${c.vocabSize}).`;
}

/** Model facts as metadata_props (strings), the ones a runtime needs to drive the graph. */
function modelMetadata(c: GPTConfig, kv: boolean): Record<string, string> {
  return {
    llmforge_version: VERSION,
    architecture: c.flavour,
    n_layer: String(c.nLayer),
    n_head: String(c.nHead),
    n_kv_head: String(c.nKvHead),
    head_dim: String(headDim(c)),
    n_embd: String(c.nEmbd),
    vocab_size: String(c.vocabSize),
    max_position_embeddings: String(c.blockSize),
    kv_cache: String(kv),
    llmforge_config: JSON.stringify(c),
  };
}

/** Token ids of the tokenizer's end/begin/pad tokens (tokenizer_config.json beside it, else "<|endoftext|>" as eos). */
function tokenMetadata(tokenizerFile: string, c: GPTConfig, modelDir: string): Record<string, string> {
  const tok = Tokenizer.fromFile(tokenizerFile);
  if (tok.vocabSize > c.vocabSize) {
    throw new OnnxExportError(`tokenizer ${tokenizerFile} has ${tok.vocabSize} tokens but the model in ${modelDir} has a vocabulary of ${c.vocabSize}: they do not belong together (pass the right one with --tokenizer)`);
  }
  const cfg = readTokenizerConfig(dirname(tokenizerFile));
  const out: Record<string, string> = {};
  const put = (key: string, content: string | undefined) => {
    const id = content === undefined ? undefined : tok.specialTokens.get(content);
    if (content !== undefined && id !== undefined) {
      out[`${key}_token`] = content;
      out[`${key}_token_id`] = String(id);
    }
  };
  put("eos", cfg?.eosToken ?? "<|endoftext|>");
  put("bos", cfg?.bosToken);
  put("pad", cfg?.padToken);
  if (cfg?.chatTemplate !== undefined) out.chat_template = cfg.chatTemplate;
  return out;
}

function isInside(child: string, parent: string): boolean {
  const r = relative(resolve(parent), resolve(child));
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
}

/**
 * Exports the model of a run folder (RUN/model or RUN itself, as saveModel writes it) to one
 * .onnx file for onnxruntime: opset 17, input `input_ids` int64 (batch, sequence) -> `logits`
 * float32 (batch, sequence, vocab), the exact forward math of llmforge's GPT (both flavours; see
 * {@link buildOnnxGraph}). By default the graph is the no-cache variant (each call recomputes the
 * whole sequence, positions from 0); with `kvCache: true` it also takes and returns key/values per
 * layer for decoding (see {@link OnnxGraphOptions.kvCache}). Metadata props: producer llmforge +
 * version, the model's shape and config, and eos/bos/pad token ids when a tokenizer is found
 * (RUN/tokenizer/tokenizer.json, RUN/tokenizer.json, MODEL/tokenizer.json, or `opts.tokenizer`).
 * The file is written atomically (temp + rename), so a failed export leaves nothing under `outFile`.
 *
 * Throws {@link OnnxExportError} for a model folder with an adapter beside it (merge a LoRA adapter
 * first), an output path inside the model folder, a tokenizer larger than the model's vocabulary;
 * OnnxBuildError for weights over protobuf's 2 GiB limit (external data is not written);
 * ModelLoadError / ModelConfigError for a missing or inconsistent model folder.
 */
export function exportOnnx(modelDir: string, outFile: string, opts: ExportOnnxOptions = {}): ExportOnnxResult {
  const t0 = performance.now();
  const dir = [join(modelDir, "model"), modelDir].find((d) => existsSync(join(d, CONFIG_FILE))) ?? modelDir;
  if (isInside(outFile, dir)) throw new OnnxExportError(`output ${outFile} is inside the model folder ${dir}: write the .onnx file elsewhere`);
  if (existsSync(outFile) && statSync(outFile).isDirectory()) throw new OnnxExportError(`output ${outFile} is a folder: give a file path such as ${join(outFile, "model.onnx")}`);
  if (existsSync(join(dir, ADAPTER_CONFIG_FILE))) {
    throw new OnnxExportError(
      `${join(dir, ADAPTER_CONFIG_FILE)}: this folder holds an adapter, and ONNX export takes plain model weights. Merge a LoRA adapter first ` +
        "(`llmforge peft merge --model RUN --adapter DIR --out DIR2`) and export the merged folder; bottleneck adapters and prefix tuning cannot be exported",
    );
  }
  const model = loadModel(dir).eval();
  const tokCandidates = opts.tokenizer ? [opts.tokenizer] : [join(modelDir, "tokenizer", "tokenizer.json"), join(modelDir, "tokenizer.json"), join(dir, "tokenizer.json")];
  const tokenizerFile = tokCandidates.find((p) => existsSync(p)) ?? null;
  if (opts.tokenizer && !tokenizerFile) throw new OnnxExportError(`tokenizer ${opts.tokenizer} not found`);
  const c = model.config;
  const kv = opts.kvCache ?? false;
  const tokenMeta = tokenizerFile ? tokenMetadata(tokenizerFile, c, dir) : {};
  const builder = buildOnnxGraph(model, opts);
  const bytes = builder.encode({
    opset: ONNX_OPSET,
    producerName: "llmforge",
    producerVersion: VERSION,
    docString: docString(c, kv),
    metadata: { ...modelMetadata(c, kv), ...tokenMeta, ...opts.metadata },
  });
  writeFileAtomicSync(outFile, bytes);
  const inputs = ["input_ids"];
  const outputs = ["logits"];
  if (kv) {
    for (let i = 0; i < c.nLayer; i++) {
      inputs.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
      outputs.push(`present.${i}.key`, `present.${i}.value`);
    }
  }
  return {
    outFile, modelDir: dir, tokenizerFile, bytes: bytes.length, params: paramCount(c), nodes: builder.nodeCount, inputs, outputs, kvCache: kv,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * In-memory variant of {@link exportOnnx} for a GPT object: the encoded .onnx bytes (same graph,
 * doc string and model metadata; no tokenizer metadata unless passed in `opts.metadata`).
 */
export function gptToOnnx(model: GPT, opts: OnnxGraphOptions = {}): Uint8Array {
  const kv = opts.kvCache ?? false;
  return buildOnnxGraph(model, opts).encode({
    opset: ONNX_OPSET, producerName: "llmforge", producerVersion: VERSION, docString: docString(model.config, kv),
    metadata: { ...modelMetadata(model.config, kv), ...opts.metadata },
  });
}
