// Quantised Linear layers: the int8 / q4_0 quantisers (q4_0 bytes as ggml's), the reference matmul against the
// dequantised float weight, a quantised GPT through GPT.forward and the batch decoder (same logits as the float model
// holding the dequantised weights), the quantised folder round trip through loadRun, and bad folders refused.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dequantizeQ4_0, quantizeQ4_0 } from "../../src/io/gguf.js";
import { BatchDecoder } from "../../src/infer/batchDecoder.js";
import {
  dequantizeWeight, getQuantActivations, QuantLinear, quantizeActivationsQ8, quantizeWeight, quantMatmulRef, setQuantActivations,
} from "../../src/nn/quantLinear.js";
import { quantizeRun } from "../../src/infer/quantModel.js";
import { loadQuantizedModel, quantizeModel, saveQuantizedModel } from "../../src/model/quantized.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { Linear } from "../../src/nn/layers.js";
import { loadRun } from "../../src/model/runFolder.js";
import { saveModel } from "../../src/model/serialize.js";
import { ids } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-quant-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const randn = (n: number, seed: number, std = 1) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * std);
};
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const logits = (model: GPT, tokens: number[]) => Float32Array.from(tidy(() => noGrad(() => model.forward(ids(tokens, [1, tokens.length])).toTypedArray())));

/** A float copy of `model` whose quantised layers hold their dequantised weights (what the quantised model computes). */
function dequantizedTwin(model: GPT, source: GPT): GPT {
  const twin = new GPT(model.config, { initWeights: false });
  const own = new Map(source.namedParameters());
  for (const [n, p] of twin.namedParameters()) p.data.set((own.get(n) as NonNullable<ReturnType<typeof own.get>>).contiguousData(), p.offset);
  for (const [n, p] of twin.namedParameters()) {
    if (!n.endsWith(".weight")) continue;
    const m = model.getSubmodule(n.slice(0, -".weight".length));
    if (m instanceof QuantLinear) p.data.set(dequantizeWeight(m.weight), p.offset);
  }
  if (model.config.tiedEmbeddings && model.lm_head instanceof QuantLinear) {
    // the tied head's quantised copy of wte: a float head of its own in the twin, the lookup keeps wte
    const head = new Linear(model.config.nEmbd, model.config.vocabSize, { bias: false });
    head.weight.data.set(dequantizeWeight(model.lm_head.weight), head.weight.offset);
    twin.setInferenceHead(head);
  }
  twin.eval();
  return twin;
}

describe("quantisers and the reference matmul", () => {
  it("int8: one scale per row, every value within half a step; q4_0: ggml's bytes", () => {
    const [out, inp] = [5, 40];
    const w = randn(out * inp, 1);
    w.fill(0, 3 * inp, 4 * inp); // an all-zero row: scale 0
    const q = quantizeWeight(w, out, inp, "int8");
    const d = dequantizeWeight(q);
    for (let o = 0; o < out; o++) {
      let amax = 0;
      for (let k = 0; k < inp; k++) amax = Math.max(amax, Math.abs(w[o * inp + k]));
      expect(q.scales?.[o]).toBeCloseTo(amax / 127, 6);
      for (let k = 0; k < inp; k++) expect(Math.abs(d[o * inp + k] - w[o * inp + k])).toBeLessThanOrEqual((amax / 127) * 0.5 + 1e-7);
    }
    expect(Array.from(d.subarray(3 * inp, 4 * inp)).every((v) => v === 0)).toBe(true);
    const w4 = randn(4 * 64, 2);
    const q4 = quantizeWeight(w4, 4, 64, "q4_0");
    expect(Array.from(q4.data)).toEqual(Array.from(quantizeQ4_0(w4)));
    expect(Array.from(dequantizeWeight(q4))).toEqual(Array.from(dequantizeQ4_0(quantizeQ4_0(w4), w4.length)));
    expect(() => quantizeWeight(randn(4 * 40, 3), 4, 40, "q4_0")).toThrow(/rows of 40 values do not divide into q4_0 blocks of 32/);
  });

  for (const format of ["int8", "q4_0"] as const) {
    it(`${format}: y = x · dequant(W)ᵀ + b (f32 activations), and with q8 activations y = dequant(q8(x)) · dequant(W)ᵀ + b`, () => {
      const [rows, out, inp] = [3, 7, 64];
      const q = quantizeWeight(randn(out * inp, 4), out, inp, format);
      const w = dequantizeWeight(q);
      const x = randn(rows * inp, 5);
      const b = randn(out, 6);
      for (const act of ["f32", "q8"] as const) {
        const y = new Float32Array(rows * out);
        quantMatmulRef(x, rows, q, b, y, act);
        for (let r = 0; r < rows; r++) {
          const xr = x.subarray(r * inp, (r + 1) * inp);
          const xa = quantizeActivationsQ8(xr, inp);
          for (let o = 0; o < out; o++) {
            let s = b[o];
            for (let k = 0; k < inp; k++) s += (act === "f32" ? xr[k] : xa.q[k] * xa.d[k >> 5]) * w[o * inp + k];
            expect(Math.abs(y[r * out + o] - s)).toBeLessThan(1e-4 * (1 + Math.abs(s)));
          }
        }
      }
    });
  }

  it("q8 activations: per block of 32 the scale is max|x| / 127 and values round half to even; a non-finite block is NaN", () => {
    const x = new Float32Array(64);
    x[0] = 127;
    x[1] = 2.5;
    x[2] = -3.5;
    x[3] = 0.5;
    x[40] = Number.NaN;
    const { q, d } = quantizeActivationsQ8(x, 64);
    expect(d[0]).toBe(1);
    expect(Array.from(q.subarray(0, 4))).toEqual([127, 2, -4, 0]);
    expect(d[1]).toBeNaN();
    expect(Array.from(q.subarray(32)).every((v) => v === 0)).toBe(true);
    const prev = setQuantActivations("f32");
    expect(getQuantActivations()).toBe("f32");
    setQuantActivations(prev);
    expect(() => setQuantActivations("q4" as never)).toThrow(/q8 or f32, got q4/);
  });
});

