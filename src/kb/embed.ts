// Text embeddings from an llmforge model folder: the mean over positions of the final hidden states (GPT.hidden, after
// the last norm), L2-normalised, computed in right-padded batches (causal attention: padding after a sequence changes
// nothing before it). The same pooling serves `kb train-embedder`'s loss, so training and search embed alike. An embedder
// may be trained with a position-weighted mean instead (SGPT's "weighted mean": position i of n weighs i, so the states
// that have read more of the text count more; a causal model's first states have seen only the first tokens); its
// embedder.json says which, and search embeds with the same.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { GPT } from "../model/gpt.js";
import { loadRun } from "../model/runFolder.js";
import { WEIGHTS_FILE } from "../model/serialize.js";
import type { BackendName } from "../tensor/backend/index.js";
import { addScalar, div, ids as idsTensor, mul, sqrt, square, sum } from "../tensor/ops/index.js";
import { noGrad, Tensor, tidy } from "../tensor/tensor.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { type EmbedderInfo, KbError } from "./store.js";

/** The file that marks a model folder as an embedder trained by `llmforge kb train-embedder`. */
export const EMBEDDER_FILE = "embedder.json";

/** How hidden states become one vector: their mean, or their mean weighted by position (1, 2, ..., n). */
export type Pooling = "mean" | "weighted-mean";
export const POOLINGS: readonly Pooling[] = ["mean", "weighted-mean"];

/** Contents of {@link EMBEDDER_FILE}. */
export interface EmbedderMark {
  format: "llmforge-embedder";
  version: 1;
  pooling: Pooling;
  normalize: true;
  /** The model folder training started from. */
  base: string;
  temperature: number;
  steps: number;
}

/**
 * hidden (B, T, C) -> (B, C): the mean of row b over its first lengths[b] positions (the rest is padding), or with
 * `weighted-mean` the mean weighted by position, weight (i + 1) / (1 + 2 + ... + n) at position i.
 * Differentiable (a weighted sum), so the contrastive loss trains through it.
 */
export function meanPool(hidden: Tensor, lengths: readonly number[], pooling: Pooling = "mean"): Tensor {
  const [B, T] = hidden.shape;
  if (hidden.ndim !== 3 || lengths.length !== B) throw new RangeError(`meanPool: hidden must be (B, T, C) with B = ${lengths.length} lengths, got (${hidden.shape.join(", ")})`);
  const w = new Float32Array(B * T);
  lengths.forEach((n, b) => {
    if (!(Number.isInteger(n) && n >= 1 && n <= T)) throw new RangeError(`meanPool: length ${n} of row ${b} is not in 1..${T}`);
    if (pooling === "mean") w.fill(1 / n, b * T, b * T + n);
    else for (let i = 0; i < n; i++) w[b * T + i] = (2 * (i + 1)) / (n * (n + 1));
  });
  const wt = Tensor.from(hidden.dtype === "f64" ? Float64Array.from(w) : w, [B, T, 1], { dtype: hidden.dtype, backend: hidden.backend });
  return sum(mul(hidden, wt), 1); // (B, C)
}

/** x (N, C) -> rows scaled to unit L2 norm (a zero row stays zero). */
export function l2Normalize(x: Tensor): Tensor {
  return div(x, sqrt(addScalar(sum(square(x), -1, true), 1e-12))); // (N, C) / (N, 1)
}

/** Right-pads token id rows to one (rows, T) batch (pad id 0: causal attention never looks right). */
export function padRows(rows: readonly (readonly number[])[]): { ids: Int32Array; T: number; lengths: number[] } {
  const T = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * T);
  for (let b = 0; b < rows.length; b++) ids.set(rows[b], b * T);
  return { ids, T, lengths: rows.map((r) => r.length) };
}

/**
 * Mean-pooled final hidden states of each token sequence (one Float32Array of nEmbd each, in input order),
 * L2-normalised unless `normalize` is false (the server's /v1/embeddings gives the plain mean). Sequences are
 * sorted by length and run `batchSize` at a time; each must be 1..blockSize tokens long.
 */
