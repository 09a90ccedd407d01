// GGUF import: a file written by `llmforge export gguf` loads back as the same network (f32 logits bit for bit,
// q8_0/q4_0 within tolerance), the same tokenizer (same ids for the same text) and chat template, through
// loadRun as `--model file.gguf`; truncated files, unknown architectures and unknown tensor types are refused.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportGguf } from "../../src/model/exportGguf.js";
import { gguf, GgmlType, GgufError, readGguf, writeGguf } from "../../src/io/gguf.js";
import { loadGgufRun, unpermuteForRope } from "../../src/model/importGguf.js";
import { permuteForRope } from "../../src/model/exportGguf.js";
import { generate } from "../../src/infer/generate.js";
import type { GPT } from "../../src/model/gpt.js";
import { loadRun, runChatTemplate } from "../../src/model/runFolder.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";
import { CHATML_TEMPLATE, writeTokenizerConfig } from "../../src/tokenizer/chatTemplate.js";
import { makeTinyRun, type TinyRun } from "./exportFixture.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-gguf-import-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TEXTS = [
  " The cat saw 3 books near the park.",
  "My sister's dog, isn't it?  Yes!\n\nok\tthen 12345678 $9.99",
  "naïve café: 東京 ☕ emoji 🙂 and spaces   \n  end",
];

