// RLHF on the quickstart-size chat model, as InstructGPT lays it out: a reward model trained from the offline
// preference mix, then PPO against it (mean reward, KL to the reference per token, clip fraction, and an independent
// check the policy never saw: the AFINN-165 lexicon score of its answers, signed by the polarity asked for), and DPO
// on the same preferences (held-out accuracy of the implicit reward, per task, and the chosen answers' log-probs).
// The SFT model comes from LLMFORGE_RLHF_SFT (an SFT run) or from a quickstart run made here without its RM and RL
// stages; LLMFORGE_RLHF_RM names a reward model trained from that SFT run to skip its training here. With
// LLMFORGE_RLHF_WORK, a stage finished in an earlier run of the bench in that folder is read back, not run again.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadRun } from "../src/model/runFolder.js";
import { quickstart } from "../src/pipeline/quickstart.js";
import { LEXICON_FRAMES, sentimentPromptSplit, vaderTrainingWords, writePreferenceMix } from "../src/reward/preferenceMix.js";
import { reward } from "../src/reward/train.js";
import { dpo } from "../src/rl/dpo.js";
import { ppo } from "../src/rl/ppo.js";
import { sft } from "../src/sft/train.js";
import { Rng } from "../src/tensor/rng.js";
import { MetricsLog } from "../src/train/metricsLog.js";
import { completedSummary } from "../src/train/resume.js";
import { cpuLine } from "./peers.js";
import { evaluateReviewPolicy, type ReviewPolicyEval, type ReviewPrompt } from "./reviewPolicy.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "rlhf.md");
const work = process.env.LLMFORGE_RLHF_WORK ?? mkdtempSync(join(tmpdir(), "llmforge-rlhf-bench-"));
mkdirSync(work, { recursive: true });
const seed = 1337;
/** The PPO run's options (chosen so that KL to the reference stays under 0.5 nats/token; see the notes under the table). */
// A sweep on this setup (one thread each, same seed) gave, as KL per token in the last tenth of the run / sampled reward
// gain: lr 5e-5, kl 0.2: 0.23 / +1.6; lr 7e-5, kl 0.3: 0.39 / +2.1; lr 1e-4, kl 0.5: 0.25 / +2.4 (AFINN gained less);
// lr 1e-4, kl 0.3: 0.45 / +3.0 (0.56 on the held-out prompt); lr 1e-4, adaptive KL from 0.1 to 3 nats per answer: 0.86.
const PPO_OPTIONS = { lr: 7e-5, klCoef: 0.3, steps: 480, batchSize: 64, minibatches: 4, ppoEpochs: 4, maxTokens: 24 };
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
/** A stage's summary: read back when an earlier run of the bench finished it in `out`, else `run()`. */
const once = async <T>(out: string, file: string, run: () => Promise<T>): Promise<T> => completedSummary<T>(out, file) ?? (await run());

// 1. The SFT model (the policy's start, the reference, and the reward model's trunk).
const sftRun = process.env.LLMFORGE_RLHF_SFT ?? join(work, "qs", "sft");
if (!process.env.LLMFORGE_RLHF_SFT && !existsSync(join(sftRun, "sft.json"))) {
  await quickstart({ out: join(work, "qs"), minutes: 10, rmShare: 0, rlShare: 0, progress: true });
}
const cfg = JSON.parse(readFileSync(join(sftRun, "model", "config.json"), "utf8")) as { n_layer?: number; n_embd?: number; vocab_size?: number };

