// `llmforge train`: pretrain a model on token shards with the objective of its family: next-token
// prediction (clm) for the GPT flavours, masked-LM (+ next sentence) for bert, span corruption for t5.
import type { Command } from "commander";
import { resolveBertConfig } from "../model/bertConfig.js";
import { resolveModelConfig } from "../model/config.js";
import { resolveT5Config } from "../model/t5Config.js";
import { Tokenizer } from "../tokenizer/index.js";
import { describeBertRun, pretrainBert } from "../train/bertPretrain.js";
import { bertTokenizer } from "../train/mlm.js";
import { pretrain, resolveTokenizerPath } from "../train/pretrain.js";
import { t5Tokenizer } from "../train/spanCorruption.js";
import { describeT5Run, pretrainT5 } from "../train/t5Pretrain.js";
import { abortOnSignals, addLoopOptions, loopRunOptions, reportInterrupted, fractionOption, oneOf, positiveIntOption as int } from "./options.js";

/** The training objectives and the flavours each one trains. */
const OBJECTIVES = {
  clm: { flavours: ["gpt2", "llama"], what: "next-token prediction, for the decoder-only flavours" },
  mlm: { flavours: ["bert"], what: "masked-language modelling (with --nsp: + next sentence), for the encoder flavour" },
  span: { flavours: ["t5"], what: "span corruption (spans replaced by sentinels), for the encoder-decoder flavour" },
} as const;
type Objective = keyof typeof OBJECTIVES;
const FLAVOURS = ["gpt2", "llama", "bert", "t5"] as const;
type Flavour = (typeof FLAVOURS)[number];

/** The objective of a run (default: the flavour's own), refused before anything is read when it does not fit the flavour. */
function resolveObjective(
  flavour: Flavour | undefined, objective: Objective | undefined, o: { nsp?: boolean; maskProb?: number; noiseDensity?: number; meanSpan?: number; moeExperts?: number; moeTopK?: number; totalBatchTokens?: number },
): Objective {
  const f = flavour ?? (objective ? OBJECTIVES[objective].flavours[0] : "gpt2");
  const obj = objective ?? (Object.entries(OBJECTIVES).find(([, v]) => (v.flavours as readonly string[]).includes(f))?.[0] as Objective);
  const fits = OBJECTIVES[obj].flavours as readonly string[];
  if (!fits.includes(f)) {
    throw new Error(`--objective ${obj} (${OBJECTIVES[obj].what}) does not train a ${f} model: use --flavour ${fits.join(" or ")}, or the objective of ${f}: --objective ${
      Object.entries(OBJECTIVES).find(([, v]) => (v.flavours as readonly string[]).includes(f))?.[0]}`);
  }
  if (obj !== "mlm" && (o.nsp || o.maskProb !== undefined)) throw new Error("--nsp and --mask-prob belong to --objective mlm (--flavour bert)");
  if (f === "bert" && (o.moeExperts !== undefined || o.moeTopK !== undefined)) throw new Error("--moe-experts/--moe-top-k: mixture-of-experts layers are for the gpt2 and llama flavours, not bert");
  if (obj !== "span" && (o.noiseDensity !== undefined || o.meanSpan !== undefined)) throw new Error("--noise-density and --mean-span belong to --objective span (--flavour t5)");
  if (f === "t5" && (o.moeExperts !== undefined || o.moeTopK !== undefined)) throw new Error("--moe-experts/--moe-top-k: mixture-of-experts layers are for the gpt2 and llama flavours, not t5");
  if (obj === "span" && o.totalBatchTokens !== undefined) throw new Error("--total-batch-tokens belongs to --objective clm; a span-corruption step is one batch of --batch rows");
  if (obj === "mlm" && o.totalBatchTokens !== undefined) throw new Error("--total-batch-tokens belongs to --objective clm; a masked-LM step is one batch of --batch rows");
  return obj;
}

export function registerTrainCommands(program: Command): void {
  const train = program
    .command("train")
    .description("pretrain a GPT (next token), a BERT (masked LM) or a T5 (span corruption) on token shards (AdamW, warmup+cosine, checkpoints, exact resume)")
    .requiredOption("--data <dir>", "folder of token shards (train_*.bin, val_*.bin)")
    .requiredOption("--tokenizer <path>", "tokenizer.json or its folder")
    .requiredOption("--out <dir>", "run folder")
    .option("--preset <name>", "model size preset: tiny, mini, small, medium, gpt2", "mini")
    .option("--depth <n>", "size dial: width 64·depth, heads from it (overrides --preset)", int)
    .option("--config <file>", "model config JSON (overrides --depth/--preset)")
    .option("--flavour <f>", "gpt2, llama, bert or t5", oneOf(FLAVOURS))
    .option("--objective <o>", "clm (next token: gpt2, llama), mlm (masked LM: bert) or span (span corruption: t5); default: the flavour's", oneOf(Object.keys(OBJECTIVES) as Objective[]))
    .option("--nsp", "with --objective mlm: add the next-sentence objective (segment pairs, 50% real continuations)")
    .option("--mask-prob <p>", "with --objective mlm: share of tokens to predict (default 0.15; 80% [MASK], 10% random, 10% kept)", fractionOption)
    .option("--noise-density <p>", "with --objective span: share of tokens corrupted (default 0.15)", fractionOption)
    .option("--mean-span <n>", "with --objective span: mean corrupted span length (default 3)", int)
    .option("--block <n>", "context length (t5: tokens of text per row before corruption, default 128)", int)
    .option("--dropout <p>", "dropout probability", fractionOption)
    .option("--moe-experts <n>", "mixture of experts: experts per MoE layer (other moe* settings via --config)", int)
    .option("--moe-top-k <n>", "mixture of experts: experts each token is routed to (default 2)", int)
    .option("--batch <n>", "micro-batch rows", int, 8)
    .option("--total-batch-tokens <n>", "tokens per optimizer step (gradient accumulation)", int)
    .option("--eval-batches <n>", "validation batches", int, 8);
  addLoopOptions(train, { steps: 1000, lr: 1e-3, weightDecay: 0.1, evalEvery: 100, keep: 3 })
    .action(async (o) => {
      const objective = resolveObjective(o.flavour, o.objective, o);
      const tok = Tokenizer.fromFile(resolveTokenizerPath(o.tokenizer));
      if (objective === "mlm") {
        const config = resolveBertConfig(o, bertTokenizer(tok).tokenizer.vocabSize);
        const signal = abortOnSignals();
        const r = await pretrainBert({
          data: o.data, tokenizer: o.tokenizer, out: o.out, config, nsp: o.nsp ?? false, maskProb: o.maskProb, batchSize: o.batch,
          evalBatches: o.evalBatches, ...loopRunOptions(o, signal),
        });
        if (!reportInterrupted(r.summary, signal)) console.log(describeBertRun(r));
        return;
      }
      if (objective === "span") {
        const config = resolveT5Config(o, t5Tokenizer(tok).tokenizer.vocabSize);
        const signal = abortOnSignals();
        const r = await pretrainT5({
          data: o.data, tokenizer: o.tokenizer, out: o.out, config, windowLength: o.block, noiseDensity: o.noiseDensity, meanSpanLength: o.meanSpan,
          batchSize: o.batch, evalBatches: o.evalBatches, ...loopRunOptions(o, signal),
        });
        if (!reportInterrupted(r.summary, signal)) console.log(describeT5Run(r));
        return;
      }
      const config = resolveModelConfig({ ...o, flavour: o.flavour as "gpt2" | "llama" | undefined }, tok.vocabSize);
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
