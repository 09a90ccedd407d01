// Training options shared by the library API and the CLI, validated once at the edge,
// and the assembly of a trained vocabulary (bytes, merges, special tokens) into a BpeSpec.
import { TokenizerConfigError } from "./errors.js";
import { type PretokenizerStyle, pretokenizerPattern } from "./pretokenize.js";
import type { BpeSpec, SpecialToken } from "./tokenizer.js";

/** Special tokens a trained tokenizer gets unless told otherwise. */
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"];

export interface TokenizerTrainOptions {
  /** Total vocabulary size: 256 byte tokens + merges + special tokens (+ reserved slots). */
  vocabSize: number;
  /** Pre-tokenisation regex family (default "cl100k"). */
  style?: PretokenizerStyle;
  /** Longest digit run in one pre-token: 1, 3 (cl100k default) or 0 = unlimited (gpt2 default). */
  digitGroup?: number;
  /** A custom pre-tokenisation regex (JS `u` syntax, also valid Oniguruma); overrides style/digitGroup. */
  pattern?: string;
  /** Minimum pair frequency for a merge (default 0: any pair seen at least once). */
  minFrequency?: number;
  /** Special tokens, in id order after the merges (default {@link DEFAULT_SPECIAL_TOKENS}). */
  specialTokens?: readonly string[];
  /** Extra `<|reserved_i|>` special tokens kept for later use (default 4). */
  reservedSpecialTokens?: number;
  /** Called with the number of merges learned so far. */
  onMergeProgress?: (done: number, total: number) => void;
}

/** The special token list a set of options implies (named ones, then reserved slots). */
export function specialTokenList(options: TokenizerTrainOptions): string[] {
  const named = [...(options.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  const reserved = options.reservedSpecialTokens ?? 4;
  if (!Number.isInteger(reserved) || reserved < 0) throw new TokenizerConfigError(`reservedSpecialTokens must be a non-negative integer, got ${reserved}`);
  for (let i = 0; i < reserved; i++) named.push(`<|reserved_${i}|>`);
  const seen = new Set<string>();
  for (const s of named) {
    if (s === "") throw new TokenizerConfigError("a special token cannot be the empty string");
    if (seen.has(s)) throw new TokenizerConfigError(`special token ${JSON.stringify(s)} is listed twice`);
    seen.add(s);
  }
  return named;
}

/** Checks the options and returns the pattern and the number of merges to learn. */
export function resolveTrainOptions(options: TokenizerTrainOptions): { pattern: string; numMerges: number; specials: string[] } {
  const specials = specialTokenList(options);
  const v = options.vocabSize;
  const min = 256 + specials.length;
  if (!Number.isInteger(v) || v < min) {
    throw new TokenizerConfigError(
      `vocab size ${v} is too small: it must be an integer >= ${min} (256 byte tokens + ${specials.length} special tokens)`,
    );
  }
  if (v > 1 << 24) throw new TokenizerConfigError(`vocab size ${v} is too large (max ${1 << 24})`);
  const mf = options.minFrequency ?? 0;
  if (!Number.isFinite(mf) || mf < 0) throw new TokenizerConfigError(`minFrequency must be >= 0, got ${mf}`);
  const pattern = options.pattern ?? pretokenizerPattern({ style: options.style, digitGroup: options.digitGroup });
  return { pattern, numMerges: v - min, specials };
}

/** Builds the spec of a trained tokenizer: ids 0..255 bytes, then merges, then special tokens. */
export function specFromMerges(merges: Int32Array, specials: readonly string[], pattern: string): BpeSpec {
  const tokens: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) tokens.push(Uint8Array.of(b));
  for (let k = 0; k < merges.length; k += 3) {
    const l = tokens[merges[k]];
    const r = tokens[merges[k + 1]];
    const t = new Uint8Array(l.length + r.length);
    t.set(l);
    t.set(r, l.length);
    tokens.push(t);
  }
  const st: SpecialToken[] = specials.map((content, i) => ({ content, id: tokens.length + i }));
  return { tokens, merges, specials: st, pattern, ignoreMerges: false };
}
