// `llmforge sft`: supervised fine-tuning of a pretrained run on conversations (any format `data
// convert` reads), full or parameter-efficient. A thin shell over sft/train.ts.
import type { Command } from "commander";
import { formatCount } from "../model/config.js";
import type { PeftConfigInput } from "../nn/peft.js";
import { sft } from "../sft/train.js";
import { abortOnSignals, addLoopOptions, loopRunOptions, reportInterrupted, fractionOption, positiveIntOption as int, nonNegativeIntOption, oneOf, positiveNumberOption } from "./options.js";

/** The PEFT config the flags describe (validated by the library). */
export function peftOf(o: Record<string, unknown>): PeftConfigInput {
  switch (o.peft) {
    case "lora":
      return { method: "lora", r: o.loraR as number, alpha: o.loraAlpha as number, dropout: o.loraDropout as number, targets: o.loraTarget as string | undefined, rslora: !!o.rslora, seed: o.seed as number };
    case "adapter":
      return { method: "adapter", placement: o.adapterPlacement as "houlsby" | "pfeiffer", reductionFactor: o.adapterReduction as number, seed: o.seed as number };
    case "prefix":
      return { method: "prefix", numVirtualTokens: o.prefixTokens as number, projectionHidden: o.prefixHidden as number, seed: o.seed as number };
    case "freeze":
      return { method: "freeze", trainLastLayers: o.freezeLayers as number | undefined, freeze: (o.freeze as string[] | undefined) ?? [] };
    default:
      return { method: "none" };
  }
}

export function registerSftCommand(program: Command): void {
  const cmd = program
    .command("sft")
    .description("supervised fine-tuning on chat data: template, loss masks, packing, LoRA/adapters/prefix/freezing")
    .requiredOption("--model <run>", "base model: a run folder or a model folder with tokenizer.json")
    .requiredOption("--data <files...>", "training conversations (JSONL/JSON in any format `llmforge data convert` reads, or folders)")
    .requiredOption("--out <dir>", "run folder of the fine-tuned model")
    .option("--val-data <files...>", "held-out conversations (default: --val-fraction of --data)")
    .option("--add-chat-tokens", "add the chat template's special tokens when the tokenizer lacks them (the vocabulary grows)")
    .option("--val-fraction <f>", "share of --data held out when --val-data is not given", fractionOption, 0.05)
    .option("--loss-on <what>", "assistant|completion|all: which tokens are learned", oneOf(["assistant", "completion", "all"]), "assistant")
    .option("--mask-history", "learn only the last assistant turn of each conversation")
    .option("--packing <mode>", "none|bfd (best-fit decreasing; documents never attend to each other)", oneOf(["none", "bfd"]), "bfd")
    .option("--truncation <rule>", "conversations longer than the block: skip (counted) or right (cut the tail)", oneOf(["skip", "right"]), "skip")
    .option("--peft <method>", "none|lora|adapter|prefix|freeze", oneOf(["none", "lora", "adapter", "prefix", "freeze"]), "none")
    .option("--lora-r <n>", "LoRA rank", int, 8)
    .option("--lora-alpha <a>", "LoRA alpha (scale alpha/r)", positiveNumberOption, 16)
    .option("--lora-dropout <p>", "LoRA dropout", fractionOption, 0)
    .option("--lora-target <names>", "layers: c_attn | q,v | all | comma list (gpt2: c_attn,q,k,v,c_proj,c_fc,mlp.c_proj,lm_head; llama: q,k,v,o,gate,up,down)")
    .option("--rslora", "rank-stabilised LoRA: scale alpha/sqrt(r)")
    .option("--adapter-placement <p>", "houlsby (after attention and MLP) or pfeiffer (after MLP)", oneOf(["houlsby", "pfeiffer"]), "houlsby")
    .option("--adapter-reduction <n>", "bottleneck width = width / n", int, 16)
    .option("--prefix-tokens <n>", "prefix tuning: virtual key/value positions per layer", int, 16)
    .option("--prefix-hidden <n>", "prefix tuning: reparameterisation MLP width (0 = plain prefixes)", nonNegativeIntOption, 0)
    .option("--freeze-layers <n>", "with --peft freeze: train only the last N blocks (and the final norm)", int)
    .option("--freeze <globs...>", "with --peft freeze: module paths to freeze, e.g. wte 'h.*.attn'")
    .option("--batch <n>", "rows per micro-batch", int, 8)
    .option("--accumulation <n>", "micro-batches per optimizer step", int, 1)
    .option("--eval-prompts <n>", "held-out prompts answered for exact match before and after (0 = none)", nonNegativeIntOption, 200);
  addLoopOptions(cmd, { steps: 300, lr: 3e-4, weightDecay: 0, evalEvery: 100, keep: 2 })
    .action(async (o) => {
      const signal = abortOnSignals();
      const s = await sft({
        model: o.model, addChatTokens: o.addChatTokens, peft: peftOf(o), data: o.data, valData: o.valData, valFraction: o.valFraction, out: o.out, lossOn: o.lossOn,
        maskHistory: o.maskHistory, packing: o.packing, truncation: o.truncation, batchSize: o.batch, accumulation: o.accumulation,
        evalPrompts: o.evalPrompts, ...loopRunOptions(o, signal),
      });
      const t = s.training;
      if (reportInterrupted(t, signal)) return;
      const pct = (x: number | undefined) => (x === undefined ? "?" : `${(x * 100).toFixed(1)}%`);
      console.log(
        `fine-tuned ${t.steps} steps in ${t.seconds.toFixed(1)} s (${Math.round(t.tokensPerSec)} tokens/s), ` +
          `trainable ${formatCount(s.params.trainable)} of ${formatCount(s.params.total)} parameters; ` +
          `held-out loss ${s.before.loss?.toFixed(3) ?? "?"} -> ${s.after.loss?.toFixed(3) ?? "?"}` +
          (s.after.answers ? `; exact match ${pct(s.before.answers?.exactMatch)} -> ${pct(s.after.answers.exactMatch)}, ended with <|im_end|> ${pct(s.after.answers.endedWithEos)}` : "") +
          `; model in ${s.modelDir}`,
      );
    });
}
