// Loads tiktoken vocabularies: `.tiktoken` rank files ("base64 rank" per line) and the
// rank objects that `js-tiktoken` ships ({pat_str, special_tokens, bpe_ranks}), into a BpeSpec.
import { bytesKey } from "./byteLevel.js";
import { TokenizerFileError } from "./errors.js";
import type { BpeSpec, SpecialToken } from "./tokenizer.js";

/** The shape of `js-tiktoken/ranks/<name>` default exports. */
export interface JsTiktokenRanks {
  pat_str: string;
  special_tokens: Record<string, number>;
  bpe_ranks: string;
}

/** Parses a `.tiktoken` rank file: one "base64-token rank" pair per line. Returns id -> bytes. */
export function parseTiktokenRankFile(text: string, source: string): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const parts = line.split(" ");
    const rank = Number(parts[1]);
    if (parts.length !== 2 || !Number.isInteger(rank) || rank < 0 || !/^[A-Za-z0-9+/=]*$/.test(parts[0])) {
      throw new TokenizerFileError(`${source}:${i + 1}`, `expected "<base64 token> <rank>", got ${JSON.stringify(line.slice(0, 80))}`);
    }
    tokens[rank] = Buffer.from(parts[0], "base64");
  }
  if (tokens.length === 0) throw new TokenizerFileError(source, "no ranks found: expected lines of \"<base64 token> <rank>\"");
  return tokens;
}

/** Expands js-tiktoken's compressed `bpe_ranks` ("prefix offset tok tok ..." lines) to id -> bytes. */
export function parseJsTiktokenRanks(ranks: JsTiktokenRanks, source: string): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  for (const line of ranks.bpe_ranks.split("\n")) {
    if (line === "") continue;
    const parts = line.split(" ");
    const offset = Number.parseInt(parts[1], 10);
    if (!Number.isInteger(offset)) throw new TokenizerFileError(source, `bad bpe_ranks line ${JSON.stringify(line.slice(0, 60))}`);
    for (let i = 2; i < parts.length; i++) tokens[offset + i - 2] = Buffer.from(parts[i], "base64");
  }
  return tokens;
}

/**
 * Builds a spec from tiktoken ranks. tiktoken merges the adjacent pair whose concatenation
 * has the lowest rank, so every split of every token into two tokens is a merge rule ranked by that token.
 */
export function specFromTiktoken(tokensIn: (Uint8Array | undefined)[], pattern: string, specialTokens: Record<string, number>): BpeSpec {
  const tokens: (Uint8Array | null)[] = Array.from({ length: tokensIn.length }, (_, i) => tokensIn[i] ?? null);
  const idOf = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (t) idOf.set(bytesKey(t), id);
  });
  const triples: number[] = [];
  const ranks: number[] = [];
  tokens.forEach((t, id) => {
    if (!t || t.length < 2) return;
    const key = bytesKey(t);
    for (let k = 1; k < t.length; k++) {
      const l = idOf.get(key.slice(0, k));
      if (l === undefined) continue;
      const r = idOf.get(key.slice(k));
      if (r === undefined) continue;
      triples.push(l, r, id);
      ranks.push(id);
    }
  });
  const specials: SpecialToken[] = Object.entries(specialTokens).map(([content, id]) => ({ content, id }));
  return { tokens, merges: Int32Array.from(triples), mergeRanks: Int32Array.from(ranks), specials, pattern, ignoreMerges: true };
}
