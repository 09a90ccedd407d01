// `llmforge eval`: measure a model on a token shard (loss, perplexity, bits per byte) or on evaluation tasks
// (src/eval: multiple choice, classification, generation; a reward model's pair accuracy on preference records).
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { evaluatePreferenceTask, evaluateTasks, type TaskResult } from "../eval/harness.js";
import { BUILTIN_PREFERENCE_TASK, BUILTIN_TASKS, detectSftMixSeed, isPreferenceTaskName, resolvePreferenceTask, resolveTask, SFT_MIX_SEED } from "../eval/tasks.js";
import { isRewardModelConfig } from "../model/heads.js";
import { loadGgufRun } from "../model/importGguf.js";
import { isGgufPath, loadModelFolder, loadRun, resolveRunPaths, runChatTemplate } from "../model/runFolder.js";
import { loadRewardRun } from "../reward/score.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { CHATML_TEMPLATE, requireChatTokens } from "../tokenizer/chatTemplate.js";
import { readTokenShard, Tokenizer } from "../tokenizer/index.js";
import { resolveTokenizerPath, tokenByteCounter } from "../train/pretrain.js";
import { evaluate } from "../train/trainer.js";
import { VERSION } from "../version.js";
import { registerEvalCompare } from "./evalCompare.js";
import { intOption, nonNegativeIntOption, positiveIntOption as int } from "./options.js";

/** Adds `eval` (and its `compare` subcommand, whose options after `compare` are its own). */
export function registerEvalCommand(program: Command): void {
  program.enablePositionalOptions();
  const evalCommand = program
    .command("eval")
    .enablePositionalOptions()
    .description("loss, perplexity and bits per byte of a model on a token shard (--data), or task metrics (--task: multiple choice, classification, generation)")
    .option("--model <run>", "(required) run folder (RUN/model + RUN/tokenizer) or a model folder")
    .option("--data <shard>", "token shard file (.bin): loss, perplexity, bits per byte")
    .option("--task <name-or-file...>", `tasks to run: built-in (${BUILTIN_TASKS.join(", ")}) or task spec files (*.json); for a reward model, preference records (*.jsonl, any format \`data convert --to preferences\` reads) or ${BUILTIN_PREFERENCE_TASK} (the preference mix's held-out split)`)
    .option("--shots <k>", "few-shot examples per prompt (default: each task's own)", nonNegativeIntOption)
    .option("--limit <n>", "evaluate the first N examples of each task", int)
    .option("--out <file>", "per-example results (JSONL); a rerun with the same file skips the examples already there")
    .option("--seed <n>", "seed of the few-shot draws and the built-in tasks' order", intOption, 1234)
    .option("--chat", "render each task prompt as a user turn with the model's chat template (SFT models)")
    .option("--mix-seed <n>", "seed of the SFT instruction mix whose held-out items the built-in tasks use (default: read from the run's mix.json, else 1234); for `preferences`, the preference mix's seed (default 1234)", intOption)
    .option("--batch <n>", "rows per batch (shard), options per forward pass, prompts decoded together, or records per reward-model pass", int, 4)
    .option("--batches <n>", "batches to evaluate (default: the whole shard)", int)
    .option("--tokenizer <path>", "tokenizer for bits per byte and for encoding tasks (default: RUN/tokenizer, the model folder's tokenizer.json, or the run folder's beside it)")
    .option("--save", "also keep the results (the --json document) as eval/TASKS.json in the run folder, where `llmforge report` shows them")
    .option("--json", "print JSON")
    .action(async (o) => {
      if (o.model === undefined) evalCommand.error("error: required option '--model <run>' not specified");
      if ((o.data === undefined) === (o.task === undefined)) throw new Error("give exactly one of --data SHARD (loss and perplexity) or --task NAME|FILE... (task metrics)");
      if (o.task) {
        await runTaskEval(o);
        return;
      }
      // a .gguf file carries its tokenizer; a folder may be plain, quantised or adapted (loadModelFolder)
      const gguf = isGgufPath(o.model) ? loadGgufRun(o.model) : null;
      const candidates = [join(o.model, "model"), o.model];
      const modelDir = gguf ? o.model : candidates.find((d) => existsSync(join(d, "config.json")));
      if (!modelDir) {
        throw new Error(`no model in ${o.model}: looked for ${candidates.map((d) => join(d, "config.json")).join(" and ")} (a run writes RUN/model when its training ends; continue an unfinished one with --resume)`);
      }
      const model = gguf?.model ?? loadModelFolder(modelDir);
      const T = model.config.blockSize;
      if (!existsSync(o.data)) throw new Error(`--data ${o.data}: token shard not found (write shards with \`llmforge tokenizer shard\`)`);
      const shard = readTokenShard(o.data).tokens;
      const batches = o.batches ?? Math.max(1, Math.floor((shard.length - 1) / (o.batch * T)));
      // the tokenizer for bits per byte: the run's, or the one a model folder carries, or the run folder's beside it
      const tokPaths = o.tokenizer ? [o.tokenizer] : [join(o.model, "tokenizer", "tokenizer.json"), join(modelDir, "tokenizer.json"), join(dirname(modelDir), "tokenizer", "tokenizer.json")];
      const tokPath = tokPaths.find((p) => existsSync(p));
      if (o.tokenizer && !tokPath) throw new Error(`--tokenizer ${o.tokenizer}: not found`);
      const tok = tokPath ? Tokenizer.fromFile(resolveTokenizerPath(tokPath)) : (gguf?.tokenizer ?? null);
      const tokenBytes = tok ? tokenByteCounter(tok) : undefined;
      const r = evaluate(model, [o.data], () => shard, o.batch, T, batches, tokenBytes);
      if (!Number.isFinite(r.loss)) throw new Error(`${modelDir}: the loss on ${o.data} is ${r.loss}: the model's outputs are not finite (the run that wrote it diverged)`);
      const out = { loss: r.loss, perplexity: r.perplexity, bits_per_byte: r.bitsPerByte, tokens: r.tokens };
      if (o.json) console.log(JSON.stringify(out));
      else console.log(`loss ${r.loss.toFixed(4)}  perplexity ${r.perplexity.toFixed(2)}  bits/byte ${r.bitsPerByte?.toFixed(4) ?? "n/a"}  (${r.tokens} tokens)`);
    });
  registerEvalCompare(evalCommand);
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
  save?: boolean;
  json?: boolean;
}

