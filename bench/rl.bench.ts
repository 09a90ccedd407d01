// RL on the quickstart-size chat model: GRPO on the instruction tasks the SFT model half solves, held-out exact
// match before/after within a fixed CPU budget, and the speed of rollouts and updates beside pretraining tokens/s.
// The SFT model comes from LLMFORGE_RL_SFT (an SFT run folder) or from a quickstart run made here without RL.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { quickstart } from "../src/pipeline/quickstart.js";
import { grpo } from "../src/rl/grpo.js";
import { completedSft } from "../src/sft/train.js";
import { MetricsLog } from "../src/train/metricsLog.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "rl.md");
const minutes = Number(process.env.LLMFORGE_RL_MINUTES ?? "8");
const work = mkdtempSync(join(tmpdir(), "llmforge-rl-bench-"));

let sftRun = process.env.LLMFORGE_RL_SFT;
let pretrainTps: number | null = null;
if (!sftRun) {
  const q = await quickstart({ out: join(work, "qs"), minutes: 10, rmShare: 0, rlShare: 0, progress: true });
  sftRun = join(work, "qs", "sft");
  pretrainTps = q.training?.tokensPerSec ?? null;
} else {
  try {
    const rows = new MetricsLog(join(sftRun, "..", "metrics.jsonl")).read().filter((r) => typeof r.tokens_per_s === "number");
    pretrainTps = rows.length ? rows.reduce((a, r) => a + (r.tokens_per_s as number), 0) / rows.length : null;
  } catch {
    pretrainTps = null;
  }
}
const sft = completedSft(sftRun);
const perTask = sft?.after.answers?.perTask ?? {};
const half = Object.entries(perTask).filter(([, t]) => t.exactMatch > 0 && t.exactMatch < 0.95).map(([k]) => k);
const tasks = half.length > 0 ? half : ["sentiment", "counting"];
const out = join(work, "grpo");
const s = await grpo({
  model: sftRun, task: tasks.join(","), out, group: 8, batchSize: 8, maxTokens: 16, steps: 100_000, minutes, lr: 5e-5, warmupSteps: 5,
  evalEvery: 100_000, evalLimit: 200, seed: 1337, progress: true,
});
const steps = new MetricsLog(join(out, "metrics.jsonl")).read().filter((r) => typeof r.loss === "number");
const mean = (k: string, rs = steps) => rs.reduce((a, r) => a + (r[k] as number), 0) / Math.max(1, rs.length);
const tenth = Math.max(1, Math.floor(steps.length / 10));
const pct = (x: number | undefined) => (x === undefined ? "?" : `${(100 * x).toFixed(1)}%`);
const sftModel = JSON.parse(readFileSync(join(sftRun, "model", "config.json"), "utf8")) as { n_layer?: number; n_embd?: number; vocab_size?: number };

const lines = [
  "## RL: GRPO on the quickstart chat model",
  "",
  `\`npm run bench -- rl\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, 2 threads (shared machine: other work ran beside it). ` +
    `Model: the quickstart SFT model (${sftModel.n_layer} layers, width ${sftModel.n_embd}, vocab ${sftModel.vocab_size}); GRPO on the instruction tasks it ` +
    `half solves (${tasks.join(", ")}), group 8, 8 prompts per step, answers up to 16 tokens at temperature 1, lr 5e-5, ${minutes} min budget. ` +
    "Held-out: 200 prompts of items the SFT mix held out, spread over the tasks, answered greedily, exact match.",
  "",
  "| | before (SFT) | after (GRPO) |",
  "| --- | ---: | ---: |",
  `| held-out solved (exact match) | ${pct(s.before?.solved)} | ${pct(s.after?.solved)} |`,
  `| answers ending with <\\|im_end\\|> | ${pct(s.before?.ended)} | ${pct(s.after?.ended)} |`,
  `| mean sampled reward, first / last tenth of the steps | ${mean("reward_mean", steps.slice(0, tenth)).toFixed(3)} | ${mean("reward_mean", steps.slice(-tenth)).toFixed(3)} |`,
  `| groups with zero reward spread, first / last tenth | ${pct(mean("zero_spread", steps.slice(0, tenth)))} | ${pct(mean("zero_spread", steps.slice(-tenth)))} |`,
  "",
  `${s.training.steps} steps in ${(s.training.seconds / 60).toFixed(1)} min. Speed: rollouts ${mean("rollout_tokens_per_s").toFixed(0)} sampled tokens/s ` +
    `(batch decoder, 64 sequences at once), updates ${mean("tokens_per_s").toFixed(0)} tokens/s (prompt + answer positions, forward + backward + AdamW, rollout included in the step time)` +
    (pretrainTps ? `, pretraining of the same model ${pretrainTps.toFixed(0)} tokens/s.` : "."),
];
writeFileSync(outPath, `${lines.join("\n")}\n`);
console.log(lines.join("\n"));
