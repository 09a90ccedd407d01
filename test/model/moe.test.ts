// The mixture-of-experts layer and MoE GPTs: gradients by finite differences (f64, ref), deterministic
// routing, the load-balancing loss driving a skewed router towards balance, capacity, config errors,
// parameter counts (total and active), save/load round trips and the training log's MoE metrics.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gradcheck } from "../../src/autograd/gradcheck.js";
import { batchDecoderUnsupported } from "../../src/infer/batchDecoder.js";
import { generate } from "../../src/infer/generate.js";
import { loadExportModel } from "../../src/model/exportGguf.js";
import { assertOnnxExportable } from "../../src/model/exportOnnx.js";
import {
  activeParamCount, describeParamCount, makeConfig, ModelConfigError, paramCount, resolveModelConfig, trainFlopsPerToken, type GPTConfig,
} from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { toHuggingFace } from "../../src/model/hfWeights.js";
import { loadModel, saveModel } from "../../src/model/serialize.js";
import { MoE, type MoEOptions, topKExperts } from "../../src/nn/moe.js";
import { AdamW } from "../../src/optim/optimizers.js";
import * as ops from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad, Tensor, tidy } from "../../src/tensor/tensor.js";
import { writeTokenShard, readTokenShard } from "../../src/tokenizer/index.js";
import { MetricsLog } from "../../src/train/metricsLog.js";
import { train } from "../../src/train/trainer.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-moe-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function layer(over: Partial<MoEOptions> = {}, dtype: "f32" | "f64" = "f64"): MoE {
  const rng = new Rng(5);
  return new MoE({
    flavour: "llama", nEmbd: 6, hidden: 5, bias: false, fcInit: { kind: "normal", std: 0.5 }, projInit: { kind: "normal", std: 0.5 },
    dropout: 0, dropoutRng: rng, experts: 4, topK: 2, shared: false, normalizeTopK: true, capacityFactor: 0,
    loadBalanceCoef: 0.3, zLossCoef: 0.2, routerInit: { kind: "normal", std: 0.8 }, ...over,
  }, { dtype, backend: "ref", rng });
}

function input(N: number, C: number, seed = 9, dtype: "f32" | "f64" = "f64"): Tensor {
  return Tensor.randn([N, C], { dtype, backend: "ref", rng: new Rng(seed), requiresGrad: true });
}

/** The layer's output flattened, with its auxiliary loss appended: what gradcheck differentiates. */
function outputAndAux(m: MoE, x: Tensor): Tensor {
  const y = m.forward(x);
  const aux = m.last?.aux;
  if (!aux) throw new Error("no auxiliary loss in training mode");
  return ops.concat([ops.reshape(y, [-1]), ops.reshape(aux, [1])], 0);
}

describe("MoE layer: gradients (f64, ref, central differences)", () => {
  const cases: [string, Partial<MoEOptions>][] = [
    ["llama (SwiGLU), top-2 renormalised", {}],
    ["gpt2 (GELU, biases), top-2 raw gates, shared expert", { flavour: "gpt2", bias: true, normalizeTopK: false, shared: true }],
    ["top-1 of 3 with a capacity limit (tokens dropped)", { experts: 3, topK: 1, capacityFactor: 0.75 }],
  ];
  for (const [name, over] of cases) {
    it(name, () => {
      const m = layer(over);
      const x = input(8, 6);
      const params = m.parameters();
      const r = gradcheck(() => outputAndAux(m, x), [x, ...params]);
      expect(r.ok, `${r.where} (score ${r.worst})`).toBe(true);
      if (process.env.GOLDEN_VERBOSE) console.log(name, "gradcheck score", r.worst.toExponential(2), r.where);
      if (over.capacityFactor) expect(m.last?.dropped).toBeGreaterThan(0);
    });
  }
});

