// The BERT pretraining objectives on token shards: masked-language modelling (15% of the ordinary
// tokens chosen; 80% of those become [MASK], 10% a random token, 10% stay) and, optionally, the
// next-sentence objective (segment pairs: 50% the real continuation, 50% a segment of another
// document). A seeded, resumable batch source and the loss for the generic step loop (train/loop.ts).
import type { Bert, BertPretrainingBatch } from "../model/bert.js";
import { ids } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, type Tensor, tidy } from "../tensor/tensor.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { TokenArray } from "./dataLoader.js";
import type { BatchSource, EvalMetrics } from "./loop.js";

/** The special tokens a BERT input needs, in the order they are added to a tokenizer that lacks them. */
export const BERT_SPECIAL_TOKENS = ["[CLS]", "[SEP]", "[MASK]", "[PAD]"] as const;

/** Ids of BERT's special tokens in a tokenizer. */
export interface BertTokenIds {
  cls: number;
  sep: number;
  mask: number;
  pad: number;
}

/** A batch with the shape it came in and the figures the loop and the logs need. */
export interface MlmBatch extends BertPretrainingBatch {
  /** Real (non-padding) tokens of the batch. */
  tokens: number;
}

export class MlmDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MlmDataError";
  }
}

/**
 * The tokenizer a BERT trains with and the ids of [CLS], [SEP], [MASK] and [PAD]. llmforge's
 * tokenizers are byte-level BPE with GPT-style specials (`<|endoftext|>`, `<|pad|>`...), so BERT's
 * four are special tokens of the tokenizer when it already declares them (a tokenizer.json with
 * `[CLS]` etc. in its added tokens), and otherwise are added past the vocabulary with
 * {@link Tokenizer.withSpecialTokens}: ids vocabSize, vocabSize + 1, ... in the order of
 * {@link BERT_SPECIAL_TOKENS}. Shards written with the original tokenizer stay valid (their ids are
 * below the new ones); the model's vocabulary is the grown tokenizer's, and the run folder keeps the
 * grown tokenizer.json so that the ids mean the same thing when the model is used.
 */
export function bertTokenizer(tok: Tokenizer): { tokenizer: Tokenizer; special: BertTokenIds } {
  const tokenizer = tok.withSpecialTokens(BERT_SPECIAL_TOKENS);
  return {
    tokenizer,
    special: { cls: tokenizer.specialId("[CLS]"), sep: tokenizer.specialId("[SEP]"), mask: tokenizer.specialId("[MASK]"), pad: tokenizer.specialId("[PAD]") },
  };
}

export interface MaskingOptions {
  /** Share of the maskable tokens that are predicted (default 0.15). */
  maskProb?: number;
  /** Of those: share replaced by [MASK] (default 0.8) and by a random ordinary token (default 0.1); the rest stay. */
  maskTokenProb?: number;
  randomTokenProb?: number;
}

/**
 * Masks rows (B, T) in place for masked-language modelling and returns the labels (B·T; the
 * original id where a token is predicted, -100 elsewhere). Each maskable token (`maskable[id]`:
 * ordinary tokens, not [CLS]/[SEP]/[PAD] or other specials, and not padding) is chosen with
 * probability maskProb; a chosen token becomes [MASK] (80%), a random ordinary token (10%) or stays
 * (10%), as BERT (and Hugging Face's DataCollatorForLanguageModeling) do. A row with maskable tokens
 * but none chosen gets one chosen at random, so every row teaches something. Deterministic given `rng`.
 */
export function maskTokens(
  inputs: Int32Array, T: number, maskable: Uint8Array, ordinary: Int32Array, maskId: number, rng: Rng, opts: MaskingOptions = {},
): Int32Array {
  const p = opts.maskProb ?? 0.15;
  const pMask = opts.maskTokenProb ?? 0.8;
  const pRandom = opts.randomTokenProb ?? 0.1;
  if (!(p > 0 && p <= 1) || pMask < 0 || pRandom < 0 || pMask + pRandom > 1) {
    throw new MlmDataError(`masking probabilities must satisfy 0 < maskProb <= 1 and maskTokenProb + randomTokenProb <= 1 (got ${p}, ${pMask}, ${pRandom})`);
  }
  const labels = new Int32Array(inputs.length).fill(-100);
  const replace = (i: number): void => {
    labels[i] = inputs[i];
    const u = rng.uniform();
    if (u < pMask) inputs[i] = maskId;
    else if (u < pMask + pRandom) inputs[i] = ordinary[rng.int(ordinary.length)];
  };
  for (let r = 0; r * T < inputs.length; r++) {
    let chosen = 0;
    const candidates: number[] = [];
    for (let i = r * T; i < (r + 1) * T; i++) {
      if (!maskable[inputs[i]]) continue;
      candidates.push(i);
      if (rng.uniform() < p) {
        replace(i);
        chosen++;
      }
    }
    if (chosen === 0 && candidates.length > 0) replace(candidates[rng.int(candidates.length)]);
  }
  return labels;
}

