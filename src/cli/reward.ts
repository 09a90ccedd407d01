// `llmforge reward`: trains a reward model from an SFT run on preference data (pairs, rankings, scores);
// `llmforge reward score`: scores the answers of new records with it. Thin shells over reward/.
import { type Command, InvalidArgumentError } from "commander";
import { describeEval, reward } from "../reward/train.js";
import { scoreRecords } from "../reward/score.js";
import { abortOnSignals, addLoopOptions, loopRunOptions, reportInterrupted, positiveIntOption as int, fractionOption, nonNegativeNumberOption, oneOf, positiveNumberOption } from "./options.js";
import { peftOf } from "./sft.js";

/** The PEFT flags that only mean something with one --peft method (as `llmforge sft` spells them). */
const PEFT_FLAGS: Record<string, { flag: string; method: string }> = {
  loraR: { flag: "--lora-r", method: "lora" }, loraAlpha: { flag: "--lora-alpha", method: "lora" }, loraDropout: { flag: "--lora-dropout", method: "lora" },
  loraTarget: { flag: "--lora-target", method: "lora" }, rslora: { flag: "--rslora", method: "lora" },
  freezeLayers: { flag: "--freeze-layers", method: "freeze" }, freeze: { flag: "--freeze", method: "freeze" },
};

/** "1,5" -> [1, 5]. */
function rangeOption(v: string): [number, number] {
  const [a, b, ...rest] = v.split(",").map(Number);
  if (rest.length || !Number.isFinite(a) || !Number.isFinite(b) || a >= b) throw new InvalidArgumentError(`expected MIN,MAX with MIN < MAX (e.g. 1,5), got "${v}"`);
  return [a, b];
}