describe("MoE routing", () => {
  it("top-k breaks ties towards the lower expert index and is a pure function of the probabilities", () => {
    const p = [0.25, 0.25, 0.25, 0.25, 0.1, 0.4, 0.1, 0.4];
    expect(Array.from(topKExperts(p, 2, 4, 2))).toEqual([0, 1, 1, 3]);
    expect(Array.from(topKExperts(p, 2, 4, 3))).toEqual([0, 1, 2, 1, 3, 0]);
  });

  it("is deterministic, and a token's output does not depend on the other tokens of the batch (dropless)", () => {
    const m = layer();
    const x = input(12, 6);
    const a = noGrad(() => m.forward(x).toTypedArray());
    const loadA = m.last?.load.slice();
    const b = noGrad(() => m.forward(x).toTypedArray());
    expect(b).toEqual(a);
    expect(m.last?.load).toEqual(loadA);
    for (const n of [0, 5, 11]) {
      const one = noGrad(() => m.forward(ops.slice(x, 0, n, n + 1)).toTypedArray());
      for (let c = 0; c < 6; c++) expect(Math.abs(one[c] - a[n * 6 + c])).toBeLessThan(1e-12);
    }
    // the load sums to k and the aux values are the documented formulas
    const load = m.last?.load ?? new Float64Array(0);
    expect(load.reduce((s, v) => s + v, 0)).toBeCloseTo(2, 12);
  });

  it("a capacity limit drops over-capacity assignments in training only; evaluation is dropless", () => {
    const m = layer({ experts: 4, topK: 1, capacityFactor: 0.5, routerInit: { kind: "normal", std: 0.01 } });
    const x = Tensor.randn([16, 6], { dtype: "f64", backend: "ref", rng: new Rng(1) });
    for (let i = 0; i < 16; i++) x.data[i * 6] += 3; // a shared direction: one expert is everyone's favourite
    const w = m.router.weight;
    w.data[0] = 2;
    noGrad(() => m.forward(x));
    expect(m.last?.dropped).toBe(16 - 2); // capacity ceil(0.5 · 16 / 4) = 2
    m.eval();
    noGrad(() => m.forward(x));
    expect(m.last?.dropped).toBe(0);
  });
});

describe("load-balancing loss", () => {
  /** Max load ÷ balanced load (1 = balanced, E/k = everything on one expert). */
  const imbalance = (m: MoE) => (Math.max(...(m.last?.load ?? [])) * m.o.experts) / m.o.topK;

  function run(coef: number): [number, number] {
    const m = layer({ experts: 4, topK: 1, loadBalanceCoef: coef, zLossCoef: 0, routerInit: { kind: "normal", std: 0.05 } }, "f32");
    const x = Tensor.randn([64, 6], { backend: "ref", rng: new Rng(2) });
    for (let i = 0; i < 64; i++) x.data[i * 6] += 2;
    m.router.weight.data[0] = 3; // skewed router: expert 0 takes (nearly) every token
    const opt = new AdamW(m.router.parameters(), { lr: 0.05, weightDecay: 0 });
    let first = 0;
    for (let step = 0; step < 25; step++) {
      tidy(() => {
        m.forward(x);
        if (step === 0) first = imbalance(m);
        // the task loss is held at zero so only the auxiliary loss moves the router
        const aux = m.last?.aux;
        if (aux) aux.backward();
      });
      opt.step();
      opt.zeroGrad();
    }
    noGrad(() => m.forward(x));
    return [first, imbalance(m)];
  }

  it("a few optimizer steps on a skewed router bring the load towards balance; without it nothing moves", () => {
    const [before, after] = run(1);
    if (process.env.GOLDEN_VERBOSE) console.log(`busiest expert ÷ balanced: ${before.toFixed(2)} -> ${after.toFixed(2)} after 25 AdamW steps`);
    expect(before).toBeGreaterThan(3.5);
    expect(after).toBeLessThan(2);
    const [before0, after0] = run(0);
    expect(before0).toBe(before);
    expect(after0).toBe(before0);
  });
});

const llamaMoe = makeConfig({
  flavour: "llama", nLayer: 2, nHead: 2, nKvHead: 1, nEmbd: 16, blockSize: 8, vocabSize: 40, mlpHidden: 12, initStd: 0.3, moeExperts: 4, moeTopK: 2,
});
const seq = ids2([[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]]);
function ids2(rows: number[][]) {
  return ops.ids(rows.flat(), [rows.length, rows[0].length]);
}
const logits = (m: GPT) => tidy(() => noGrad(() => m.forward(seq).toTypedArray()));

