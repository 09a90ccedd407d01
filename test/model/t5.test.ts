// The T5 model: relative position buckets against Hugging Face's values, float64 finite-difference
// checks of every gradient (relative-bias attention, padding mask, both MLPs), cached decoding equal
// to recomputing the decoder, config validation, and its model folder (HF names, read back by PyTorch
// when /usr/bin/python3 has torch, refused as a GPT).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { relErr } from "../helpers/relErr.js";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { loadModel } from "../../src/model/serialize.js";
import { relativePositionBucket, T5, type T5Batch } from "../../src/model/t5.js";
import { assertT5WeightsFit, fromHfT5Config, makeT5Config, t5ParamCount, validateT5Config, type T5Config } from "../../src/model/t5Config.js";
import { loadT5, saveT5 } from "../../src/model/t5Folder.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";

const V = 13;
const tiny = (over: Partial<T5Config> = {}): T5Config =>
  makeT5Config({ vocabSize: V, dModel: 8, dKv: 3, numHeads: 2, dFf: 10, numLayers: 1, relativeAttentionNumBuckets: 4, relativeAttentionMaxDistance: 5, ...over });
const batch: T5Batch = {
  inputIds: ids([3, 5, 7, 2, 9, 4, 6, 8, 0, 0], [2, 5]),
  attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  labels: Int32Array.from([4, 11, 2, 1, 7, 3, -100, -100]),
};

describe("T5 relative position buckets", () => {
  it("match Hugging Face's _relative_position_bucket (32 buckets, max distance 128)", () => {
    const bi = (r: number) => relativePositionBucket(r, true, 32, 128);
    const uni = (r: number) => relativePositionBucket(r, false, 32, 128);
    expect([0, 1, -1, -7, -8, -20, 20, -200, 200].map(bi)).toEqual([0, 17, 1, 7, 8, 10, 26, 15, 31]);
    expect([0, 5, -1, -15, -16, -20, -1000].map(uni)).toEqual([0, 0, 1, 15, 16, 17, 31]);
  });
});

describe("T5 gradients (float64 finite differences)", () => {
  for (const [name, cfg] of [
    ["relu, tied head", tiny()],
    ["gated-gelu, untied head, 2 decoder blocks", tiny({ feedForwardProj: "gated-gelu", tieWordEmbeddings: false, numDecoderLayers: 2 })],
  ] as [string, T5Config][]) {
    it(`${name}: every parameter, including the relative attention biases`, () => {
      const m = new T5(cfg, { seed: 4, backend: "ref", dtype: "f64" });
      for (const [n, p] of m.namedParameters()) if (n.endsWith("relative_attention_bias.weight")) p.data.set(p.toTypedArray().map((x) => 3 * x));
      const r = gradcheck(() => m.loss(batch), m.parameters(), { atol: 1e-7, rtol: 1e-5 });
      expect(r.ok, r.where).toBe(true);
    });
  }

  it("padding is invisible: a padded row gives the logits of the same row unpadded", () => {
    const m = new T5(tiny(), { seed: 2, backend: "ref", dtype: "f64" });
    const padded = noGrad(() => tidy(() => m.forward(batch).toTypedArray()));
    const alone = noGrad(() => tidy(() => m.forward({ inputIds: ids([4, 6, 8], [1, 3]), labels: batch.labels.slice(4) }).toTypedArray()));
    const row = padded.subarray(padded.length / 2);
    for (let i = 0; i < row.length; i++) expect(row[i]).toBeCloseTo(alone[i], 10);
    const unmasked = noGrad(() => tidy(() => m.forward({ ...batch, attentionMask: undefined }).toTypedArray()));
    expect(Math.max(...unmasked.subarray(unmasked.length / 2).map((x, i) => Math.abs(x - row[i])))).toBeGreaterThan(1e-6);
  });
});

