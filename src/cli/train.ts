// `llmforge train` and `llmforge eval`: pretrain a GPT on token shards; measure a model on a shard.
import type { Command } from "commander";
import { intOption as int, numberOption as num } from "./options.js";
import { resolveModelConfig } from "../model/config.js";
import { loadModel } from "../model/serialize.js";
import { readTokenShard, Tokenizer } from "../tokenizer/index.js";
import { pretrain, resolveTokenizerPath, tokenByteCounter } from "../train/pretrain.js";
import { evaluate } from "../train/trainer.js";
import { existsSync, } from "node:fs";
import { join } from "node:path";


export function registerTrainCommands(program: Command): void {
  program
    .command("train")
    .description("pretrain a GPT on token shards (cross-entropy, AdamW, warmup+cosine, checkpoints, exact resume)")
    .requiredOption("--data <dir>", "folder of token shards (train_*.bin, val_*.bin)")
    .requiredOption("--tokenizer <path>", "tokenizer.json or its folder")
    .requiredOption("--out <dir>", "run folder")
    .option("--preset <name>", "model size preset: tiny, mini, small, medium, gpt2", "mini")
    .option("--depth <n>", "size dial: width 64·depth, heads from it (overrides --preset)", int)
    .option("--config <file>", "model config JSON (overrides --depth/--preset)")
    .option("--flavour <f>", "gpt2 or llama")
    .option("--block <n>", "context length", int)
    .option("--dropout <p>", "dropout probability", num)
    .option("--batch <n>", "micro-batch rows", int, 8)
    .option("--total-batch-tokens <n>", "tokens per optimizer step (gradient accumulation)", int)
    .option("--steps <n>", "optimizer steps", int, 1000)
    .option("--minutes <m>", "time budget; the schedule is fitted to it after the first steps", num)
    .option("--lr <lr>", "peak learning rate", num, 1e-3)
    .option("--min-lr <lr>", "final learning rate (default lr/10)", num)
    .option("--warmup <n>", "warmup steps", int)
    .option("--weight-decay <wd>", "AdamW weight decay on matrices", num, 0.1)
    .option("--eval-every <n>", "validation every N steps", int, 100)
    .option("--eval-batches <n>", "validation batches", int, 8)
    .option("--ckpt-every <n>", "checkpoint every N steps", int, 200)
    .option("--keep <n>", "checkpoints to keep", int, 3)
    .option("--seed <n>", "seed", int, 1337)
    .option("--resume", "continue the run in --out from its newest checkpoint")
    .option("--on-nan <what>", "stop or skip on a non-finite loss", "stop")
    .option("--backend <b>", "ref or native")
    .option("--precision <p>", "matrix products in f32, or bf16 (mixed precision, f32 weights; needs avx512_bf16)", "f32")
    .action(async (o) => {
      if (o.precision !== "f32" && o.precision !== "bf16") throw new Error(`--precision must be f32 or bf16, got "${o.precision}"`);
      const tok = Tokenizer.fromFile(resolveTokenizerPath(o.tokenizer));
      const config = resolveModelConfig(o, tok.vocabSize);
      // Ctrl-C finishes the current step, writes a checkpoint and exits; a second Ctrl-C quits at once.
      const stop = new AbortController();
      process.once("SIGINT", () => {
        process.stderr.write("\ninterrupted: finishing this step and writing a checkpoint (Ctrl-C again to quit now; resume with --resume)\n");
        stop.abort();
        process.once("SIGINT", () => process.exit(130));
      });
      const r = await pretrain({
        data: o.data, tokenizer: o.tokenizer, out: o.out, config, batchSize: o.batch, totalBatchTokens: o.totalBatchTokens,
        steps: o.steps, minutes: o.minutes, lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, weightDecay: o.weightDecay,
        evalEvery: o.evalEvery, evalBatches: o.evalBatches, checkpointEvery: o.ckptEvery, keepCheckpoints: o.keep,
        seed: o.seed, resume: o.resume, onNonFinite: o.onNan === "skip" ? "skip" : "stop", backend: o.backend, precision: o.precision, signal: stop.signal,
      });
      const s = r.summary;
      if (s.stoppedBy === "interrupted") {
        console.log(`stopped at step ${s.steps}; checkpoint ${s.checkpoint}; continue with the same command and --resume`);
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
    .option("--tokenizer <path>", "tokenizer for bits per byte (default RUN/tokenizer)")
    .option("--json", "print JSON")
    .action((o) => {
      const modelDir = existsSync(join(o.model, "model", "config.json")) ? join(o.model, "model") : o.model;
      const model = loadModel(modelDir);
      const T = model.config.blockSize;
      if (!existsSync(o.data)) throw new Error(`--data ${o.data}: token shard not found (write shards with \`llmforge tokenizer shard\`)`);
      const shard = readTokenShard(o.data).tokens;
      const batches = o.batches ?? Math.max(1, Math.floor((shard.length - 1) / (o.batch * T)));
      const tokPath = o.tokenizer ?? join(o.model, "tokenizer", "tokenizer.json");
      const tok = existsSync(tokPath) ? Tokenizer.fromFile(resolveTokenizerPath(tokPath)) : null;
      const tokenBytes = tok ? tokenByteCounter(tok) : undefined;
      const r = evaluate(model, [o.data], () => shard, o.batch, T, batches, tokenBytes);
      const out = { loss: r.loss, perplexity: r.perplexity, bits_per_byte: r.bitsPerByte, tokens: r.tokens };
      if (o.json) console.log(JSON.stringify(out));
      else console.log(`loss ${r.loss.toFixed(4)}  perplexity ${r.perplexity.toFixed(2)}  bits/byte ${r.bitsPerByte?.toFixed(4) ?? "n/a"}  (${r.tokens} tokens)`);
    });
}
