// A small fake run folder for the report tests: a pretraining and an SFT stage with known metrics,
// a data report with known removals, tokenizer figures and quickstart samples (one holding HTML); and a
// synthetic `llmforge scale` sweep record to drop into a run folder.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScaleFile, ScalePoint } from "../../src/report/scalePage.js";

/** Known pretraining points: loss 5 - 0.5·step for steps 1..6, validation at 0 and 6. */
export const PRETRAIN_STEPS = [1, 2, 3, 4, 5, 6];
export const pretrainLoss = (s: number): number => 5 - 0.5 * s;
export const pretrainLr = (s: number): number => 0.001 * s;
export const pretrainTps = (s: number): number => 1000 + 10 * s;
export const VAL_POINTS: [number, number][] = [[0, 5.5], [6, 2.25]];
export const SFT_LOSS = [3.5, 3.25, 3.0];
/** A generation that must reach the page as text, never as markup. */
export const HOSTILE_TEXT = "<script>alert('x')</script><img src=\"http://example.com/a.png\"> & done";

const jsonl = (rows: object[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

/** Writes the fake run into a new folder under `parent` (default: the system temp folder) and returns its path. */
export function makeFakeRun(parent = tmpdir()): string {
  const run = mkdtempSync(join(parent, "llmforge-report-"));
  const write = (rel: string, text: string): void => {
    mkdirSync(join(run, rel, ".."), { recursive: true });
    writeFileSync(join(run, rel), text);
  };
  // The last line is torn, as a crash mid-write leaves it.
  const torn = '{"step":7,"loss":';
  write("metrics.jsonl", `${jsonl([
    { step: VAL_POINTS[0][0], val_loss: VAL_POINTS[0][1], val_ppl: Math.exp(VAL_POINTS[0][1]), val_bpb: 2.5, val_tokens: 1024 },
    ...PRETRAIN_STEPS.map((s) => ({ step: s, loss: pretrainLoss(s), lr: pretrainLr(s), grad_norm: 1 / s, tokens_per_s: pretrainTps(s), ms: 100 })),
    { step: VAL_POINTS[1][0], val_loss: VAL_POINTS[1][1], val_ppl: Math.exp(VAL_POINTS[1][1]), val_bpb: 1.25, val_tokens: 1024 },
  ])}${torn}`);
  write("run.json", JSON.stringify({ format: "llmforge-run", version: 1, writer: "llmforge 0.1.0", config: { nLayer: 2, nEmbd: 64, vocabSize: 512 }, options: { lr: 0.003, batchSize: 4 }, completed: { step: 6 } }));
  write("quickstart.json", JSON.stringify({ format: "llmforge-quickstart", version: 1, options: { minutes: 1, depth: 2, seed: 7 } }));
  write("sft/metrics.jsonl", jsonl([{ step: 0, val_loss: 4 }, ...SFT_LOSS.map((loss, i) => ({ step: i + 1, loss, lr: 0.0005, tokens_per_s: 900 })), { step: 3, val_loss: 3.1 }]));
  write("sft/run.json", JSON.stringify({ format: "llmforge-sft-run", version: 1, writer: "llmforge 0.1.0", config: { nLayer: 2 }, options: { lr: 0.001 } }));
  write("sft/sft.json", JSON.stringify({
    format: "llmforge-sft-summary", version: 1, writer: "llmforge 0.1.0",
    before: { loss: 4.5, answers: { prompts: 10, exactMatch: 0, perTask: { arithmetic: { prompts: 10, exactMatch: 0 } }, samples: [] } },
    after: { loss: 3.1, answers: { prompts: 10, exactMatch: 0.3, perTask: { arithmetic: { prompts: 10, exactMatch: 0.3 } }, samples: [{ prompt: "2 + 2 =", answer: "4", reference: "4", match: true }] } },
  }));
  const stats = (docsIn: number, docsOut: number, removed: Record<string, { count: number; bytes: number }>) => ({ format: "llmforge-data-stats", version: 2, docsIn, bytesIn: docsIn * 100, docsOut, bytesOut: docsOut * 100, removed, rejected: {}, modified: {} });
  write("data/report.json", JSON.stringify({
    format: "llmforge-data-report", version: 1, recipe: "default",
    steps: [
      { name: "ingest", step: "ingest", stats: stats(1000, 1000, {}), skipped: false },
      { name: "clean", step: "clean", stats: stats(1000, 970, { "clean.empty": { count: 30, bytes: 3000 } }), skipped: false },
      { name: "filter", step: "filter", stats: stats(970, 800, { "gopher_quality.min_words": { count: 120, bytes: 12345 }, "language.not_eng": { count: 50, bytes: 5000 } }), skipped: false },
    ],
  }));
  write("tokenizer/train_report.json", JSON.stringify({ format: "llmforge-tokenizer-train-report", version: 1, vocabSize: 512, merges: 248, specialTokens: ["<|endoftext|>", "<|im_end|>"], documents: 800, trainBytes: 80000, bytesPerToken: 3.25, bytesPerTokenOn: "held-out" }));
  write("summary.json", JSON.stringify({
    format: "llmforge-quickstart-summary", version: 1, writer: "llmforge 0.1.0", seconds: 90,
    data: { kept: 800, removed: 200 }, model: { params: 123456, layers: 2, width: 64 },
    training: { steps: 6, tokensPerSec: 1030, stoppedBy: "steps", initialVal: { loss: 5.5 }, val: { loss: 2.25, bitsPerByte: 1.25 } },
    samples: [{ prompt: "Once upon", text: " a time there was a report.", tokensPerSecond: 321 }, { prompt: "Markup:", text: HOSTILE_TEXT, tokensPerSecond: 100 }],
    sft: { chat: [{ prompt: "What is 2 + 2?", answer: "4" }] },
  }));
  return run;
}

/** The synthetic sweep's grid: depths 1 and 2 (N = 50k, 100k non-embedding parameters) × 1000, 2000, 4000 tokens. */
export const SCALE_N: Record<number, number> = { 1: 50_000, 2: 100_000 };
export const SCALE_TOKENS = [1000, 2000, 4000];
export const scaleLoss = (n: number, d: number): number => 1.69 + 406.4 / n ** 0.34 + 410.7 / d ** 0.28;
export const SCALE_FRONTIER = [{ flops: 1e8, n: 20_000, d: 833.3, loss: 4.5 }, { flops: 1e9, n: 60_000, d: 2777.8, loss: 3.9 }, { flops: 1e10, n: 150_000, d: 11_111.1, loss: 3.4 }];

/**
 * Writes a `llmforge scale` sweep record (scale.json, and scale.html unless `page` is false) into `dir`, as runScale
 * leaves it; `finished: false` leaves the last two points untrained and no fit.
 */
export function writeFakeScale(dir: string, o: { page?: boolean; finished?: boolean } = {}): ScaleFile {
  const finished = o.finished ?? true;
  const points: ScalePoint[] = [1, 2].flatMap((depth) => SCALE_TOKENS.map((tokens) => {
    const n = SCALE_N[depth];
    return { id: `d${depth}-t${tokens}`, depth, tokens, steps: tokens / 100, estSeconds: 5, params: n + 30_000, nonEmbeddingParams: n, flops: 6 * n * tokens, loss: scaleLoss(n, tokens), seconds: 4, dir: `points/d${depth}-t${tokens}` };
  }));
  if (!finished) for (const p of points.slice(-2)) [p.loss, p.seconds] = [null, null];
  const u = (value: number, std: number | null, lo: number | null, hi: number | null) => ({ value, std, lo, hi });
  const f: ScaleFile = {
    format: "llmforge-scale", version: 1, writer: "llmforge 0.1.0", createdAt: "2026-01-01T00:00:00.000Z",
    settings: { data: "runs/quickstart/shards", depths: [1, 2], points: 3, tokens: SCALE_TOKENS, blockSize: 10, batchSize: 10, lr: 3e-3, minLr: 3e-4, evalBatches: 2, minSteps: 10, seed: 0, budgetMinutes: 7.5 },
    probes: [{ depth: 1, tokensPerSec: 1000, overheadSeconds: 1 }, { depth: 2, tokensPerSec: 500, overheadSeconds: 1 }], probeSeconds: 3,
    points,
    fit: finished ? {
      method: "least squares in loss space (test)", params: { e: 1.69, a: 406.4, alpha: 0.34, b: 410.7, beta: 0.28 }, rmse: 0.0123, points: 6, resamples: 20, dropped: 1,
      constants: { E: u(1.69, 0.05, 1.6, 1.78), A: u(406.4, 12.5, 380, 430), alpha: u(0.34, 0.02, 0.3, 0.38), B: u(410.7, null, null, null), beta: u(0.28, 0.01, 0.26, 0.3) },
      recommendation: { flops: 3.6e9, n: u(123_456.7, 9000, 100_000, 150_000), d: u(4860.5, 300, 4000, 6000), loss: 2.345 },
    } : null,
    ...(finished ? { recommendedDepth: { depth: 2, nonEmbeddingParams: 100_000 } } : {}),
    frontier: finished ? SCALE_FRONTIER : [],
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "scale.json"), JSON.stringify(f, null, 2));
  if (o.page ?? true) writeFileSync(join(dir, "scale.html"), "<!DOCTYPE html><title>scale</title>");
  return f;
}
