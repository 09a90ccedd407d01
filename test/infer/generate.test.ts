import { describe, expect, it } from "vitest";
import { generate, generateStream, generateText, TextReleaser, type GeneratedToken } from "../../src/infer/generate.js";
import { applyRepetitionPenalty, sampleToken, SamplingOptionError, topKIndices } from "../../src/infer/sampling.js";
import { makeConfig, type GPTConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { ids } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";

const V = 48;
function tiny(flavour: "gpt2" | "llama", extra: Partial<GPTConfig> = {}): GPT {
  const c = makeConfig({ flavour, nLayer: 2, nHead: 4, nEmbd: 32, blockSize: 32, vocabSize: V, initStd: 0.2, ...extra });
  return new GPT(c, { seed: 1, backend: "ref" });
}

/** Greedy decoding by full recomputation, written independently of generate(). */
function greedyUncached(model: GPT, prompt: number[], n: number): number[] {
  const ctx = [...prompt];
  for (let i = 0; i < n; i++) {
    const row = tidy(() => noGrad(() => model.forward(ids(ctx, [1, ctx.length])).toTypedArray()));
    const last = row.subarray((ctx.length - 1) * V);
    let best = 0;
    for (let j = 1; j < V; j++) if (last[j] > last[best]) best = j;
    ctx.push(best);
  }
  return ctx.slice(prompt.length);
}

const models: [string, () => GPT][] = [
  ["gpt2", () => tiny("gpt2")],
  ["llama (GQA 4:2, untied)", () => tiny("llama", { nKvHead: 2, tiedEmbeddings: false })],
];

describe("KV cache", () => {
  for (const [name, make] of models) {
    it(`${name}: cached forward in chunks matches one full forward`, () => {
      const model = make();
      model.eval();
      const seq = [3, 9, 27, 1, 40, 12, 5, 33, 8, 19];
      const full = tidy(() => noGrad(() => model.forward(ids(seq, [1, seq.length])).toTypedArray()));
      const cache = model.createCache(1);
      const parts: number[][] = [seq.slice(0, 4), seq.slice(4, 7), [seq[7]], seq.slice(8)];
      const got: number[] = [];
      for (const p of parts) got.push(...tidy(() => model.forward(ids(p, [1, p.length]), { cache }).toTypedArray()));
      expect(cache.length).toBe(seq.length);
      let worst = 0;
      for (let i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs(full[i] - got[i]));
      expect(worst).toBeLessThan(1e-5);
      cache.dispose();
    });
    it(`${name}: cached greedy generation gives exactly the tokens of uncached greedy decoding`, () => {
      const model = make();
      const prompt = [1, 2, 3, 4, 5];
      const want = greedyUncached(model, prompt, 20);
      const cached = generate(model, prompt, { temperature: 0, maxTokens: 20 });
      const uncached = generate(model, prompt, { temperature: 0, maxTokens: 20, useCache: false });
      expect(cached.tokens).toEqual(want);
      expect(uncached.tokens).toEqual(want);
      expect(new Set(want).size).toBeGreaterThan(1);
    });
  }
  it("rejects a forward past the block size and a full cache", () => {
    const model = tiny("gpt2");
    const cache = model.createCache(1, 4);
    model.forward(ids([1, 2, 3], [1, 3]), { cache });
    expect(() => model.forward(ids([1, 2], [1, 2]), { cache })).toThrow(/cache of 4 positions is full/);
    expect(() => model.forward(ids(new Array(33).fill(1), [1, 33]))).toThrow(/exceed the model's block size 32/);
    cache.dispose();
  });
});

describe("generate", () => {
  const model = tiny("gpt2");
  it("is reproducible for a seed and differs across seeds", () => {
    const a = generate(model, [1, 2], { temperature: 1, maxTokens: 24, seed: 11 });
    const b = generate(model, [1, 2], { temperature: 1, maxTokens: 24, seed: 11 });
    const c = generate(model, [1, 2], { temperature: 1, maxTokens: 24, seed: 12 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
    expect(a.finishReason).toBe("length");
    expect(a.tokensPerSecond).toBeGreaterThan(0);
  });
  it("top-k 1 and a tiny top-p are greedy", () => {
    const greedy = generate(model, [4], { temperature: 0, maxTokens: 12 }).tokens;
    expect(generate(model, [4], { temperature: 1.5, topK: 1, maxTokens: 12, seed: 3 }).tokens).toEqual(greedy);
    expect(generate(model, [4], { temperature: 1.5, topP: 1e-9, maxTokens: 12, seed: 3 }).tokens).toEqual(greedy);
  });
  it("keeps going past the block size with a sliding window", () => {
    const r = generate(model, [1, 2, 3], { temperature: 0.8, maxTokens: 60, seed: 1 });
    expect(r.tokens.length).toBe(60);
  });
  it("vocabLimit keeps sampling inside a tokenizer smaller than the padded model vocabulary", () => {
    const r = generate(model, [1], { temperature: 3, maxTokens: 200, seed: 9, vocabLimit: 5 });
    expect(Math.max(...r.tokens)).toBeLessThan(5);
    expect(() => generate(model, [1], { vocabLimit: V + 1 })).toThrow(/vocabLimit/);
  });
  it("crops a prompt longer than the block size", () => {
    const r = generate(model, Array.from({ length: 40 }, (_, i) => i % V), { temperature: 0, maxTokens: 3 });
    expect(r.promptTruncated).toBe(8);
    expect(r.tokens.length).toBe(3);
  });
  it("stops on a stop token without returning it", () => {
    const greedy = generate(model, [4], { temperature: 0, maxTokens: 12 }).tokens;
    const r = generate(model, [4], { temperature: 0, maxTokens: 12, stopTokens: [greedy[3]] });
    expect(r.finishReason).toBe("stop_token");
    expect(r.tokens).toEqual(greedy.slice(0, greedy.indexOf(greedy[3])));
  });
  it("stop strings cut the text and never leak into the stream", () => {
    // A toy codec: id i -> two letters, so a stop string can span tokens.
    const letters = "abcdefghijklmnopqrstuvwxyz";
    const decode = (t: number[]) => t.map((i) => letters[i % 26] + letters[(i * 7) % 26]).join("");
    const free = generate(model, [4], { temperature: 0, maxTokens: 12, decode });
    const stop = free.text.slice(5, 8); // starts mid-token, spans a token boundary
    const streamed: GeneratedToken[] = [];
    const r = generate(model, [4], { temperature: 0, maxTokens: 12, decode, stop: [stop], onToken: (t) => streamed.push(t) });
    expect(r.finishReason).toBe("stop");
    expect(r.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    expect(streamed.map((t) => t.text).join("")).toBe(r.text);
    const plain: GeneratedToken[] = [];
    generate(model, [4], { temperature: 0, maxTokens: 12, decode, stop: ["no such text"], onToken: (t) => plain.push(t) });
    expect(plain.map((t) => t.text).join("")).toBe(free.text);
  });
  it("holds back a half-decoded character until the next token completes it", () => {
    // Every second token completes a character: before that, the decoder shows U+FFFD in its place,
    // as a byte-level decoder does for an incomplete UTF-8 sequence.
    const decode = (t: number[]) => {
      const s = t.map((i) => (i % 2 ? "é" : "a")).join("");
      return t.length % 2 ? `${s.slice(0, -1)}\uFFFD` : s;
    };
    const chunks: string[] = [];
    const r = generate(model, [4], { temperature: 1, seed: 2, maxTokens: 10, decode, onToken: (t) => chunks.push(t.text) });
    expect(chunks.join("")).toBe(r.text);
    expect(chunks.some((c) => c.includes("\uFFFD"))).toBe(false);
    expect(chunks.filter((c) => c === "").length).toBe(5);
  });
  it("streams through an async iterator with the same tokens", async () => {
    const want = generate(model, [9], { temperature: 0.7, maxTokens: 10, seed: 5 });
    const it = generateStream(model, [9], { temperature: 0.7, maxTokens: 10, seed: 5 });
    const got: number[] = [];
    let res = await it.next();
    while (!res.done) {
      got.push(res.value.id);
      res = await it.next();
    }
    expect(got).toEqual(want.tokens);
    expect(res.value.tokens).toEqual(want.tokens);
  });
  it("generateText wires a codec", () => {
    const codec = { encode: (s: string) => [...s].map((ch) => ch.charCodeAt(0) % V), decode: (t: number[]) => t.map((i) => String.fromCharCode(65 + (i % 26))).join("") };
    const r = generateText(model, codec, "hi", { temperature: 0, maxTokens: 5 });
    expect(r.text).toHaveLength(5);
    expect(r.promptTokens).toBe(2);
  });
  it("rejects bad options with clear errors", () => {
    expect(() => generate(model, [1], { temperature: -1 })).toThrow(SamplingOptionError);
    expect(() => generate(model, [1], { topP: 0 })).toThrow(/topP must be in \(0, 1\]/);
    expect(() => generate(model, [], {})).toThrow(/prompt is empty/);
    expect(() => generate(model, [1], { stop: ["x"] })).toThrow(/need a decode function/);
    expect(() => generate(model, [V + 3], {})).toThrow(/outside the vocabulary/);
  });
});

describe("sampling", () => {
  it("the copy-free whole-vocabulary path picks what the general path picks for the same rng state", () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 200; trial++) {
      const l = Float32Array.from({ length: 97 }, () => 4 * rng.normal());
      const t = [0, 0.3, 1, 2.5][trial % 4];
      // a repetition penalty with an empty history changes nothing but takes the general path
      const fast = sampleToken(l, { temperature: t }, new Rng(trial));
      const general = sampleToken(l, { temperature: t, repetitionPenalty: 2 }, new Rng(trial), []);
      expect(fast).toBe(general);
    }
  });

  it("repetition penalty divides positive and multiplies negative logits, once per token", () => {
    const l = Float64Array.from([2, -2, 1]);
    applyRepetitionPenalty(l, [0, 1, 0], 2);
    expect(Array.from(l)).toEqual([1, -4, 1]);
  });
  it("penalty changes the greedy choice", () => {
    const l = [3, 2.5, 0];
    expect(sampleToken(l, { temperature: 0 }, new Rng(0), [0])).toBe(0);
    expect(sampleToken(l, { temperature: 0, repetitionPenalty: 1.5 }, new Rng(0), [0])).toBe(1);
  });
  it("samples in proportion to softmax(logits / T)", () => {
    const rng = new Rng(1);
    const l = [Math.log(1), Math.log(3), Number.NEGATIVE_INFINITY];
    const counts = [0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleToken(l, { temperature: 1 }, rng)]++;
    expect(counts[2]).toBe(0);
    expect(counts[1] / 4000).toBeGreaterThan(0.72);
    expect(counts[1] / 4000).toBeLessThan(0.78);
  });
  it("top-k keeps only the k best; top-p the nucleus", () => {
    const rng = new Rng(2);
    const l = [0, 1, 2, 3, 4];
    for (let i = 0; i < 200; i++) expect(sampleToken(l, { topK: 2 }, rng)).toBeGreaterThanOrEqual(3);
    // softmax([0..4]) top mass: p(4) = 0.636, p(3) = 0.234 -> top-p 0.8 keeps {4, 3}.
    for (let i = 0; i < 200; i++) expect(sampleToken(l, { topP: 0.8 }, rng)).toBeGreaterThanOrEqual(3);
  });
});

describe("topKIndices", () => {
  it("equals a full sort (value descending, ties by id) for random logits with many ties, any k", () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const V = 1 + rng.int(300);
      const l = Float64Array.from({ length: V }, () => (rng.int(4) === 0 ? rng.int(5) : rng.uniform() * 10 - 5));
      const k = 1 + rng.int(V);
      const want = Array.from({ length: V }, (_, i) => i)
        .sort((a, b) => l[b] - l[a] || a - b)
        .slice(0, k);
      expect(Array.from(topKIndices(l, k))).toEqual(want);
    }
  });

  it("ranks NaN last", () => {
    expect(Array.from(topKIndices(Float64Array.from([0.5, Number.NaN, 2, -1]), 3))).toEqual([2, 0, 3]);
  });
});

describe("TextReleaser", () => {
  // a byte-level decoder: id = one byte (ids 0..255), so multi-byte characters are split across ids
  const utf8 = new TextDecoder();
  const decode = (t: number[]) => utf8.decode(Uint8Array.from(t));
  const bytes = (s: string) => Array.from(new TextEncoder().encode(s));

  /** Everything the releaser shows, id by id, then flushed; and how many times `decode` was handed each id. */
  function stream(text: string, stops: string[]): { shown: string[]; full: string; stopped: boolean; decoded: number } {
    let decoded = 0;
    const r = new TextReleaser((t) => {
      decoded += t.length;
      return decode(t);
    }, stops);
    const ids: number[] = [];
    const shown: string[] = [];
    for (const b of bytes(text)) {
      ids.push(b);
      shown.push(r.push(ids));
      if (r.stopped) break;
    }
    if (!r.stopped) shown.push(r.flush());
    return { shown, full: r.text, stopped: r.stopped, decoded };
  }

  it("never shows half a character, and shows the whole text in the end", () => {
    const text = "naïve café — 日本語 😀 done";
    const { shown, full } = stream(text, []);
    expect(shown.join("")).toBe(text);
    expect(full).toBe(text);
    for (const piece of shown) expect(piece).not.toContain("\ufffd");
    // the 4-byte emoji appears in one piece, at its last byte
    expect(shown.filter((p) => p.includes("😀"))).toEqual(["😀"]);
  });

  it("cuts before a stop string, even one that arrives over several ids", () => {
    const { shown, full, stopped } = stream("answer: 42<|end|> and more", ["<|end|>"]);
    expect(stopped).toBe(true);
    expect(full).toBe("answer: 42");
    expect(shown.join("")).toBe("answer: 42");
  });

  it("holds back a prefix of a stop string until it is ruled out", () => {
    const r = new TextReleaser(decode, ["STOP"]);
    const ids = bytes("a ST");
    expect(r.push(ids)).toBe("a ");
    expect(r.push([...ids, ...bytes("x")])).toBe("STx");
  });

  it("decodes each id a bounded number of times (not the whole text at every push)", () => {
    const text = "x".repeat(400) + "é".repeat(100);
    const { shown, decoded } = stream(text, ["zz"]);
    expect(shown.join("")).toBe(text);
    const n = bytes(text).length;
    expect(decoded).toBeLessThan(3 * n); // re-decoding everything each time would be ~n²/2
  });

  it("matches decoding everything at once on random bytes, invalid sequences included", () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 20; trial++) {
      const ids: number[] = [];
      const r = new TextReleaser(decode, []);
      let shown = "";
      for (let i = 0; i < 60; i++) {
        ids.push(Math.floor(rng.uniform() * 256));
        shown += r.push(ids);
        expect(r.text).toBe(decode(ids));
      }
      shown += r.flush();
      expect(shown).toBe(decode(ids));
    }
  });
});