export interface MlmSourceOptions {
  batchSize: number;
  /** Row length T, [CLS] and [SEP]s included. */
  seqLen: number;
  /** Sentence pairs with next-sentence labels (default false: one [CLS] window [SEP] per row, no padding). */
  nsp?: boolean;
  /** The tokenizer the model uses (BERT's specials included, see {@link bertTokenizer}). */
  tokenizer: Tokenizer;
  special: BertTokenIds;
  /** The document separator the shards hold (default "<|endoftext|>" when the tokenizer has it). */
  docSeparator?: number | null;
  seed: number;
  masking?: MaskingOptions;
}

/** Where an {@link MlmBatches} stands: shard, batches drawn from it, epoch, and its generator. */
export interface MlmCursor {
  epoch: number;
  shard: number;
  drawn: number;
  rng: { s: number[]; spare: number | null };
}

/**
 * Batches for BERT pretraining from token shards, one shard in memory at a time. Without NSP a row
 * is [CLS] + a random window of T - 2 shard tokens + [SEP] (windows may cross documents; the
 * separators inside are specials and never masked). With NSP a row is [CLS] A [SEP] B [SEP]: half
 * the time (label 0) a random window of one document split at a random point, so B is A's real
 * continuation; otherwise (label 1) A is a segment of one document and B a segment of a random
 * other document (as BERT, segment lengths vary so the model cannot tell the label from them);
 * rows are padded with [PAD] (attention mask 0).
 * Each shard gives about tokens / (B·T) batches per epoch. Everything is drawn from one seeded
 * generator whose state is in the cursor, so a resumed run sees the same batches.
 */
export class MlmBatches implements BatchSource<MlmBatch> {
  private cursor: MlmCursor;
  private readonly rng: Rng;
  private loaded = -1;
  private tokens: TokenArray = new Uint16Array(0);
  /** Document starts of the loaded shard, and one past the end. */
  private docStarts: number[] = [];
  private docEnds: number[] = [];
  private readonly maskable: Uint8Array;
  private readonly ordinary: Int32Array;
  private readonly sep: number | null;

  constructor(readonly shards: readonly string[], private readonly readShard: (path: string) => TokenArray, readonly o: MlmSourceOptions) {
    if (shards.length === 0) throw new MlmDataError("no token shards given");
    const min = o.nsp ? 5 : 3;
    if (!Number.isInteger(o.seqLen) || o.seqLen < min) throw new MlmDataError(`sequence length ${o.seqLen} is too short: ${o.nsp ? "a sentence pair needs [CLS] A [SEP] B [SEP], at least 5" : "a row needs [CLS] tokens [SEP], at least 3"}`);
    const V = o.tokenizer.vocabSize;
    this.maskable = new Uint8Array(V);
    const ord: number[] = [];
    for (let id = 0; id < V; id++) {
      if (o.tokenizer.isSpecial(id)) continue;
      this.maskable[id] = 1;
      ord.push(id);
    }
    this.ordinary = Int32Array.from(ord);
    this.sep = o.docSeparator !== undefined ? o.docSeparator : (o.tokenizer.specialTokens.get("<|endoftext|>") ?? null);
    this.rng = new Rng(o.seed);
    this.cursor = { epoch: 0, shard: 0, drawn: 0, rng: this.rng.getState() };
  }

