// The BERT encoder (as Hugging Face's BertForPreTraining): word + position + segment embeddings,
// post-LayerNorm blocks with bidirectional self-attention under a padding mask, a tanh pooler, the
// masked-LM head (tied decoder + bias), the next-sentence head and an optional sequence classifier.
// Module names are the Hugging Face names, so the state dict is the safetensors file as is.
import { Dropout, Embedding, LayerNorm, Linear } from "../nn/layers.js";
import { Module, ModuleList, createParameter, type Init, type ParamOptions } from "../nn/module.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import {
  add, argmax, crossEntropy, dropout, gelu, ids, indexRows, linear, matmul, mulScalar, permute, reshape, slice, softmax, tanh, transpose,
  type IdsLike,
} from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { shapeStr, Tensor, TensorError } from "../tensor/tensor.js";
import { type BertConfig, validateBertConfig } from "./bertConfig.js";

/** Added to the attention scores of padding keys: their softmax weight is exactly 0 in f32 and f64. */
const MASKED = -1e9;

export interface BertOptions {
  /** Seed of the weight init (and of dropout masks). Default 0. */
  seed?: number;
  /** Parameter dtype: f32 (default) or f64 (reference checks). */
  dtype?: DType;
  backend?: BackendName;
  /** false: zero-filled weights instead of the random init (faster when weights are loaded next). */
  initWeights?: boolean;
  /** Add the sequence-classification head `classifier` (numLabels outputs on the pooled [CLS] state). */
  classifier?: boolean;
}

/** One batch for the encoder: ids (B, T) with optional segment ids and padding mask, each B·T row-major. */
export interface BertInput {
  inputIds: IdsLike;
  /** Segment of each token (0: first sentence, 1: second); default all 0. */
  tokenTypeIds?: Int32Array;
  /** 1 for real tokens, 0 for padding (keys that no token attends to); default all 1. */
  attentionMask?: Int32Array;
}

/** A pretraining batch: inputs plus masked-LM labels (B·T, -100 where not predicted) and optional next-sentence labels (B; 0 = is next). */
export interface BertPretrainingBatch extends BertInput {
  mlmLabels: Int32Array;
  nspLabels?: Int32Array;
}

export interface BertPretrainingOutput {
  /** masked-LM loss + next-sentence loss (the sum, as HF's BertForPreTraining). */
  loss: Tensor;
  mlmLoss: number;
  nspLoss: number | null;
  /** Correct predictions among the predicted (labelled) positions, and their count. */
  mlmCorrect: number;
  mlmCount: number;
  nspCorrect: number;
  nspCount: number;
}

class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(c: BertConfig, po: ParamOptions, init: Init, rng: Rng) {
    super();
    this.word_embeddings = this.child("word_embeddings", new Embedding(c.vocabSize, c.hiddenSize, { ...po, init }));
    this.position_embeddings = this.child("position_embeddings", new Embedding(c.maxPositionEmbeddings, c.hiddenSize, { ...po, init }));
    this.token_type_embeddings = this.child("token_type_embeddings", new Embedding(c.typeVocabSize, c.hiddenSize, { ...po, init }));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(c.hiddenSize, c.layerNormEps, po));
    this.dropout = this.child("dropout", new Dropout(c.hiddenDropout, rng));
  }

  /** ids (B, T) -> LN(word + position + segment) (B, T, C). */
  forward(idx: IdsLike, tokenTypes: Int32Array): Tensor {
    const [B, T] = idx.shape;
    const pos = new Int32Array(T);
    for (let t = 0; t < T; t++) pos[t] = t;
    let x = this.word_embeddings.forward(idx); // (B, T, C)
    x = add(x, this.position_embeddings.forward(ids(pos, [T]))); // + (T, C)
    x = add(x, this.token_type_embeddings.forward(ids(tokenTypes, [B, T])));
    return this.dropout.forward(this.LayerNorm.forward(x));
  }
}

class BertSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;

  constructor(private readonly c: BertConfig, po: ParamOptions, init: Init, private readonly rng: Rng) {
    super();
    const C = c.hiddenSize;
    this.query = this.child("query", new Linear(C, C, { ...po, init }));
    this.key = this.child("key", new Linear(C, C, { ...po, init }));
    this.value = this.child("value", new Linear(C, C, { ...po, init }));
  }

  /** x (B, T, C), mask (B, 1, 1, T) additive or null -> (B, T, C), every token attending to every real token. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, T, C] = x.shape;
    const H = this.c.numAttentionHeads;
    const D = C / H;
    const heads = (t: Tensor) => permute(reshape(t, [B, T, H, D]), [0, 2, 1, 3]); // (B, H, T, D)
    const q = heads(this.query.forward(x));
    const k = heads(this.key.forward(x));
    const v = heads(this.value.forward(x));
    let scores = mulScalar(matmul(q, transpose(k, -2, -1)), 1 / Math.sqrt(D)); // (B, H, T, T)
    if (mask) scores = add(scores, mask);
    const w = dropout(softmax(scores), this.c.attentionDropout, this.training, this.rng);
    return reshape(permute(matmul(w, v), [0, 2, 1, 3]), [B, T, C]); // (B, T, H, D) -> (B, T, C)
  }
}

/** dense + dropout, then LayerNorm of the residual sum (post-LN), as BertSelfOutput and BertOutput. */
class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(c: BertConfig, inFeatures: number, po: ParamOptions, init: Init, rng: Rng) {
    super();
    this.dense = this.child("dense", new Linear(inFeatures, c.hiddenSize, { ...po, init }));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(c.hiddenSize, c.layerNormEps, po));
    this.dropout = this.child("dropout", new Dropout(c.hiddenDropout, rng));
  }

  forward(h: Tensor, residual: Tensor): Tensor {
    return this.LayerNorm.forward(add(this.dropout.forward(this.dense.forward(h)), residual));
  }
}

class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;

  constructor(c: BertConfig, po: ParamOptions, init: Init, rng: Rng) {
    super();
    this.self = this.child("self", new BertSelfAttention(c, po, init, rng));
    this.output = this.child("output", new BertResidualOutput(c, c.hiddenSize, po, init, rng));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    return this.output.forward(this.self.forward(x, mask), x);
  }
}

class BertIntermediate extends Module {
  readonly dense: Linear;

  constructor(c: BertConfig, po: ParamOptions, init: Init) {
    super();
    this.dense = this.child("dense", new Linear(c.hiddenSize, c.intermediateSize, { ...po, init }));
  }

  forward(x: Tensor): Tensor {
    return gelu(this.dense.forward(x));
  }
}

class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;

  constructor(c: BertConfig, po: ParamOptions, init: Init, rng: Rng) {
    super();
    this.attention = this.child("attention", new BertAttention(c, po, init, rng));
    this.intermediate = this.child("intermediate", new BertIntermediate(c, po, init));
    this.output = this.child("output", new BertResidualOutput(c, c.intermediateSize, po, init, rng));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    const h = this.attention.forward(x, mask);
    return this.output.forward(this.intermediate.forward(h), h);
  }
}

class BertEncoder extends Module {
  readonly layer: ModuleList<BertLayer>;

  constructor(c: BertConfig, po: ParamOptions, init: Init, rng: Rng) {
    super();
    this.layer = this.child("layer", new ModuleList(Array.from({ length: c.numHiddenLayers }, () => new BertLayer(c, po, init, rng))));
  }
}

class BertPooler extends Module {
  readonly dense: Linear;

  constructor(c: BertConfig, po: ParamOptions, init: Init) {
    super();
    this.dense = this.child("dense", new Linear(c.hiddenSize, c.hiddenSize, { ...po, init }));
  }

  /** Sequence output (B, T, C) -> tanh(dense(first token)) (B, C). */
  forward(seq: Tensor): Tensor {
    const [B, , C] = seq.shape;
    return tanh(this.dense.forward(reshape(slice(seq, 1, 0, 1), [B, C])));
  }
}

/** The trunk, `bert.*` in Hugging Face names. */
class BertModel extends Module {
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;
  readonly pooler: BertPooler;

  constructor(c: BertConfig, po: ParamOptions, init: Init, rng: Rng) {
    super();
    this.embeddings = this.child("embeddings", new BertEmbeddings(c, po, init, rng));
    this.encoder = this.child("encoder", new BertEncoder(c, po, init, rng));
    this.pooler = this.child("pooler", new BertPooler(c, po, init));
  }
}

class BertPredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;

  constructor(c: BertConfig, po: ParamOptions, init: Init) {
    super();
    this.dense = this.child("dense", new Linear(c.hiddenSize, c.hiddenSize, { ...po, init }));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(c.hiddenSize, c.layerNormEps, po));
  }

  forward(x: Tensor): Tensor {
    return this.LayerNorm.forward(gelu(this.dense.forward(x)));
  }
}

/** The masked-LM head: transform, then a decoder tied to the word embeddings plus its own bias. */
class BertLMPredictionHead extends Module {
  readonly transform: BertPredictionHeadTransform;
  readonly bias: Tensor;

  constructor(c: BertConfig, po: ParamOptions, init: Init) {
    super();
    this.bias = this.param("bias", createParameter([c.vocabSize], { kind: "zeros" }, po));
    this.transform = this.child("transform", new BertPredictionHeadTransform(c, po, init));
  }
}

