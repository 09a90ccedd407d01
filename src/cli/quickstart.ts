// `llmforge quickstart`: the whole path on the embedded corpus in one command (the main job).
import type { Command } from "commander";
import { intOption, numberOption, positiveIntOption } from "./options.js";
import { formatQuickstartSummary, quickstart } from "../pipeline/quickstart.js";

export function registerQuickstartCommand(program: Command): void {
  program
    .command("quickstart")
    .description("data recipe -> tokenizer -> shards -> pretraining -> eval -> supervised fine-tuning -> samples and a chat, on the embedded corpus")
    .option("--out <dir>", "run folder", "runs/quickstart")
    .option("--minutes <m>", "wall-clock budget for the whole job", numberOption, 10)
    .option("--size <depth>", "model size dial (depth: width 64·depth)", positiveIntOption, 3)
    .option("--vocab <n>", "tokenizer vocabulary", positiveIntOption, 4096)
    .option("--max-docs <n>", "cap documents per source (faster data stage)", positiveIntOption)
    .option("--seed <n>", "seed", intOption, 1337)
    .option("--json", "print the summary as JSON")
    .action(async (o) => {
      if (!(o.minutes > 0)) throw new Error(`--minutes must be a positive number, got ${o.minutes}`);
      const s = await quickstart({ out: o.out, minutes: o.minutes, depth: o.size, vocabSize: o.vocab, maxDocs: o.maxDocs, seed: o.seed });
      console.log(o.json ? JSON.stringify(s, null, 2) : formatQuickstartSummary(s));
    });
}