  private load(i: number): void {
    if (this.loaded === i) return;
    const t = this.readShard(this.shards[i]);
    const T = this.o.seqLen;
    if (t.length < T) throw new MlmDataError(`${this.shards[i]}: ${t.length} tokens, fewer than one row of ${T}; use a smaller --block or more data`);
    for (let k = 0; k < t.length; k++) {
      if (t[k] >= this.o.tokenizer.vocabSize) throw new MlmDataError(`${this.shards[i]}: token id ${t[k]} at ${k} is outside the tokenizer's vocabulary (${this.o.tokenizer.vocabSize})`);
    }
    const starts: number[] = [];
    let prev = -1;
    for (let k = 0; k <= t.length; k++) {
      if (k === t.length || t[k] === this.sep) {
        if (k > prev + 1) starts.push(prev + 1); // a document: the tokens after a separator (or the shard start)
        prev = k;
      }
    }
    const ends: number[] = [];
    for (const s of starts) {
      let e = s;
      while (e < t.length && t[e] !== this.sep) e++;
      ends.push(e);
    }
    if (this.o.nsp && starts.length < 2) {
      throw new MlmDataError(
        `${this.shards[i]}: the next-sentence objective needs at least 2 documents per shard, found ${starts.length} ` +
          `(documents are separated by ${this.sep === null ? "a separator token, which this tokenizer lacks (<|endoftext|>)" : `token ${this.sep}`}; shards from \`llmforge tokenizer shard\` have them); train without --nsp`,
      );
    }
    this.tokens = t;
    this.docStarts = starts;
    this.docEnds = ends;
    this.loaded = i;
  }

  private batchesPerShard(): number {
    return Math.max(1, Math.floor(this.tokens.length / (this.o.batchSize * this.o.seqLen)));
  }

  next(): MlmBatch {
    this.load(this.cursor.shard);
    if (this.cursor.drawn >= this.batchesPerShard()) {
      this.cursor.drawn = 0;
      this.cursor.shard++;
      if (this.cursor.shard >= this.shards.length) {
        this.cursor.shard = 0;
        this.cursor.epoch++;
      }
      this.load(this.cursor.shard);
    }
    const b = this.o.nsp ? this.pairs() : this.windows();
    this.cursor.drawn++;
    return b;
  }

  /** [CLS] window [SEP] rows, no padding. */
  private windows(): MlmBatch {
    const { batchSize: B, seqLen: T, special } = this.o;
    const n = T - 2;
    const inputs = new Int32Array(B * T);
    for (let r = 0; r < B; r++) {
      const start = this.rng.int(this.tokens.length - n + 1);
      inputs[r * T] = special.cls;
      for (let i = 0; i < n; i++) inputs[r * T + 1 + i] = this.tokens[start + i];
      inputs[r * T + T - 1] = special.sep;
    }
    const mlmLabels = maskTokens(inputs, T, this.maskable, this.ordinary, special.mask, this.rng, this.o.masking);
    return { inputIds: ids(inputs, [B, T]), mlmLabels, tokens: B * T };
  }

  /** The document holding shard position k. */
  private docOf(k: number): number {
    let lo = 0;
    let hi = this.docStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.docStarts[mid] <= k) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** A random token position inside a document (not a separator), and its document. */
  private randomPosition(exclude = -1): [number, number] {
    for (;;) {
      const k = this.rng.int(this.tokens.length);
      const d = this.docOf(k);
      if (d !== exclude && k >= this.docStarts[d] && k < this.docEnds[d]) return [k, d];
    }
  }

