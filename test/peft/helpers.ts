// Shared pieces of the PEFT tests: tiny gpt2/llama models, logits of a fixed batch, random LoRA B.
import { makeConfig, type GPTConfigInput } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { LoRAPart } from "../../src/nn/lora.js";
import type { BackendName } from "../../src/tensor/backend/index.js";
import type { Module } from "../../src/nn/module.js";
import { ids } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";

export const TINY: Record<"gpt2" | "llama", GPTConfigInput> = {
  gpt2: { flavour: "gpt2", nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize: 50, initStd: 0.2 },
  llama: { flavour: "llama", nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, mlpHidden: 24, blockSize: 16, vocabSize: 50, initStd: 0.2, tiedEmbeddings: false },
};

export function tinyModel(
  flavour: "gpt2" | "llama", opts: { dtype?: "f32" | "f64"; seed?: number; overrides?: Partial<GPTConfigInput>; backend?: BackendName | "default" } = {},
): GPT {
  const backend = opts.backend === "default" ? undefined : (opts.backend ?? "ref");
  return new GPT(makeConfig({ ...TINY[flavour], ...opts.overrides }), { seed: opts.seed ?? 1, dtype: opts.dtype ?? "f32", backend });
}

export const IDS = ids([1, 5, 9, 2, 7, 3, 3, 8, 40, 11, 0, 6, 12, 4, 9, 30], [2, 8]);
export const TARGETS = Int32Array.from([5, 9, 2, 7, 3, 3, 8, 1, 11, 0, 6, 12, 4, 9, 30, 2]);

/** Logits of IDS as a plain array (eval mode, no autograd). */
export function logits(model: GPT, docStart?: Int32Array): Float32Array | Float64Array {
  model.eval();
  return tidy(() => noGrad(() => model.forward(IDS, { docStart }).toTypedArray()));
}

/** Fills every LoRA B with random values (a fresh B is zero, which would make most checks trivial). */
export function randomizeLoraB(model: Module, seed = 5, std = 0.3): void {
  const rng = new Rng(seed);
  for (const [, m] of model.namedModules()) {
    if (m instanceof LoRAPart) for (let i = 0; i < m.B.size; i++) m.B.data[m.B.offset + i] = std * rng.normal();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
