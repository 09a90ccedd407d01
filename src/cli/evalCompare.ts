// `llmforge eval compare --model A --against B --prompts F --judge RM|rule`: model vs model, the automated stand-in for
// human preference comparisons. A thin shell over eval/compare.ts: prints win / tie / loss rates with bootstrap intervals.
import type { Command } from "commander";
import { type CompareStats, type CompareSummary, compareModels } from "../eval/compare.js";
import type { BackendName } from "../tensor/backend/index.js";
import { addSamplingOptions, intOption, nonNegativeIntOption, nonNegativeNumberOption, oneOf, positiveIntOption, } from "./options.js";

interface CompareFlags {
  model: string;
  against: string;
  prompts: string;
  judge: string;
  samples: number;
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  tieEpsilon: number;
  bootstrap: number;
  limit?: number;
  chat?: boolean;
  out?: string;
  examples: number;
  backend?: string;
  json?: boolean;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const line = (name: string, s: CompareStats): string =>
  `${name}: ${s.prompts} prompts, ${s.pairs.win + s.pairs.tie + s.pairs.loss} pairs  ` +
  `win ${pct(s.win.rate)} [${pct(s.win.lo)}, ${pct(s.win.hi)}]  tie ${pct(s.tie.rate)} [${pct(s.tie.lo)}, ${pct(s.tie.hi)}]  ` +
  `loss ${pct(s.loss.rate)} [${pct(s.loss.lo)}, ${pct(s.loss.hi)}]  win+tie/2 ${pct(s.winTieHalf.rate)} [${pct(s.winTieHalf.lo)}, ${pct(s.winTieHalf.hi)}]`;

/** The human-readable report: overall and per-task rates, then the first examples. */
function printSummary(s: CompareSummary): void {
  console.log(`${s.model} (A) vs ${s.against} (B), judged by ${s.judge === "rule" ? "the rule grader" : `reward model ${s.judge}`}; 95% bootstrap intervals over prompts`);
  console.log(line("overall", s.overall));
  for (const [t, st] of Object.entries(s.byTask)) console.log(line(`  ${t}`, st));
  if (s.resumed > 0) console.log(`(${s.resumed} prompts read back from the results file)`);
  if (s.truncated > 0) console.log(`(${s.truncated} answers cut from the left to fit the reward model's block size)`);
  for (const e of s.examples) {
    const x = e.samples[0];
    const q = e.messages.at(-1)?.content ?? "";
    console.log(`\n[${e.id}] ${JSON.stringify(q.slice(0, 200))}\n  A (${x.scoreA.toFixed(3)}): ${JSON.stringify(x.a.text.slice(0, 200))}\n  B (${x.scoreB.toFixed(3)}): ${JSON.stringify(x.b.text.slice(0, 200))}\n  -> ${x.outcome}`);
  }
}

/** Adds `compare` to the `eval` command (which turns on positional options, so the options after `compare` are its own). */
export function registerEvalCompare(evalCommand: Command): void {
  const compare = evalCommand
    .command("compare")
    .description("model vs model: both answer the same prompts, a judge (reward model or rule grader) picks the better answer; win/tie/loss rates of A vs B with bootstrap intervals")
    .requiredOption("--model <run>", "model A: a language model run (or model folder)")
    .requiredOption("--against <run>", "model B, compared against")
    .requiredOption("--prompts <file>", 'JSONL prompts: {"prompt": text} or {"messages": [...]}, optional id, task, kind, accept/answer (or heldout.jsonl of `llmforge data instructions`)')
    .requiredOption("--judge <rm|rule>", "a reward model run (from `llmforge reward`), or `rule`: the SFT tasks' rule grader on accepted answers")
    .option("--samples <n>", "answers per prompt from each model (needs --temperature > 0 past 1)", positiveIntOption, 1);
  addSamplingOptions(compare, { maxTokens: 128, temperature: 0.7, maxTokensHelp: "most new tokens per answer" })
    .option("--seed <n>", "seed of the sampling (sample k of a prompt is drawn alike for both models) and of the bootstrap", intOption, 1234)
    .option("--tie-epsilon <e>", "reward differences below this are ties", nonNegativeNumberOption, 0)
    .option("--bootstrap <n>", "bootstrap resamples of prompts", positiveIntOption, 2000)
    .option("--limit <n>", "compare on the first N prompts", positiveIntOption)
    .option("--chat", "render prompts with each model's chat template (default: when its tokenizer folder has one, as SFT runs do)")
    .option("--no-chat", "plain text prompts (after the document token) even for chat models")
    .option("--out <file>", "per-prompt results (JSONL); a rerun with the same settings skips the prompts already there")
    .option("--examples <n>", "examples shown in the report", nonNegativeIntOption, 3)
    .option("--backend <name>", "ref or native (default: native when built)", oneOf(["ref", "native"]))
    .option("--json", "print the summary as JSON")
    .action(async (o: CompareFlags) => {
      const s = await compareModels({
        model: o.model, against: o.against, prompts: o.prompts, judge: o.judge, samples: o.samples, maxTokens: o.maxTokens, temperature: o.temperature,
        topK: o.topK, topP: o.topP, seed: o.seed, tieEpsilon: o.tieEpsilon, resamples: o.bootstrap, limit: o.limit, chat: o.chat ?? "auto",
        out: o.out, examples: o.examples, backend: o.backend as BackendName | undefined,
        onProgress: process.stderr.isTTY ? (done, total) => process.stderr.write(`\rcompare: ${done}/${total}  `) : undefined,
      });
      if (process.stderr.isTTY) process.stderr.write("\n");
      if (o.json) console.log(JSON.stringify(s));
      else printSummary(s);
    });
}