describe("MoE config", () => {
  it("fills defaults; dense configs carry no moe fields", () => {
    expect(llamaMoe).toMatchObject({ moeExperts: 4, moeTopK: 2, moeShared: false, moeEvery: 1, moeNormalizeTopK: true, moeCapacityFactor: 0 });
    const dense = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 40, moeExperts: 0 });
    expect(Object.keys(dense).filter((k) => k.startsWith("moe"))).toEqual([]);
  });

  it("bad combinations are refused with errors that say what to change", () => {
    const base = { nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 40 };
    const bad: [Partial<GPTConfig>, RegExp][] = [
      [{ moeExperts: 4, moeTopK: 5 }, /moeTopK 5 is larger than moeExperts 4.*--moe-top-k/],
      [{ moeExperts: 1 }, /at least 2 experts/],
      [{ moeTopK: 2 }, /moeTopK set without moeExperts.*--moe-experts/],
      [{ moeExperts: 4, moeEvery: 3 }, /moeEvery 3 is larger than nLayer 2/],
      [{ moeExperts: 4, moeTopK: 0 }, /moeTopK must be at least 1/],
      [{ moeExperts: 4, moeLoadBalanceCoef: -1 }, /moeLoadBalanceCoef must be >= 0/],
      [{ moeExperts: 2.5 }, /moeExperts must be a whole number/],
    ];
    for (const [over, re] of bad) expect(() => makeConfig({ ...base, ...over })).toThrow(re);
    expect(() => resolveModelConfig({ preset: "tiny", moeExperts: 2, moeTopK: 3 }, 100)).toThrow(ModelConfigError);
    expect(resolveModelConfig({ preset: "tiny", moeExperts: 8 }, 100).moeTopK).toBe(2);
  });

  it("parameter counts: total matches the model, active counts k experts; FLOPs follow the active count", () => {
    const variants: GPTConfig[] = [
      llamaMoe,
      makeConfig({ ...llamaMoe, moeShared: true, moeEvery: 2, bias: true }),
      makeConfig({ flavour: "gpt2", nLayer: 3, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 40, moeExperts: 3, moeTopK: 1, moeShared: true }),
    ];
    for (const c of variants) expect(new GPT(c, { backend: "ref", initWeights: false }).numParameters()).toBe(paramCount(c));
    const dense = makeConfig(Object.fromEntries(Object.entries(llamaMoe).filter(([k]) => !k.startsWith("moe"))) as GPTConfig);
    const expert = 3 * 16 * 12;
    expect(paramCount(llamaMoe) - paramCount(dense)).toBe(2 * (4 * 16 + 3 * expert));
    expect(activeParamCount(llamaMoe) - paramCount(dense)).toBe(2 * (4 * 16 + expert));
    expect(trainFlopsPerToken(llamaMoe) - trainFlopsPerToken(dense)).toBe(6 * 2 * (4 * 16 + expert));
    expect(describeParamCount(llamaMoe)).toMatch(/parameters \(.* active: 4 experts, top 2\)/);
  });
});