/** True when the model folder of `run` holds a reward model (a sequence classifier) rather than a language model. */
function holdsRewardModel(run: string, tokenizer?: string): boolean {
  if (isGgufPath(run)) return false; // GGUF files hold language models
  const paths = resolveRunPaths(run, tokenizer);
  try {
    return isRewardModelConfig(JSON.parse(readFileSync(join(paths.modelDir, "config.json"), "utf8")));
  } catch {
    return false; // an unreadable config is reported by the loader
  }
}

/** `llmforge eval --task ...`: loads the run, runs each task (resuming from --out), prints a table or JSON. */
async function runTaskEval(o: TaskEvalFlags): Promise<void> {
  const tokenizerPath = o.tokenizer ? resolveTokenizerPath(o.tokenizer) : undefined;
  const prefNames = o.task.filter(isPreferenceTaskName);
  const policyNames = o.task.filter((t) => !isPreferenceTaskName(t));
  const rewardModel = holdsRewardModel(o.model, tokenizerPath);
  if (rewardModel && policyNames.length > 0) {
    throw new Error(`${o.model} holds a reward model, but ${policyNames.join(", ")} ${policyNames.length > 1 ? "need" : "needs"} a language model (a policy); a reward model is measured on preference records: --task ${BUILTIN_PREFERENCE_TASK} or --task FILE.jsonl`);
  }
  if (!rewardModel && prefNames.length > 0) {
    throw new Error(`${o.model} holds a language model (a policy), but ${prefNames.join(", ")} ${prefNames.length > 1 ? "measure" : "measures"} a reward model's pair accuracy; give a reward model (OUT of \`llmforge reward\`), or a task for a language model (${BUILTIN_TASKS.join(", ")} or a spec *.json)`);
  }
  if (rewardModel) {
    const tasks = [];
    for (const t of prefNames) tasks.push(await resolvePreferenceTask(t, { mixSeed: o.mixSeed }));
    const names = new Set<string>();
    for (const t of tasks) {
      if (names.has(t.name)) throw new Error(`task "${t.name}" is given twice; task names must be unique in one run`);
      names.add(t.name);
    }
    const rm = loadRewardRun(o.model);
    const paths = resolveRunPaths(o.model, tokenizerPath);
    const results = tasks.map((t) => evaluatePreferenceTask(rm, t, { limit: o.limit, batchSize: o.batch, out: o.out, modelId: resolve(paths.modelDir), onProgress: progress() }));
    if (process.stderr.isTTY) process.stderr.write("\n");
    const doc = { format: "llmforge-eval", version: 1, writtenBy: `llmforge ${VERSION}`, model: paths.modelDir, mixSeed: o.mixSeed ?? 1234, results };
    if (o.save) saveResults(paths.modelDir, results, doc);
    if (o.json) console.log(JSON.stringify(doc));
    else printResults(results);
    return;
  }
  // Built-in tasks evaluate the items the model's SFT mix held out: that mix's seed decides which they are.
  const detected = o.mixSeed === undefined ? detectSftMixSeed(o.model) : null;
  const mixSeed = o.mixSeed ?? detected?.seed ?? SFT_MIX_SEED;
  const tasks = o.task.map((t) => resolveTask(t, { seed: o.seed, mixSeed }));
  if (!o.json && o.task.some((t) => BUILTIN_TASKS.includes(t))) {
    process.stderr.write(`built-in tasks: items held out of the SFT mix of seed ${mixSeed} (${o.mixSeed !== undefined ? "--mix-seed" : (detected?.file ?? "no mix.json found; the default")})\n`);
  }
  const loaded = loadRun(o.model, { tokenizer: tokenizerPath });
  const { model, tokenizer, paths } = loaded;
  const chat = o.chat ? { template: runChatTemplate(loaded) ?? CHATML_TEMPLATE } : undefined;
  if (chat) requireChatTokens(tokenizer, chat.template, ["<|im_end|>"]);
  const results = evaluateTasks(model, tokenizer, tasks, {
    shots: o.shots, limit: o.limit, batchSize: o.batch, seed: o.seed, out: o.out, chat, modelId: resolve(paths.modelDir), onProgress: progress(),
  });
  if (process.stderr.isTTY) process.stderr.write("\n");
  const doc = { format: "llmforge-eval", version: 1, writtenBy: `llmforge ${VERSION}`, model: paths.modelDir, seed: o.seed, mixSeed, mixSeedFrom: o.mixSeed !== undefined ? "--mix-seed" : (detected?.file ?? "default"), chat: o.chat ?? false, results };
  if (o.save) saveResults(paths.modelDir, results, doc);
  if (o.json) {
    console.log(JSON.stringify(doc));
    return;
  }
  printResults(results);
}

