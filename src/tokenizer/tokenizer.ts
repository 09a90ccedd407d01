// The byte-level BPE tokenizer: encode (regex pre-tokenisation + cached BPE per word),
// decode, special tokens, and the constructors (train, tokenizer.json, tiktoken ranks).
import { readFileSync } from "node:fs";
import { fsErrorReason } from "../io/fsErrors.js";
import { utf8Bytes } from "./byteLevel.js";
import { mergeSymbols, MergeRules } from "./bpeMerge.js";
import { trainBpeMerges } from "./bpeTrainer.js";
import { countCorpus } from "./corpusCount.js";
import { DisallowedSpecialTokenError, EmptyCorpusError, TokenizerConfigError, TokenizerFileError, UnknownTokenIdError } from "./errors.js";
import { parseHuggingFaceJson, serializeHuggingFaceJson } from "./hfFormat.js";
import { compilePretokenizer, countPretokens } from "./pretokenize.js";
import { resolveTrainOptions, specFromMerges, type TokenizerTrainOptions } from "./trainOptions.js";
import { type JsTiktokenRanks, parseJsTiktokenRanks, parseTiktokenRankFile, specFromTiktoken } from "./tiktokenFormat.js";

/** A special token: matched whole in text (never split), only when the caller allows it. */
export interface SpecialToken {
  content: string;
  id: number;
}

/**
 * The complete description of a byte-level BPE vocabulary, independent of file format.
 * Every constructor builds one of these; `toHuggingFaceJson` and the tests read it back.
 */
export interface BpeSpec {
  /** id -> bytes for ordinary tokens (null for ids held by special tokens). Must contain all 256 single bytes. */
  tokens: (Uint8Array | null)[];
  /** Merge rules as (left, right, result) id triples, in rank order: earlier merges first. */
  merges: Int32Array;
  /**
   * Rank of each merge (parallel to the triples). Omitted: rank = position in `merges`
   * (Hugging Face). tiktoken vocabularies rank a merge by the id of the token it makes.
   */
  mergeRanks?: Int32Array;
  specials: SpecialToken[];
  /** Pre-tokenisation regex source (JS `u` syntax). */
  pattern: string;
  /** A pre-token that is itself a token is emitted whole before any merging (tiktoken, HF `ignore_merges`). */
  ignoreMerges: boolean;
}

/** Which special tokens `encode` may produce from text. */
export interface EncodeOptions {
  /** Special tokens recognised in the text: "all", or a list of their contents. Default: none (they encode as plain text). */
  allowedSpecial?: "all" | readonly string[];
  /** Special tokens whose presence in the text (when not allowed) throws: "all", or a list. Default: none. */
  disallowedSpecial?: "all" | readonly string[];
}

interface StringWellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

const CACHE_LIMIT = 200_000;

function escapeRegex(s: string): string {
  return s.replace(/[\\^$*+?.()|[\]{}/-]/g, "\\$&");
}

