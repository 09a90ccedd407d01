import { describe, expect, it } from "vitest";
import {
  assertTrainingFits, configFromDepth, estimateTrainingMemory, makeConfig, ModelConfigError, paramCount, presetConfig, PRESETS, validateConfig,
} from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";

describe("GPTConfig", () => {
  it("fills GPT-2 and Llama conventions per flavour", () => {
    const g = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32, vocabSize: 100 });
    expect(g).toMatchObject({ flavour: "gpt2", nKvHead: 2, mlpHidden: 256, tiedEmbeddings: true, bias: true, dropout: 0, initStd: 0.02 });
    const l = makeConfig({ flavour: "llama", nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32, vocabSize: 100 });
    expect(l).toMatchObject({ flavour: "llama", mlpHidden: 192, tiedEmbeddings: false, bias: false, ropeBase: 10000 });
  });
  it("paramCount equals what the model allocates", () => {
    const cases = [
      makeConfig({ nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 30 }),
      makeConfig({ nLayer: 1, nHead: 4, nEmbd: 16, blockSize: 8, vocabSize: 30, tiedEmbeddings: false, bias: false }),
      makeConfig({ flavour: "llama", nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 30 }),
      makeConfig({ flavour: "llama", nLayer: 1, nHead: 4, nKvHead: 1, nEmbd: 16, blockSize: 8, vocabSize: 30, bias: true, tiedEmbeddings: true }),
    ];
    for (const c of cases) expect(new GPT(c, { backend: "ref" }).numParameters()).toBe(paramCount(c));
  });
  it("GPT-2 small preset has GPT-2's 124,439,808 parameters", () => {
    const c = presetConfig("gpt2");
    expect(c).toMatchObject({ nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, vocabSize: 50257 });
    expect(paramCount(c)).toBe(124_439_808);
    expect(Object.keys(PRESETS)).toEqual(["tiny", "mini", "small", "medium", "gpt2"]);
    expect(presetConfig("mini", { flavour: "llama", vocabSize: 512 })).toMatchObject({ flavour: "llama", nEmbd: 256, vocabSize: 512 });
    expect(() => presetConfig("huge")).toThrow(/unknown model preset "huge"; choose one of tiny, mini/);
  });
  it("one size dial: width 64·depth, head dim 64 (32 below depth 4)", () => {
    const o = { vocabSize: 4096, blockSize: 256 };
    expect(configFromDepth(12, o)).toMatchObject({ nLayer: 12, nEmbd: 768, nHead: 12 });
    expect(configFromDepth(4, o)).toMatchObject({ nLayer: 4, nEmbd: 256, nHead: 4 });
    expect(configFromDepth(1, o)).toMatchObject({ nLayer: 1, nEmbd: 64, nHead: 2 });
    expect(configFromDepth(2, { ...o, flavour: "llama" })).toMatchObject({ flavour: "llama", nEmbd: 128, nHead: 4 });
    expect(configFromDepth(6, { ...o, overrides: { dropout: 0.1 } }).dropout).toBe(0.1);
    expect(() => configFromDepth(0, o)).toThrow(/depth must be a whole number from 1 to 64/);
    expect(() => configFromDepth(2.5, o)).toThrow(ModelConfigError);
  });
  it("clear errors for shapes that do not divide", () => {
    const base = { nLayer: 2, nHead: 3, nEmbd: 64, blockSize: 32, vocabSize: 100 };
    expect(() => makeConfig(base)).toThrow(/nEmbd 64 is not divisible by nHead 3/);
    expect(() => makeConfig({ ...base, flavour: "llama", nHead: 4, nKvHead: 3 })).toThrow(/nHead 4 is not divisible by nKvHead 3/);
    expect(() => makeConfig({ ...base, nHead: 4, nKvHead: 2 })).toThrow(/grouped-query attention needs flavour "llama"/);
    expect(() => makeConfig({ ...base, flavour: "llama", nHead: 64, nEmbd: 64 })).toThrow(/head dim 1 is odd/);
  });
  it("refuses absurd or malformed values with the field name", () => {
    const base = { nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32, vocabSize: 100 };
    expect(() => makeConfig({ ...base, nLayer: 5000 })).toThrow(/nLayer: nLayer must be at most 1024/);
    expect(() => makeConfig({ ...base, nEmbd: 0 })).toThrow(/nEmbd must be at least 1/);
    expect(() => makeConfig({ ...base, vocabSize: 10.5 })).toThrow(/vocabSize must be a whole number/);
    expect(() => makeConfig({ ...base, dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
    expect(() => validateConfig({ ...makeConfig(base), nLayers: 3 }, "run.json")).toThrow(/run\.json is invalid/);
    expect(() => makeConfig({ nLayer: 1000, nHead: 64, nEmbd: 65536, blockSize: 32, vocabSize: 100 })).toThrow(/parameters is beyond what llmforge can hold/);
  });
  it("estimates training memory and refuses configs that cannot fit, before allocating", () => {
    const small = presetConfig("gpt2");
    const est = estimateTrainingMemory(small, { batchSize: 4, seqLen: 1024 });
    expect(est.parameterBytes).toBe(16 * 124_439_808);
    expect(est.totalBytes).toBeGreaterThan(est.parameterBytes + est.activationBytes);
    expect(() => assertTrainingFits(small, { batchSize: 64, limitBytes: 8 * 2 ** 30 })).toThrow(
      /does not fit in memory for training: about .* GiB needed \(124\.44M parameters.*batch 64 × 1024 tokens.*only 8\.00 GiB is available\. Reduce the batch size/,
    );
    expect(() => assertTrainingFits(presetConfig("tiny"), { batchSize: 8, limitBytes: 2 ** 30 })).not.toThrow();
  });
});