/** "helpfulness=2,harmlessness=1" -> weights per dimension. */
function weightsOption(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of v.split(",")) {
    const [k, x] = part.split("=");
    const n = Number(x);
    if (!k || x === undefined || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected DIM=WEIGHT[,DIM=WEIGHT...] with weights >= 0, got "${v}"`);
    out[k.trim()] = n;
  }
  return out;
}

export function registerRewardCommands(program: Command): void {
  // `reward score --model RM`: options after a sub-command's name are that sub-command's, although
  // `reward` has options of the same names (commander needs this on every level above them).
  program.enablePositionalOptions();
  const cmd = program
    .command("reward")
    .enablePositionalOptions()
    .description("train a reward model (SFT trunk + scalar head) on preference data: Bradley-Terry on pairs, MSE on scores, or both")
    .option("--model <run>", "(required) the SFT run (or model folder) to start from")
    .option("--data <files...>", "(required) preference records (JSONL/JSON in any format `llmforge data convert --to preferences` reads, or folders)")
    .option("--out <dir>", "(required) run folder; the reward model is written to OUT/model")
    .option("--val-data <files...>", "held-out records (default: --val-fraction of the prompts of --data)")
    .option("--val-fraction <f>", "share of prompts held out when --val-data is not given", fractionOption, 0.05)
    .option("--loss <kind>", "bt (Bradley-Terry on pairs) | mse (regression on scores) | bt+mse", oneOf(["bt", "mse", "bt+mse"]), "bt")
    .option("--margin-scale <x>", "multiplies pair margins in -log sigmoid(r_b - r_w - margin) (0 ignores them)", nonNegativeNumberOption, 1)
    .option("--center-coef <c>", "reward centering: + c·(r_b + r_w)² per pair (0.01 is usual; 0 = off)", nonNegativeNumberOption, 0)
    .option("--mse-coef <c>", "weight of the MSE term with --loss bt+mse", nonNegativeNumberOption, 1)
    .option("--score-range <min,max>", "the scale of scores, mapped to [-1, 1] for MSE (scores outside it are refused)", rangeOption, [1, 5])
    .option("--score-weights <dim=w,...>", "weights of score dimensions (default 1 each)", weightsOption)
    .option("--truncation <rule>", "answers longer than the block: skip (counted) or left (cut the oldest prompt tokens)", oneOf(["skip", "left"]), "skip")
    .option("--batch <n>", "prompts per micro-batch (each with all its answers)", int, 8)
    .option("--accumulation <n>", "micro-batches per optimizer step", int, 1)
    .option("--dropout <p>", "dropout in the trunk while training (a regulariser; 0 = off)", fractionOption, 0)
    // The same flags and the same PEFT code as `llmforge sft`; the head is always trained, LoRA is merged into the saved model.
    .option("--peft <method>", "none (train everything) | freeze | lora: what of the trunk is trained (the head always is)", oneOf(["none", "freeze", "lora"]), "none")
    .option("--freeze-layers <n>", "with --peft freeze: train only the last N blocks (and the final norm) of the trunk", int)
    .option("--freeze <globs...>", "with --peft freeze: module paths of the trunk to freeze, e.g. wte 'h.*.attn'")
    .option("--lora-r <n>", "LoRA rank", int, 8)
    .option("--lora-alpha <a>", "LoRA alpha (scale alpha/r)", positiveNumberOption, 16)
    .option("--lora-dropout <p>", "LoRA dropout", fractionOption, 0)
    .option("--lora-target <names>", "layers: c_attn | q,v | all | comma list (gpt2: c_attn,q,k,v,c_proj,c_fc,mlp.c_proj; llama: q,k,v,o,gate,up,down)")
    .option("--rslora", "rank-stabilised LoRA: scale alpha/sqrt(r)")
    .option("--curriculum-data <files...>", "a first phase: preference records the first --curriculum-steps steps train on before --data (e.g. curriculum.jsonl of `llmforge data preferences --curriculum`)")
    .option("--curriculum-steps <n>", "optimizer steps of the first phase (with --curriculum-data)", int);
  addLoopOptions(cmd, { steps: 300, lr: 1e-4, weightDecay: 0, evalEvery: 50, keep: 2 }).action(async (o) => {
    // Checked here, not by requiredOption: those would also be demanded of `reward score`.
    for (const k of ["model", "data", "out"] as const) if (o[k] === undefined) cmd.error(`error: required option '--${k}' not specified`);
    // A LoRA or freezing flag without its --peft method would be ignored silently: say so instead.
    for (const [k, { flag, method }] of Object.entries(PEFT_FLAGS)) {
      if (cmd.getOptionValueSource(k) === "cli" && o.peft !== method) cmd.error(`error: ${flag} needs --peft ${method} (got --peft ${o.peft})`);
    }
    if (o.peft === "freeze" && o.freezeLayers === undefined && o.freeze === undefined) cmd.error("error: --peft freeze needs --freeze-layers N (train the last N blocks) or --freeze GLOBS");
    const signal = abortOnSignals();
    const s = await reward({
      model: o.model, data: o.data, valData: o.valData, valFraction: o.valFraction, out: o.out, loss: o.loss, marginScale: o.marginScale,
      centerCoef: o.centerCoef, mseCoef: o.mseCoef, scoreRange: o.scoreRange, scoreWeights: o.scoreWeights, truncation: o.truncation,
      batchSize: o.batch, accumulation: o.accumulation, dropout: o.dropout, peft: peftOf(o), curriculumData: o.curriculumData, curriculumSteps: o.curriculumSteps, ...loopRunOptions(o, signal),
    });
    const t = s.training;
    if (reportInterrupted(t, signal)) return;
    console.log(
      `trained ${t.steps} steps in ${t.seconds.toFixed(1)} s; ` +
        (s.after ? `held-out: ${s.before ? `${describeEval(s.before)} -> ` : ""}${describeEval(s.after)}; ` : "no held-out prompts; ") +
        `reward model in ${s.modelDir}`,
    );
  });
  cmd
    .command("score")
    .description("score the answers of records with a reward model: JSONL out, each record with `rewards` (one per answer)")
    .requiredOption("--model <rm>", "reward model run (OUT of `llmforge reward`) or model folder")
    .requiredOption("--data <files...>", "records: {prompt, responses} or any preference format (pairs give an accuracy)")
    .requiredOption("--out <file>", "JSONL output")
    .option("--batch <n>", "prompts per forward pass", int, 8)
    .option("--backend <b>", "ref or native", oneOf(["ref", "native"]))
    .action(async (o) => {
      const s = await scoreRecords({ model: o.model, data: o.data, out: o.out, batchSize: o.batch, backend: o.backend });
      for (const line of s.rejected.samples) process.stderr.write(`skipped ${line}\n`);
      console.log(
        `scored ${s.answers} answers of ${s.records} records -> ${o.out}` +
          (s.tooLong ? `; ${s.tooLong} answers longer than the block have reward null` : "") +
          (s.rejected.count ? `; ${s.rejected.count} records skipped` : "") +
          (s.pairAccuracy !== null ? `; pair accuracy ${(s.pairAccuracy * 100).toFixed(1)}% over ${s.pairs} pairs` : ""),
      );
    });
}
