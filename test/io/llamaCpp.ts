// llama.cpp (through node-llama-cpp's prebuilt CPU binaries) as the independent reader of exported GGUF
// files, and llmforge's own numbers to compare with: greedy tokens, per-position log-probabilities, perplexity.
import { getLlama, type Llama, LlamaLogLevel, type Token } from "node-llama-cpp";
import type { GPT } from "../../src/model/gpt.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";

let llama: Promise<Llama> | null = null;

/** One llama.cpp instance per test file (CPU only, never builds from source). */
export function llamaCpp(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  return llama;
}

export interface LlamaRun {
  tokenize: (text: string) => number[];
  detokenize: (tokens: number[]) => string;
  /** Greedy continuation of `prompt` (end-of-generation tokens included, not stopping there). */
  greedy: (prompt: number[], n: number) => Promise<number[]>;
  /** For each position i of `tokens`, the log-distribution of the next token over the first `vocab` ids. */
  logProbs: (tokens: number[], vocab: number) => Promise<Float64Array[]>;
  dispose: () => Promise<void>;
}

/** Loads a GGUF file in llama.cpp with a context of `contextSize` tokens, computing on `threads` threads. */
export async function loadInLlamaCpp(path: string, contextSize = 128, threads = 1): Promise<LlamaRun> {
  const model = await (await llamaCpp()).loadModel({ modelPath: path });
  const ctx = await model.createContext({ contextSize, batchSize: contextSize, threads });
  const seq = ctx.getSequence();
  return {
    tokenize: (text) => model.tokenize(text).map(Number),
    detokenize: (tokens) => model.detokenize(tokens as Token[]),
    greedy: async (prompt, n) => {
      await seq.clearHistory();
      const out: number[] = [];
      for await (const t of seq.evaluate(prompt as Token[], { temperature: 0, yieldEogToken: true })) {
        out.push(Number(t));
        if (out.length >= n) break;
      }
      return out;
    },
    logProbs: async (tokens, vocab) => {
      await seq.clearHistory();
      const opts = { temperature: 1, topK: 0, topP: 1, minP: 0 };
      const res = await seq.controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { probabilities: true, options: opts } }]));
      return tokens.map((_, i) => {
        const row = new Float64Array(vocab).fill(Number.NEGATIVE_INFINITY);
        for (const [t, p] of res[i]?.next?.probabilities ?? []) row[Number(t)] = Math.log(p);
        return row;
      });
    },
    dispose: async () => {
      await ctx.dispose();
      await model.dispose();
    },
  };
}

/** llmforge's log-softmax rows for `tokens` (one forward pass). */
export function ourLogProbs(model: GPT, tokens: number[]): Float64Array[] {
  const V = model.config.vocabSize;
  const logits = tidy(() => noGrad(() => model.forward(ids(tokens, [1, tokens.length])).toTypedArray()));
  return tokens.map((_, i) => {
    const row = logits.subarray(i * V, (i + 1) * V);
    let mx = Number.NEGATIVE_INFINITY;
    for (const v of row) mx = Math.max(mx, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - mx);
    const lse = mx + Math.log(s);
    return Float64Array.from(row, (v) => v - lse);
  });
}

/** Perplexity of `tokens` under log-probability rows (row i predicts token i + 1). */
export function perplexity(rows: Float64Array[], tokens: number[]): number {
  let nll = 0;
  for (let i = 0; i + 1 < tokens.length; i++) nll -= rows[i][tokens[i + 1]];
  return Math.exp(nll / (tokens.length - 1));
}

/** Largest |a - b| over the first `vocab` entries of every row. */
export function maxRowDiff(a: Float64Array[], b: Float64Array[], rowsN: number, vocab: number): number {
  let worst = 0;
  for (let i = 0; i < rowsN; i++) for (let v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(a[i][v] - b[i][v]));
  return worst;
}
