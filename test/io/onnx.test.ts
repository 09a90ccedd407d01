// ONNX export checked by the real reader: tiny GPTs of both flavours (tied/untied head, with and
// without biases, grouped kv heads) exported, run with onnxruntime-node, and compared with
// llmforge's own forward (no-cache and KV-cache graphs); plus the bad inputs of exportOnnx.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { exportOnnx, gptToOnnx, OnnxExportError } from "../../src/model/exportOnnx.js";
import { decodeOnnxModel, OnnxBuildError, OnnxGraphBuilder, OnnxType } from "../../src/io/onnx.js";
import { makeConfig, type GPTConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { applyPeft } from "../../src/nn/peft.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad } from "../../src/tensor/tensor.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { VERSION } from "../../src/version.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-onnx-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const V = 37;
const BLOCK = 12;
const CASES: [string, GPTConfig][] = [
  ["gpt2 (tied head, biases)", makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: BLOCK, vocabSize: V, initStd: 0.3 })],
  ["gpt2 (untied head, no biases)", makeConfig({ flavour: "gpt2", nLayer: 2, nHead: 4, nEmbd: 16, blockSize: BLOCK, vocabSize: V, initStd: 0.3, tiedEmbeddings: false, bias: false })],
  ["llama (GQA 4/2, untied, no biases)", makeConfig({ flavour: "llama", nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, blockSize: BLOCK, vocabSize: V, mlpHidden: 24, initStd: 0.3 })],
  ["llama (MHA, tied, biases, rope base 500)", makeConfig({ flavour: "llama", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: BLOCK, vocabSize: V, mlpHidden: 20, initStd: 0.3, bias: true, tiedEmbeddings: true, ropeBase: 500 })],
];

/** Batch of 2 rows of T different tokens. */
function tokens(T: number, seed: number): number[] {
  return Array.from({ length: 2 * T }, (_, i) => (i * 7 + seed * 13 + (i >= T ? 5 : 0)) % V);
}

function llmforgeLogits(m: GPT, toks: number[], T: number): Float32Array {
  return Float32Array.from(noGrad(() => m.forward(ids(toks, [2, T])).toTypedArray()));
}

function i64(toks: number[], dims: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(toks, (t) => BigInt(t)), dims);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function session(name: string, bytes: Uint8Array): Promise<ort.InferenceSession> {
  const path = join(tmp, `${name}.onnx`);
  writeFileSync(path, bytes);
  return ort.InferenceSession.create(path, { logSeverityLevel: 3 });
}

const measured: string[] = [];
afterAll(() => console.log(`ONNX vs llmforge max |Δlogit|:\n  ${measured.join("\n  ")}`));