/** Byte-level BPE tokenizer. Construct with {@link Tokenizer.train}, {@link Tokenizer.fromFile}, or the format loaders. */
export class Tokenizer {
  readonly spec: BpeSpec;
  /** Total number of ids, ordinary and special (max id + 1). */
  readonly vocabSize: number;
  private readonly tokenBytes: (Uint8Array | undefined)[];
  private readonly byteIds = new Int32Array(256);
  private readonly rules: MergeRules;
  private readonly re: RegExp;
  private readonly wholeTokens = new Map<string, number>();
  private readonly specialByContent = new Map<string, number>();
  private readonly specialIds = new Set<number>();
  private readonly specialRe: RegExp | null;
  private cache = new Map<string, number | Int32Array>();
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(spec: BpeSpec) {
    this.spec = spec;
    const { tokens, merges, specials } = spec;
    let size = tokens.length;
    for (const s of specials) size = Math.max(size, s.id + 1);
    this.vocabSize = size;
    this.tokenBytes = new Array(size);
    this.byteIds.fill(-1);
    for (let id = 0; id < tokens.length; id++) {
      const t = tokens[id];
      if (!t) continue;
      this.tokenBytes[id] = t;
      if (t.length === 1 && this.byteIds[t[0]] < 0) this.byteIds[t[0]] = id;
    }
    for (let b = 0; b < 256; b++) {
      if (this.byteIds[b] < 0) {
        throw new TokenizerConfigError(`vocabulary has no token for byte 0x${b.toString(16).padStart(2, "0")}: a byte-level BPE needs all 256 single bytes`);
      }
    }
    for (const s of specials) {
      if (this.tokenBytes[s.id] !== undefined) {
        throw new TokenizerConfigError(`special token ${JSON.stringify(s.content)} has id ${s.id}, which an ordinary token already uses`);
      }
      this.tokenBytes[s.id] = utf8Bytes(s.content);
      this.specialByContent.set(s.content, s.id);
      this.specialIds.add(s.id);
    }
    const nMerges = merges.length / 3;
    this.rules = new MergeRules(nMerges);
    for (let k = 0; k < nMerges; k++) {
      const rank = spec.mergeRanks ? spec.mergeRanks[k] : k;
      this.rules.add(merges[3 * k], merges[3 * k + 1], rank, merges[3 * k + 2]);
    }
    this.re = compilePretokenizer(spec.pattern);
    if (spec.ignoreMerges) {
      const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
      for (let id = 0; id < tokens.length; id++) {
        const t = tokens[id];
        if (!t) continue;
        try {
          const s = strict.decode(t);
          if (!this.wholeTokens.has(s)) this.wholeTokens.set(s, id);
        } catch {
          // Not valid UTF-8 on its own: can never be a whole pre-token.
        }
      }
    }
    // Longest first, so the alternation acts leftmost-longest like Hugging Face's matcher.
    const contents = specials.map((s) => s.content).sort((a, b) => b.length - a.length);
    this.specialRe = contents.length > 0 ? new RegExp(contents.map(escapeRegex).join("|"), "gu") : null;
  }

  /** Special tokens by content. */
  get specialTokens(): ReadonlyMap<string, number> {
    return this.specialByContent;
  }

  /** The id of a special token, or throws if the vocabulary has none by that name. */
  specialId(content: string): number {
    const id = this.specialByContent.get(content);
    if (id === undefined) {
      const known = [...this.specialByContent.keys()].join(", ") || "(none)";
      throw new TokenizerConfigError(`no special token ${JSON.stringify(content)} in this vocabulary; it has: ${known}`);
    }
    return id;
  }

  /** True if `id` is a special token. */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Bytes of token `id` (a copy is not made: do not modify). */
  tokenToBytes(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.tokenBytes[id] : undefined;
    if (b === undefined) throw new UnknownTokenIdError(id, this.vocabSize, 0);
    return b;
  }

  /** Encodes text to token ids. Lone surrogates are encoded as U+FFFD (so they decode to U+FFFD). */
  encode(text: string, options?: EncodeOptions): number[] {
    const out: number[] = [];
    this.encodeInto(text, out, options);
    return out;
  }

  /** Encodes each text; same ids as calling {@link encode} on each. */
  encodeBatch(texts: readonly string[], options?: EncodeOptions): number[][] {
    return texts.map((t) => this.encode(t, options));
  }

