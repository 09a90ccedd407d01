// Times full training steps (forward, backward, clipping, AdamW) of the GPT that the peers in
// ../shared/peers train, on random tokens, and reports the same figures they print. Callers may
// supply the rows (SFT: packed documents, masked targets) and change the model (LoRA) first.
import { makeConfig, type GPTConfig } from "../model/config.js";
import { GPT } from "../model/gpt.js";
import { AdamW, clipGradNorm } from "../optim/optimizers.js";
import { ids, setMatmulPrecision, type MatmulPrecision } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { tidy } from "../tensor/tensor.js";

export interface BenchTrainOptions {
  layers: number;
  heads: number;
  dim: number;
  block: number;
  vocab: number;
  batch: number;
  warmup?: number;
  steps?: number;
  flavour?: GPTConfig["flavour"];
  precision?: MatmulPrecision;
  /** Rows of a step (default: random tokens, every target counted). */
  makeBatch?: (rng: Rng, B: number, T: number, V: number) => BenchBatch;
  /** Changes the model before timing (e.g. attaches LoRA adapters and freezes the rest). */
  prepare?: (model: GPT) => void;
}

/** One step's rows: inputs and targets (B·T; -100 = not learned), packed-document starts. */
export interface BenchBatch {
  x: Int32Array;
  y: Int32Array;
  docStart?: Int32Array;
}

export interface BenchTrainResult {
  tokens_per_s: number;
  ms_per_step: number;
  gflops: number;
  peak_rss_mb: number;
  params: number;
  trainable: number;
}

export function benchTrain(o: BenchTrainOptions): BenchTrainResult {
  const config = makeConfig({
    flavour: o.flavour ?? "gpt2", nLayer: o.layers, nHead: o.heads, nEmbd: o.dim, blockSize: o.block, vocabSize: o.vocab, dropout: 0,
  });
  const model = new GPT(config, { seed: 0 });
  o.prepare?.(model);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const opt = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(1);
  const B = o.batch;
  const T = o.block;
  const randomBatch = (): BenchBatch => ({
    x: Int32Array.from({ length: B * T }, () => rng.int(o.vocab)),
    y: Int32Array.from({ length: B * T }, () => rng.int(o.vocab)),
  });
  const step = (): number => {
    const { x, y, docStart } = o.makeBatch ? o.makeBatch(rng, B, T, o.vocab) : randomBatch();
    const loss = tidy(() => {
      const l = model.loss(ids(x, [B, T]), y, { docStart });
      l.backward();
      return l.item();
    });
    clipGradNorm(params, 1.0);
    opt.step();
    opt.zeroGrad();
    return loss;
  };
  const prev = setMatmulPrecision(o.precision ?? "f32");
  for (let i = 0; i < (o.warmup ?? 2); i++) step();
  const n = o.steps ?? 5;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) step();
  const dt = (performance.now() - t0) / 1000 / n;
  setMatmulPrecision(prev);
  const count = model.numParameters();
  const flops = 6 * count * B * T + 12 * o.layers * B * T * T * o.dim;
  return {
    tokens_per_s: Math.round((B * T) / dt),
    ms_per_step: Math.round(dt * 1000),
    gflops: Math.round((flops / dt / 1e9) * 10) / 10,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    params: count,
    trainable: model.numParameters(true),
  };
}