/**
 * Keeps an eval document as RUN/eval/TASKS.json (TASKS: the task names joined by "+"), RUN being the run folder
 * of the model (the parent of a `model` folder, else the model folder itself); `llmforge report RUN` shows it.
 */
function saveResults(modelDir: string, results: readonly TaskResult[], doc: object): void {
  const run = basename(resolve(modelDir)) === "model" ? dirname(resolve(modelDir)) : resolve(modelDir);
  const file = join(run, "eval", `${results.map((r) => r.task).join("+").replace(/[^A-Za-z0-9_.+-]/g, "_")}.json`);
  writeFileAtomicSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  process.stderr.write(`saved ${file}\n`);
}

/** Progress on a terminal only. */
function progress(): ((task: string, done: number, total: number) => void) | undefined {
  return process.stderr.isTTY ? (task, done, total) => process.stderr.write(`\r${task}: ${done}/${total}  `) : undefined;
}

/** `name v ±stderr` for each metric. */
function metricText(metrics: Record<string, number>): string {
  return Object.entries(metrics).filter(([k]) => !k.endsWith("_stderr")).map(([k, v]) => `${k} ${v.toFixed(4)}${metrics[`${k}_stderr`] !== undefined ? ` ±${metrics[`${k}_stderr`].toFixed(4)}` : ""}`).join("  ");
}

/** One line per task, then one indented line per group. */
function printResults(results: readonly TaskResult[]): void {
  for (const r of results) {
    const speed = r.optionsPerSecond !== undefined ? `${r.optionsPerSecond.toFixed(1)} options/s` : `${r.examplesPerSecond.toFixed(2)} examples/s`;
    const counts = r.kind === "preference" ? `${r.examples} records, ${r.pairs} pairs${r.pairsTooLong ? `, ${r.pairsTooLong} left out (answer longer than the block)` : ""}` : `${r.shots}-shot, ${r.examples} examples`;
    console.log(`${r.task} (${r.kind}, ${counts}${r.resumed > 0 ? `, ${r.resumed} resumed` : ""}): ${metricText(r.metrics)}  [${speed}]`);
    for (const [g, x] of Object.entries(r.groups ?? {})) console.log(`  ${g} (${x.examples}): ${metricText(x.metrics)}`);
  }
}