// 2. Preferences and the reward model (the settings of bench/results/reward.md's best sentiment run).
const mixOptions = { perTask: 2000, seed, sentimentLexicon: 2000, sentimentLexiconPositive: 1 };
const prefs = join(work, "prefs");
writePreferenceMix(prefs, mixOptions);
const rmSeed = 7;
const rmRun = process.env.LLMFORGE_RLHF_RM ?? join(work, "rm");
let rmLine: string;
if (!process.env.LLMFORGE_RLHF_RM) {
  const r = await once(rmRun, "reward.json", () =>
    reward({
      model: sftRun, data: [join(prefs, "train.jsonl")], valData: [join(prefs, "heldout.jsonl")], out: rmRun, lr: 1e-3, minLr: 1e-3, steps: 3000, batchSize: 8,
      evalEvery: 3000, seed: rmSeed, progress: true,
    }),
  );
  rmLine = `trained here in ${r.training.seconds.toFixed(0)} s (\`llmforge reward --lr 1e-3 --min-lr 1e-3 --steps 3000 --seed ${rmSeed}\`)`;
} else {
  rmLine = `${rmRun} (LLMFORGE_RLHF_RM, trained from the same SFT run)`;
}
{
  const v = (JSON.parse(readFileSync(join(rmRun, "reward.json"), "utf8")) as { training?: { val?: Record<string, number> } }).training?.val ?? {};
  const pct = (k: string) => (typeof v[k] === "number" ? `${(100 * v[k]).toFixed(1)}%` : "?");
  rmLine += `; held-out pair accuracy ${pct("pair_accuracy")} (sentiment ${pct("pair_accuracy_sentiment")}, VADER ${pct("pair_accuracy_vader")}, instructions ${pct("pair_accuracy_instructions")})`;
}

// 3. A review-writing policy: SFT on one-line reviews built on common sentiment words (VADER training words the tokenizer
//    keeps whole) of EITHER polarity, whatever the prompt asks, so the SFT policy writes reviews but ignores the asked
//    polarity; PPO has to learn the polarity from the reward model alone.
const tok = loadRun(sftRun).tokenizer;
const vader = vaderTrainingWords(seed, 1.5);
const words = { positive: vader.positive.filter((w) => tok.encode(` ${w}`).length === 1), negative: vader.negative.filter((w) => tok.encode(` ${w}`).length === 1) };
const split = sentimentPromptSplit(seed);
const polarities = ["positive", "negative"] as const;
const rng = new Rng(seed);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
const reviews: string[] = [];
for (let i = 0; i < 4000; i++) {
  const asked = pick(polarities);
  const given = words[pick(polarities)];
  const w = pick(given);
  const answer = pick(LEXICON_FRAMES).replace("{W}", w[0].toUpperCase() + w.slice(1)).replace("{w}", w).replace("{v}", pick(given));
  reviews.push(JSON.stringify({ messages: [{ role: "user", content: pick(split.train[asked]) }, { role: "assistant", content: answer }] }));
}
writeFileSync(join(work, "reviews.jsonl"), `${reviews.join("\n")}\n`);
const policyRun = join(work, "sft_reviews");
const reviewSft = await once(policyRun, "sft.json", () => sft({ model: sftRun, data: [join(work, "reviews.jsonl")], out: policyRun, steps: 600, lr: 3e-4, batchSize: 8, evalEvery: 600, seed, progress: true }));

// 4. PPO against the reward model on the training prompts that ask for a positive review (the reward model learned the
//    polarity interaction from positive-only lexicon records; see bench/results/reward.md); the held-out phrasing is never
//    trained on. The held-out negative prompt shows what the positive training does to a request it never saw.
const promptsFile = (ps: ReviewPrompt[], f: string) => {
  writeFileSync(f, `${ps.map((p) => JSON.stringify({ prompt: p.messages[0].content, meta: { task: p.polarity } })).join("\n")}\n`);
  return f;
};
const prompts = (s: "train" | "heldout", ps: readonly ("positive" | "negative")[]): ReviewPrompt[] =>
  ps.flatMap((p) => split[s][p].map((c) => ({ messages: [{ role: "user" as const, content: c }], polarity: p })));