  /** Appends the ids of `text` to `out`. */
  encodeInto(text: string, out: number[], options?: EncodeOptions): void {
    const s = text as unknown as StringWellFormed;
    if (!s.isWellFormed()) text = s.toWellFormed();
    const allowed = this.allowedSet(options?.allowedSpecial);
    const disallowed = options?.disallowedSpecial;
    if (disallowed !== undefined && this.specialRe) {
      const bad = disallowed === "all" ? null : new Set(disallowed);
      this.specialRe.lastIndex = 0;
      for (const m of text.matchAll(this.specialRe)) {
        const tok = m[0];
        if (allowed?.has(tok)) continue;
        if (bad === null || bad.has(tok)) {
          throw new DisallowedSpecialTokenError(
            `text contains the special token ${JSON.stringify(tok)} at offset ${m.index}; allow it with allowedSpecial, or encode it as plain text by leaving disallowedSpecial unset`,
          );
        }
      }
    }
    if (!allowed || allowed.size === 0 || !this.specialRe) {
      this.encodeOrdinary(text, out);
      return;
    }
    let start = 0;
    this.specialRe.lastIndex = 0;
    for (const m of text.matchAll(this.specialRe)) {
      if (!allowed.has(m[0])) continue;
      if (m.index > start) this.encodeOrdinary(text.slice(start, m.index), out);
      out.push(this.specialByContent.get(m[0]) as number);
      start = m.index + m[0].length;
    }
    if (start < text.length) this.encodeOrdinary(start === 0 ? text : text.slice(start), out);
  }

  private allowedSet(allowed: EncodeOptions["allowedSpecial"]): Set<string> | null {
    if (allowed === undefined) return null;
    if (allowed === "all") return new Set(this.specialByContent.keys());
    for (const a of allowed) this.specialId(a);
    return new Set(allowed);
  }

