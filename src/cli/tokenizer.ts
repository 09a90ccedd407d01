// `llmforge tokenizer ...`: train, encode, decode, shard.
import type { Command } from "commander";

export function registerTokenizerCommands(program: Command): void {
  program.command("tokenizer").description("byte-level BPE tokenizer: train, encode, decode, shard");
}
