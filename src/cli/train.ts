// `llmforge train`: pretrain a GPT on token shards.
import type { Command } from "commander";
import { resolveModelConfig } from "../model/config.js";
import { Tokenizer } from "../tokenizer/index.js";
import { pretrain, resolveTokenizerPath } from "../train/pretrain.js";
import { abortOnSignals, addLoopOptions, loopRunOptions, reportInterrupted, fractionOption, oneOf, positiveIntOption as int } from "./options.js";

export function registerTrainCommands(program: Command): void {
  const train = program
    .command("train")
    .description("pretrain a GPT on token shards (cross-entropy, AdamW, warmup+cosine, checkpoints, exact resume)")
    .requiredOption("--data <dir>", "folder of token shards (train_*.bin, val_*.bin)")
    .requiredOption("--tokenizer <path>", "tokenizer.json or its folder")
    .requiredOption("--out <dir>", "run folder")
    .option("--preset <name>", "model size preset: tiny, mini, small, medium, gpt2", "mini")
    .option("--depth <n>", "size dial: width 64·depth, heads from it (overrides --preset)", int)
    .option("--config <file>", "model config JSON (overrides --depth/--preset)")
    .option("--flavour <f>", "gpt2 or llama", oneOf(["gpt2", "llama"]))
    .option("--block <n>", "context length", int)
    .option("--dropout <p>", "dropout probability", fractionOption)
    .option("--moe-experts <n>", "mixture of experts: experts per MoE layer (other moe* settings via --config)", int)
    .option("--moe-top-k <n>", "mixture of experts: experts each token is routed to (default 2)", int)
    .option("--batch <n>", "micro-batch rows", int, 8)
    .option("--total-batch-tokens <n>", "tokens per optimizer step (gradient accumulation)", int)
    .option("--eval-batches <n>", "validation batches", int, 8);
  addLoopOptions(train, { steps: 1000, lr: 1e-3, weightDecay: 0.1, evalEvery: 100, keep: 3 })
    .action(async (o) => {
      const tok = Tokenizer.fromFile(resolveTokenizerPath(o.tokenizer));
      const config = resolveModelConfig(o, tok.vocabSize);
      const signal = abortOnSignals();
      const r = await pretrain({
        data: o.data, tokenizer: o.tokenizer, out: o.out, config, batchSize: o.batch, totalBatchTokens: o.totalBatchTokens,
        evalBatches: o.evalBatches, ...loopRunOptions(o, signal),
      });
      const s = r.summary;
      if (reportInterrupted(s, signal)) return;
      if (Number.isNaN(s.firstLoss)) {
        console.log(`no steps left to train; wrote the model of step ${s.steps} in ${r.modelDir}`);
        return;
      }
      console.log(
        `trained ${s.steps} steps in ${s.seconds.toFixed(1)} s (${Math.round(s.tokensPerSec)} tokens/s); ` +
          `loss ${s.firstLoss.toFixed(3)} -> ${s.lastLoss.toFixed(3)}; ` +
          (s.val ? `val loss ${s.initialVal?.loss.toFixed(3) ?? "?"} -> ${s.val.loss.toFixed(3)} (ppl ${s.val.perplexity.toFixed(1)}${s.val.bitsPerByte !== null ? `, ${s.val.bitsPerByte.toFixed(3)} bits/byte` : ""}); ` : "") +
          `model in ${r.modelDir}`,
      );
    });
}
