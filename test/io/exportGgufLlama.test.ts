// GGUF export of llama-flavour runs (RoPE with Q/K rows permuted to llama.cpp's interleaved layout, RMSNorm,
// SwiGLU, grouped-query attention; untied head, and tied head with biases), read by llama.cpp itself.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exportGguf, permuteForRope } from "../../src/model/exportGguf.js";
import { ggufMeta, readGguf } from "../../src/io/gguf.js";
import { generate } from "../../src/infer/generate.js";
import { makeTinyRun } from "./exportFixture.js";
import { loadInLlamaCpp, maxRowDiff, ourLogProbs, perplexity } from "./llamaCpp.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-gguf-llama-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("RoPE permutation", () => {
  it("moves rotate_half pairs (i, i + D/2) to adjacent rows (2i, 2i + 1) within each head", () => {
    // 2 heads of D = 4, one column: rows h*4 + [0, 1, 2, 3] -> [0, 2, 1, 3].
    expect(Array.from(permuteForRope([0, 1, 2, 3, 10, 11, 12, 13], 2, 4, 1))).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
    expect(Array.from(permuteForRope([0, 1, 2, 3, 4, 5, 6, 7], 1, 4, 2))).toEqual([0, 1, 4, 5, 2, 3, 6, 7]);
  });
});

const variants = [
  { name: "GQA 4:2, untied head", config: { nHead: 4, nKvHead: 2 }, types: ["f32", "f16", "q8_0", "q4_0"] as const },
  { name: "MQA 2:1, tied head, biases", config: { nHead: 2, nKvHead: 1, tiedEmbeddings: true, bias: true }, types: ["f32"] as const },
];

describe("llama.cpp reads the GGUF export of a llama run", () => {
  for (const v of variants) {
    it(`${v.name}: same greedy tokens and log-probabilities (f32/f16), perplexity (q8_0/q4_0)`, async () => {
      const r = makeTinyRun(join(tmp, v.name.replace(/\W+/g, "-")), { flavour: "llama", config: v.config });
      const eot = r.tok.specialId("<|endoftext|>");
      const held = [eot, ...r.tok.encode(` ${r.heldout}`)].slice(0, 128);
      const ours = ourLogProbs(r.model, held);
      const p0 = perplexity(ours, held);
      const figures: string[] = [];
      for (const type of v.types) {
        const out = join(tmp, `${v.name.replace(/\W+/g, "-")}-${type}.gguf`);
        expect(exportGguf({ model: r.run, out, type }).architecture).toBe("llama");
        if (type === "f32") {
          const f = readGguf(out);
          expect(ggufMeta(f, "llama.rope.dimension_count")).toBe(r.model.config.nEmbd / r.model.config.nHead);
          expect(ggufMeta(f, "llama.attention.head_count_kv")).toBe(r.model.config.nKvHead);
          expect(f.tensors.has("output.weight")).toBe(!r.model.config.tiedEmbeddings);
          expect(f.tensors.has("blk.0.attn_k.bias")).toBe(r.model.config.bias);
        }
        const ll = await loadInLlamaCpp(out);
        const theirs = await ll.logProbs(held, r.model.config.vocabSize);
        const p1 = perplexity(theirs, held);
        if (type === "f32" || type === "f16") {
          const prompt = [eot, ...r.tok.encode(" The cat")];
          const want = generate(r.model, prompt, { temperature: 0, maxTokens: 32 }).tokens;
          expect(new Set(want).size).toBeGreaterThan(6);
          expect(await ll.greedy(prompt, 32)).toEqual(want);
          const diff = maxRowDiff(theirs, ours, held.length - 1, r.model.config.vocabSize);
          figures.push(`${type} max |Δ log p| ${diff.toExponential(2)}, ppl ${p1.toFixed(4)}`);
          expect(diff).toBeLessThan(1e-2);
        } else {
          figures.push(`${type} ppl ${p1.toFixed(4)} (${(100 * (p1 / p0 - 1)).toFixed(2)}%)`);
          expect(Math.abs(p1 / p0 - 1)).toBeLessThan(type === "q8_0" ? 0.01 : 0.05);
        }
        await ll.dispose();
      }
      console.log(`gguf llama ${v.name} vs llama.cpp (llmforge ppl ${p0.toFixed(4)} on ${held.length} held-out tokens): ${figures.join("; ")}`);
    });
  }
});
