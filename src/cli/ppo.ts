// `llmforge ppo`: RLHF with PPO (a reward model or a reward function, a KL penalty to the frozen SFT policy, a value
// model, GAE, clipped policy and value steps); a thin shell over rl/ppo.ts.
import type { Command } from "commander";
import { type PpoEval, ppo } from "../rl/ppo.js";
import {
  abortOnSignals, addLoopOptions, addSamplingOptions, fractionOption, loopRunOptions, nonNegativeNumberOption, numberOption, oneOf, positiveIntOption as int,
  positiveNumberOption, reportInterrupted,
} from "./options.js";

const line = (v: PpoEval): string => `mean reward ${v.reward.toFixed(3)}, KL ${v.kl.toFixed(4)} nats/token, ended ${(100 * v.ended).toFixed(0)}%`;

export function registerPpoCommand(program: Command): void {
  const cmd = program
    .command("ppo")
    .description("PPO against a reward model (or a reward function) with a KL penalty to the SFT policy and a value model")
    .requiredOption("--policy <run>", "the SFT run (or chat model folder) to start from; also the frozen reference")
    .requiredOption("--reward <rm|name|module>", "a reward model run (`llmforge reward`; also the value model's start), exact, or a JavaScript module exporting reward(prompt, completion, record)")
    .requiredOption("--prompts <task|file>", "a task of the instruction mix (several joined by commas) or a file of prompts (any SFT format, or prompt-only records {\"prompt\": ...})")
    .requiredOption("--out <dir>", "run folder; the tuned chat model is written to OUT/model")
    .option("--val-data <files...>", "held-out prompts (default: --val-fraction of a file's prompts)")
    .option("--val-fraction <f>", "share of a prompt file held out", fractionOption, 0.1)
    .option("--per-task <n>", "prompts drawn per named task", int, 2000)
    .option("--batch <n>", "prompts per rollout (one answer each)", int, 16)
    .option("--minibatches <n>", "minibatches per rollout", int, 1)
    .option("--ppo-epochs <n>", "passes over each rollout", int, 2)
    .option("--kl-coef <c>", "KL penalty coefficient (initial value when adaptive)", nonNegativeNumberOption, 0.05)
    .option("--kl-target <k>", "adaptive KL: target KL per answer (nats)", positiveNumberOption)
    .option("--kl-horizon <n>", "adaptive KL horizon", positiveNumberOption, 10000)
    .option("--kl-estimator <k>", "per-token KL estimator of the penalty: k1 | k2 | k3", oneOf(["k1", "k2", "k3"]), "k1")
    .option("--gamma <g>", "discount", fractionOption, 1)
    .option("--lambda <l>", "GAE lambda", fractionOption, 0.95)
    .option("--epsilon <e>", "policy ratio clip", nonNegativeNumberOption, 0.2)
    .option("--value-clip <c>", "value clip range", nonNegativeNumberOption, 0.2)
    .option("--vf-coef <c>", "value loss weight", nonNegativeNumberOption, 0.1)
    .option("--score-clip <c>", "clip answer scores to [-c, c]", positiveNumberOption)
    .option("--missing-eos-penalty <p>", "added to the score of an answer cut by --max-tokens (e.g. -1)", numberOption, 0)
    .option("--eval-limit <n>", "held-out prompts answered at each evaluation", int, 100);
  addSamplingOptions(cmd, { maxTokens: 32, temperature: 1, maxTokensHelp: "most tokens per sampled answer" });
  addLoopOptions(cmd, { steps: 100, lr: 1e-5, weightDecay: 0, evalEvery: 25, keep: 2 }).action(async (o) => {
    const signal = abortOnSignals();
    const s = await ppo({
      policy: o.policy, reward: o.reward, prompts: o.prompts, out: o.out, valData: o.valData, valFraction: o.valFraction, perTask: o.perTask, batchSize: o.batch,
      minibatches: o.minibatches, ppoEpochs: o.ppoEpochs, klCoef: o.klCoef, klTarget: o.klTarget, klHorizon: o.klHorizon, klEstimator: o.klEstimator, gamma: o.gamma,
      lambda: o.lambda, epsilon: o.epsilon, valueClip: o.valueClip, vfCoef: o.vfCoef, scoreClip: o.scoreClip, missingEosPenalty: o.missingEosPenalty, evalLimit: o.evalLimit,
      maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK || undefined, topP: o.topP, ...loopRunOptions(o, signal),
    });
    const t = s.training;
    if (reportInterrupted(t, signal)) return;
    const held = s.after ? `held-out: ${s.before ? `${line(s.before)} -> ` : ""}${line(s.after)}; ` : "no held-out prompts; ";
    console.log(`trained ${t.steps} steps in ${t.seconds.toFixed(1)} s; ${held}model in ${s.modelDir}`);
  });
}
