// Perplexity vs sparsity on the quickstart model (/tmp/qs, or LLMFORGE_QS): unstructured magnitude pruning and
// structured pruning of attention heads / MLP channels (src/infer/prune.ts), no recovery fine-tuning, on the first
// batches of the run's val shard (train/trainer.ts evaluate). Writes bench/results/prune.md (LLMFORGE_BENCH_OUT).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type PruneKind, pruneModel } from "../src/infer/prune.js";
import { loadRun } from "../src/model/runFolder.js";
import { readTokenShard } from "../src/tokenizer/shards.js";
import { evaluate } from "../src/train/trainer.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "prune.md");
const qs = process.env.LLMFORGE_QS ?? "/tmp/qs";
const BATCHES = 16;

const lines = ["## Pruning: perplexity vs sparsity (quickstart model, no recovery fine-tuning)", ""];
const valShard = existsSync(join(qs, "shards")) ? readdirSync(join(qs, "shards")).find((f) => f.startsWith("val_") && f.endsWith(".bin")) : undefined;
if (!existsSync(join(qs, "model", "config.json")) || !valShard) {
  lines.push(`No quickstart run with a val shard at ${qs} (run \`llmforge quickstart --out ${qs}\` first).`);
} else {
  const shard = readTokenShard(join(qs, "shards", valShard)).tokens;
  const grid: [PruneKind, number][] = [
    ["none", 0], ["none", 0.1], ["none", 0.3], ["none", 0.5], ["none", 0.7],
    ["heads", 1 / 6], ["heads", 2 / 6], ["heads", 3 / 6], ["mlp", 0.25], ["mlp", 0.5], ["mlp", 0.75],
  ];
  lines.push(`${valShard}, first ${BATCHES} batches of 8 × 128 tokens.`, "");
  lines.push("| pruning | asked | block weights zero | perplexity | Δ vs dense |", "|---|---|---|---|---|");
  let base = Number.NaN;
  for (const [kind, s] of grid) {
    const { model } = loadRun(qs);
    const r = pruneModel(model, s, kind);
    const ppl = evaluate(model, ["val"], () => shard, 8, model.config.blockSize, BATCHES).perplexity;
    if (Number.isNaN(base)) base = ppl;
    const label = kind === "none" ? "unstructured (magnitude)" : kind === "heads" ? "attention heads" : "MLP channels";
    lines.push(`| ${label} | ${s.toFixed(2)} | ${(r.sparsity * 100).toFixed(1)}% | ${ppl.toFixed(2)} | ${(((ppl - base) / base) * 100).toFixed(1)}% |`);
    process.stderr.write(`${label} ${s.toFixed(2)}: ${ppl.toFixed(2)}\n`);
  }
}
const text = `${lines.join("\n")}\n`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, text);
process.stdout.write(text);