export function meanPooledEmbeddings(model: GPT, seqs: readonly (readonly number[])[], o: { batchSize?: number; normalize?: boolean; pooling?: Pooling } = {}): Float32Array[] {
  const bs = o.batchSize ?? 16;
  const C = model.config.nEmbd;
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a].length - seqs[b].length);
  const out: Float32Array[] = new Array(seqs.length);
  for (let i = 0; i < order.length; i += bs) {
    const idx = order.slice(i, i + bs);
    const { ids, T, lengths } = padRows(idx.map((j) => seqs[j]));
    const flat = tidy(() =>
      noGrad(() => {
        const pooled = meanPool(model.hidden(idsTensor(ids, [idx.length, T])), lengths, o.pooling); // (b, C)
        return (o.normalize === false ? pooled : l2Normalize(pooled)).toTypedArray();
      }),
    );
    idx.forEach((j, r) => {
      out[j] = Float32Array.from(flat.subarray(r * C, (r + 1) * C));
    });
  }
  return out;
}

/** A model folder used to embed text for a knowledge base. */
export class Embedder {
  private constructor(
    readonly model: GPT,
    readonly tokenizer: Tokenizer,
    readonly info: EmbedderInfo,
    /** Set when the folder was written by `kb train-embedder`. */
    readonly mark: EmbedderMark | null,
  ) {}

  /** Loads a run or model folder (as `--model RUN` everywhere); its id is the folder name + a hash of its weights. */
  static load(run: string, o: { backend?: BackendName } = {}): Embedder {
    const { model, tokenizer, paths } = loadRun(run, { backend: o.backend });
    model.eval();
    const weights = join(paths.modelDir, WEIGHTS_FILE);
    const hash = createHash("sha256").update(readFileSync(weights)).digest("hex").slice(0, 16);
    const markFile = join(paths.modelDir, EMBEDDER_FILE);
    const mark = existsSync(markFile) ? (JSON.parse(readFileSync(markFile, "utf8")) as EmbedderMark) : null;
    if (mark && !POOLINGS.includes(mark.pooling)) throw new KbError(`${markFile}: pooling "${mark.pooling}" is not one this version knows (${POOLINGS.join(", ")})`);
    const name = basename(resolve(paths.modelDir)) === "model" ? basename(dirname(resolve(paths.modelDir))) : basename(resolve(paths.modelDir));
    return new Embedder(model, tokenizer, { id: `${name}@${hash}`, dim: model.config.nEmbd, path: resolve(run) }, mark);
  }

  /** Longest input in tokens (the model's context); longer texts are cut to their first maxTokens tokens. */
  get maxTokens(): number {
    return this.model.config.blockSize;
  }

  /** Token count of a text by this embedder's tokenizer (chunk sizes are measured with it). */
  countTokens = (text: string): number => this.tokenizer.encode(text).length;

  /** Token ids of a text as embedded: cut to maxTokens; an empty text becomes one space. */
  tokenize(text: string): number[] {
    const ids = this.tokenizer.encode(text.length ? text : " ");
    return ids.length > this.maxTokens ? ids.slice(0, this.maxTokens) : ids.length ? ids : this.tokenizer.encode(" ");
  }

  /** Unit-length vectors (dim numbers each) of texts, in order. */
  embed(texts: readonly string[], o: { batchSize?: number } = {}): Float32Array[] {
    return meanPooledEmbeddings(this.model, texts.map((t) => this.tokenize(t)), { batchSize: o.batchSize, pooling: this.pooling });
  }

  /** The pooling this embedder was trained with (a plain model folder: the mean). */
  get pooling(): Pooling {
    return this.mark?.pooling ?? "mean";
  }
}

/** The hash part of an embedder id ("name@hash"): a model folder moved or renamed is still the same embedder. */
export function embedderHash(id: string): string {
  return id.slice(id.lastIndexOf("@") + 1);
}
