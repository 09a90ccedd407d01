// What RL needs beside sampling (infer/sampleGroups.ts): the model inputs of prompt + completion rows and the
// per-token log-probs of given completions under a model in one padded forward pass.
import type { GPT } from "../model/gpt.js";
import { crossEntropy, ids, neg, reshape } from "../tensor/ops/index.js";
import type { Tensor } from "../tensor/tensor.js";

/** A prompt and a completion of it, as token ids. */
export interface PromptCompletion {
  prompt: readonly number[];
  completion: readonly number[];
}

export interface CompletionLogps {
  /** (B, T) log-prob of the token each position predicts; only the completion's positions count. */
  logp: Tensor;
  /** (B, T, V) the logits it came from. */
  logits: Tensor;
  /** (B·T) 1 where a position predicts a completion token, else 0. */
  mask: Float64Array;
  B: number;
  T: number;
}

/**
 * The model inputs of prompt + completion rows, right-padded with `padId`: by default each row without its last
 * token (position t predicts token t+1) with the targets and the completion mask, `width` wide (default the longest
 * row - 1); with `full` the whole rows (for a reward model read at the last real token, `lengths`).
 */
export function rowInputs(rows: readonly PromptCompletion[], padId: number, o: { full?: boolean; width?: number } = {}) {
  const B = rows.length;
  if (B === 0) throw new RangeError("no rows");
  const cut = o.full ? 0 : 1;
  const T = o.width ?? Math.max(...rows.map((r) => r.prompt.length + r.completion.length)) - cut;
  const input = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(-100);
  const mask = new Float64Array(B * T);
  const lengths = new Int32Array(B);
  rows.forEach((r, b) => {
    const seq = [...r.prompt, ...r.completion];
    if (seq.length - cut > T) throw new RangeError(`a row of ${seq.length} tokens does not fit ${T + cut}`);
    lengths[b] = seq.length - cut;
    for (let t = 0; t < seq.length - cut; t++) input[b * T + t] = seq[t];
    if (o.full) return;
    for (let t = r.prompt.length - 1; t < seq.length - 1; t++) {
      targets[b * T + t] = seq[t + 1];
      mask[b * T + t] = 1;
    }
  });
  return { input, targets, mask, lengths, B, T };
}

/**
 * Log-probs of every completion token under `model`: rows prompt + completion, right-padded with `padId` (the
 * causal mask keeps padding out of real positions), one forward pass; position t holds log p(token t+1). Records
 * the tape unless called under noGrad.
 */
export function completionLogps(model: GPT, rows: readonly PromptCompletion[], padId: number, o: { width?: number } = {}): CompletionLogps {
  const x = rowInputs(rows, padId, o);
  if (x.T + 1 > model.config.blockSize) throw new RangeError(`completionLogps: a row of ${x.T + 1} tokens exceeds the block size ${model.config.blockSize}`);
  const logits = model.forward(ids(x.input, [x.B, x.T])); // (B, T, V)
  const nll = crossEntropy(logits, x.targets, { reduction: "none" }); // (B·T), 0 where ignored
  return { logp: reshape(neg(nll), [x.B, x.T]), logits, mask: x.mask, B: x.B, T: x.T };
}
