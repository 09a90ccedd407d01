// A small trained run for the export tests: a byte-level BPE tokenizer on generated English-like
// sentences and a tiny GPT (gpt2 or llama flavour) trained a few hundred AdamW steps on them, so greedy
// decoding follows clear margins rather than near-ties. Written as RUN/model + RUN/tokenizer/tokenizer.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeConfig, type GPTConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { AdamW } from "../../src/optim/optimizers.js";
import { ids } from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { tidy } from "../../src/tensor/tensor.js";
import { Tokenizer, type TokenizerTrainOptions } from "../../src/tokenizer/index.js";

const SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the bird", "a child", "the teacher", "our neighbour"];
const VERBS = ["saw", "found", "liked", "painted", "followed", "called", "helped", "heard"];
const OBJECTS = ["the red ball", "a small house", "the river", "two apples", "the green tree", "a quiet song", "the big city", "3 books"];
const ENDS = [" in the morning.", " after school.", " near the park.", " every day.", "!", " again.", " at 10 o'clock.", "."];

/** Deterministic sentences: `n` of them from seed `seed` (train and held-out text use different seeds). */
export function sentences(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length) % xs.length];
  return Array.from({ length: n }, () => {
    const s = `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)}${pick(ENDS)}`;
    return s.charAt(0).toUpperCase() + s.slice(1);
  });
}

export interface TinyRun {
  run: string;
  tok: Tokenizer;
  model: GPT;
  /** Held-out text the model was not trained on. */
  heldout: string;
}

/** Trains and saves a tiny run in `dir`; about a second or two on the native backend. */
export function makeTinyRun(dir: string, o: { flavour?: "gpt2" | "llama"; steps?: number; config?: Partial<GPTConfig>; tokenizer?: Partial<TokenizerTrainOptions> } = {}): TinyRun {
  const train = sentences(600, 1);
  const tok = Tokenizer.trainFromTexts(train, { vocabSize: 340, ...o.tokenizer });
  const eot = tok.specialId("<|endoftext|>");
  const stream: number[] = [];
  for (const s of train) stream.push(eot, ...tok.encode(` ${s}`));
  const flavour = o.flavour ?? "gpt2";
  const cfg = makeConfig({ flavour, nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 128, vocabSize: tok.vocabSize + 4, ...o.config });
  const model = new GPT(cfg, { seed: 7 });
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const rng = new Rng(3);
  const [B, T] = [8, 32];
  for (let step = 0; step < (o.steps ?? 150); step++) {
    const x: number[] = [];
    const y: number[] = [];
    for (let b = 0; b < B; b++) {
      const start = Math.floor(rng.uniform() * (stream.length - T - 1));
      x.push(...stream.slice(start, start + T));
      y.push(...stream.slice(start + 1, start + T + 1));
    }
    tidy(() => model.loss(ids(x, [B, T]), Int32Array.from(y)).backward());
    opt.step();
    opt.zeroGrad();
  }
  model.eval();
  const run = join(dir, "run");
  saveModel(join(run, "model"), model);
  mkdirSync(join(run, "tokenizer"), { recursive: true });
  writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  return { run, tok, model, heldout: sentences(40, 99).join(" ") };
}
