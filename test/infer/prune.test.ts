// Pruning: unstructured magnitude pruning zeroes exactly the smallest weights of each block Linear; structured
// pruning removes whole heads / MLP channels exactly (the pruned model equals the model with those units' outputs
// cut); pruneRun writes a run loadRun reads; bad requests are refused.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { blockSparsity, pruneModel, pruneRun } from "../../src/infer/prune.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { loadRun } from "../../src/model/runFolder.js";
import { saveModel } from "../../src/model/serialize.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-prune-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cfg = (flavour: "gpt2" | "llama") => makeConfig({ flavour, nLayer: 2, nHead: 4, nEmbd: 32, blockSize: 16, vocabSize: 40, initStd: 0.1 });
const logits = (m: GPT, t: number[]) => Float32Array.from(tidy(() => noGrad(() => m.forward(ids(t, [1, t.length])).toTypedArray())));

describe("pruning", () => {
  it("unstructured: each block Linear loses exactly its smallest |w|, the rest untouched", () => {
    const m = new GPT(cfg("gpt2"), { seed: 1 });
    const before = Float32Array.from(m.h.items[0].mlp.c_fc.weight.contiguousData());
    const r = pruneModel(m, 0.5);
    expect(r.sparsity).toBeCloseTo(0.5, 2);
    const after = m.h.items[0].mlp.c_fc.weight.contiguousData();
    const sorted = Array.from(before, Math.abs).sort((a, b) => a - b);
    const cut = sorted[Math.floor(before.length / 2) - 1];
    for (let j = 0; j < before.length; j++) expect(after[j]).toBe(Math.abs(before[j]) <= cut ? 0 : before[j]);
    expect(m.wte.weight.contiguousData().some((v) => v === 0)).toBe(false);
  });

  for (const flavour of ["gpt2", "llama"] as const) {
    for (const kind of ["heads", "mlp"] as const) {
      it(`${flavour}, structured ${kind}: the pruned units no longer change the logits`, () => {
        const m = new GPT(cfg(flavour), { seed: 2 });
        m.eval();
        const l0 = logits(m, [1, 2, 3, 4, 5]);
        pruneModel(m, 0.5, kind);
        const l1 = logits(m, [1, 2, 3, 4, 5]);
        expect(l1.some((v, i) => v !== l0[i])).toBe(true);
        // cutting the pruned units' inputs as well changes nothing more: they were removed exactly
        const c = m.config;
        for (const b of m.h.items) {
          const proj = kind === "heads" ? b.attn.c_proj.weight : b.mlp.c_proj.weight;
          const [rows, cols] = proj.shape;
          const pd = proj.contiguousData();
          const dead = Array.from({ length: cols }, (_, j) => Array.from({ length: rows }, (_, r) => pd[r * cols + j]).every((v) => v === 0));
          expect(dead.filter(Boolean).length).toBe(kind === "heads" ? (c.nHead / 2) * (c.nEmbd / c.nHead) : c.mlpHidden / 2);
          if (kind === "heads") {
            const v = b.attn.c_attn.weight;
            const C = c.nEmbd;
            for (const [j, d] of dead.entries()) if (d) (v.data as Float32Array).fill(7, v.offset + (2 * C + j) * C, v.offset + (2 * C + j + 1) * C); // the head's value rows
          } else {
            const fc = b.mlp.c_fc.weight;
            for (const [j, d] of dead.entries()) if (d) (fc.data as Float32Array).fill(7, fc.offset + j * c.nEmbd, fc.offset + (j + 1) * c.nEmbd);
          }
        }
        expect(Array.from(logits(m, [1, 2, 3, 4, 5]))).toEqual(Array.from(l1));
      });
    }
  }

  it("pruneRun writes a run loadRun reads; bad sparsity and output paths are refused", () => {
    const tok = Tokenizer.trainFromTexts(["the cat sat on the mat. ".repeat(20)], { vocabSize: 270 });
    const run = join(tmp, "run");
    saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: tok.vocabSize }), { seed: 3 }));
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
    expect(() => pruneRun({ model: run, sparsity: 1, out: join(tmp, "p") })).toThrow(/sparsity must be in \[0, 1\), got 1/);
    expect(() => pruneRun({ model: run, sparsity: 0.5, out: join(run, "model", "p") })).toThrow(/inside the model folder/);
    const r = pruneRun({ model: run, sparsity: 0.3, structured: "mlp", out: join(tmp, "p") });
    expect(r.removed).toBe(Math.floor(0.3 * 128));
    expect(blockSparsity(loadRun(join(tmp, "p")).model)).toBeCloseTo(r.sparsity, 6);
  });
});