/** `cls.*`: the pretraining heads. */
class BertPreTrainingHeads extends Module {
  readonly predictions: BertLMPredictionHead;
  readonly seq_relationship: Linear;

  constructor(c: BertConfig, po: ParamOptions, init: Init) {
    super();
    this.predictions = this.child("predictions", new BertLMPredictionHead(c, po, init));
    this.seq_relationship = this.child("seq_relationship", new Linear(c.hiddenSize, 2, { ...po, init }));
  }
}

/**
 * A BERT with its pretraining heads (masked LM, next sentence) and, when built with
 * `classifier: true`, a sequence-classification head. Parameter names are Hugging Face's
 * (`bert.encoder.layer.0.attention.self.query.weight`, `cls.predictions.bias`, `classifier.weight`).
 */
export class Bert extends Module {
  readonly config: BertConfig;
  readonly dtype: DType;
  readonly backendName: BackendName | undefined;
  readonly bert: BertModel;
  readonly cls: BertPreTrainingHeads;
  readonly classifier: Linear | null;
  readonly dropout: Dropout;
  /** The generator dropout draws from (its state belongs in a checkpoint). */
  readonly dropoutRng: Rng;

  constructor(config: BertConfig, opts: BertOptions = {}) {
    super();
    const c = validateBertConfig(config);
    this.config = c;
    this.dtype = opts.dtype ?? "f32";
    this.backendName = opts.backend;
    const seed = opts.seed ?? 0;
    const po: ParamOptions = { dtype: this.dtype, backend: opts.backend, rng: new Rng(seed) };
    this.dropoutRng = new Rng(seed ^ 0x5eed);
    const init: Init = opts.initWeights === false ? { kind: "zeros" } : { kind: "normal", std: c.initializerRange };
    this.bert = this.child("bert", new BertModel(c, po, init, this.dropoutRng));
    this.cls = this.child("cls", new BertPreTrainingHeads(c, po, init));
    this.classifier = opts.classifier ? this.child("classifier", new Linear(c.hiddenSize, c.numLabels, { ...po, init })) : null;
    this.dropout = this.child("dropout", new Dropout(c.hiddenDropout, this.dropoutRng));
    if (opts.initWeights !== false) {
      // As HF's init: the padding token's embedding row starts at zero.
      const w = this.bert.embeddings.word_embeddings.weight;
      w.data.fill(0, w.offset + c.padTokenId * c.hiddenSize, w.offset + (c.padTokenId + 1) * c.hiddenSize);
    }
  }

  /** The input checked and its defaults filled: (B, T) shape, token types, additive mask (null when nothing is padding). */
  private prepare(input: BertInput): { B: number; T: number; types: Int32Array; mask: Tensor | null } {
    const c = this.config;
    const idx = input.inputIds;
    if (idx.shape.length !== 2) throw new TensorError(`Bert: input ids must be (B, T), got shape ${shapeStr(idx.shape)}`);
    const [B, T] = idx.shape;
    if (T < 1) throw new TensorError("Bert: empty sequence (T = 0)");
    if (T > c.maxPositionEmbeddings) throw new TensorError(`Bert: ${T} positions exceed the model's maxPositionEmbeddings ${c.maxPositionEmbeddings}; crop the input`);
    for (let i = 0; i < idx.data.length; i++) {
      const id = idx.data[i];
      if (!(id >= 0 && id < c.vocabSize)) {
        throw new TensorError(`Bert: token id ${id} at (${Math.floor(i / T)}, ${i % T}) is outside the vocabulary [0, ${c.vocabSize}); was the model trained with this tokenizer?`);
      }
    }
    const types = input.tokenTypeIds ?? new Int32Array(B * T);
    if (types.length !== B * T) throw new TensorError(`Bert: tokenTypeIds has ${types.length} entries for (B, T) = (${B}, ${T})`);
    for (let i = 0; i < types.length; i++) {
      if (!(types[i] >= 0 && types[i] < c.typeVocabSize)) throw new TensorError(`Bert: token type ${types[i]} at position ${i} is outside [0, ${c.typeVocabSize})`);
    }
    const m = input.attentionMask;
    if (!m || m.every((x) => x !== 0)) {
      if (m && m.length !== B * T) throw new TensorError(`Bert: attentionMask has ${m.length} entries for (B, T) = (${B}, ${T})`);
      return { B, T, types, mask: null };
    }
    if (m.length !== B * T) throw new TensorError(`Bert: attentionMask has ${m.length} entries for (B, T) = (${B}, ${T})`);
    const add = new Float64Array(B * T);
    for (let b = 0; b < B; b++) {
      if (m.subarray(b * T, (b + 1) * T).every((x) => x === 0)) throw new TensorError(`Bert: row ${b} of the input is all padding`);
    }
    for (let i = 0; i < add.length; i++) add[i] = m[i] === 0 ? MASKED : 0;
    return { B, T, types, mask: Tensor.from(add, [B, 1, 1, T], { dtype: this.dtype, backend: this.backendName }) };
  }