function logits(model: GPT, tokens: number[]): Float32Array {
  return Float32Array.from(tidy(() => noGrad(() => model.forward(ids(tokens, [1, tokens.length])).toTypedArray())));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

let gpt2: TinyRun;
let llama: TinyRun;
let held: number[];
beforeAll(() => {
  gpt2 = makeTinyRun(join(tmp, "gpt2"), { steps: 60 });
  llama = makeTinyRun(join(tmp, "llama"), { flavour: "llama", steps: 60, config: { nHead: 4, nKvHead: 2 } });
  held = [gpt2.tok.specialId("<|endoftext|>"), ...gpt2.tok.encode(` ${gpt2.heldout}`)].slice(0, 64);
});

describe("GGUF import", () => {
  it("un-permuting undoes the export's RoPE permutation", () => {
    const x = Float32Array.from({ length: 3 * 8 * 5 }, (_, i) => i);
    expect(Array.from(unpermuteForRope(permuteForRope(x, 3, 8, 5), 3, 8, 5))).toEqual(Array.from(x));
    expect(Array.from(unpermuteForRope([0, 2, 1, 3], 1, 4, 1))).toEqual([0, 1, 2, 3]);
  });

  for (const flavour of ["gpt2", "llama"] as const) {
    it(`${flavour} f32: the same logits bit for bit, the same tokens, the same greedy text`, () => {
      const r = flavour === "gpt2" ? gpt2 : llama;
      const out = join(tmp, `${flavour}-f32.gguf`);
      exportGguf({ model: r.run, out, type: "f32" });
      const g = loadGgufRun(out);
      expect(g.model.config).toMatchObject({
        flavour, nLayer: r.model.config.nLayer, nHead: r.model.config.nHead, nKvHead: r.model.config.nKvHead, nEmbd: r.model.config.nEmbd,
        vocabSize: r.model.config.vocabSize, mlpHidden: r.model.config.mlpHidden, tiedEmbeddings: r.model.config.tiedEmbeddings, bias: r.model.config.bias,
      });
      const l0 = logits(r.model, held);
      expect(maxAbsDiff(logits(g.model, held), l0)).toBe(0);
      for (const t of TEXTS) expect(g.tokenizer.encode(t)).toEqual(r.tok.encode(t));
      expect(g.tokenizer.encode("<|endoftext|>x", { allowedSpecial: "all" })).toEqual(r.tok.encode("<|endoftext|>x", { allowedSpecial: "all" }));
      expect(g.chatTemplate).toBeNull();
      expect(g.eosTokenId).toBe(r.tok.specialId("<|endoftext|>"));
      const prompt = held.slice(0, 8);
      const opts = { maxTokens: 16, temperature: 0, stopTokens: [] };
      expect(generate(g.model, prompt, opts).tokens).toEqual(generate(r.model, prompt, opts).tokens);
    });
  }

  it("q8_0 and q4_0: logits within tolerance of f32, held-out loss close", () => {
    const l0 = logits(llama.model, held);
    const spread = maxAbsDiff(l0, new Float32Array(l0.length));
    const diffs: Record<string, number> = {};
    for (const type of ["q8_0", "q4_0"] as const) {
      const out = join(tmp, `llama-${type}.gguf`);
      exportGguf({ model: llama.run, out, type });
      expect(readGguf(out).tensors.get("blk.0.attn_q.weight")?.type).toBe(type === "q8_0" ? GgmlType.Q8_0 : GgmlType.Q4_0);
      diffs[type] = maxAbsDiff(logits(loadGgufRun(out).model, held), l0) / spread;
    }
    expect(diffs.q8_0).toBeGreaterThan(0);
    expect(diffs.q8_0).toBeLessThan(0.01);
    expect(diffs.q4_0).toBeLessThan(0.15);
    expect(diffs.q4_0).toBeGreaterThan(diffs.q8_0);
  });

  it("loadRun takes a .gguf path: model, tokenizer and chat template from the file", () => {
    const run = join(tmp, "chat");
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    cpSync(join(gpt2.run, "model"), join(run, "model"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), gpt2.tok.toHuggingFaceJson());
    writeTokenizerConfig(join(run, "tokenizer"), gpt2.tok, { chatTemplate: CHATML_TEMPLATE });
    const out = join(tmp, "chat.gguf");
    exportGguf({ model: run, out, type: "f16" });
    const loaded = loadRun(out);
    expect(loaded.chatTemplate).toBe(CHATML_TEMPLATE);
    expect(runChatTemplate(loaded)).toBe(CHATML_TEMPLATE); // what `generate --chat` and the server render with
    expect(runChatTemplate(loadRun(run))).toBe(CHATML_TEMPLATE); // a folder: tokenizer_config.json beside the tokenizer
    expect(runChatTemplate(loadRun(gpt2.run))).toBeNull();
    expect(loaded.paths.modelDir).toBe(out);
    expect(loaded.tokenizer.specialId("<|im_end|>")).toBe(gpt2.tok.specialId("<|im_end|>"));
    expect(maxAbsDiff(logits(loaded.model, held), logits(gpt2.model, held))).toBeLessThan(0.05);
  });

  it("refuses a truncated file, an unknown architecture and an unknown tensor type, naming the file", () => {
    const out = join(tmp, "gpt2-f32.gguf");
    const bytes = readFileSync(out);
    const cut = join(tmp, "cut.gguf");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    expect(() => loadGgufRun(cut)).toThrow(/cut\.gguf: truncated: tensor "[^"]+" .* needs bytes/);

    const falcon = join(tmp, "falcon.gguf");
    writeGguf(falcon, new Map([["general.architecture", gguf.str("falcon")]]), [{ name: "token_embd.weight", shape: [4, 32], type: GgmlType.F32, data: new Float32Array(128) }]);
    expect(() => loadGgufRun(falcon)).toThrow(GgufError);
    expect(() => loadGgufRun(falcon)).toThrow(/falcon\.gguf: general.architecture is "falcon": llmforge runs the "gpt2" and "llama" architectures only/);

    // Rewrite the type of one tensor to Q4_K (12): the name is followed by n_dims, the dims and the type.
    const k = Buffer.from(bytes);
    const name = Buffer.from("blk.0.attn_norm.weight");
    const at = k.indexOf(name, 24) + name.length;
    const nd = k.readUInt32LE(at);
    k.writeUInt32LE(12, at + 4 + 8 * nd);
    const q4k = join(tmp, "q4k.gguf");
    writeFileSync(q4k, k);
    expect(() => loadGgufRun(q4k)).toThrow(/q4k\.gguf: tensor "blk.0.attn_norm.weight" has ggml type 12; llmforge reads F32, F16, Q8_0 and Q4_0/);
  });
});
