// Reads and writes Hugging Face `tokenizer.json` (byte-level BPE: Split regex + ByteLevel
// pre-tokenizer, ByteLevel decoder, BPE model), so `tokenizers`/`transformers` load ours with identical ids.
import { byteLevelToBytes, bytesToByteLevel } from "./byteLevel.js";
import { TokenizerFileError } from "./errors.js";
import { HF_BYTELEVEL_PATTERN } from "./pretokenize.js";
import type { BpeSpec, SpecialToken } from "./tokenizer.js";

/** Serialises a spec to tokenizer.json text (stable key order, one merge per line). */
export function serializeHuggingFaceJson(spec: BpeSpec): string {
  const vocab: Record<string, number> = {};
  const names: string[] = [];
  spec.tokens.forEach((t, id) => {
    if (!t) return;
    const name = bytesToByteLevel(t);
    names[id] = name;
    vocab[name] = id;
  });
  const n = spec.merges.length / 3;
  const order = Array.from({ length: n }, (_, k) => k);
  const ranks = spec.mergeRanks;
  if (ranks) order.sort((x, y) => ranks[x] - ranks[y] || x - y);
  const merges = order.map((k) => `${names[spec.merges[3 * k]]} ${names[spec.merges[3 * k + 1]]}`);
  const addedTokens = [...spec.specials]
    .sort((a, b) => a.id - b.id)
    .map((s) => ({ id: s.id, content: s.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const doc = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: spec.pattern }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: spec.ignoreMerges,
      vocab: "__VOCAB__",
      merges: "__MERGES__",
    },
  };
  // Vocab and merges one entry per line: readable diffs, and far smaller than indent=2 on every element.
  const vocabText = `{\n${Object.entries(vocab)
    .map(([k, v]) => `      ${JSON.stringify(k)}: ${v}`)
    .join(",\n")}\n    }`;
  const mergesText = merges.length === 0 ? "[]" : `[\n${merges.map((m) => `      ${JSON.stringify(m)}`).join(",\n")}\n    ]`;
  return `${JSON.stringify(doc, null, 2).replace('"__VOCAB__"', () => vocabText).replace('"__MERGES__"', () => mergesText)}\n`;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function escapeLiteral(s: string): string {
  return s.replace(/[\\^$*+?.()|[\]{}/-]/g, "\\$&");
}

/** The pre-tokenisation pattern a tokenizer.json describes; throws for pipelines llmforge does not implement. */
function patternOf(pre: Json | undefined, fail: (why: string) => never): string {
  const byteLevel = (p: Record<string, Json>, useRegexExpected: boolean) => {
    if (p.add_prefix_space === true) fail("pre_tokenizer ByteLevel with add_prefix_space=true is not supported (llmforge never adds a prefix space)");
    const useRegex = p.use_regex !== false;
    if (useRegex !== useRegexExpected) fail(`pre_tokenizer ByteLevel use_regex=${useRegex} is not supported in this position`);
  };
  if (!isObject(pre)) fail("pre_tokenizer is missing: expected ByteLevel, or Sequence[Split(regex), ByteLevel(use_regex=false)]");
  if (pre.type === "ByteLevel") {
    byteLevel(pre, true);
    return HF_BYTELEVEL_PATTERN;
  }
  if (pre.type === "Sequence" && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 2) {
    const [split, bl] = pre.pretokenizers;
    if (isObject(split) && split.type === "Split" && isObject(bl) && bl.type === "ByteLevel") {
      byteLevel(bl, false);
      if (split.behavior !== "Isolated" || split.invert === true) {
        fail(`pre_tokenizer Split must have behavior "Isolated" and invert=false, got behavior ${JSON.stringify(split.behavior)}`);
      }
      const pat = split.pattern;
      if (isObject(pat) && typeof pat.Regex === "string") return pat.Regex;
      if (isObject(pat) && typeof pat.String === "string") return escapeLiteral(pat.String);
      fail("pre_tokenizer Split.pattern must be {Regex: string} or {String: string}");
    }
  }
  fail(`unsupported pre_tokenizer ${JSON.stringify(pre).slice(0, 200)}: expected ByteLevel, or Sequence[Split(regex), ByteLevel(use_regex=false)]`);
}

/** Parses tokenizer.json text into a spec. `source` names the file in errors. */
export function parseHuggingFaceJson(text: string, source: string): BpeSpec {
  const fail: (why: string) => never = (why) => {
    throw new TokenizerFileError(source, why);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    fail(`not valid JSON (${msg}); expected a Hugging Face tokenizer.json`);
  }
  if (!isObject(doc)) fail("expected a JSON object (Hugging Face tokenizer.json)");
  const root = doc as Record<string, Json>;
  const model = root.model;
  if (!isObject(model)) fail('missing "model" object');
  if (model.type !== undefined && model.type !== "BPE") fail(`model.type is ${JSON.stringify(model.type)}; only "BPE" is supported`);
  if (root.normalizer !== null && root.normalizer !== undefined) {
    fail(`normalizer ${JSON.stringify(root.normalizer).slice(0, 120)} is not supported: byte-level BPE here takes raw text`);
  }
  const pattern = patternOf(root.pre_tokenizer, fail);
  const vocab = model.vocab;
  if (!isObject(vocab)) fail('model.vocab must be an object {token: id}');
  const byName = new Map<string, number>();
  const tokens: (Uint8Array | null)[] = [];
  for (const [name, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= 1 << 24) fail(`model.vocab[${JSON.stringify(name)}] = ${JSON.stringify(id)} is not a valid id`);
    const bytes = byteLevelToBytes(name);
    if (bytes === null) fail(`model.vocab token ${JSON.stringify(name)} is not in byte-level form (GPT-2 byte-to-unicode characters)`);
    if (tokens[id]) fail(`model.vocab gives id ${id} to two tokens`);
    tokens[id] = bytes;
    byName.set(name, id);
  }
  for (let i = 0; i < tokens.length; i++) if (!tokens[i]) tokens[i] = null;
  const specials: SpecialToken[] = [];
  const added = root.added_tokens ?? [];
  if (!Array.isArray(added)) fail("added_tokens must be an array");
  for (const a of added) {
    if (!isObject(a) || typeof a.content !== "string" || typeof a.id !== "number" || !Number.isInteger(a.id) || a.id < 0) {
      fail(`added_tokens entry ${JSON.stringify(a).slice(0, 120)} needs a string "content" and an integer "id"`);
    }
    // GPT-2 style files also list the special token in the vocab: it is special, not ordinary.
    if (a.id < tokens.length) tokens[a.id] = null;
    specials.push({ content: a.content, id: a.id });
  }
  const mergesJson = model.merges;
  if (!Array.isArray(mergesJson)) fail("model.merges must be an array");
  const merges = new Int32Array(mergesJson.length * 3);
  mergesJson.forEach((m, k) => {
    let left: string | undefined;
    let right: string | undefined;
    if (typeof m === "string") {
      const sp = m.indexOf(" ", 1);
      if (sp > 0) {
        left = m.slice(0, sp);
        right = m.slice(sp + 1);
      }
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      [left, right] = m as [string, string];
    }
    if (left === undefined || right === undefined) fail(`model.merges[${k}] = ${JSON.stringify(m)}: expected "a b" or ["a", "b"]`);
    const l = byName.get(left);
    const r = byName.get(right);
    const res = byName.get(left + right);
    if (l === undefined || r === undefined || res === undefined) {
      fail(`model.merges[${k}] = ${JSON.stringify(m)} refers to a token that is not in model.vocab`);
    }
    merges[3 * k] = l;
    merges[3 * k + 1] = r;
    merges[3 * k + 2] = res;
  });
  return { tokens, merges, specials, pattern, ignoreMerges: model.ignore_merges === true };
}