describe("MoE GPT", () => {
  it("loss adds the auxiliary loss in training mode only; metrics report load per layer", () => {
    const m = new GPT(llamaMoe, { seed: 3, backend: "ref", dtype: "f64" });
    const targets = Int32Array.from(seq.data, (v) => (v + 1) % 40);
    const [withAux, ce, aux] = tidy(() => {
      const l = m.loss(seq, targets).item();
      return [l, ops.crossEntropy(m.forward(seq), targets).item(), m.moeAuxLoss()?.item() ?? 0];
    });
    expect(aux).toBeGreaterThan(0);
    expect(withAux).toBeCloseTo(ce + aux, 12);
    const metrics = m.moeMetrics();
    expect(metrics?.moe_aux).toBeCloseTo(aux, 12);
    expect(Object.keys(metrics ?? {})).toEqual(expect.arrayContaining(["moe_lb", "moe_z", "moe_h0_load_max", "moe_h1_load_min"]));
    m.eval();
    const evalLoss = tidy(() => noGrad(() => m.loss(seq, targets).item()));
    expect(evalLoss).toBeCloseTo(ce, 12);
    expect(m.moeAuxLoss()).toBeNull();
  });

  it("generates with a KV cache the same logits as a full forward", () => {
    const m = new GPT(llamaMoe, { seed: 3, backend: "ref", dtype: "f64" }).eval();
    const full = logits(m);
    const cache = m.createCache(2);
    const step = tidy(() => {
      m.forward(ids2([[3, 1, 4, 1, 5, 9, 2], [2, 7, 1, 8, 2, 8, 1]]), { cache });
      return m.forward(ids2([[6], [8]]), { cache }).toTypedArray();
    });
    const V = 40;
    for (let b = 0; b < 2; b++) for (let v = 0; v < V; v++) expect(Math.abs(step[b * V + v] - full[(b * 8 + 7) * V + v])).toBeLessThan(1e-10);
  });

  const roundTrips: [string, GPTConfig, string, string][] = [
    ["llama: Mixtral names and config", llamaMoe, "mixtral", "model.layers.1.block_sparse_moe.experts.3.w3.weight"],
    ["llama with a shared expert every 2nd layer: llmforge_moe", makeConfig({ ...llamaMoe, moeShared: true, moeEvery: 2, moeNormalizeTopK: false }),
      "llmforge_moe", "model.layers.1.block_sparse_moe.shared_expert.w1.weight"],
    ["gpt2: llmforge's own names", makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 40, initStd: 0.3, moeExperts: 3, moeShared: true, moeCapacityFactor: 1.25, moeZLossCoef: 0 }),
      "llmforge_gpt2_moe", "h.1.moe.experts.2.c_fc.weight"],
  ];
  for (const [name, c, type, tensor] of roundTrips) {
    it(`save/load round trip, ${name}`, () => {
      const m = new GPT(c, { seed: 7, backend: "ref" });
      const dir = join(tmp, type);
      saveModel(dir, m);
      const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      expect(json.model_type).toBe(type);
      expect(json.num_local_experts).toBe(c.moeExperts);
      expect(toHuggingFace(m).has(tensor)).toBe(true);
      const back = loadModel(dir, { backend: "ref" });
      expect(JSON.stringify(back.config)).toBe(JSON.stringify(m.config)); // same fields in the same order
      expect(back.config).toEqual(m.config);
      expect(logits(back)).toEqual(logits(m));
    });
  }

  it("the Mixtral tensors: gate (E, C), w1/w3 (M, C) from the fused [gate; up], w2 (C, M)", () => {
    const m = new GPT(llamaMoe, { seed: 7, backend: "ref" });
    const hf = toHuggingFace(m);
    const p = "model.layers.0.block_sparse_moe.";
    expect(hf.get(`${p}gate.weight`)?.shape).toEqual([4, 16]);
    expect(hf.get(`${p}experts.1.w1.weight`)?.shape).toEqual([12, 16]);
    expect(hf.get(`${p}experts.1.w3.weight`)?.shape).toEqual([12, 16]);
    expect(hf.get(`${p}experts.1.w2.weight`)?.shape).toEqual([16, 12]);
    const fc = m.h.at(0).moe?.experts.at(1).c_fc.weight.toTypedArray() ?? new Float32Array(0);
    expect(Array.from(hf.get(`${p}experts.1.w3.weight`)?.data ?? [])).toEqual(Array.from(fc.subarray(12 * 16)));
    expect([...hf.keys()].some((k) => k.includes(".mlp."))).toBe(false);
    expect(() => m.h.at(0).mlp).toThrow(/mixture-of-experts layer/);
  });
});

describe("pretraining logs MoE metrics", () => {
  it("metrics.jsonl carries the auxiliary losses and the load of each layer", async () => {
    const V = 40;
    const tokens = Array.from({ length: 1200 }, (_, i) => (i % 9 === 0 ? (i * 31) % V : (i * 5) % 9));
    const trainPath = join(tmp, "train_000000.bin");
    writeTokenShard(trainPath, tokens, V);
    const run = join(tmp, "run");
    const s = await train(new GPT(llamaMoe, { seed: 1 }), {
      outDir: run, trainShards: [trainPath], valShards: [], readShard: (p) => readTokenShard(p).tokens, batchSize: 4, seqLen: 8,
      maxSteps: 4, maxLr: 3e-3, warmupSteps: 1, checkpointEvery: 100, seed: 1, progress: false,
    });
    expect(s.steps).toBe(4);
    const recs = new MetricsLog(join(run, "metrics.jsonl")).read().filter((r) => "loss" in r);
    expect(recs).toHaveLength(4);
    for (const r of recs) {
      expect(r.moe_lb).toBeGreaterThan(0);
      expect(r.moe_h1_load_max).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("MoE models elsewhere", () => {
  it("generation falls back from the batch decoder to the KV-cache tensor path; GGUF and ONNX export refuse with a message", () => {
    const model = new GPT(makeConfig({ flavour: "llama", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize: 30, moeExperts: 4, moeTopK: 2 }), { seed: 2 });
    expect(batchDecoderUnsupported(model)).toMatch(/mixture-of-experts/);
    const a = generate(model, [1, 2, 3], { maxTokens: 6, temperature: 0 });
    const b = generate(model, [1, 2, 3], { maxTokens: 6, temperature: 0, fastDecode: false });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).toHaveLength(6);
    expect(() => assertOnnxExportable(model)).toThrow(/mixture-of-experts/);
    const dir = mkdtempSync(join(tmpdir(), "llmforge-moe-export-"));
    saveModel(join(dir, "model"), model);
    expect(() => loadExportModel(join(dir, "model"))).toThrow(/mixture-of-experts/);
    rmSync(dir, { recursive: true, force: true });
  });
});
