// Interoperability: tokenizers we train and save load in Hugging Face `tokenizers` (npm) with
// identical ids; tokenizer.json written by HF loads here; js-tiktoken's encodings give identical ids.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tiktoken } from "js-tiktoken/lite";
import cl100k from "js-tiktoken/ranks/cl100k_base";
import gpt2 from "js-tiktoken/ranks/gpt2";
import o200k from "js-tiktoken/ranks/o200k_base";
import { Tokenizer as HfTokenizer } from "tokenizers";
import { beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { cjkParagraphs, codeSnippets, EMOJI_AND_ODDITIES, englishParagraphs, mixedCorpus, rng } from "./fixtures.js";

/** Texts to compare on: held-out English, Chinese, code, emoji, and random Unicode soup. */
function probeTexts(): string[] {
  const r = rng(11);
  const soup: string[] = [];
  const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x0, 0x1f], [0x2000, 0x206f], [0x3000, 0x303f]];
  for (let i = 0; i < 60; i++) {
    let s = "";
    const n = Math.floor(r() * 80);
    for (let j = 0; j < n; j++) {
      const [lo, hi] = ranges[Math.floor(r() * ranges.length)];
      s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
      if (r() < 0.15) s += " ".repeat(1 + Math.floor(r() * 4));
      if (r() < 0.05) s += "\n\n ";
    }
    soup.push(s);
  }
  return [
    ...englishParagraphs(20).slice(-40),
    ...cjkParagraphs(30, 99),
    ...codeSnippets().slice(0, 10),
    ...EMOJI_AND_ODDITIES,
    ...soup,
    "",
    " ",
    "   leading and trailing spaces   ",
    "a".repeat(3000),
    "\n".repeat(50),
    "1234567890".repeat(20),
    "\ufeff",
    "\ufeffBOM first",
    "\u0085\ufeff x \ufeff\ufeff",
  ];
}

async function hfIds(hf: HfTokenizer, text: string): Promise<number[]> {
  return (await hf.encode(text)).getIds();
}

describe("Hugging Face tokenizers parity", () => {
  let probes: string[];
  beforeAll(() => {
    probes = probeTexts();
  });

  for (const variant of [
    { name: "cl100k style, digits in 3s", opts: {} },
    { name: "gpt2 style, single digits", opts: { style: "gpt2" as const, digitGroup: 1 } },
  ]) {
    it(`gives identical ids to HF on a mixed corpus (${variant.name})`, async () => {
      const tok = Tokenizer.trainFromTexts(mixedCorpus(), { vocabSize: 3000, ...variant.opts });
      const hf = HfTokenizer.fromString(tok.toHuggingFaceJson());
      expect(hf.getVocabSize(true)).toBe(tok.vocabSize);
      let compared = 0;
      for (const text of probes) {
        // HF always recognises added (special) tokens in text; compare with specials allowed.
        const ours = tok.encode(text, { allowedSpecial: "all" });
        expect(ours, JSON.stringify(text.slice(0, 80))).toEqual(await hfIds(hf, text));
        expect(await hf.decode(ours, false)).toBe(tok.decode(ours));
        compared += text.length;
      }
      expect(compared).toBeGreaterThan(20_000);
    });
  }

  it("loads a tokenizer.json that HF itself saved, with the same ids", async () => {
    const tok = Tokenizer.trainFromTexts(englishParagraphs(4), { vocabSize: 1200 });
    const hf = HfTokenizer.fromString(tok.toHuggingFaceJson());
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tok-"));
    hf.save(join(dir, "hf.json"));
    const back = Tokenizer.fromFile(join(dir, "hf.json"));
    for (const text of probes.slice(0, 40)) {
      expect(back.encode(text, { allowedSpecial: "all" })).toEqual(await hfIds(hf, text));
    }
    // And our own writer round-trips exactly.
    expect(Tokenizer.fromHuggingFaceJson(tok.toHuggingFaceJson()).toHuggingFaceJson()).toBe(tok.toHuggingFaceJson());
    expect(readFileSync(join(dir, "hf.json"), "utf8").length).toBeGreaterThan(1000);
  });
});

describe("js-tiktoken parity", () => {
  for (const [name, ranks] of [
    ["gpt2", gpt2],
    ["cl100k_base", cl100k],
    ["o200k_base", o200k],
  ] as const) {
    it(`gives identical ids to js-tiktoken for ${name}`, () => {
      const ours = Tokenizer.fromJsTiktoken(ranks, name);
      const ref = new Tiktoken(ranks);
      for (const text of probeTexts()) {
        const ids = ours.encode(text);
        expect(ids, JSON.stringify(text.slice(0, 80))).toEqual(ref.encode(text, [], []));
        // js-tiktoken's TextDecoder drops a leading U+FEFF; ours keeps it (exact round trip).
        expect(ours.decode(ids)).toBe(text);
        if (!text.startsWith("\ufeff")) expect(ours.decode(ids)).toBe(ref.decode(ids));
      }
      const withSpecial = "hello<|endoftext|>world";
      expect(ours.encode(withSpecial, { allowedSpecial: "all" })).toEqual(ref.encode(withSpecial, "all"));
    });
  }
});
