// A small fake run folder for the report tests: a pretraining and an SFT stage with known metrics,
// a data report with known removals, tokenizer figures and quickstart samples (one holding HTML).
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
