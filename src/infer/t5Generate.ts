// Text generation with a T5 run folder: the prompt (plus </s>, as T5's inputs end) is the encoder
// input, and the decoder writes the answer with the cross-attention and self-attention KV caches,
// greedy or sampled (temperature, top-k, top-p, repetition penalty), until </s> or a token budget.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type RunPaths, resolveRunPaths, RunFolderError } from "../model/runFolder.js";
import type { T5 } from "../model/t5.js";
import { isT5HfConfig } from "../model/t5Config.js";
import { loadT5 } from "../model/t5Folder.js";
import type { BackendName } from "../tensor/backend/index.js";
import { ids } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { Tokenizer } from "../tokenizer/index.js";
import { checkSamplingOptions, sampleToken, type SamplingOptions } from "./sampling.js";

/** Whether a run folder (or model folder) holds a T5 (config.json with model_type "t5"). */
export function isT5Run(run: string): boolean {
  for (const dir of [join(run, "model"), run]) {
    const path = join(dir, "config.json");
    if (!existsSync(path)) continue;
    try {
      return isT5HfConfig(JSON.parse(readFileSync(path, "utf8")));
    } catch {
      return false;
    }
  }
  return false;
}

/** Loads a T5 run's model and tokenizer and checks that they belong together. */
export function loadT5Run(run: string, opts: { tokenizer?: string; backend?: BackendName } = {}): { model: T5; tokenizer: Tokenizer; paths: RunPaths } {
  const paths = resolveRunPaths(run, opts.tokenizer);
  const tokenizer = Tokenizer.fromFile(paths.tokenizerFile);
  const model = loadT5(paths.modelDir, { backend: opts.backend });
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new RunFolderError(`tokenizer ${paths.tokenizerFile} has ${tokenizer.vocabSize} tokens but the T5 in ${paths.modelDir} has a vocabulary of ${model.config.vocabSize}: they do not belong together`);
  }
  return { model, tokenizer, paths };
}

export interface T5TextOptions extends SamplingOptions {
  maxTokens: number;
  seed?: number;
}

export interface T5TextResult {
  text: string;
  /** Generated ids (with the final </s> when the model wrote it). */
  tokens: number[];
  promptTokens: number;
  finishReason: "eos" | "length";
  ms: number;
}

/** The answer of a T5 to one prompt: encoder input = the prompt's ids + </s>; special tokens (sentinels) shown by name. */
export function generateT5Text(model: T5, tokenizer: Tokenizer, prompt: string, o: T5TextOptions): T5TextResult {
  checkSamplingOptions(o);
  if (!(Number.isInteger(o.maxTokens) && o.maxTokens >= 1)) throw new Error(`maxTokens must be a whole number >= 1, got ${o.maxTokens}`);
  const eos = model.config.eosTokenId;
  const input = [...tokenizer.encode(prompt, { allowedSpecial: "all" }), eos];
  const rng = new Rng(o.seed ?? 0);
  const greedy = (o.temperature ?? 1) === 0 && (o.repetitionPenalty ?? 1) === 1 && model.config.vocabSize === tokenizer.vocabSize;
  const t0 = performance.now();
  const [tokens] = model.generate(ids(input, [1, input.length]), {
    maxNewTokens: o.maxTokens, eosTokenId: eos,
    pick: greedy ? undefined : (row, _b, history) => sampleToken((row as Float32Array | Float64Array).subarray(0, tokenizer.vocabSize), o, rng, history),
  });
  const ms = performance.now() - t0;
  const finished = tokens[tokens.length - 1] === eos;
  const body = finished ? tokens.slice(0, -1) : tokens;
  return { text: tokenizer.decode(body), tokens, promptTokens: input.length, finishReason: finished ? "eos" : "length", ms };
}