  /** [CLS] A [SEP] B [SEP] [PAD]... rows with next-sentence labels. */
  private pairs(): MlmBatch {
    const { batchSize: B, seqLen: T, special } = this.o;
    const room = T - 3;
    const inputs = new Int32Array(B * T).fill(special.pad);
    const types = new Int32Array(B * T);
    const mask = new Int32Array(B * T);
    const nspLabels = new Int32Array(B);
    let tokens = 0;
    for (let r = 0; r < B; r++) {
      const [k, d] = this.randomPosition();
      const docLen = this.docEnds[d] - this.docStarts[d];
      let a0: number;
      let aLen: number;
      let b0: number;
      let bLen: number;
      if (this.rng.uniform() < 0.5 && docLen >= 2) {
        // Is next: a window of the document (up to the room) split at a random point into A and B.
        const total = Math.min(room, docLen);
        a0 = this.docStarts[d] + this.rng.int(docLen - total + 1);
        aLen = 1 + this.rng.int(total - 1);
        b0 = a0 + aLen;
        bLen = total - aLen;
      } else {
        // Not next: A from this document, B from the start of a segment of another one.
        a0 = k;
        aLen = 1 + this.rng.int(Math.min(room - 1, this.docEnds[d] - k));
        let bDoc: number;
        [b0, bDoc] = this.randomPosition(d);
        bLen = Math.min(room - aLen, this.docEnds[bDoc] - b0);
        nspLabels[r] = 1;
      }
      const row: number[] = [special.cls];
      for (let i = 0; i < aLen; i++) row.push(this.tokens[a0 + i]);
      row.push(special.sep);
      const split = row.length;
      for (let i = 0; i < bLen; i++) row.push(this.tokens[b0 + i]);
      row.push(special.sep);
      for (let i = 0; i < row.length; i++) {
        inputs[r * T + i] = row[i];
        types[r * T + i] = i >= split ? 1 : 0;
        mask[r * T + i] = 1;
      }
      tokens += row.length;
    }
    const mlmLabels = maskTokens(inputs, T, this.maskable, this.ordinary, special.mask, this.rng, this.o.masking);
    return { inputIds: ids(inputs, [B, T]), tokenTypeIds: types, attentionMask: mask, mlmLabels, nspLabels, tokens };
  }

  getCursor(): MlmCursor {
    return { ...this.cursor, rng: this.rng.getState() };
  }

  setCursor(c: unknown): void {
    const k = c as Partial<MlmCursor> | null;
    if (!k || !(typeof k.shard === "number" && k.shard >= 0 && k.shard < this.shards.length) || !(typeof k.drawn === "number" && k.drawn >= 0) || !k.rng) {
      throw new MlmDataError(`data cursor ${JSON.stringify(c)} does not fit ${this.shards.length} shard(s) of a masked-LM run`);
    }
    this.rng.setState(k.rng);
    this.cursor = { epoch: k.epoch ?? 0, shard: k.shard, drawn: k.drawn, rng: k.rng };
  }
}

/** The step loop's loss of one batch: MLM (+ NSP) loss, with the losses and accuracies as metrics. */
export function mlmLossOf(model: Bert): (b: MlmBatch) => { loss: Tensor; metrics: Record<string, number> } {
  return (b) => {
    const r = model.pretrainingLoss(b);
    const metrics: Record<string, number> = { mlm_loss: r.mlmLoss, mlm_acc: r.mlmCorrect / Math.max(r.mlmCount, 1) };
    if (r.nspLoss !== null) {
      metrics.nsp_loss = r.nspLoss;
      metrics.nsp_acc = r.nspCorrect / Math.max(r.nspCount, 1);
    }
    return { loss: r.loss, metrics };
  };
}

/**
 * Validation of a BERT on `batches` batches drawn by a fresh, fixed-seed source over the validation
 * shards (the same batches at every evaluation): loss, MLM loss and accuracy over all predicted
 * tokens, and NSP loss and accuracy over all pairs when the source makes pairs.
 */
export function evaluateMlm(model: Bert, source: () => MlmBatches, batches: number): EvalMetrics {
  const src = source();
  const wasTraining = model.training;
  model.eval();
  let mlmLoss = 0;
  let mlmCorrect = 0;
  let mlmCount = 0;
  let nspLoss = 0;
  let nspCorrect = 0;
  let nspCount = 0;
  let loss = 0;
  for (let i = 0; i < batches; i++) {
    const b = src.next();
    const r = noGrad(() => tidy(() => {
      const out = model.pretrainingLoss(b);
      return { ...out, loss: out.loss.item() };
    }));
    loss += r.loss / batches;
    mlmLoss += r.mlmLoss * r.mlmCount;
    mlmCorrect += r.mlmCorrect;
    mlmCount += r.mlmCount;
    if (r.nspLoss !== null) {
      nspLoss += r.nspLoss * r.nspCount;
      nspCorrect += r.nspCorrect;
      nspCount += r.nspCount;
    }
  }
  model.train(wasTraining);
  const m: EvalMetrics = { loss, mlm_loss: mlmLoss / Math.max(mlmCount, 1), mlm_acc: mlmCorrect / Math.max(mlmCount, 1), mlm_tokens: mlmCount };
  if (nspCount > 0) {
    m.nsp_loss = nspLoss / nspCount;
    m.nsp_acc = nspCorrect / nspCount;
  }
  return m;
}
