// Dense vs mixture-of-experts pretraining at equal active parameters on the quickstart corpus: the
// quickstart's model (depth 3, block 128, batch 16) against MoE versions whose tokens pass through as
// many parameters, each trained for the same wall time; tokens/s, steps and validation loss side by side.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runDefaultRecipe } from "../src/data/defaultRecipe.js";
import { activeParamCount, configFromDepth, formatCount, paramCount, type GPTConfig } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { bf16MatmulAvailable } from "../src/tensor/ops/matmul.js";
import { readTokenShard, Tokenizer, trainTokenizer, writeTokenShards } from "../src/tokenizer/index.js";
import { MetricsLog } from "../src/train/metricsLog.js";
import { train } from "../src/train/trainer.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "moe.md");
/** Wall-clock minutes each model trains for in the equal-time runs. */
const minutes = Number(process.env.LLMFORGE_MOE_MINUTES ?? "3");
/** Quickstart-corpus shards and tokenizer, made once and reused (the data recipe takes a while). */
const dataDir = process.env.LLMFORGE_MOE_DATA ?? join(tmpdir(), "llmforge-moe-bench-data");

async function quickstartShards(): Promise<{ tok: Tokenizer; train: string[]; val: string[] }> {
  const shardDir = join(dataDir, "shards");
  if (!existsSync(join(dataDir, "tokenizer", "tokenizer.json")) || !existsSync(shardDir)) {
    const data = await runDefaultRecipe({ outDir: join(dataDir, "data"), seed: 0, progress: false });
    const t = await trainTokenizer(data.train, { vocabSize: 4096, outDir: join(dataDir, "tokenizer"), progress: false });
    await writeTokenShards({ inputs: [...data.train, ...data.val], tokenizer: t.tokenizer, outDir: shardDir, valFraction: 0.05, progress: false, overwrite: true });
  }
  const files = readdirSync(shardDir).sort();
  return {
    tok: Tokenizer.fromFile(join(dataDir, "tokenizer", "tokenizer.json")),
    train: files.filter((f) => f.startsWith("train_")).map((f) => join(shardDir, f)),
    val: files.filter((f) => f.startsWith("val_")).map((f) => join(shardDir, f)),
  };
}

const data = await quickstartShards();
const dense = configFromDepth(3, { vocabSize: data.tok.vocabSize, blockSize: 128, overrides: { dropout: 0 } });
const C = dense.nEmbd;
/** Each MoE keeps the dense model's active MLP width: k experts × width M = 4·C (plus a C×E router). */
const models: [string, GPTConfig][] = [
  ["dense (quickstart, depth 3)", dense],
  ["MoE 4 experts, top-1, M = 4C", { ...dense, moeExperts: 4, moeTopK: 1 }],
  ["MoE 8 experts, top-2, M = 2C", { ...dense, mlpHidden: 2 * C, moeExperts: 8, moeTopK: 2 }],
];
const precision = bf16MatmulAvailable() ? "bf16" : "f32";
const load0 = loadavg()[0];
const lines: string[] = [];
lines.push("## Mixture of experts vs dense at equal active parameters (quickstart corpus)");
lines.push("");
lines.push(`\`npm run bench -- moe\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, LLMFORGE_THREADS=${process.env.LLMFORGE_THREADS ?? "all cores"}, ` +
  `${precision} matmuls; each model trains ${minutes} min wall time, then again for a fixed number of steps, from seed 0 on the quickstart corpus (${data.train.length} train shard(s), ` +
  `vocab ${data.tok.vocabSize}), batch 16 × 128, AdamW lr 3e-3 → 3e-4 (warmup 30, the schedule fitted to the time or to the steps), load-balancing 0.01, z-loss 0.001; ` +
  "validation loss over 8 batches of the held-out shard at the end (cross-entropy only).");
lines.push("");
/** One model's training run: `minutes` of wall time (the schedule fitted to it), or exactly `steps` steps. */
async function run(name: string, cfg: GPTConfig, budget: { minutes: number } | { steps: number }) {
  const out = join(tmpdir(), `llmforge-moe-bench-${process.pid}-${models.findIndex(([n]) => n === name)}-${"steps" in budget ? "steps" : "time"}`);
  mkdirSync(out, { recursive: true });
  const model = new GPT(cfg, { seed: 0 });
  const s = await train(model, {
    outDir: out, trainShards: data.train, valShards: data.val, readShard: (p) => readTokenShard(p).tokens, batchSize: 16, seqLen: 128,
    maxSteps: "steps" in budget ? budget.steps : 100_000, maxMinutes: "minutes" in budget ? budget.minutes : undefined, maxLr: 3e-3, minLr: 3e-4, warmupSteps: 30,
    evalEvery: 100_000, evalBatches: 8, checkpointEvery: 100_000, keepCheckpoints: 1, seed: 0, progress: false, precision,
  });
  const last = new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => "loss" in r).pop() ?? { step: 0 };
  const maxLoads = Object.entries(last).filter(([k]) => /^moe_h\d+_load_max$/.test(k)).map(([, v]) => Number(v));
  const busiest = maxLoads.length > 0 ? (maxLoads.reduce((a, b) => a + b, 0) / maxLoads.length).toFixed(2) : "—";
  rmSync(out, { recursive: true, force: true });
  console.log(`${name}, ${JSON.stringify(budget)}: ${Math.round(s.tokensPerSec)} tokens/s, ${s.steps} steps, val ${s.val?.loss.toFixed(3)}`);
  return { tokensPerSec: s.tokensPerSec, steps: s.steps, val: s.val?.loss ?? null, busiest };
}
// Equal wall time, then equal compute: every model the same number of steps (the fewest any model made in the time,
// in hundreds) with the same schedule; equal steps are equal training FLOPs, since the active parameters are equal.
const timed: Awaited<ReturnType<typeof run>>[] = [];
for (const [name, cfg] of models) timed.push(await run(name, cfg, { minutes }));
const equalSteps = Math.max(100, Math.floor(Math.min(...timed.map((r) => r.steps)) / 100) * 100);
const stepped: Awaited<ReturnType<typeof run>>[] = [];
for (const [name, cfg] of models) stepped.push(await run(name, cfg, { steps: equalSteps }));
lines.push(`| model | parameters | active | tokens/s (${minutes} min run) | ÷ dense | steps in ${minutes} min | val loss at ${minutes} min | tokens/s (${equalSteps}-step run) | ÷ dense | val loss after ${equalSteps} steps (equal compute) | busiest expert (÷ balanced) |`);
lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
models.forEach(([name, cfg], i) => {
  const [t, e] = [timed[i], stepped[i]];
  lines.push(`| ${name} | ${formatCount(paramCount(cfg))} | ${formatCount(activeParamCount(cfg))} | ${Math.round(t.tokensPerSec)} | ${(t.tokensPerSec / timed[0].tokensPerSec).toFixed(2)} | ${t.steps} | ` +
    `${t.val?.toFixed(3) ?? "—"} | ${Math.round(e.tokensPerSec)} | ${(e.tokensPerSec / stepped[0].tokensPerSec).toFixed(2)} | ${e.val?.toFixed(3) ?? "—"} | ${t.busiest} |`);
});
lines.push("");
lines.push(`Load average ${load0.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (the machine may be shared: compare rows of one run only). ` +
  "Busiest expert: the mean over layers of max_e load_e · E / k at the last step (1 = perfectly balanced).");
const md = lines.join("\n");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${md}\n`);
console.log(md);
