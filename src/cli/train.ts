// `llmforge train` and `llmforge eval`: pretrain a GPT on token shards; measure a model on a shard.
import type { Command } from "commander";
import { abortOnSignals, addLoopOptions, fractionOption, interruptedExitCode, oneOf, positiveIntOption as int } from "./options.js";
import { resolveModelConfig } from "../model/config.js";
import { loadModel } from "../model/serialize.js";
import { readTokenShard, Tokenizer } from "../tokenizer/index.js";
import { pretrain, resolveTokenizerPath, tokenByteCounter } from "../train/pretrain.js";
import { evaluate } from "../train/trainer.js";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";


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
        steps: o.steps, minutes: o.minutes, lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, weightDecay: o.weightDecay,
        evalEvery: o.evalEvery, evalBatches: o.evalBatches, checkpointEvery: o.ckptEvery, keepCheckpoints: o.keep,
        seed: o.seed, resume: o.resume, extend: o.extend, onNonFinite: o.onNan, maxSkips: o.maxSkips, backend: o.backend,
        precision: o.precision, signal,
      });
      const s = r.summary;
      if (s.stoppedBy === "interrupted") {
        console.log(`stopped at step ${s.steps}; checkpoint ${s.checkpoint}; no model written; continue with the same command and --resume`);
        process.exitCode = interruptedExitCode(signal);
        return;
      }
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

  program
    .command("eval")
    .description("loss, perplexity and bits per byte of a model on a token shard")
    .requiredOption("--model <run>", "run folder (RUN/model + RUN/tokenizer) or a model folder")
    .requiredOption("--data <shard>", "token shard file (.bin)")
    .option("--batch <n>", "rows per batch", int, 4)
    .option("--batches <n>", "batches to evaluate (default: the whole shard)", int)
    .option("--tokenizer <path>", "tokenizer for bits per byte (default: RUN/tokenizer, the model folder's tokenizer.json, or the run folder's beside it)")
    .option("--json", "print JSON")
    .action((o) => {
      const candidates = [join(o.model, "model"), o.model];
      const modelDir = candidates.find((d) => existsSync(join(d, "config.json")));
      if (!modelDir) {
        throw new Error(`no model in ${o.model}: looked for ${candidates.map((d) => join(d, "config.json")).join(" and ")} (a run writes RUN/model when its training ends; continue an unfinished one with --resume)`);
      }
      const model = loadModel(modelDir);
      const T = model.config.blockSize;
      if (!existsSync(o.data)) throw new Error(`--data ${o.data}: token shard not found (write shards with \`llmforge tokenizer shard\`)`);
      const shard = readTokenShard(o.data).tokens;
      const batches = o.batches ?? Math.max(1, Math.floor((shard.length - 1) / (o.batch * T)));
      // the tokenizer for bits per byte: the run's, or the one a model folder carries, or the run folder's beside it
      const tokPaths = o.tokenizer ? [o.tokenizer] : [join(o.model, "tokenizer", "tokenizer.json"), join(modelDir, "tokenizer.json"), join(dirname(modelDir), "tokenizer", "tokenizer.json")];
      const tokPath = tokPaths.find((p) => existsSync(p));
      if (o.tokenizer && !tokPath) throw new Error(`--tokenizer ${o.tokenizer}: not found`);
      const tok = tokPath ? Tokenizer.fromFile(resolveTokenizerPath(tokPath)) : null;
      const tokenBytes = tok ? tokenByteCounter(tok) : undefined;
      const r = evaluate(model, [o.data], () => shard, o.batch, T, batches, tokenBytes);
      if (!Number.isFinite(r.loss)) throw new Error(`${modelDir}: the loss on ${o.data} is ${r.loss}: the model's outputs are not finite (the run that wrote it diverged)`);
      const out = { loss: r.loss, perplexity: r.perplexity, bits_per_byte: r.bitsPerByte, tokens: r.tokens };
      if (o.json) console.log(JSON.stringify(out));
      else console.log(`loss ${r.loss.toFixed(4)}  perplexity ${r.perplexity.toFixed(2)}  bits/byte ${r.bitsPerByte?.toFixed(4) ?? "n/a"}  (${r.tokens} tokens)`);
    });
}