  /** Encodes well-formed text with no special-token handling. */
  private encodeOrdinary(text: string, out: number[]): void {
    this.re.lastIndex = 0;
    const pieces = text.match(this.re);
    if (pieces === null) return;
    const cache = this.cache;
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      let ids = cache.get(piece);
      if (ids === undefined) {
        ids = this.encodePiece(piece);
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(piece, ids);
      }
      if (typeof ids === "number") out.push(ids);
      else for (let k = 0; k < ids.length; k++) out.push(ids[k]);
    }
  }

  /** BPE of one pre-token; a single id when it becomes one token. */
  private encodePiece(piece: string): number | Int32Array {
    if (this.spec.ignoreMerges) {
      const whole = this.wholeTokens.get(piece);
      if (whole !== undefined) return whole;
    }
    const bytes = utf8Bytes(piece);
    const syms = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) syms[i] = this.byteIds[bytes[i]];
    const merged = mergeSymbols(syms, bytes.length, this.rules);
    return merged.length === 1 ? merged[0] : merged;
  }

  /** The bytes that `ids` stand for, concatenated. Throws {@link UnknownTokenIdError} on an id outside the vocabulary. */
  decodeBytes(ids: ArrayLike<number>, options?: { skipSpecial?: boolean }): Uint8Array {
    const skip = options?.skipSpecial ?? false;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const b = Number.isInteger(id) ? this.tokenBytes[id] : undefined;
      if (b === undefined) throw new UnknownTokenIdError(id, this.vocabSize, i);
      if (skip && this.specialIds.has(id)) continue;
      total += b.length;
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIds.has(id)) continue;
      const b = this.tokenBytes[id] as Uint8Array;
      out.set(b, off);
      off += b.length;
    }
    return out;
  }

  /**
   * Decodes ids to text. Byte sequences that are not valid UTF-8 (a prefix of a
   * multi-byte character, e.g. when decoding part of a sequence) become U+FFFD, as in Hugging Face.
   */
  decode(ids: ArrayLike<number>, options?: { skipSpecial?: boolean }): string {
    return this.decoder.decode(this.decodeBytes(ids, options));
  }

  /** Drops the per-word encoding cache (it is rebuilt as text is encoded). */
  clearCache(): void {
    this.cache = new Map();
  }

  /** Trains a tokenizer from pre-token counts (the output of {@link countPretokens} or your own). */
  static fromWordCounts(counts: ReadonlyMap<string, number>, options: TokenizerTrainOptions): Tokenizer {
    const { pattern, numMerges, specials } = resolveTrainOptions(options);
    if (counts.size === 0) throw new EmptyCorpusError("the training corpus is empty: no text to learn merges from");
    const onProgress = options.onMergeProgress;
    const result = trainBpeMerges(counts, {
      numMerges,
      minFrequency: options.minFrequency,
      onProgress: onProgress ? (done) => onProgress(done, numMerges) : undefined,
    });
    return new Tokenizer(specFromMerges(result.merges, specials, pattern));
  }

  /**
   * Trains on files (JSONL with a "text" field, or plain text), counting on all cores.
   * {@link trainTokenizer} does the same and also writes tokenizer.json and a report.
   */
  static async train(files: readonly string[], options: TokenizerTrainOptions & { workers?: number; field?: string }): Promise<Tokenizer> {
    const { pattern } = resolveTrainOptions(options);
    const corpus = await countCorpus(files, { pattern, workers: options.workers, field: options.field, holdoutEvery: 0 });
    return Tokenizer.fromWordCounts(corpus.counts, { ...options, pattern });
  }

  /** Trains on in-memory texts (single thread). For files use {@link Tokenizer.train}. */
  static trainFromTexts(texts: Iterable<string>, options: TokenizerTrainOptions): Tokenizer {
    const { pattern } = resolveTrainOptions(options);
    const re = compilePretokenizer(pattern);
    const counts = new Map<string, number>();
    for (const t of texts) countPretokens(re, t, counts);
    return Tokenizer.fromWordCounts(counts, { ...options, pattern });
  }

  /** Loads a tokenizer from a Hugging Face `tokenizer.json` file. */
  static fromFile(path: string): Tokenizer {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const msg = fsErrorReason(err) ?? (err instanceof Error ? err.message : String(err));
      throw new TokenizerFileError(path, `cannot read tokenizer file (${msg}); expected a Hugging Face tokenizer.json`);
    }
    return Tokenizer.fromHuggingFaceJson(text, path);
  }

  /** Parses Hugging Face `tokenizer.json` text. `source` names the file in error messages. */
  static fromHuggingFaceJson(text: string, source = "tokenizer.json"): Tokenizer {
    return new Tokenizer(parseHuggingFaceJson(text, source));
  }

  /** Loads a `.tiktoken` rank file (as published for cl100k_base etc.) with its regex and special tokens. */
  static fromTiktokenFile(path: string, pattern: string, specialTokens: Record<string, number> = {}): Tokenizer {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new TokenizerFileError(path, `cannot read tiktoken rank file (${msg})`);
    }
    return new Tokenizer(specFromTiktoken(parseTiktokenRankFile(text, path), pattern, specialTokens));
  }

  /** Loads an encoding that `js-tiktoken` ships, e.g. `(await import("js-tiktoken/ranks/cl100k_base")).default`. */
  static fromJsTiktoken(ranks: JsTiktokenRanks, name = "js-tiktoken ranks"): Tokenizer {
    return new Tokenizer(specFromTiktoken(parseJsTiktokenRanks(ranks, name), ranks.pat_str, ranks.special_tokens));
  }

  /**
   * A new tokenizer with `contents` added as special tokens, taking ids from {@link vocabSize} up in
   * order; contents it already has keep their ids. A model using it needs its embedding grown to the new vocabSize.
   */
  withSpecialTokens(contents: readonly string[]): Tokenizer {
    const specials = [...this.spec.specials];
    let next = this.vocabSize;
    for (const c of contents) {
      if (typeof c !== "string" || c === "") throw new TokenizerConfigError(`a special token must be a non-empty string, got ${JSON.stringify(c)}`);
      if (!specials.some((s) => s.content === c)) specials.push({ content: c, id: next++ });
    }
    return new Tokenizer({ ...this.spec, specials });
  }

  /** Serialises to Hugging Face `tokenizer.json` text. */
  toHuggingFaceJson(): string {
    return serializeHuggingFaceJson(this.spec);
  }
}
