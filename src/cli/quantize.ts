// `llmforge quantize --model RUN --to int8|q4_0 --out RUN2`: a run whose Linear layers are stored quantised
// (int8 per output channel, or ggml q4_0 blocks) and computed on directly by generate, eval and serve.
// A thin shell over infer/quantModel.ts.
import type { Command } from "commander";
import { quantizeRun } from "../infer/quantModel.js";
import { QUANT_FORMATS } from "../nn/quantLinear.js";
import { oneOf } from "./options.js";

export function registerQuantizeCommand(program: Command): void {
  program
    .command("quantize")
    .description("store a model's Linear layers as int8 (per-output-channel scales) or q4_0 blocks; the result runs with generate/eval/serve")
    .requiredOption("--model <run>", "run folder, model folder or .gguf file to quantise")
    .requiredOption("--to <format>", `storage format: ${QUANT_FORMATS.join(", ")}`, oneOf(QUANT_FORMATS))
    .requiredOption("--out <run>", "run folder to write (OUT/model, OUT/tokenizer)")
    .action((flags: { model: string; to: string; out: string }) => {
      const r = quantizeRun(flags);
      process.stderr.write(`wrote ${r.out}: ${r.modules} layers in ${r.format}, weights ${(r.bytes / 2 ** 20).toFixed(2)} MiB\n`);
    });
}
