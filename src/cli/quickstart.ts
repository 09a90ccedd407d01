// `llmforge quickstart`: the whole path on the embedded corpus in one command (the main job).
import { type Command, InvalidArgumentError } from "commander";
import { abortOnSignals, intOption, interruptedExitCode, positiveIntOption, positiveNumberOption } from "./options.js";
import { formatQuickstartSummary, parseQuickstartStages, QUICKSTART_STAGES, quickstart, QuickstartInterrupted, type QuickstartStage } from "../pipeline/quickstart.js";

function stagesOption(v: string): QuickstartStage[] {
  try {
    return parseQuickstartStages(v);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

export function registerQuickstartCommand(program: Command): void {
  program
    .command("quickstart")
    .description("data recipe -> tokenizer -> shards -> pretraining -> supervised fine-tuning -> reward model -> RL (GRPO) -> a table of what each stage gained, samples and a chat, on the embedded corpus")
    .option("--out <dir>", "run folder (run again: continues an unfinished quickstart there, or replaces the outputs of the stages it runs)", "runs/quickstart")
    .option("--minutes <m>", "wall-clock budget for the whole job", positiveNumberOption, 10)
    .option(
      "--stages <list>",
      `comma list of the stages to run (default all: ${QUICKSTART_STAGES.join(",")}); a listed stage reads the output of an unlisted one from --out`,
      stagesOption,
    )
    .option("--size <depth>", "model size dial (depth: width 64·depth)", positiveIntOption, 3)
    .option("--vocab <n>", "tokenizer vocabulary", positiveIntOption, 4096)
    .option("--max-docs <n>", "cap documents per source (faster data stage)", positiveIntOption)
    .option("--seed <n>", "seed", intOption, 1337)
    .option("--json", "print the summary as JSON")
    .action(async (o) => {
      const signal = abortOnSignals();
      try {
        const s = await quickstart({ out: o.out, minutes: o.minutes, stages: o.stages, depth: o.size, vocabSize: o.vocab, maxDocs: o.maxDocs, seed: o.seed, signal });
        console.log(o.json ? JSON.stringify(s, null, 2) : formatQuickstartSummary(s));
      } catch (err) {
        if (!(err instanceof QuickstartInterrupted)) throw err;
        console.log(err.message);
        process.exitCode = interruptedExitCode(signal);
      }
    });
}
