// `llmforge data ...`: the pretraining data pipeline commands (ingest, clean, filter, pii, dedup, mix, stats, run).
import type { Command } from "commander";

export function registerDataCommands(program: Command): void {
  program.command("data").description("pretraining data pipeline: ingest, clean, filter, pii, dedup, mix, stats, run");
}