const trainPrompts = prompts("train", ["positive"]);
const heldPrompts = prompts("heldout", ["positive"]);
const heldNegative = prompts("heldout", ["negative"]);
const ppoOptions = PPO_OPTIONS;
const ppoRun = join(work, "ppo");
const p = await once(ppoRun, "ppo.json", () =>
  ppo({
    policy: policyRun, reward: rmRun, prompts: promptsFile(trainPrompts, join(work, "prompts_train.jsonl")), valData: [promptsFile(heldPrompts, join(work, "prompts_heldout.jsonl"))],
    out: ppoRun, ...ppoOptions, evalEvery: 100_000, seed, progress: true,
  }),
);
const evalOptions = { samples: 100, maxTokens: ppoOptions.maxTokens, temperature: 1, seed: 4242 };
const evals = (run: string) => ({
  train: evaluateReviewPolicy(run, policyRun, rmRun, trainPrompts, { ...evalOptions, samples: 50 }),
  held: evaluateReviewPolicy(run, policyRun, rmRun, heldPrompts, { ...evalOptions, seed: evalOptions.seed + 1 }),
  negative: evaluateReviewPolicy(run, policyRun, rmRun, heldNegative, { ...evalOptions, seed: evalOptions.seed + 2 }),
});
const evalStart = performance.now();
const before = evals(policyRun);
const after = evals(ppoRun);
const evalSeconds = (performance.now() - evalStart) / 1000;
const steps = new MetricsLog(join(ppoRun, "metrics.jsonl")).read().filter((r) => typeof r.clip_fraction === "number");
const mean = (k: string, rs = steps) => rs.reduce((a, r) => a + (r[k] as number), 0) / Math.max(1, rs.length);
const tenth = Math.max(1, Math.floor(steps.length / 10));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const stepTps = (f: string) => (existsSync(f) ? new MetricsLog(f).read().flatMap((r) => (typeof r.tokens_per_s === "number" && typeof r.loss === "number" ? [r.tokens_per_s] : [])) : []);
const pretrainTps = stepTps(join(dirname(sftRun), "metrics.jsonl"));

// 5. DPO on the same preferences, with and without the SFT term on the chosen answers.
const dpoRows: string[] = [];
const dpoChosen: Array<{ sftCoef: number; before: number; after: number }> = [];
for (const sftCoef of [0, 0.2]) {
  const out = join(work, `dpo_${sftCoef}`);
  const d = await once(out, "dpo.json", () =>
    dpo({
      model: sftRun, data: [join(prefs, "train.jsonl")], valData: [join(prefs, "heldout.jsonl")], out, beta: 0.1, sftCoef, lr: 5e-5, steps: 200, batchSize: 8,
      evalEvery: 200, seed, progress: true,
    }),
  );
  const b = d.before;
  const a = d.after;
  const acc = (v: typeof a, k = "reward_accuracy") => (v && typeof v[k] === "number" ? `${(100 * v[k]).toFixed(1)}%` : "?");
  const lp = (v: typeof a) => (v && typeof v.logp_chosen === "number" ? v.logp_chosen.toFixed(2) : "?");
  if (typeof b?.logp_chosen === "number" && typeof a?.logp_chosen === "number") dpoChosen.push({ sftCoef, before: b.logp_chosen, after: a.logp_chosen });
  dpoRows.push(
    `| sigmoid, β 0.1, --sft-coef ${sftCoef} | ${acc(b)} → **${acc(a)}** | ${acc(a, "reward_accuracy_sentiment")} | ${acc(a, "reward_accuracy_vader")} | ${acc(a, "reward_accuracy_instructions")} | ${lp(b)} → ${lp(a)} | ${(a?.logp_rejected ?? 0).toFixed(2)} | ${d.training.seconds.toFixed(0)} s |`,
  );
}

const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);
const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
const row = (label: string, e: ReviewPolicyEval) =>
  `| ${label} | ${e.answers} | ${f2(e.reward)} ± ${f2(e.rewardSe)} | ${f3(e.klPerToken)} | ${f2(e.afinnSigned)} ± ${f2(e.afinnSe)} | ${pc(e.afinnRight)} / ${pc(e.afinnWrong)} | ${e.length.toFixed(1)} |`;
