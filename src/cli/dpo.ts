// `llmforge dpo`: Direct Preference Optimization of an SFT run on preference pairs (no reward model, no
// sampling); a thin shell over rl/dpo.ts. The reference is the starting policy, scored once and stored.
import type { Command } from "commander";
import { dpo, type DpoEval } from "../rl/dpo.js";
import { abortOnSignals, addLoopOptions, loopRunOptions, reportInterrupted, positiveIntOption as int, fractionOption, nonNegativeNumberOption, oneOf, positiveNumberOption } from "./options.js";

const pct = (x: number | undefined): string => (x === undefined ? "n/a" : `${(x * 100).toFixed(1)}%`);
const line = (v: DpoEval): string => `accuracy ${pct(v.reward_accuracy)}, margin ${v.reward_margin?.toFixed(4)}, chosen log-prob ${v.logp_chosen?.toFixed(2)}`;

export function registerDpoCommand(program: Command): void {
  const cmd = program
    .command("dpo")
    .description("Direct Preference Optimization on preference pairs: sigmoid (DPO/cDPO), IPO or hinge loss against the frozen SFT model")
    .requiredOption("--model <run>", "the SFT run (or chat model folder) to start from; also the reference")
    .requiredOption("--data <files...>", "preference records (any format `llmforge data convert --to preferences` reads, or folders)")
    .requiredOption("--out <dir>", "run folder; the tuned chat model is written to OUT/model")
    .option("--val-data <files...>", "held-out records (default: --val-fraction of the prompts of --data)")
    .option("--val-fraction <f>", "share of prompts held out when --val-data is not given", fractionOption, 0.05)
    .option("--beta <b>", "temperature of the implicit reward β·(log π − log π_ref)", positiveNumberOption, 0.1)
    .option("--loss <kind>", "sigmoid | ipo | hinge", oneOf(["sigmoid", "ipo", "hinge"]), "sigmoid")
    .option("--label-smoothing <e>", "cDPO: share of pairs assumed flipped, in [0, 0.5) (sigmoid only)", nonNegativeNumberOption, 0)
    .option("--sft-coef <c>", "adds c × the chosen answers' NLL per token", nonNegativeNumberOption, 0)
    .option("--peft <method>", "none (full fine-tuning) | lora", oneOf(["none", "lora"]), "none")
    .option("--lora-r <n>", "LoRA rank", int, 8)
    .option("--lora-alpha <a>", "LoRA alpha (scale alpha/r)", positiveNumberOption, 16)
    .option("--lora-target <names>", "LoRA layers, as for `llmforge sft`")
    .option("--batch <n>", "pairs per micro-batch", int, 8)
    .option("--accumulation <n>", "micro-batches per optimizer step", int, 1);
  addLoopOptions(cmd, { steps: 200, lr: 5e-6, weightDecay: 0, evalEvery: 50, keep: 2 }).action(async (o) => {
    const signal = abortOnSignals();
    const peft = o.peft === "lora" ? { method: "lora" as const, r: o.loraR, alpha: o.loraAlpha, targets: o.loraTarget, seed: o.seed } : { method: "none" as const };
    const s = await dpo({
      model: o.model, data: o.data, valData: o.valData, valFraction: o.valFraction, out: o.out, beta: o.beta, loss: o.loss, labelSmoothing: o.labelSmoothing,
      sftCoef: o.sftCoef, peft, batchSize: o.batch, accumulation: o.accumulation, ...loopRunOptions(o, signal),
    });
    const t = s.training;
    if (reportInterrupted(t, signal)) return;
    const held = s.after ? `held-out: ${s.before ? `${line(s.before)} -> ` : ""}${line(s.after)}; ` : "no held-out pairs; ";
    console.log(`trained ${t.steps} steps in ${t.seconds.toFixed(1)} s; ${held}model in ${s.modelDir}`);
  });
}
