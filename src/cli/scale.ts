// `llmforge scale`: a scaling-law sweep within a time budget (depths × token counts), the fit of
// L(N, D) = E + A/N^alpha + B/D^beta with bootstrap uncertainty, and the compute-optimal size.
// A thin shell over pipeline/scale.ts.
import { type Command, InvalidArgumentError } from "commander";
import { describeFit, runScale } from "../pipeline/scale.js";
import { bf16MatmulAvailable } from "../tensor/ops/matmul.js";
import { abortOnSignals, interruptedExitCode, oneOf, positiveIntOption as int, positiveNumberOption } from "./options.js";

/** A comma-separated list of positive whole numbers (e.g. "1,2,3"). */
function intList(v: string): number[] {
  const parts = v.split(",").map((s) => s.trim());
  const ns = parts.map(Number);
  if (parts.some((s) => s === "") || ns.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new InvalidArgumentError(`expected comma-separated positive whole numbers (e.g. 1,2,3), got "${v}"`);
  }
  return ns;
}

export function registerScaleCommand(program: Command): void {
  program
    .command("scale")
    .description("scaling-law sweep: train a grid of depths × token counts within a time budget, fit L(N,D) = E + A/N^alpha + B/D^beta, recommend the compute-optimal size")
    .requiredOption("--data <dir>", "folder of token shards (train_*.bin, val_*.bin)")
    .requiredOption("--budget-minutes <n>", "wall-clock budget for the probe and the whole grid", positiveNumberOption)
    .requiredOption("--tokenizer <path>", "tokenizer.json or its folder")
    .option("--out <dir>", "sweep folder: scale.json, scale.html, report.html, points/<id>/ (one run folder per grid point)", "runs/scale")
    .option("--depths <list>", "model depths (width 64·depth)", intList, [1, 2, 3])
    .option("--points <n>", "token counts per depth, each twice the one before (the largest fills the budget)", int, 3)
    .option("--tokens <list>", "explicit token counts per depth instead (multiples of batch × block); rerunning with more depths or token counts grows the sweep, keeping its trained points", intList)
    .option("--block <n>", "context length", int, 128)
    .option("--batch <n>", "micro-batch rows", int, 16)
    .option("--lr <x>", "peak learning rate", positiveNumberOption, 3e-3)
    .option("--min-lr <x>", "final learning rate", positiveNumberOption, 3e-4)
    .option("--eval-batches <n>", "validation batches for each point's final loss", int, 8)
    .option("--min-steps <n>", "fewest steps of the smallest point", int, 10)
    .option("--flops <x>", "compute to recommend a model size for (default: the whole grid's 6·N·D)", positiveNumberOption)
    .option("--resamples <n>", "bootstrap resamples for the uncertainty", int, 200)
    .option("--seed <n>", "seed of every point and of the bootstrap", (v) => int(v), 0)
    .option("--precision <p>", "matrix products: f32 or bf16 (default bf16 where the CPU has it)", oneOf(["f32", "bf16"]))
    .action(async (o) => {
      const signal = abortOnSignals();
      const r = await runScale({
        data: o.data, tokenizer: o.tokenizer, out: o.out, budgetMinutes: o.budgetMinutes, depths: o.depths, points: o.points, tokens: o.tokens,
        blockSize: o.block, batchSize: o.batch, lr: o.lr, minLr: o.minLr, evalBatches: o.evalBatches, minSteps: o.minSteps, flops: o.flops,
        resamples: o.resamples, seed: o.seed, precision: o.precision ?? (bf16MatmulAvailable() ? "bf16" : "f32"), signal,
      });
      if (r.interrupted) {
        console.log(`sweep stopped; ${r.jsonPath} keeps the plan and the finished points: rerun the same command to resume`);
        process.exitCode = interruptedExitCode(signal);
        return;
      }
      for (const line of describeFit(r.file)) console.log(line);
      console.log(`wrote ${r.jsonPath}, ${r.htmlPath} and ${r.reportPath}`);
    });
}
