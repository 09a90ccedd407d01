// A tiny tokenizer and train/val token shards for tests that drive `llmforge train` in child processes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer, writeTokenShard } from "../../src/tokenizer/index.js";

export const ROOT = join(import.meta.dirname, "..", "..");
/** `node` arguments that run the CLI from source. */
export const CLI = ["--import", "tsx", join(ROOT, "src", "cli", "main.ts")];

/** Writes DIR/tokenizer.json and DIR/shards/{train,val}_000000.bin from 400 short sentences. */
export function writeTinyShards(dir: string): { tok: Tokenizer; tokPath: string; shards: string } {
  const words = "the cat sat on a mat and the dog ran to the park while birds sang in the old tree".split(" ");
  const texts = Array.from({ length: 400 }, (_, i) => Array.from({ length: 12 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "));
  const tok = Tokenizer.trainFromTexts(texts, { vocabSize: 300 });
  const tokPath = join(dir, "tokenizer.json");
  writeFileSync(tokPath, tok.toHuggingFaceJson());
  const ids = texts.flatMap((t) => tok.encode(` ${t}`));
  const shards = join(dir, "shards");
  writeTokenShard(join(shards, "train_000000.bin"), ids.slice(0, Math.floor(ids.length * 0.9)), tok.vocabSize);
  writeTokenShard(join(shards, "val_000000.bin"), ids.slice(Math.floor(ids.length * 0.9)), tok.vocabSize);
  return { tok, tokPath, shards };
}
