// The token ids that end a choice on the server, the same set for chat and text completions: the model's end of
// text and end of turn. vLLM stops at generation_config.json's eos_token_id (one id or a list) and the tokenizer's
// eos; llama.cpp at its end-of-generation tokens (eos, eot and the known end-of-turn texts). Both keep going when a
// request sets ignore_eos. Without this a chat model asked through /v1/completions ran past <|im_end|> to max_tokens.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "../tokenizer/index.js";

/**
 * Special tokens that end a document or a turn in common chat formats (ChatML, Llama 3, Phi-3, Gemma, DeepSeek):
 * llama.cpp counts these as end of generation when the vocabulary has them as special tokens, and so do we.
 */
export const END_OF_GENERATION_TOKENS: readonly string[] = ["<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|end|>", "<end_of_turn>", "<|EOT|>"];

/** config.json / generation_config.json names an eos_token_id that cannot be a token of this model. */
export class StopTokenConfigError extends Error {
  constructor(file: string, why: string) {
    super(`${file}: ${why}`);
    this.name = "StopTokenConfigError";
  }
}

/** eos_token_id of a Hugging Face config file: absent, null, one id or a list of ids (each below `vocab`). */
function eosIdsOf(file: string, vocab: number): number[] {
  if (!existsSync(file)) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new StopTokenConfigError(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new StopTokenConfigError(file, "expected a JSON object");
  const v = (doc as Record<string, unknown>).eos_token_id;
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (!(Number.isInteger(id) && (id as number) >= 0 && (id as number) < vocab)) {
      throw new StopTokenConfigError(file, `"eos_token_id" must be a token id in 0..${vocab - 1} or a list of them, got ${JSON.stringify(v).slice(0, 80)}`);
    }
  }
  return list as number[];
}

/** Where the stop tokens of a served model come from. */
export interface StopTokenSources {
  /** The model folder (config.json, generation_config.json); a .gguf file has neither. */
  modelDir: string;
  /** tokenizer_config.json's eos_token (a special token's text). */
  eosToken?: string;
  /** Ids at or above this are not tokens the server samples. */
  vocabLimit: number;
}

/** The model's end-of-text and end-of-turn token ids (sorted, without repeats); see the file comment. */
export function modelStopTokens(tok: Tokenizer, o: StopTokenSources): number[] {
  const ids = new Set<number>();
  for (const text of [...END_OF_GENERATION_TOKENS, ...(o.eosToken !== undefined ? [o.eosToken] : [])]) {
    const id = tok.specialTokens.get(text);
    if (id !== undefined && id < o.vocabLimit) ids.add(id);
  }
  for (const file of ["generation_config.json", "config.json"]) for (const id of eosIdsOf(join(o.modelDir, file), o.vocabLimit)) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}