  /** Sequence output: the last layer's hidden states (B, T, C). */
  hidden(input: BertInput): Tensor {
    const { types, mask } = this.prepare(input);
    let x = this.bert.embeddings.forward(input.inputIds, types);
    for (const layer of this.bert.encoder.layer) x = layer.forward(x, mask);
    return x;
  }

  /** Pooled output: tanh(dense(hidden state of the first token, [CLS])) (B, C). */
  pooled(seq: Tensor): Tensor {
    return this.bert.pooler.forward(seq);
  }

  /** Masked-LM logits of hidden states (..., C) -> (..., V), through the tied decoder. */
  mlmLogits(h: Tensor): Tensor {
    const p = this.cls.predictions;
    return linear(p.transform.forward(h), this.bert.embeddings.word_embeddings.weight, p.bias);
  }

  /** Next-sentence logits of the pooled output (B, C) -> (B, 2); class 0 = "B follows A". */
  nspLogits(pooled: Tensor): Tensor {
    return this.cls.seq_relationship.forward(pooled);
  }

  /** Masked-LM logits for every position: (B, T, V). */
  forward(input: BertInput): Tensor {
    return this.mlmLogits(this.hidden(input));
  }

  /** Class logits (B, numLabels) of the sequence-classification head (dropout on the pooled output, as HF). */
  classify(input: BertInput): Tensor {
    if (!this.classifier) throw new TensorError("Bert.classify: this model has no classification head (build it with { classifier: true })");
    return this.classifier.forward(this.dropout.forward(this.pooled(this.hidden(input))));
  }

  /**
   * The pretraining loss: mean cross-entropy over the labelled (masked) positions, plus the mean
   * next-sentence cross-entropy when nspLabels are given. The MLM head runs on the labelled rows only.
   */
  pretrainingLoss(batch: BertPretrainingBatch): BertPretrainingOutput {
    const seq = this.hidden(batch);
    const [B, T, C] = seq.shape;
    const labels = batch.mlmLabels;
    if (labels.length !== B * T) throw new TensorError(`Bert.pretrainingLoss: ${labels.length} MLM labels for (B, T) = (${B}, ${T})`);
    const rows: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] !== -100) rows.push(i);
    const targets = Int32Array.from(rows, (r) => labels[r]);
    let loss: Tensor | null = null;
    let mlmLoss = 0;
    let mlmCorrect = 0;
    if (rows.length > 0) {
      const logits = this.mlmLogits(indexRows(reshape(seq, [B * T, C]), Int32Array.from(rows))); // (n, V)
      loss = crossEntropy(logits, targets);
      mlmLoss = loss.item();
      const pred = argmax(logits.detach(), -1);
      for (let i = 0; i < pred.length; i++) if (pred[i] === targets[i]) mlmCorrect++;
    }
    let nspLoss: number | null = null;
    let nspCorrect = 0;
    const nsp = batch.nspLabels;
    if (nsp) {
      if (nsp.length !== B) throw new TensorError(`Bert.pretrainingLoss: ${nsp.length} next-sentence labels for ${B} rows`);
      const logits = this.nspLogits(this.pooled(seq)); // (B, 2)
      const l = crossEntropy(logits, nsp);
      nspLoss = l.item();
      const pred = argmax(logits.detach(), -1);
      for (let i = 0; i < B; i++) if (pred[i] === nsp[i]) nspCorrect++;
      loss = loss ? add(loss, l) : l;
    }
    if (!loss) throw new TensorError("Bert.pretrainingLoss: nothing to predict (no MLM labels other than -100 and no next-sentence labels)");
    return { loss, mlmLoss, nspLoss, mlmCorrect, mlmCount: rows.length, nspCorrect, nspCount: nsp ? B : 0 };
  }

  /**
   * A copy with the same weights, e.g. to fine-tune a pretrained encoder with a fresh
   * classification head (`classifier: true`; the head starts from the seeded init).
   */
  clone(opts: { classifier?: boolean; seed?: number; numLabels?: number } = {}): Bert {
    const config = opts.numLabels !== undefined ? { ...this.config, numLabels: opts.numLabels } : this.config;
    const copy = new Bert(config, { dtype: this.dtype, backend: this.backendName, classifier: opts.classifier ?? this.classifier !== null, seed: opts.seed });
    const own = new Map(this.namedParameters());
    for (const [n, p] of copy.namedParameters()) {
      const src = own.get(n);
      if (src && src.shape.join(",") === p.shape.join(",")) p.data.set(src.contiguousData(), p.offset);
    }
    return copy;
  }
}
