// The batched decode path against its definition: logits of BatchDecoder equal GPT.forward with a KV cache position
// by position (both flavours, tied and untied heads, with and without biases, grouped KV heads, both backends);
// sequences of different lengths decoded together give what each gives alone; prompts fed at once, copied
// prefixes and truncation keep the cache right; generation gives the same tokens through either path; on the native
// backend (every SIMD level) a sequence's logits are bit for bit the same decoded alone or among a dozen others.
import { describe, expect, it } from "vitest";
import { BatchDecoder, batchDecoderUnsupported } from "../../src/infer/batchDecoder.js";
import { generate } from "../../src/infer/generate.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { nativeKernels } from "../../src/tensor/backend/index.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";
import { relErr } from "../helpers/relErr.js";
import { simdLevels, withSimd } from "../native/helpers.js";

const backends = (["ref", ...(nativeKernels ? ["native"] : [])] as const).map((b) => b as "ref" | "native");
const variants: { name: string; cfg: { flavour: "gpt2" | "llama"; nHead: number; nKvHead: number; bias: boolean; tiedEmbeddings: boolean } }[] = [
  { name: "gpt2, tied, biases", cfg: { flavour: "gpt2", nHead: 4, nKvHead: 4, bias: true, tiedEmbeddings: true } },
  { name: "gpt2, untied, no biases", cfg: { flavour: "gpt2", nHead: 2, nKvHead: 2, bias: false, tiedEmbeddings: false } },
  { name: "llama, grouped KV heads", cfg: { flavour: "llama", nHead: 4, nKvHead: 2, bias: false, tiedEmbeddings: false } },
];
const tokensOf = (n: number, a: number, b: number, V = 50) => Array.from({ length: n }, (_, i) => (i * a + b) % V);
const modelOf = (cfg: (typeof variants)[number]["cfg"], backend: "ref" | "native", seed = 7) => {
  const model = new GPT(makeConfig({ nLayer: 2, nEmbd: 32, blockSize: 24, vocabSize: 50, ...cfg }), { seed, backend });
  model.eval();
  return model;
};
/** Logits after each token of `tokens`, through GPT.forward with a KV cache (the definition). */
const reference = (model: GPT, tokens: number[]) => {
  const cache = model.createCache(1, model.config.blockSize);
  const out = tokens.map((t) => Float32Array.from(tidy(() => noGrad(() => model.forward(ids([t], [1, 1]), { cache, lastOnly: true }).toTypedArray()))));
  cache.dispose();
  return out;
};

