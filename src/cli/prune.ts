// `llmforge prune --model RUN --sparsity 0.5 [--structured heads|mlp] --out RUN2`: magnitude pruning of the
// Transformer blocks' weights, or whole attention heads / MLP channels by importance. A thin shell over infer/prune.ts.
import type { Command } from "commander";
import { pruneRun } from "../infer/prune.js";
import { oneOf } from "./options.js";

export function registerPruneCommand(program: Command): void {
  program
    .command("prune")
    .description("zero the smallest weights of each block Linear (unstructured), or whole attention heads / MLP channels (--structured)")
    .requiredOption("--model <run>", "run folder, model folder or .gguf file to prune")
    .requiredOption("--sparsity <s>", "fraction to remove per layer, in [0, 1)", (v: string) => Number(v))
    .option("--structured <kind>", "remove whole heads or mlp channels instead of single weights", oneOf(["heads", "mlp"]))
    .requiredOption("--out <run>", "run folder to write (OUT/model, OUT/tokenizer)")
    .action((flags: { model: string; sparsity: number; structured?: "heads" | "mlp"; out: string }) => {
      const r = pruneRun(flags);
      process.stderr.write(`wrote ${r.out}: ${r.removed} ${flags.structured ?? "weights"} removed, block weights ${(r.sparsity * 100).toFixed(1)}% zero\n`);
    });
}
