// Pre-tokenisation: the regex that cuts text into "words" before BPE runs inside each one.
// GPT-4/cl100k style by default, GPT-2 style as an option; digit grouping is configurable.
import { TokenizerConfigError } from "./errors.js";

/** Which family of pre-tokenisation regex to use. */
export type PretokenizerStyle = "cl100k" | "gpt2";

export interface PretokenizerOptions {
  /** Regex family (default "cl100k", the GPT-4 pattern). */
  style?: PretokenizerStyle;
  /**
   * Longest run of digits kept in one pre-token: 1 (every digit alone), 3 (GPT-4's
   * groups of up to three), or 0 for unlimited (GPT-2). Default: 3 for cl100k, 0 for gpt2.
   */
  digitGroup?: number;
}

/**
 * Unicode White_Space, written out: JS `\s` and Oniguruma's `\s` (used by Hugging Face
 * `tokenizers`) disagree on U+0085 and U+FEFF, so the patterns llmforge writes never use
 * `\s` and both engines split identically. Literal characters, valid in both syntaxes.
 */
const WS = "\\t\\n\u000b\u000c\\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/** Case-insensitive English contractions without `(?i:...)`, which Node 20's regex lacks. */
const CONTRACTIONS_CI = "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]";

function digitPart(group: number): string {
  if (group === 0) return "\\p{N}+";
  if (group === 1) return "\\p{N}";
  return `\\p{N}{1,${group}}`;
}

/** Builds the pre-tokenisation pattern (a regex source valid in JS `u` mode and in Oniguruma). */
export function pretokenizerPattern(options: PretokenizerOptions = {}): string {
  const style = options.style ?? "cl100k";
  const group = options.digitGroup ?? (style === "cl100k" ? 3 : 0);
  if (!Number.isInteger(group) || group < 0 || group > 16) {
    throw new TokenizerConfigError(`digitGroup must be 0 (unlimited) or an integer in 1..16, got ${group}`);
  }
  if (style === "cl100k") {
    return [
      `(?:${CONTRACTIONS_CI})`,
      "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+",
      digitPart(group),
      ` ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*`,
      `[${WS}]*[\\r\\n]+`,
      `[${WS}]+(?![^${WS}])`,
      `[${WS}]+`,
    ].join("|");
  }
  if (style === "gpt2") {
    return [
      "'s|'t|'re|'ve|'m|'ll|'d",
      " ?\\p{L}+",
      ` ?${digitPart(group)}`,
      ` ?[^${WS}\\p{L}\\p{N}]+`,
      `[${WS}]+(?![^${WS}])`,
      `[${WS}]+`,
    ].join("|");
  }
  throw new TokenizerConfigError(`unknown pre-tokenizer style "${String(style)}": expected "cl100k" or "gpt2"`);
}

/** The regex Hugging Face's ByteLevel pre-tokenizer applies when `use_regex` is true (GPT-2's). */
export const HF_BYTELEVEL_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Turns a pattern from another tool into a JS regex source: expands the `(?i:...)`
 * contraction group of cl100k/Llama-3 patterns, which Node 20 cannot parse.
 */
export function toJsPattern(pattern: string): string {
  return pattern.replace(/\(\?i:([^()]*)\)/g, (_m, body: string) => {
    const alts = body.split("|").map((alt) =>
      alt.replace(/[a-zA-Z]/g, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`),
    );
    return `(?:${alts.join("|")})`;
  });
}

/** Compiles a pattern for splitting with `String.prototype.match` (global + unicode). */
export function compilePretokenizer(pattern: string): RegExp {
  try {
    return new RegExp(toJsPattern(pattern), "gu");
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new TokenizerConfigError(`pre-tokenizer pattern is not a valid regex (${msg}): ${pattern}`);
  }
}

/** Splits `text` into pre-tokens with a compiled pattern. Characters no alternative matches are dropped, as in tiktoken. */
export function pretokenize(re: RegExp, text: string): string[] {
  re.lastIndex = 0;
  return text.match(re) ?? [];
}

/** Adds the pre-tokens of `text` to `counts` (pre-token -> occurrences): the first step of training. */
export function countPretokens(re: RegExp, text: string, counts: Map<string, number>): void {
  re.lastIndex = 0;
  const pieces = text.match(re);
  if (pieces === null) return;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
}