describe("T5 generation with a KV cache", () => {
  const m = new T5(tiny({ feedForwardProj: "gated-gelu", numLayers: 2, numDecoderLayers: 2, relativeAttentionNumBuckets: 8, relativeAttentionMaxDistance: 9 }), { seed: 7, backend: "ref", dtype: "f64" });

  it("each cached step's logits equal the full decoder recomputed over the sequence so far", () => {
    const steps = 12;
    const seq = [[0], [0]];
    const cache = m.startDecoding(batch.inputIds, batch.attentionMask);
    try {
      for (let s = 0; s < steps; s++) {
        const cached = tidy(() => m.decodeStep(cache, ids([seq[0][s], seq[1][s]], [2, 1])).toTypedArray());
        const full = noGrad(() => tidy(() => {
          const enc = m.encode(batch.inputIds, batch.attentionMask);
          const l = m.decode(ids([...seq[0], ...seq[1]], [2, s + 1]), enc, batch.attentionMask);
          return l.toTypedArray();
        }));
        for (let b = 0; b < 2; b++) {
          const last = full.subarray((b * (s + 1) + s) * V, (b * (s + 1) + s + 1) * V);
          const mine = cached.subarray(b * V, (b + 1) * V);
          for (let v = 0; v < V; v++) expect(mine[v]).toBeCloseTo(last[v], 10);
          seq[b].push((s * 5 + b * 3 + 2) % V);
        }
      }
      expect(cache.length).toBe(steps);
    } finally {
      cache.dispose();
    }
  });

  it("greedy generation gives the same tokens with and without the cache, and stops at eos", () => {
    const a = m.generate(batch.inputIds, { attentionMask: batch.attentionMask, maxNewTokens: 10, eosTokenId: null });
    const b = m.generate(batch.inputIds, { attentionMask: batch.attentionMask, maxNewTokens: 10, eosTokenId: null, useCache: false });
    expect(a.map((r) => r.length)).toEqual([10, 10]);
    expect(a).toEqual(b);
    const eos = a[0][2];
    const stopped = m.generate(batch.inputIds, { attentionMask: batch.attentionMask, maxNewTokens: 10, eosTokenId: eos });
    expect(stopped[0]).toEqual(a[0].slice(0, a[0].indexOf(eos) + 1));
  });
});

describe("T5 config", () => {
  it("refuses a width that does not split into heads unless d_kv is given", () => {
    expect(() => makeT5Config({ vocabSize: 10, dModel: 10, numHeads: 3, numLayers: 1 })).toThrow(/dModel 10 is not divisible by numHeads 3: give dKv/);
    expect(makeT5Config({ vocabSize: 10, dModel: 10, numHeads: 3, dKv: 4, numLayers: 1 }).dKv).toBe(4);
  });
  it("counts parameters as the model holds them, and refuses weights that cannot fit before allocating", () => {
    for (const c of [tiny(), tiny({ feedForwardProj: "gated-gelu", tieWordEmbeddings: false, numDecoderLayers: 3 })]) {
      expect(t5ParamCount(c)).toBe(new T5(c, { initWeights: false }).numParameters());
    }
    expect(() => assertT5WeightsFit(tiny(), 4, 1000)).toThrow(/the weights of this T5 alone need .* more than the 1\.0 KiB available/);
  });
  it("names every bad field", () => {
    expect(() => validateT5Config({ ...tiny(), numHeads: 0, feedForwardProj: "swiglu" })).toThrow(/numHeads: numHeads must be at least 1[\s\S]*feedForwardProj/);
    expect(() => validateT5Config({ ...tiny(), relativeAttentionMaxDistance: 2 })).toThrow(/relativeAttentionMaxDistance 2 must exceed/);
    expect(() => validateT5Config({ ...tiny(), eosTokenId: 99 })).toThrow(/eosTokenId 99 is outside the vocabulary/);
    expect(() => validateT5Config({ ...tiny(), nLayer: 2 })).toThrow(/Unrecognized key|nLayer/);
    expect(() => fromHfT5Config({ model_type: "t5", vocab_size: 10, d_model: 8, d_kv: 4, d_ff: 8, num_layers: 1, num_heads: 2, feed_forward_proj: "gated-silu" }))
      .toThrow(/feed_forward_proj "gated-silu" is not supported/);
  });
});

