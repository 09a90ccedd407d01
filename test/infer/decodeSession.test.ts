// The one-token decode path against its definition: logits of DecodeSession equal GPT.forward with a KV cache
// position by position (tied and untied heads, with and without biases, both backends), and
// generation gives the same tokens through either path.
import { describe, expect, it } from "vitest";
import { generate } from "../../src/infer/generate.js";
import { DecodeSession, decodeSessionUnsupported } from "../../src/infer/decodeSession.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { nativeKernels } from "../../src/tensor/backend/index.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";
import { relErr } from "../helpers/relErr.js";

const backends = (["ref", ...(nativeKernels ? ["native"] : [])] as const).map((b) => b as "ref" | "native");
const variants = [
  { name: "tied, biases", cfg: { nHead: 4, nKvHead: 4, bias: true, tiedEmbeddings: true } },
  { name: "untied, no biases", cfg: { nHead: 2, nKvHead: 2, bias: false, tiedEmbeddings: false } },
];

describe("infer/DecodeSession", () => {
  for (const backend of backends) {
    for (const v of variants) {
      it(`equals GPT.forward with a KV cache at every position (${backend}, ${v.name})`, () => {
        const config = makeConfig({ flavour: "gpt2", nLayer: 2, nEmbd: 32, blockSize: 24, vocabSize: 50, ...v.cfg });
        const model = new GPT(config, { seed: 7, backend });
        model.eval();
        const s = new DecodeSession(model);
        const cache = model.createCache(1, 24);
        const tokens = Array.from({ length: 24 }, (_, i) => (i * 13 + 5) % 50);
        for (const t of tokens) {
          const want = tidy(() => noGrad(() => model.forward(ids([t], [1, 1]), { cache, lastOnly: true }).toTypedArray()));
          const got = s.step(t);
          expect(relErr(got, want)).toBeLessThan(1e-5);
        }
        expect(s.length).toBe(24);
        expect(() => s.step(1)).toThrow(/reset\(\)/);
        s.reset();
        expect(s.length).toBe(0);
        cache.dispose();
      });
    }
  }

  it("generation gives the same tokens through the session and through the tensor path, sliding window included", () => {
    const config = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 40 });
    const model = new GPT(config, { seed: 3 });
    const opts = { maxTokens: 40, temperature: 0.9, topK: 10, seed: 5 };
    const fast = generate(model, [1, 2, 3], opts);
    const slow = generate(model, [1, 2, 3], { ...opts, fastDecode: false });
    expect(fast.tokens).toEqual(slow.tokens);
    expect(fast.tokens).toHaveLength(40);
  });

  it("names what keeps a model on the tensor path", () => {
    const llama = new GPT(makeConfig({ flavour: "llama", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 20 }), { seed: 1 });
    expect(decodeSessionUnsupported(llama)).toMatch(/llama/);
    expect(() => new DecodeSession(llama)).toThrow(/llama/);
    const f64 = new GPT(makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 20 }), { seed: 1, dtype: "f64", backend: "ref" });
    expect(decodeSessionUnsupported(f64)).toMatch(/f64/);
  });
});

describe("infer/DecodeSession.prefill", () => {
  for (const backend of backends) {
    it(`a prompt fed at once gives the logits and cache of feeding it token by token (${backend})`, () => {
      const config = makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 24, vocabSize: 50 });
      const model = new GPT(config, { seed: 9, backend });
      const prompt = Array.from({ length: 11 }, (_, i) => (i * 7 + 3) % 50);
      const a = new DecodeSession(model);
      const b = new DecodeSession(model);
      const la = Float32Array.from(a.prefill(prompt));
      let lb = new Float32Array(0);
      for (const t of prompt) lb = Float32Array.from(b.step(t));
      expect(relErr(la, lb)).toBeLessThan(1e-5);
      expect(a.length).toBe(11);
      // the cache it left: the next tokens decode alike
      for (const t of [4, 8, 15]) expect(relErr(a.step(t), Float32Array.from(b.step(t)))).toBeLessThan(1e-5);
      expect(() => new DecodeSession(model, 8).prefill(prompt)).toThrow(/do not fit/);
    });
  }
});
