#!/usr/bin/env node
// The llmforge command line: one sub-command per stage, each a thin shell over a library function.
import { Command } from "commander";
import { describeFsError } from "../io/fsErrors.js";
import { VERSION } from "../version.js";
import { registerBenchCommands } from "./bench.js";
import { registerChatCommand } from "./chat.js";
import { registerClassifyCommand } from "./classify.js";
import { registerDataCommands } from "./data.js";
import { registerDoctor } from "./doctor.js";
import { registerDpoCommand } from "./dpo.js";
import { registerGrpoCommand } from "./grpo.js";
import { registerPpoCommand } from "./ppo.js";
import { registerPromptCommand } from "./prompt.js";
import { registerEvalCommand } from "./eval.js";
import { registerExportCommands } from "./export.js";
import { registerGenerateCommand } from "./generate.js";
import { registerKbCommands } from "./kb.js";
import { registerPeftCommands } from "./peft.js";
import { registerPruneCommand } from "./prune.js";
import { registerQuantizeCommand } from "./quantize.js";
import { registerQuickstartCommand } from "./quickstart.js";
import { registerReportCommand } from "./report.js";
import { registerRewardCommands } from "./reward.js";
import { registerScaleCommand } from "./scale.js";
import { registerServeCommand } from "./serve.js";
import { registerSftCommand } from "./sft.js";
import { registerTokenizerCommands } from "./tokenizer.js";
import { registerTrainCommands } from "./train.js";

const program = new Command();
program
  .name("llmforge")
  .description("Build a large language model the whole way: data, tokenizer, pretraining, post-training, serving.")
  .version(VERSION);

registerQuickstartCommand(program);
registerDoctor(program);
registerDataCommands(program);
registerTokenizerCommands(program);
registerTrainCommands(program);
registerEvalCommand(program);
registerSftCommand(program);
registerRewardCommands(program);
registerClassifyCommand(program);
registerDpoCommand(program);
registerGrpoCommand(program);
registerPpoCommand(program);
registerGenerateCommand(program);
registerChatCommand(program);
registerPromptCommand(program);
registerServeCommand(program);
registerKbCommands(program);
registerReportCommand(program);
registerPeftCommands(program);
registerExportCommands(program);
registerQuantizeCommand(program);
registerPruneCommand(program);
registerBenchCommands(program);
registerScaleCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = describeFsError(err) ?? (err instanceof Error ? err.message : String(err));
  process.stderr.write(`llmforge: ${msg}\n`);
  if (process.env.LLMFORGE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
