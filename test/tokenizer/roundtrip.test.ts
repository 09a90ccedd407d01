// Exact round trip decode(encode(s)) === s on hard strings and on fuzzed strings (fast-check),
// special-token handling, and the stated lone-surrogate policy (encoded as U+FFFD).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DisallowedSpecialTokenError, Tokenizer } from "../../src/tokenizer/index.js";
import { EMOJI_AND_ODDITIES, mixedCorpus } from "./fixtures.js";

const tok = Tokenizer.trainFromTexts(mixedCorpus(), { vocabSize: 2000 });
const gpt2Style = Tokenizer.trainFromTexts(mixedCorpus().slice(0, 200), { vocabSize: 800, style: "gpt2" });

describe("round trip", () => {
  const hard = [
    ...EMOJI_AND_ODDITIES,
    "",
    "\u0000",
    "\u0000\u0000\u0000 \u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u001f",
    "中文分词测试：你好，世界！",
    "🧑🏿‍🤝‍🧑🏻 👁️‍🗨️ 🫠",
    "a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308",
    " ".repeat(10_000),
    "\t\n ".repeat(3000),
    "x".repeat(50_000),
    "😀".repeat(5000),
    "9".repeat(5000),
    "\uffff\ufffe\u{10ffff}\u{e0001}",
    "\ufeff",
    "\ufeff\ufeffleading byte order marks are text too",
  ];
  it("holds for CJK, ZWJ emoji, combining marks, control characters, long runs", () => {
    for (const t of [tok, gpt2Style]) {
      for (const s of hard) expect(t.decode(t.encode(s))).toBe(s);
    }
  });

  it("holds for fuzzed strings of any code points (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (s) => tok.decode(tok.encode(s)) === s),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => tok.decode(tok.encode(s)) === s && gpt2Style.decode(gpt2Style.encode(s)) === s),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", " ", "\n", "é", "中", "1", "'s", "👍🏽", "<|endoftext|>", "\u0000"), { maxLength: 300 }), (parts) => {
        const s = parts.join("");
        return tok.decode(tok.encode(s)) === s;
      }),
      { numRuns: 300 },
    );
  });

  it("decodes the concatenation of per-piece encodings the same as the whole", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 100 }), fc.string({ unit: "binary", maxLength: 100 }), (a, b) => tok.decode([...tok.encode(a), ...tok.encode(b)]) === a + b),
      { numRuns: 200 },
    );
  });

  it("encodes lone surrogates as U+FFFD (the stated policy): decode gives the well-formed string", () => {
    for (const s of ["\ud800", "a\udc00b", "x\ud83d", "\ud83d\ude00\ud83d"]) {
      const ids = tok.encode(s);
      expect(ids).toEqual(tok.encode(s.replace(/[\ud800-\udfff]/g, (c, i: number) => {
        const code = c.charCodeAt(0);
        const nextLow = s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
        const prevHigh = s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
        if (code <= 0xdbff && nextLow) return c;
        if (code >= 0xdc00 && prevHigh) return c;
        return "\ufffd";
      })));
    }
    expect(tok.decode(tok.encode("a\ud800b"))).toBe("a\ufffdb");
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 50 }), fc.integer({ min: 0xd800, max: 0xdfff }), (s, sur) => {
        const withLone = `${s}${String.fromCharCode(sur)}x`;
        const wellFormed = (withLone as unknown as { toWellFormed(): string }).toWellFormed();
        return tok.decode(tok.encode(withLone)) === wellFormed;
      }),
      { numRuns: 200 },
    );
  });

  it("decodes a partial multi-byte character to U+FFFD instead of throwing", () => {
    const ids = tok.encode("😀");
    const bytes = tok.decodeBytes(ids);
    expect(Array.from(bytes)).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    if (ids.length > 1) expect(tok.decode(ids.slice(0, 1))).toContain("\ufffd");
  });
});

describe("special tokens", () => {
  const eot = tok.specialId("<|endoftext|>");
  const imStart = tok.specialId("<|im_start|>");

  it("sit after the merges, and include pad and reserved slots", () => {
    expect(tok.vocabSize).toBe(2000);
    expect(eot).toBe(2000 - 8);
    expect(tok.specialId("<|pad|>")).toBe(2000 - 5);
    expect(tok.specialId("<|reserved_3|>")).toBe(1999);
    expect(() => tok.specialId("<|nope|>")).toThrow(/no special token "<\|nope\|>"/);
  });

  it("are never produced from plain text unless allowed", () => {
    const text = "a<|endoftext|>b<|im_start|>user";
    const plain = tok.encode(text);
    expect(plain).not.toContain(eot);
    expect(plain).not.toContain(imStart);
    expect(tok.decode(plain)).toBe(text);
    const all = tok.encode(text, { allowedSpecial: "all" });
    expect(all).toContain(eot);
    expect(all).toContain(imStart);
    expect(tok.decode(all)).toBe(text);
    const some = tok.encode(text, { allowedSpecial: ["<|im_start|>"] });
    expect(some).toContain(imStart);
    expect(some).not.toContain(eot);
  });

  it("are never split: a special token is one id, and text around it encodes as if alone", () => {
    const ids = tok.encode("hello<|endoftext|>world", { allowedSpecial: "all" });
    expect(ids).toEqual([...tok.encode("hello"), eot, ...tok.encode("world")]);
  });

  it("raise when disallowed, like tiktoken", () => {
    expect(() => tok.encode("x<|im_end|>", { disallowedSpecial: "all" })).toThrow(DisallowedSpecialTokenError);
    expect(() => tok.encode("x<|im_end|>", { disallowedSpecial: "all", allowedSpecial: ["<|im_end|>"] })).not.toThrow();
  });

  it("can be skipped when decoding", () => {
    const ids = tok.encode("a<|endoftext|>b", { allowedSpecial: "all" });
    expect(tok.decode(ids, { skipSpecial: true })).toBe("ab");
  });

  it("encodeBatch equals encode on each text", () => {
    const texts = mixedCorpus().slice(0, 50);
    expect(tok.encodeBatch(texts)).toEqual(texts.map((t) => tok.encode(t)));
  });
});