const lines = [
  "## RLHF: PPO against a reward model, and DPO",
  "",
  `\`npm run bench -- rlhf\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, 2 threads; stages: review SFT ${reviewSft.training.seconds.toFixed(0)} s, PPO ${p.training.seconds.toFixed(0)} s, its evaluation ${evalSeconds.toFixed(0)} s, ` +
    `the others in their rows (stages an earlier run finished in LLMFORGE_RLHF_WORK are read back; this run took ${(elapsed() / 60).toFixed(1)} min). Base: the quickstart SFT model ` +
    `(${cfg.n_layer} layers, width ${cfg.n_embd}, vocab ${cfg.vocab_size}${process.env.LLMFORGE_RLHF_SFT ? `, ${sftRun}` : ", made here by `llmforge quickstart --minutes 10` without its RM and RL stages"}).`,
  "",
  `Preferences: \`llmforge data preferences --per-task 2000 --seed ${seed} --sentiment-lexicon 2000 --sentiment-lexicon-positive 1\`. Reward model: ${rmLine}.`,
  "",
  "### PPO against the reward model",
  "",
  `Policy: the SFT model fine-tuned 600 steps on 4000 one-line reviews (the reward mix's review frames filled with the ${words.positive.length} positive and ` +
    `${words.negative.length} negative VADER training words the tokenizer keeps whole), whose polarity is drawn independently of the one the prompt asks for: ` +
    `the policy writes short reviews but ignores the asked polarity (asked for a positive one, ${pc(before.train.afinnRight)} of its answers score above 0 on AFINN and ${pc(before.train.afinnWrong)} below), and only the reward model can teach it. PPO ` +
    `(\`llmforge ppo --lr ${ppoOptions.lr} --kl-coef ${ppoOptions.klCoef} --steps ${ppoOptions.steps} --batch ${ppoOptions.batchSize} --minibatches ${ppoOptions.minibatches} --ppo-epochs ${ppoOptions.ppoEpochs} --max-tokens ${ppoOptions.maxTokens}\`, ` +
    `k1 KL penalty in the per-token reward, GAE, value model started from the reward model) on the ${trainPrompts.length} training prompts that ask for a positive review ` +
    `(${trainPrompts.map((h) => `"${h.messages[0].content}"`).join(", ")}; a prompt-only file \`{"prompt": ...}\`), ${p.training.steps} steps in ${p.training.seconds.toFixed(0)} s. ` +
    `Evaluation: answers sampled at temperature 1 (the policy PPO trains), 50 per training prompt and ${evalOptions.samples} per held-out prompt ` +
    `(${[...heldPrompts, ...heldNegative].map((h) => `"${h.messages[0].content}"`).join(", ")}: phrasings neither SFT nor PPO saw; PPO never saw a negative request). ` +
    "KL: Σ(log π − log π_ref) over the sampled answer tokens / their count (π_ref: the SFT policy). **AFINN** (an independent check: neither the policy nor the reward model was trained on it): " +
    "the answer's AFINN-165 score, × +1 when a positive review was asked and × −1 when a negative one was; right / wrong = share of answers on the asked / other side of 0.",
  "",
  "| policy, prompts | answers | reward-model score | KL to the SFT policy (nats/token) | AFINN, signed | AFINN right / wrong | tokens |",
  "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
  row("SFT, training prompts (positive)", before.train),
  row("**PPO**, training prompts (positive)", after.train),
  row("SFT, held-out positive prompt", before.held),
  row("**PPO**, held-out positive prompt", after.held),
  row("SFT, held-out negative prompt", before.negative),
  row("PPO, held-out negative prompt (never trained)", after.negative),
  "",
  `During PPO (${steps.length} optimizer steps over ${Math.round(steps.length / (ppoOptions.minibatches * ppoOptions.ppoEpochs))} rollouts of ${ppoOptions.batchSize} answers): sampled reward ${f2(mean("reward_mean", steps.slice(0, tenth)))} (first tenth) → ${f2(mean("reward_mean", steps.slice(-tenth)))} (last tenth); ` +
    `KL per token ${f3(mean("kl_per_token", steps.slice(-tenth)))} in the last tenth; clip fraction ${f3(mean("clip_fraction"))} on average (largest step ${f3(Math.max(...steps.map((r) => r.clip_fraction as number)))}); ` +
    `approx-KL ${f3(mean("approx_kl"))}; explained variance of the value model ${f2(mean("explained_variance", steps.slice(-tenth)))} in the last tenth. ` +
    `Speed (${cpuLine()}, 2 threads): rollouts ${mean("rollout_tokens_per_s").toFixed(0)} sampled tokens/s (${ppoOptions.batchSize} answers decoded together), update steps ${median(steps.map((r) => r.tokens_per_s as number)).toFixed(0)} tokens/s ` +
    `(median; prompt + answer positions of policy and value model), against ${median(stepTps(join(policyRun, "metrics.jsonl"))).toFixed(0)} tokens/s of the review SFT run's steps in this bench (the same model, forward and backward)` +
    `${pretrainTps.length > 0 ? ` and ${median(pretrainTps).toFixed(0)} tokens/s of pretraining in the quickstart run that made the base` : ""}.`,
  "",
  `Against issue 13's bar: the reward-model score rose on the training prompts (${f2(before.train.reward)} → ${f2(after.train.reward)}) and on the held-out one ` +
    `(${f2(before.held.reward)} → ${f2(after.held.reward)}) with KL to the reference ${f3(after.train.klPerToken)} / ${f3(after.held.klPerToken)} nats per token ` +
    `(${Math.max(after.train.klPerToken, after.held.klPerToken) <= 0.5 ? "within" : "**above**"} 0.5) and a mean clip fraction of ${f3(mean("clip_fraction"))} (${mean("clip_fraction") <= 0.2 ? "within" : "**above**"} 0.2); ` +
    `the independent AFINN check moved the same way (${f2(before.train.afinnSigned)} → ${f2(after.train.afinnSigned)}, held-out ${f2(before.held.afinnSigned)} → ${f2(after.held.afinnSigned)}; ` +
    `answers on the wrong side ${pc(before.train.afinnWrong)} → ${pc(after.train.afinnWrong)}). ` +
    "PPO trained only positive requests, and the policy turned more positive for the negative request as well (the last row): the reward model marks those answers down, as it should.",
  "",
  "Answers (the first three per held-out prompt, after PPO):",
  "",
  ...[...after.held.examples, ...after.negative.examples].map((e) => `- "${e.prompt}" → \`${e.answer.replace(/`/g, "'")}\` (reward ${f2(e.reward)}, AFINN signed ${e.afinn})`),
  "",
  "### DPO on the same preferences",
  "",
  "`llmforge dpo --model SFT --data train.jsonl --val-data heldout.jsonl --lr 5e-5 --steps 200 --batch 8` (the reference is the SFT model; its log-probs computed once). " +
    "Accuracy: share of held-out pairs whose implicit reward β·(log π − log π_ref) ranks the chosen answer first (ties half; 50% before training by construction). " +
    "Log-probs: the chosen / rejected answers' summed log-probs under the policy, mean over held-out pairs.",
  "",
  "| loss | held-out accuracy | sentiment | VADER | instructions | chosen log-prob, SFT → DPO | rejected log-prob after | time |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...dpoRows,
  "",
  "The implicit reward learns the instruction pairs (right form and right answer over wrong ones) and not the sentiment and VADER pairs, " +
    "whose answers differ in a word or two of a short review: the reward model (above) learns those from the same data. The chosen answers' log-probs: " +
    dpoChosen.map((c) => `${c.after - c.before >= 0 ? "+" : "−"}${Math.abs(c.after - c.before).toFixed(2)} nats with --sft-coef ${c.sftCoef}`).join(", ") +
    " (DPO lowers the rejected answers far more; the SFT term on the chosen answers keeps them from falling).",
];
writeFileSync(outPath, `${lines.join("\n")}\n`);
console.log(lines.join("\n"));
