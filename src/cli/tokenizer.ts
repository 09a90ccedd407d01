// `llmforge tokenizer ...`: train, encode, decode, shard. Each is a thin shell over the
// tokenizer library (trainTokenizer, Tokenizer.encode/decode, writeTokenShards).
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import {
  formatTrainReport,
  Tokenizer,
  TokenizerConfigError,
  trainTokenizer,
  writeTokenShards,
} from "../tokenizer/index.js";
import { fractionOption, nonNegativeIntOption, oneOf, positiveIntOption } from "./options.js";

/** A tokenizer path may be the tokenizer.json file or the directory `tokenizer train --out` wrote. */
export function loadTokenizerArg(path: string): Tokenizer {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "tokenizer.json") : path;
  return Tokenizer.fromFile(file);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

function allowedOf(opt: string | undefined): "all" | string[] | undefined {
  if (opt === undefined) return undefined;
  if (opt === "all") return "all";
  return opt.split(",").filter(Boolean);
}

export function registerTokenizerCommands(program: Command): void {
  const tok = program.command("tokenizer").description("byte-level BPE tokenizer: train, encode, decode, shard");

  tok
    .command("train")
    .description("train a byte-level BPE on JSONL ({\"text\": ...} per line) or text files; writes DIR/tokenizer.json and DIR/train_report.json")
    .argument("<inputs...>", "JSONL (.jsonl, .jsonl.gz) or plain text files")
    .requiredOption("--vocab-size <n>", "total vocabulary size (256 bytes + merges + special tokens)", positiveIntOption)
    .requiredOption("--out <dir>", "output directory")
    .option("--style <style>", "pre-tokenizer regex: cl100k (GPT-4) or gpt2", oneOf(["cl100k", "gpt2"]), "cl100k")
    .option("--digits <n>", "longest digit run per pre-token: 1, 3, or 0 = unlimited (default 3 for cl100k, 0 for gpt2)", nonNegativeIntOption)
    .option("--min-frequency <n>", "skip merges of pairs seen fewer times", nonNegativeIntOption, 0)
    .option("--special <tokens>", "comma-separated special tokens (default <|endoftext|>,<|im_start|>,<|im_end|>,<|pad|>)")
    .option("--reserved <n>", "extra <|reserved_i|> special tokens", nonNegativeIntOption, 4)
    .option("--field <name>", "JSONL field holding the text", "text")
    .option("--workers <n>", "threads for counting (default: all cores on inputs over 16 MB)", positiveIntOption)
    .option("--on-error <policy>", "bad input (binary, UTF-16, invalid UTF-8, malformed JSONL): skip (count and go on) or fail (stop with file:line)", oneOf(["skip", "fail"]), "skip")
    .option("--max-line-bytes <n>", "skip JSONL lines longer than this, unread (default 64 MiB)", positiveIntOption)
    .option("--quiet", "no progress lines")
    .action(async (inputs: string[], o) => {
      const r = await trainTokenizer(inputs, {
        vocabSize: o.vocabSize,
        outDir: o.out,
        style: o.style,
        digitGroup: o.digits,
        minFrequency: o.minFrequency,
        specialTokens: o.special === undefined ? undefined : String(o.special).split(",").filter(Boolean),
        reservedSpecialTokens: o.reserved,
        field: o.field,
        workers: o.workers,
        onError: o.onError,
        maxLineBytes: o.maxLineBytes,
        progress: !o.quiet,
      });
      process.stdout.write(`${formatTrainReport(r.report)}\nwrote ${r.tokenizerPath} and ${r.reportPath}\n`);
    });

  tok
    .command("encode")
    .description("encode stdin text to token ids (a JSON array on stdout)")
    .requiredOption("--tokenizer <path>", "tokenizer.json, or a directory holding one")
    .option("--lines", "encode each input line separately; print one JSON array per line")
    .option("--allow-special <list>", "special tokens recognised in the text: all, or a comma-separated list (default: none, they encode as plain text)")
    .action(async (o) => {
      const t = loadTokenizerArg(o.tokenizer);
      const allowedSpecial = allowedOf(o.allowSpecial);
      const input = await readStdin();
      if (o.lines) {
        const lines = input.split("\n");
        if (lines[lines.length - 1] === "") lines.pop();
        process.stdout.write(lines.map((l) => JSON.stringify(t.encode(l, { allowedSpecial }))).join("\n") + (lines.length ? "\n" : ""));
      } else {
        process.stdout.write(`${JSON.stringify(t.encode(input, { allowedSpecial }))}\n`);
      }
    });

  tok
    .command("decode")
    .description("decode token ids from stdin (JSON arrays, or whitespace-separated integers) to text")
    .requiredOption("--tokenizer <path>", "tokenizer.json, or a directory holding one")
    .option("--skip-special", "leave special tokens out of the text")
    .action(async (o) => {
      const t = loadTokenizerArg(o.tokenizer);
      const input = (await readStdin()).trim();
      const skipSpecial = Boolean(o.skipSpecial);
      if (input.startsWith("[")) {
        // One JSON array, or one per line.
        const lines = input.split("\n").filter((l) => l.trim() !== "");
        const texts = lines.map((l, i) => {
          let ids: unknown;
          try {
            ids = JSON.parse(l);
          } catch {
            throw new TokenizerConfigError(`stdin line ${i + 1}: expected a JSON array of token ids`);
          }
          if (!Array.isArray(ids)) throw new TokenizerConfigError(`stdin line ${i + 1}: expected a JSON array of token ids`);
          return t.decode(ids as number[], { skipSpecial });
        });
        process.stdout.write(texts.join("\n"));
      } else {
        const ids = input === "" ? [] : input.split(/\s+/).map(Number);
        process.stdout.write(t.decode(ids, { skipSpecial }));
      }
    });

  tok
    .command("shard")
    .description("tokenize JSONL/text files into llm.c token shards (train_*.bin, val_*.bin) on all cores; resumes an interrupted run")
    .argument("<inputs...>", "JSONL (.jsonl, .jsonl.gz) or plain text files")
    .requiredOption("--tokenizer <path>", "tokenizer.json, or a directory holding one")
    .requiredOption("--out <dir>", "output directory")
    .option("--val-fraction <f>", "fraction of documents in the validation split", fractionOption, 0.01)
    .option("--shard-tokens <n>", "tokens per shard", positiveIntOption, 100_000_000)
    .option("--eot <token>", "special token put before each document", "<|endoftext|>")
    .option("--field <name>", "JSONL field holding the text", "text")
    .option("--workers <n>", "encoding threads (default: all cores)", positiveIntOption)
    .option("--overwrite", "discard shards of an earlier run in --out instead of resuming it")
    .option("--on-error <policy>", "bad input (binary, UTF-16, invalid UTF-8, malformed JSONL): skip (count and go on) or fail (stop with file:line)", oneOf(["skip", "fail"]), "skip")
    .option("--max-line-bytes <n>", "skip JSONL lines longer than this, unread (default 64 MiB)", positiveIntOption)
    .option("--quiet", "no progress lines")
    .action(async (inputs: string[], o) => {
      const r = await writeTokenShards({
        inputs,
        tokenizer: loadTokenizerArg(o.tokenizer),
        outDir: o.out,
        valFraction: o.valFraction,
        shardTokens: o.shardTokens,
        eotToken: o.eot,
        field: o.field,
        workers: o.workers,
        overwrite: Boolean(o.overwrite),
        onError: o.onError,
        maxLineBytes: o.maxLineBytes,
        progress: !o.quiet,
      });
      for (const [reason, e] of Object.entries(r.skipped)) process.stderr.write(`skipped ${e.count} × ${reason} (e.g. ${e.example})\n`);
      process.stdout.write(
        `${r.resumed ? "resumed; " : ""}${r.documents} documents -> ${r.trainTokens} train tokens in ${r.trainFiles.length} shard(s), ${r.valTokens} val tokens in ${r.valFiles.length} shard(s)\nmanifest ${r.manifestPath}\n`,
      );
    });
}
