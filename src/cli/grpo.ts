// `llmforge grpo`: Group Relative Policy Optimization of an SFT run on a verifiable task (sampled groups of answers,
// group-relative advantages, no value model); a thin shell over rl/grpo.ts.
import type { Command } from "commander";
import { type GrpoEval, grpo } from "../rl/grpo.js";
import { INSTRUCTION_TASKS } from "../sft/instructionMix.js";
import {
  abortOnSignals, addLoopOptions, addSamplingOptions, fractionOption, loopRunOptions, nonNegativeNumberOption, oneOf, positiveIntOption as int, reportInterrupted,
} from "./options.js";

const line = (v: GrpoEval): string => `solved ${(100 * v.solved).toFixed(1)}%, mean reward ${v.reward.toFixed(3)}, ended ${(100 * v.ended).toFixed(0)}%`;

export function registerGrpoCommand(program: Command): void {
  const cmd = program
    .command("grpo")
    .description("GRPO on a verifiable task: groups of sampled answers per prompt, group-relative advantages, clipped policy steps")
    .requiredOption("--model <run>", "the SFT run (or chat model folder) to start from")
    .requiredOption("--task <name|file>", `a task of the instruction mix (${INSTRUCTION_TASKS.join(", ")}; several joined by commas) or a file of questions with answers`)
    .requiredOption("--out <dir>", "run folder; the tuned chat model is written to OUT/model")
    .option("--reward <name|module>", "exact (exact match with the reference answer) or a JavaScript module exporting reward(prompt, completion, record)", "exact")
    .option("--val-data <files...>", "held-out prompts for a task file (default: --val-fraction of its prompts)")
    .option("--val-fraction <f>", "share of a task file's prompts held out", fractionOption, 0.1)
    .option("--per-task <n>", "prompts drawn per named task", int, 2000)
    .option("--group <n>", "completions sampled per prompt", int, 8)
    .option("--batch <n>", "prompts per micro-batch", int, 8)
    .option("--accumulation <n>", "micro-batches per optimizer step", int, 1)
    .option("--beta <b>", "weight of the k3 KL to the starting policy (0: no reference kept)", nonNegativeNumberOption, 0)
    .option("--loss <kind>", "token aggregation: dapo (all tokens of the batch) | grpo (per sequence) | dr_grpo (fixed length)", oneOf(["dapo", "grpo", "dr_grpo"]), "dapo")
    .option("--scale-rewards <s>", "divide centred rewards by the std of the group | batch | none", oneOf(["group", "batch", "none"]), "group")
    .option("--epsilon <e>", "ratio clip (lower)", nonNegativeNumberOption, 0.2)
    .option("--epsilon-high <e>", "ratio clip (upper; default --epsilon)", nonNegativeNumberOption)
    .option("--mask-truncated", "leave completions cut by --max-tokens out of the loss")
    .option("--dynamic-sampling <rounds>", "DAPO dynamic sampling: drop groups whose rewards are all equal and sample more prompts, up to this many rollout rounds per micro-batch (1: off)", int, 1)
    .option("--eval-limit <n>", "held-out prompts answered at each evaluation", int, 200);
  addSamplingOptions(cmd, { maxTokens: 32, temperature: 1, maxTokensHelp: "most tokens per sampled answer" });
  addLoopOptions(cmd, { steps: 100, lr: 1e-5, weightDecay: 0, evalEvery: 25, keep: 2 }).action(async (o) => {
    const signal = abortOnSignals();
    const s = await grpo({
      model: o.model, task: o.task, out: o.out, reward: o.reward, valData: o.valData, valFraction: o.valFraction, perTask: o.perTask, group: o.group,
      batchSize: o.batch, accumulation: o.accumulation, beta: o.beta, loss: o.loss, scaleRewards: o.scaleRewards, epsilon: o.epsilon, epsilonHigh: o.epsilonHigh,
      maskTruncated: o.maskTruncated, evalLimit: o.evalLimit, maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK || undefined, topP: o.topP,
      dynamicSampling: o.dynamicSampling,
      ...loopRunOptions(o, signal),
    });
    const t = s.training;
    if (reportInterrupted(t, signal)) return;
    const held = s.after ? `held-out: ${s.before ? `${line(s.before)} -> ` : ""}${line(s.after)}; ` : "no held-out prompts; ";
    console.log(`trained ${t.steps} steps in ${t.seconds.toFixed(1)} s; ${held}model in ${s.modelDir}`);
  });
}