describe("a quantised GPT", () => {
  const variants = [
    { name: "gpt2, tied, biases", cfg: { flavour: "gpt2" as const } },
    { name: "llama, grouped KV, untied head", cfg: { flavour: "llama" as const, nHead: 4, nKvHead: 2, tiedEmbeddings: false } },
  ];
  for (const v of variants) {
    for (const format of ["int8", "q4_0"] as const) {
      it(`${v.name}, ${format}: GPT.forward and the batch decoder compute with the quantised weights`, () => {
        const cfg = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32, vocabSize: 64, initStd: 0.1, ...v.cfg });
        const float = new GPT(cfg, { seed: 3 });
        float.eval();
        const q = new GPT(cfg, { seed: 3 });
        const modules = quantizeModel(q, format);
        expect(modules.length).toBe(4 * cfg.nLayer + 1); // the head too, tied or not
        expect(q.lm_head).toBeInstanceOf(QuantLinear);
        expect(q.h.items[0].attn.c_attn).toBeInstanceOf(QuantLinear);
        const twin = dequantizedTwin(q, float);
        const tokens = [1, 5, 9, 2, 40, 33, 7];
        // f32 activations: exactly the float model with the dequantised weights
        const prev = setQuantActivations("f32");
        const lf = logits(q, tokens);
        setQuantActivations(prev);
        expect(maxAbs(lf, logits(twin, tokens))).toBeLessThan(1e-4);
        expect(maxAbs(lf, logits(float, tokens))).toBeGreaterThan(1e-4); // quantisation did change the weights
        // q8 activations (the default): close to that, not equal (the activations are rounded to 8 bits too)
        const lq = logits(q, tokens);
        const scale = maxAbs(lf, new Float32Array(lf.length));
        expect(maxAbs(lq, lf)).toBeGreaterThan(1e-6);
        expect(maxAbs(lq, lf)).toBeLessThan(0.05 * scale);
        const dec = new BatchDecoder(q, { slots: 1 });
        const stepped = Float32Array.from(dec.step([{ slot: 0, tokens }]));
        expect(maxAbs(stepped, lq.subarray((tokens.length - 1) * cfg.vocabSize))).toBeLessThan(1e-4);

        const dir = join(tmp, `${v.cfg.flavour}-${format}`);
        saveQuantizedModel(dir, q);
        const back = loadQuantizedModel(dir);
        expect(maxAbs(logits(back, tokens), lq)).toBe(0);
      });
    }
  }
});

describe("quantised run folders", () => {
  it("quantizeRun writes a run loadRun reads; bad folders and paths are refused", () => {
    const tok = Tokenizer.trainFromTexts(["the cat sat on the mat. the dog sat on the log. ".repeat(10)], { vocabSize: 270 });
    const run = join(tmp, "run");
    const model = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 64, blockSize: 32, vocabSize: tok.vocabSize }), { seed: 1 });
    saveModel(join(run, "model"), model);
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
    const out = join(tmp, "run-q8");
    expect(() => quantizeRun({ model: run, to: "int8", out: join(run, "model", "q") })).toThrow(/inside the model folder/);
    expect(() => quantizeRun({ model: run, to: "int4", out })).toThrow(/unknown quantisation format "int4": choose one of int8, q4_0/);
    const r = quantizeRun({ model: run, to: "int8", out });
    expect(r).toMatchObject({ format: "int8", modules: 5 });
    const loaded = loadRun(out);
    expect(loaded.model.h.items[0].mlp.c_fc).toBeInstanceOf(QuantLinear);
    expect(loaded.tokenizer.encode("the cat")).toEqual(tok.encode("the cat"));
    expect(() => quantizeRun({ model: out, to: "q4_0", out: join(tmp, "again") })).toThrow(/already quantised/);

    const cfgPath = join(out, "model", "config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, format: "q3_k" } }));
    expect(() => loadRun(out)).toThrow(/quantization_config .* is not one llmforge reads/);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, modules: [...cfg.quantization_config.modules, "h.0.ln_1"] } }));
    expect(() => loadRun(out)).toThrow(/names "h.0.ln_1", which is not a Linear layer/);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, n_embd: 32 }));
    expect(() => loadRun(out)).toThrow(/tensor "h.0.attn.c_attn.qweight" is I8 \[192,64\], expected I8 \[96,32\]/);
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const st = join(out, "model", "model.safetensors");
    const bytes = readFileSync(st);
    writeFileSync(st, bytes.subarray(0, bytes.length - 10));
    expect(() => loadRun(out)).toThrow(/truncated: tensor/);
  });
});