describe("ONNX export run by onnxruntime-node", () => {
  CASES.forEach(([name, cfg], n) => {
    it(`${name}: logits within 1e-4 of llmforge's, full block and a shorter sequence`, async () => {
      const m = new GPT(cfg, { seed: 11 + n }).eval();
      const s = await session(`case${n}`, gptToOnnx(m));
      expect(s.inputNames).toEqual(["input_ids"]);
      expect(s.outputNames).toEqual(["logits"]);
      for (const T of [BLOCK, 5]) {
        const toks = tokens(T, n + T);
        const out = await s.run({ input_ids: i64(toks, [2, T]) });
        expect(out.logits.dims).toEqual([2, T, V]);
        const ref = llmforgeLogits(m, toks, T);
        const d = maxAbsDiff(out.logits.data as Float32Array, ref);
        measured.push(`${name}, T=${T}: ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(1e-4);
        // Not a tautology: the logits vary over positions and rows, and a wrong row would be far off.
        expect(maxAbsDiff(ref.subarray(0, T * V), ref.subarray(T * V))).toBeGreaterThan(0.1);
      }
      await s.release();
    });
  });

  for (const n of [0, 2]) {
    const [name, cfg] = CASES[n];
    it(`${name}, KV-cache graph: prefill then one token at a time matches the full forward`, async () => {
      const m = new GPT(cfg, { seed: 11 + n }).eval();
      const s = await session(`kv${n}`, gptToOnnx(m, { kvCache: true }));
      expect(s.outputNames).toContain("present.1.value");
      const T = BLOCK;
      const toks = tokens(T, 3);
      const ref = llmforgeLogits(m, toks, T); // (2, T, V)
      const Hkv = cfg.nKvHead;
      const D = cfg.nEmbd / cfg.nHead;
      let past: Record<string, ort.Tensor> = {};
      for (let l = 0; l < cfg.nLayer; l++) {
        for (const kind of ["key", "value"]) past[`past_key_values.${l}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [2, Hkv, 0, D]);
      }
      const steps = [[0, 5], [5, 6], [6, 7], [7, T]];
      let worst = 0;
      for (const [a, e] of steps) {
        const chunk = [0, 1].flatMap((r) => toks.slice(r * T + a, r * T + e));
        const out = await s.run({ input_ids: i64(chunk, [2, e - a]), ...past });
        const got = out.logits.data as Float32Array;
        const want = Float32Array.from([0, 1].flatMap((r) => Array.from(ref.subarray((r * T + a) * V, (r * T + e) * V))));
        worst = Math.max(worst, maxAbsDiff(got, want));
        expect(out["present.0.key"].dims).toEqual([2, Hkv, e, D]);
        past = {};
        for (let l = 0; l < cfg.nLayer; l++) {
          for (const kind of ["key", "value"]) past[`past_key_values.${l}.${kind}`] = out[`present.${l}.${kind}`];
        }
      }
      measured.push(`${name}, KV cache (prefill 5 + 3 steps + 5): ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-4);
      await s.release();
    });
  }

  for (const n of [0, 2]) {
    it(`${CASES[n][0]}: onnxruntime refuses token ids outside the vocabulary and sequences beyond the block size`, async () => {
      const m = new GPT(CASES[n][1], { seed: 1 }).eval();
      const s = await ort.InferenceSession.create(Buffer.from(gptToOnnx(m)), { logSeverityLevel: 4 });
      await expect(s.run({ input_ids: i64([1, 2, V], [1, 3]) })).rejects.toThrow(/out of data bounds/);
      await expect(s.run({ input_ids: i64(tokens(BLOCK + 1, 0), [2, BLOCK + 1]) })).rejects.toThrow(/broadcast/);
      await s.release();
    });
  }
});

/** A byte-level tokenizer with the default special tokens, written as tokenizer.json into dir. */
function writeTokenizer(dir: string): void {
  const tokens = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));
  const tok = new Tokenizer({
    tokens, merges: new Int32Array(0), specials: [{ id: 256, content: "<|endoftext|>" }, { id: 257, content: "<|pad|>" }], pattern: "\\S+|\\s+", ignoreMerges: false,
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), tok.toHuggingFaceJson());
}

describe("exportOnnx on a run folder", () => {
  const cfg = makeConfig({ flavour: "gpt2", nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 260, initStd: 0.3 });
  const run = join(tmp, "run");
  const model = new GPT(cfg, { seed: 5 }).eval();
  saveModel(join(run, "model"), model);
  writeTokenizer(join(run, "tokenizer"));

  it("writes an .onnx file with producer, doc string and metadata that onnxruntime runs", async () => {
    const out = join(tmp, "out", "model.onnx");
    const r = exportOnnx(run, out);
    expect(r.modelDir).toBe(join(run, "model"));
    expect(r.tokenizerFile).toBe(join(run, "tokenizer", "tokenizer.json"));
    expect(r.bytes).toBe(readFileSync(out).length);
    const proto = decodeOnnxModel(readFileSync(out));
    expect(proto.producerName).toBe("llmforge");
    expect(proto.producerVersion).toBe(VERSION);
    expect(Number(proto.opsetImport[0].version)).toBe(17);
    expect(proto.docString).toMatch(/No-cache variant/);
    const meta = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
    expect(meta).toMatchObject({ eos_token: "<|endoftext|>", eos_token_id: "256", architecture: "gpt2", vocab_size: "260", llmforge_version: VERSION });
    const s = await ort.InferenceSession.create(out);
    const toks = [3, 200, 259, 7, 9, 1, 256, 30];
    const got = (await s.run({ input_ids: i64(toks, [1, 8]) })).logits.data as Float32Array;
    const want = Float32Array.from(noGrad(() => model.forward(ids(toks, [1, 8])).toTypedArray()));
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-4);
    await s.release();
    expect(readdirSync(join(tmp, "out"))).toEqual(["model.onnx"]); // no temp file left behind
  });

  it("refuses an output inside the model folder, a folder as output, an adapter folder, a missing model and a mismatched tokenizer", () => {
    expect(() => exportOnnx(run, join(run, "model", "m.onnx"))).toThrow(/inside the model folder/);
    expect(() => exportOnnx(run, tmp)).toThrow(/is a folder/);
    expect(() => exportOnnx(join(tmp, "nowhere"), join(tmp, "x.onnx"))).toThrow(/does not exist/);
    const withAdapter = join(tmp, "adapted");
    saveModel(withAdapter, model);
    writeFileSync(join(withAdapter, "adapter_config.json"), "{}");
    expect(() => exportOnnx(withAdapter, join(tmp, "a.onnx"))).toThrow(OnnxExportError);
    expect(() => exportOnnx(withAdapter, join(tmp, "a.onnx"))).toThrow(/llmforge peft merge/);
    expect(existsSync(join(tmp, "a.onnx"))).toBe(false);
    const small = join(tmp, "smallvocab");
    saveModel(small, new GPT({ ...cfg, vocabSize: 200 }, { seed: 1 }));
    expect(() => exportOnnx(small, join(tmp, "s.onnx"), { tokenizer: join(run, "tokenizer", "tokenizer.json") })).toThrow(/258 tokens .* vocabulary of 200/);
    expect(() => exportOnnx(small, join(tmp, "s.onnx"), { tokenizer: join(tmp, "none.json") })).toThrow(/tokenizer .*none.json not found/);
    expect(existsSync(join(tmp, "s.onnx"))).toBe(false);
  });

  it("refuses a model with an attached LoRA adapter or prefix tuning", () => {
    const lora = new GPT(cfg, { seed: 5 });
    applyPeft(lora, { method: "lora", r: 2 });
    expect(() => gptToOnnx(lora)).toThrow(/not a plain Linear.*merge/s);
    const prefix = new GPT(cfg, { seed: 5 });
    applyPeft(prefix, { method: "prefix", numVirtualTokens: 2 });
    expect(() => gptToOnnx(prefix)).toThrow(/prefix tuning/);
  });
});

describe("OnnxGraphBuilder", () => {
  it("rejects duplicate names, undefined inputs, size mismatches and graphs without outputs", () => {
    const b = new OnnxGraphBuilder("g");
    b.input("x", OnnxType.float, ["n"]);
    expect(() => b.input("x", OnnxType.float, [1])).toThrow(OnnxBuildError);
    expect(() => b.op("Relu", ["y"])).toThrow(/not defined yet/);
    expect(() => b.initializer("w", new Float32Array(3), [2, 2])).toThrow(/3 values for dims \[2, 2\]/);
    expect(() => b.encode()).toThrow(/no outputs/);
    expect(() => b.output("z", OnnxType.float, [1])).toThrow(/produced by no node/);
  });
});
