// `llmforge eval`: measure a model on a token shard (loss, perplexity, bits per byte) or on evaluation tasks
// (src/eval: multiple choice, classification, generation).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { evaluateTasks } from "../eval/harness.js";
import { BUILTIN_TASKS, detectSftMixSeed, resolveTask, SFT_MIX_SEED } from "../eval/tasks.js";
import { loadRun } from "../model/runFolder.js";
import { loadModel } from "../model/serialize.js";
import { CHATML_TEMPLATE, readTokenizerConfig, requireChatTokens } from "../tokenizer/chatTemplate.js";
import { readTokenShard, Tokenizer } from "../tokenizer/index.js";
import { resolveTokenizerPath, tokenByteCounter } from "../train/pretrain.js";
import { evaluate } from "../train/trainer.js";
import { VERSION } from "../version.js";
import { intOption, nonNegativeIntOption, positiveIntOption as int } from "./options.js";

export function registerEvalCommand(program: Command): void {
  program
    .command("eval")
    .description("loss, perplexity and bits per byte of a model on a token shard (--data), or task metrics (--task: multiple choice, classification, generation)")
    .requiredOption("--model <run>", "run folder (RUN/model + RUN/tokenizer) or a model folder")
    .option("--data <shard>", "token shard file (.bin): loss, perplexity, bits per byte")
    .option("--task <name-or-file...>", `tasks to run: built-in (${BUILTIN_TASKS.join(", ")}) or task spec files (*.json)`)
    .option("--shots <k>", "few-shot examples per prompt (default: each task's own)", nonNegativeIntOption)
    .option("--limit <n>", "evaluate the first N examples of each task", int)
    .option("--out <file>", "per-example results (JSONL); a rerun with the same file skips the examples already there")
    .option("--seed <n>", "seed of the few-shot draws and the built-in tasks' order", intOption, 1234)
    .option("--chat", "render each task prompt as a user turn with the model's chat template (SFT models)")
    .option("--mix-seed <n>", "seed of the SFT instruction mix whose held-out items the built-in tasks use (default: read from the run's mix.json, else 1234)", intOption)
    .option("--batch <n>", "rows per batch", int, 4)
    .option("--batches <n>", "batches to evaluate (default: the whole shard)", int)
    .option("--tokenizer <path>", "tokenizer for bits per byte and for encoding tasks (default: RUN/tokenizer, the model folder's tokenizer.json, or the run folder's beside it)")
    .option("--json", "print JSON")
    .action((o) => {
      if ((o.data === undefined) === (o.task === undefined)) throw new Error("give exactly one of --data SHARD (loss and perplexity) or --task NAME|FILE... (task metrics)");
      if (o.task) {
        runTaskEval(o);
        return;
      }
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

interface TaskEvalFlags {
  model: string;
  task: string[];
  shots?: number;
  limit?: number;
  out?: string;
  seed: number;
  mixSeed?: number;
  chat?: boolean;
  batch: number;
  tokenizer?: string;
  json?: boolean;
}

/** `llmforge eval --task ...`: loads the run, runs each task (resuming from --out), prints a table or JSON. */
function runTaskEval(o: TaskEvalFlags): void {
  // Built-in tasks evaluate the items the model's SFT mix held out: that mix's seed decides which they are.
  const detected = o.mixSeed === undefined ? detectSftMixSeed(o.model) : null;
  const mixSeed = o.mixSeed ?? detected?.seed ?? SFT_MIX_SEED;
  const tasks = o.task.map((t) => resolveTask(t, { seed: o.seed, mixSeed }));
  if (!o.json && o.task.some((t) => BUILTIN_TASKS.includes(t))) {
    process.stderr.write(`built-in tasks: items held out of the SFT mix of seed ${mixSeed} (${o.mixSeed !== undefined ? "--mix-seed" : (detected?.file ?? "no mix.json found; the default")})\n`);
  }
  const { model, tokenizer, paths } = loadRun(o.model, { tokenizer: o.tokenizer ? resolveTokenizerPath(o.tokenizer) : undefined });
  const chat = o.chat ? { template: readTokenizerConfig(dirname(paths.tokenizerFile))?.chatTemplate ?? CHATML_TEMPLATE } : undefined;
  if (chat) requireChatTokens(tokenizer, chat.template, ["<|im_end|>"]);
  const results = evaluateTasks(model, tokenizer, tasks, {
    shots: o.shots, limit: o.limit, batchSize: o.batch, seed: o.seed, out: o.out, chat, modelId: resolve(paths.modelDir),
    onProgress: process.stderr.isTTY ? (task, done, total) => process.stderr.write(`\r${task}: ${done}/${total}  `) : undefined,
  });
  if (process.stderr.isTTY) process.stderr.write("\n");
  if (o.json) {
    console.log(JSON.stringify({ format: "llmforge-eval", version: 1, writtenBy: `llmforge ${VERSION}`, model: paths.modelDir, seed: o.seed, mixSeed, mixSeedFrom: o.mixSeed !== undefined ? "--mix-seed" : (detected?.file ?? "default"), chat: o.chat ?? false, results }));
    return;
  }
  for (const r of results) {
    const ms = Object.entries(r.metrics).filter(([k]) => !k.endsWith("_stderr")).map(([k, v]) => `${k} ${v.toFixed(4)}${r.metrics[`${k}_stderr`] !== undefined ? ` ±${r.metrics[`${k}_stderr`].toFixed(4)}` : ""}`);
    const speed = r.optionsPerSecond !== undefined ? `${r.optionsPerSecond.toFixed(1)} options/s` : `${r.examplesPerSecond.toFixed(2)} examples/s`;
    console.log(`${r.task} (${r.kind}, ${r.shots}-shot, ${r.examples} examples${r.resumed > 0 ? `, ${r.resumed} resumed` : ""}): ${ms.join("  ")}  [${speed}]`);
  }
}
