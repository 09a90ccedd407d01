// Packing must not change what is learned: the summed loss (and gradients) over every tokenised
// conversation is the same whether they are packed best-fit-decreasing or one per padded row.
import { describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { SftBatches } from "../../src/sft/packing.js";
import { tokenizeConversations } from "../../src/sft/tokenizeChat.js";
import { ids } from "../../src/tensor/ops/index.js";
import { tidy } from "../../src/tensor/tensor.js";
import { CONVERSATIONS, smallTokenizer } from "./fixtures.js";

describe("packed vs padded rows", () => {
  for (const flavour of ["gpt2", "llama"] as const) {
    it(`${flavour}: the same summed loss and gradients over an epoch`, () => {
      const tok = smallTokenizer();
      const T = 160;
      const { examples } = tokenizeConversations(tok, CONVERSATIONS, { maxLen: T + 1 });
      const model = new GPT(makeConfig({ flavour, nLayer: 2, nHead: 2, nKvHead: flavour === "llama" ? 1 : 2, nEmbd: 16, blockSize: T, vocabSize: tok.vocabSize, initStd: 0.2 }), { seed: 2, backend: "ref", dtype: "f64" });
      const epoch = (packing: "bfd" | "none"): { loss: number; tokens: number; grads: Float64Array[]; rows: number } => {
        const b = new SftBatches(examples, { seqLen: T, padId: tok.specialId("<|pad|>"), batchSize: 1, packing, shuffle: false });
        let loss = 0;
        let tokens = 0;
        for (let r = 0; r < b.rows; r++) {
          const x = b.next();
          tokens += x.tokens;
          loss += tidy(() => {
            const l = model.loss(ids(x.inputs, [1, T]), x.targets, { docStart: x.docStart, reduction: "sum" });
            l.backward();
            return l.item();
          });
        }
        const grads = model.parameters().map((p) => Float64Array.from(p.grad?.toTypedArray() ?? []));
        model.zeroGrad();
        return { loss, tokens, grads, rows: b.rows };
      };
      const packed = epoch("bfd");
      const padded = epoch("none");
      expect(packed.rows).toBeLessThan(padded.rows);
      expect(packed.tokens).toBe(padded.tokens);
      expect(packed.loss).toBeCloseTo(padded.loss, 9);
      packed.grads.forEach((g, i) => {
        for (let j = 0; j < g.length; j++) expect(g[j]).toBeCloseTo(padded.grads[i][j], 9);
      });
    });
  }
});
