// The BERT objectives of train/mlm.ts: BERT's special tokens on a byte-level BPE tokenizer, 15%
// masking with 80/10/10 replacement (seeded), next-sentence pairs from shard documents, resume.
import { describe, expect, it } from "vitest";
import { Rng } from "../../src/tensor/rng.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { BERT_SPECIAL_TOKENS, bertTokenizer, maskTokens, MlmBatches, type MlmSourceOptions } from "../../src/train/mlm.js";

const words = "the cat sat on a mat and the dog ran to the park while birds sang in the old tree".split(" ");
const texts = Array.from({ length: 60 }, (_, i) => Array.from({ length: 6 + (i % 9) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
const base = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
const { tokenizer, special } = bertTokenizer(base);
const eot = base.specialId("<|endoftext|>");
/** A shard of documents, each after an <|endoftext|>, and where each document starts and ends. */
const docs = texts.map((t) => base.encode(` ${t}`));
const shard = Uint16Array.from(docs.flatMap((d) => [eot, ...d]));

function source(o: Partial<MlmSourceOptions> = {}, data: Uint16Array = shard): MlmBatches {
  return new MlmBatches(["s0.bin"], () => data, { batchSize: 8, seqLen: 24, tokenizer, special, seed: 7, ...o });
}

describe("BERT special tokens", () => {
  it("are added past the vocabulary of a byte-level BPE tokenizer, in order, and kept when present", () => {
    expect(special).toEqual({ cls: 300, sep: 301, mask: 302, pad: 303 });
    expect(tokenizer.vocabSize).toBe(304);
    for (const t of BERT_SPECIAL_TOKENS) expect(tokenizer.isSpecial(tokenizer.specialId(t))).toBe(true);
    const again = bertTokenizer(tokenizer);
    expect(again.special).toEqual(special);
    expect(again.tokenizer.vocabSize).toBe(304);
    expect(tokenizer.encode("the cat")).toEqual(base.encode("the cat"));
  });
});

describe("masked-LM masking", () => {
  const V = tokenizer.vocabSize;
  const maskable = new Uint8Array(V);
  const ordinary: number[] = [];
  for (let id = 0; id < V; id++) if (!tokenizer.isSpecial(id)) {
    maskable[id] = 1;
    ordinary.push(id);
  }
  const T = 100;
  const rows = 400;
  const make = (seed: number) => {
    const inputs = new Int32Array(rows * T);
    const rng = new Rng(1);
    for (let i = 0; i < inputs.length; i++) inputs[i] = i % T === 0 ? special.cls : i % T === T - 1 ? special.sep : ordinary[rng.int(ordinary.length)];
    const original = inputs.slice();
    const labels = maskTokens(inputs, T, maskable, Int32Array.from(ordinary), special.mask, new Rng(seed));
    return { inputs, original, labels };
  };

  it("predicts 15% of the ordinary tokens: 80% [MASK], 10% random, 10% unchanged; specials never", () => {
    const { inputs, original, labels } = make(3);
    let chosen = 0;
    let masked = 0;
    let same = 0;
    let maskable = 0;
    for (let i = 0; i < inputs.length; i++) {
      const isSpecial = original[i] === special.cls || original[i] === special.sep;
      if (isSpecial) {
        expect(labels[i]).toBe(-100);
        expect(inputs[i]).toBe(original[i]);
        continue;
      }
      maskable++;
      if (labels[i] === -100) {
        expect(inputs[i]).toBe(original[i]);
        continue;
      }
      expect(labels[i]).toBe(original[i]);
      chosen++;
      if (inputs[i] === special.mask) masked++;
      else if (inputs[i] === original[i]) same++;
      else expect(tokenizer.isSpecial(inputs[i])).toBe(false);
    }
    // 39200 maskable tokens: binomial standard errors are ~0.2% of the share, ~0.6% of the splits.
    expect(chosen / maskable).toBeGreaterThan(0.14);
    expect(chosen / maskable).toBeLessThan(0.16);
    expect(masked / chosen).toBeGreaterThan(0.78);
    expect(masked / chosen).toBeLessThan(0.82);
    const random = chosen - masked - same;
    expect(random / chosen).toBeGreaterThan(0.08);
    expect(random / chosen).toBeLessThan(0.12);
    expect(same / chosen).toBeGreaterThan(0.08); // unchanged, plus the rare random draw of the same id
    expect(same / chosen).toBeLessThan(0.12);
  });

  it("is deterministic per seed and differs between seeds", () => {
    expect(Array.from(make(3).labels)).toEqual(Array.from(make(3).labels));
    expect(Array.from(make(4).labels)).not.toEqual(Array.from(make(3).labels));
  });

  it("gives a row with maskable tokens at least one prediction", () => {
    const inputs = Int32Array.from([special.cls, ordinary[5], special.sep]);
    const labels = maskTokens(inputs, 3, maskable, Int32Array.from(ordinary), special.mask, new Rng(0), { maskProb: 1e-9 });
    expect(Array.from(labels)).toEqual([-100, ordinary[5], -100]);
  });
});

describe("MlmBatches", () => {
  it("without NSP: [CLS] window [SEP] rows of shard tokens, no padding", () => {
    const b = source().next();
    expect(b.inputIds.shape).toEqual([8, 24]);
    expect(b.attentionMask).toBeUndefined();
    expect(b.nspLabels).toBeUndefined();
    for (let r = 0; r < 8; r++) {
      expect(b.inputIds.data[r * 24]).toBe(special.cls);
      expect(b.inputIds.data[r * 24 + 23]).toBe(special.sep);
    }
    expect(b.mlmLabels.some((l) => l !== -100)).toBe(true);
  });

  it("with NSP: half real continuations from the same document, half from another; segments and padding", () => {
    const src = source({ nsp: true, batchSize: 50 });
    const docOf = (tokens: number[]) => {
      // The documents holding this exact run of tokens (after unmasking via labels).
      const found: number[] = [];
      docs.forEach((d, i) => {
        for (let s = 0; s + tokens.length <= d.length; s++) if (tokens.every((t, j) => d[s + j] === t)) found.push(i);
      });
      return found;
    };
    let next = 0;
    let total = 0;
    for (let k = 0; k < 4; k++) {
      const b = src.next();
      const { inputIds, tokenTypeIds, attentionMask, nspLabels, mlmLabels } = b;
      if (!tokenTypeIds || !attentionMask || !nspLabels) throw new Error("pairs expected");
      for (let r = 0; r < 50; r++) {
        const row = Array.from(inputIds.data.subarray(r * 24, (r + 1) * 24)).map((id, i) => (mlmLabels[r * 24 + i] !== -100 ? mlmLabels[r * 24 + i] : id));
        const seps = row.flatMap((id, i) => (id === special.sep ? [i] : []));
        expect(row[0]).toBe(special.cls);
        expect(seps.length).toBe(2);
        const [s1, s2] = seps;
        for (let i = 0; i < 24; i++) {
          expect(attentionMask[r * 24 + i]).toBe(i <= s2 ? 1 : 0);
          expect(tokenTypeIds[r * 24 + i]).toBe(i > s1 && i <= s2 ? 1 : 0);
          if (i > s2) expect(row[i]).toBe(special.pad);
        }
        const a = row.slice(1, s1);
        const bSeg = row.slice(s1 + 1, s2);
        expect(a.length).toBeGreaterThan(0);
        expect(bSeg.length).toBeGreaterThan(0);
        if (nspLabels[r] === 0) {
          expect(docOf([...a, ...bSeg]).length).toBeGreaterThan(0); // B continues A inside one document
          next++;
        } else {
          expect(docOf(a).length).toBeGreaterThan(0);
          expect(docOf(bSeg).length).toBeGreaterThan(0);
        }
        total++;
      }
    }
    expect(next / total).toBeGreaterThan(0.4);
    expect(next / total).toBeLessThan(0.6);
  });

  it("a resumed source (cursor) yields exactly the batches the first one would have", () => {
    const a = source({ nsp: true });
    a.next();
    const cursor = JSON.parse(JSON.stringify(a.getCursor()));
    const want = [a.next(), a.next()];
    const b = source({ nsp: true });
    b.setCursor(cursor);
    const got = [b.next(), b.next()];
    for (let i = 0; i < 2; i++) {
      expect(Array.from(got[i].inputIds.data)).toEqual(Array.from(want[i].inputIds.data));
      expect(Array.from(got[i].mlmLabels)).toEqual(Array.from(want[i].mlmLabels));
      expect(Array.from(got[i].nspLabels ?? [])).toEqual(Array.from(want[i].nspLabels ?? []));
    }
    expect(() => b.setCursor({ shard: 3 })).toThrow(/does not fit 1 shard/);
  });

  it("refuses NSP on a shard without document separators, and rows longer than the shard", () => {
    const oneDoc = Uint16Array.from(docs.flat());
    expect(() => source({ nsp: true }, oneDoc).next()).toThrow(/next-sentence objective needs at least 2 documents per shard, found 1/);
    expect(() => source({ seqLen: 2 })).toThrow(/sequence length 2 is too short/);
    expect(() => source({}, shard.subarray(0, 10)).next()).toThrow(/10 tokens, fewer than one row of 24/);
  });
});