describe("infer/BatchDecoder", () => {
  for (const backend of backends) {
    for (const v of variants) {
      it(`one token at a time equals GPT.forward with a KV cache at every position (${backend}, ${v.name})`, () => {
        const model = modelOf(v.cfg, backend);
        const d = new BatchDecoder(model);
        const tokens = tokensOf(24, 13, 5);
        const want = reference(model, tokens);
        tokens.forEach((t, i) => {
          expect(relErr(d.step([{ slot: 0, tokens: [t] }]), want[i])).toBeLessThan(1e-5);
        });
        expect(d.length(0)).toBe(24);
        expect(() => d.step([{ slot: 0, tokens: [1] }])).toThrow(/do not fit/);
        d.truncate(0);
        expect(d.length(0)).toBe(0);
      });

      it(`sequences of different lengths decoded together give what each gives alone (${backend}, ${v.name})`, () => {
        const model = modelOf(v.cfg, backend);
        const seqs = [tokensOf(20, 7, 3), tokensOf(9, 11, 1), tokensOf(15, 3, 8)];
        const want = seqs.map((s) => reference(model, s));
        const d = new BatchDecoder(model, { slots: 3 });
        // prompts of 5, 1 and 3 tokens fed in one step, then one token per live sequence per step
        const fed = [5, 1, 3];
        let got = d.step(fed.map((n, slot) => ({ slot, tokens: seqs[slot].slice(0, n) })));
        fed.forEach((n, s) => {
          expect(relErr(got.subarray(s * 50, (s + 1) * 50), want[s][n - 1])).toBeLessThan(1e-5);
        });
        for (;;) {
          const live = [0, 1, 2].filter((s) => fed[s] < seqs[s].length);
          if (live.length === 0) break;
          got = d.step(live.map((slot) => ({ slot, tokens: [seqs[slot][fed[slot]]] })));
          live.forEach((s, e) => {
          expect(relErr(got.subarray(e * 50, (e + 1) * 50), want[s][fed[s]])).toBeLessThan(1e-5);
        });
          for (const s of live) fed[s]++;
        }
        expect([0, 1, 2].map((s) => d.length(s))).toEqual([20, 9, 15]);
      });
    }

    it(`a copied prefix and a truncated slot continue like a fresh sequence (${backend})`, () => {
      const model = modelOf(variants[0].cfg, backend);
      const prompt = tokensOf(8, 5, 2);
      const d = new BatchDecoder(model, { slots: 4 });
      d.step([{ slot: 0, tokens: prompt }]);
      d.copy(0, 1);
      d.copy(0, 2, 5);
      const a = [9, 4, 33];
      const got = Float32Array.from(d.step([{ slot: 0, tokens: [a[0]] }, { slot: 1, tokens: [a[1]] }, { slot: 2, tokens: prompt.slice(5) }]));
      expect(relErr(got.subarray(0, 50), reference(model, [...prompt, a[0]])[8])).toBeLessThan(1e-5);
      expect(relErr(got.subarray(50, 100), reference(model, [...prompt, a[1]])[8])).toBeLessThan(1e-5);
      expect(relErr(got.subarray(100, 150), reference(model, prompt)[7])).toBeLessThan(1e-5);
      d.truncate(0, 3);
      const cont = Float32Array.from(d.step([{ slot: 0, tokens: [a[2], a[0]] }]));
      expect(relErr(cont, reference(model, [...prompt.slice(0, 3), a[2], a[0]])[4])).toBeLessThan(1e-5);
    });
  }

  for (const level of simdLevels()) {
    for (const v of [variants[0], variants[2]]) {
      it(`a sequence's logits are bit for bit the same decoded alone or in a batch of 13 (native ${level}, ${v.name})`, () => {
        withSimd(level, () => {
          const model = modelOf(v.cfg, "native");
          const S = 13;
          const seqs = Array.from({ length: S }, (_, s) => tokensOf(8 + (s % 5), 3 + 2 * s, s));
          const prompt = (s: number) => 1 + (s % 4);
          const bits = (a: Float32Array) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
          // each sequence alone: its prompt in one step, then one token per step
          const alone = seqs.map((seq, s) => {
            const d = new BatchDecoder(model);
            const out = [bits(d.step([{ slot: 0, tokens: seq.slice(0, prompt(s)) }]))];
            for (let i = prompt(s); i < seq.length; i++) out.push(bits(d.step([{ slot: 0, tokens: [seq[i]] }])));
            return out;
          });
          // all together: every prompt in the first step (30 rows), then one row per live sequence (13 down to 3)
          const d = new BatchDecoder(model, { slots: S });
          const fed = seqs.map((_, s) => prompt(s));
          const steps = seqs.map(() => 0);
          let live = seqs.map((_, s) => s);
          let logits = d.step(live.map((slot) => ({ slot, tokens: seqs[slot].slice(0, fed[slot]) })));
          let checked = 0;
          while (live.length > 0) {
            live.forEach((s, e) => {
              expect(bits(logits.subarray(e * 50, (e + 1) * 50)), `sequence ${s} step ${steps[s]}`).toEqual(alone[s][steps[s]++]);
              checked++;
            });
            live = live.filter((s) => fed[s] < seqs[s].length);
            if (live.length === 0) break;
            logits = d.step(live.map((slot) => ({ slot, tokens: [seqs[slot][fed[slot]++]] })));
          }
          expect(checked).toBe(seqs.reduce((n, seq, s) => n + seq.length - prompt(s) + 1, 0));
        });
      });
    }
  }

  it("refuses what it cannot do with a message", () => {
    const model = modelOf(variants[0].cfg, "ref");
    const d = new BatchDecoder(model, { slots: 2, maxLen: 8 });
    expect(() => d.step([{ slot: 0, tokens: [1] }, { slot: 0, tokens: [2] }])).toThrow(/fed twice/);
    expect(() => d.step([{ slot: 2, tokens: [1] }])).toThrow(/outside 0..1/);
    expect(() => d.step([{ slot: 1, tokens: [] }])).toThrow(/nothing to feed/);
    expect(() => d.step([{ slot: 1, tokens: [50] }])).toThrow(/vocabulary/);
    expect(() => d.step([{ slot: 1, tokens: tokensOf(9, 1, 0) }])).toThrow(/do not fit/);
    expect(() => d.copy(0, 1, 3)).toThrow(/holds 0 tokens/);
    expect(() => new BatchDecoder(model, { maxLen: 25 })).toThrow(/outside 1..24/);
    const f64 = new GPT(makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 20 }), { seed: 1, dtype: "f64", backend: "ref" });
    expect(batchDecoderUnsupported(f64)).toMatch(/f64/);
  });

  for (const flavour of ["gpt2", "llama"] as const) {
    it(`generation gives the same tokens through the decoder and through the tensor path, sliding window included (${flavour})`, () => {
      const config = makeConfig({ flavour, nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 40 });
      const model = new GPT(config, { seed: 3 });
      const opts = { maxTokens: 40, temperature: 0.9, topK: 10, seed: 5 };
      const fast = generate(model, [1, 2, 3], opts);
      const slow = generate(model, [1, 2, 3], { ...opts, fastDecode: false });
      expect(fast.tokens).toEqual(slow.tokens);
      expect(fast.tokens).toHaveLength(40);
    });
  }
});