describe("T5 model folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-t5-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("saves HF names and T5Config keys, loads back to the same logits", () => {
    const m = new T5(tiny({ tieWordEmbeddings: false }), { seed: 5 });
    saveT5(dir, m);
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    expect(cfg).toMatchObject({
      architectures: ["T5ForConditionalGeneration"], model_type: "t5", d_model: 8, d_kv: 3, d_ff: 10, num_layers: 1, num_decoder_layers: 1, num_heads: 2,
      relative_attention_num_buckets: 4, relative_attention_max_distance: 5, feed_forward_proj: "relu", layer_norm_epsilon: 1e-6,
      decoder_start_token_id: 0, tie_word_embeddings: false,
    });
    const names = m.namedParameters().map(([n]) => n);
    expect(names).toContain("shared.weight");
    expect(names).toContain("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    expect(names).toContain("encoder.block.0.layer.1.DenseReluDense.wi.weight");
    expect(names).toContain("decoder.block.0.layer.1.EncDecAttention.k.weight");
    expect(names).toContain("decoder.block.0.layer.2.layer_norm.weight");
    expect(names).toContain("encoder.final_layer_norm.weight");
    expect(names).toContain("lm_head.weight");
    const back = loadT5(dir);
    const f = (x: T5) => noGrad(() => tidy(() => x.forward(batch).toTypedArray()));
    expect(Array.from(f(back))).toEqual(Array.from(f(m)));
  });

  const hasTorch = existsSync("/usr/bin/python3") && spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;
  it.skipIf(!hasTorch)("PyTorch (an independent T5 with Hugging Face's names and config keys) reads the saved folder to the same logits", () => {
    for (const cfg of [tiny({ numDecoderLayers: 2 }), tiny({ feedForwardProj: "gated-gelu", tieWordEmbeddings: false, relativeAttentionNumBuckets: 8, relativeAttentionMaxDistance: 9 })]) {
      const m = new T5(cfg, { seed: 8 });
      const folder = join(dir, `readback-${cfg.feedForwardProj}`);
      saveT5(folder, m);
      const dec = m.shiftRight(batch.labels, 2, 4);
      const rows = (a: ArrayLike<number>, w: number) => [Array.from(a).slice(0, w), Array.from(a).slice(w)];
      const input = { input_ids: rows(batch.inputIds.data, 5), attention_mask: rows(batch.attentionMask as Int32Array, 5), decoder_input_ids: rows(dec.data, 4) };
      const out = execFileSync("/usr/bin/python3", [join(import.meta.dirname, "t5_reference.py"), "--read", folder, JSON.stringify(input)], { encoding: "utf8" });
      const want = JSON.parse(out) as number[];
      const got = noGrad(() => tidy(() => m.forward(batch).toTypedArray()));
      expect(relErr(got, want)).toBeLessThan(1e-5);
    }
  }, 60_000);

  it("a T5 folder loaded as a GPT fails clearly before allocating a model", () => {
    expect(existsSync(join(dir, "config.json"))).toBe(true);
    expect(() => loadModel(dir)).toThrow(/this folder holds a t5 model; it is an encoder-decoder .* load it with loadT5/);
  });

  it("a GPT folder loaded as a T5 fails by name", () => {
    const gptDir = join(dir, "gpt");
    mkdirSync(gptDir);
    writeFileSync(join(gptDir, "config.json"), JSON.stringify({ model_type: "gpt2", n_layer: 1 }));
    expect(() => loadT5(gptDir)).toThrow(/holds a "gpt2" model, not a T5/);
  });
});
