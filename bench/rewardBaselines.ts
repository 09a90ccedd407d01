// Baselines for the reward model's held-out sentiment pairs of a preference mix (`llmforge data preferences -o DIR`), beside
// bench/results/reward.md: the AFINN lexicon (mix.json's baseline), the sum of VADER's mean ratings (all words, and only the
// training words of the mix's seed), and a bag-of-words logistic regression fitted on the mix's training sentiment records
// (each sentence labelled by the polarity it was chosen or rejected for): what a linear model learns from the same data.
// Run: node --import tsx bench/rewardBaselines.ts DIR [SEED]   (SEED: the mix's --seed, default 1337; reads DIR/train.jsonl, DIR/heldout.jsonl)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PreferenceRecord } from "../src/data/formats/preference.js";
import { afinnScore, lexiconWords as words, vaderMeans, vaderTrainingWords } from "../src/reward/preferenceMix.js";
import { MAX_SENTENCE_WORDS } from "../src/sft/instructionSources.js";

const [dir, seedArg] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node --import tsx bench/rewardBaselines.ts DIR [SEED]");
  process.exit(2);
}
const read = (f: string): PreferenceRecord[] =>
  readFileSync(join(dir, f), "utf8").trim().split("\n").map((l) => JSON.parse(l) as PreferenceRecord).filter((r) => r.meta?.task === "sentiment" && r.meta.mirror !== true);
const held = read("heldout.jsonl");
const train = read("train.jsonl");
const vader = vaderMeans();
const tw = vaderTrainingWords(Number(seedArg ?? "1337"), Number.MIN_VALUE);
const trainWords = new Set([...tw.positive, ...tw.negative]);

/** Pair accuracy of a scorer on the held-out sentiment pairs, signed by the asked polarity; a tie counts half (as mix.json's AFINN). */
function pairAccuracy(score: (t: string) => number): number {
  let right = 0;
  let n = 0;
  for (const r of held) {
    const sign = r.meta?.polarity === "positive" ? 1 : -1;
    for (const p of r.pairs) {
      const d = sign * (score(r.responses[p.better]) - score(r.responses[p.worse]));
      n++;
      right += d > 0 ? 1 : d === 0 ? 0.5 : 0;
    }
  }
  return right / n;
}

/** Logistic regression on word counts (SGD, 50 epochs, lr 0.1, L2 1e-3): the learnt weight sum is the score. */
function bagOfWords(sentences: ReadonlyMap<string, number>): (t: string) => number {
  const w = new Map<string, number>();
  let b = 0;
  for (let epoch = 0; epoch < 50; epoch++) {
    for (const [t, y] of sentences) {
      const ws = words(t);
      const z = ws.reduce((s, x) => s + (w.get(x) ?? 0), b);
      const g = y - 1 / (1 + Math.exp(-z));
      for (const x of ws) w.set(x, (w.get(x) ?? 0) * (1 - 1e-3) + 0.1 * g);
      b += 0.1 * g;
    }
  }
  return (t) => words(t).reduce((s, x) => s + (w.get(x) ?? 0), 0);
}

const labelled = new Map<string, number>();
for (const r of train) {
  const positive = r.meta?.polarity === "positive";
  for (const p of r.pairs) {
    labelled.set(r.responses[p.better], positive ? 1 : 0);
    labelled.set(r.responses[p.worse], positive ? 0 : 1);
  }
}
const short = new Map([...labelled].filter(([t]) => t.split(" ").length <= MAX_SENTENCE_WORDS));
const rows: [string, number][] = [
  ["AFINN-165 (sum of word valences)", pairAccuracy(afinnScore)],
  ["VADER (sum of mean ratings, every word)", pairAccuracy((t) => words(t).reduce((s, x) => s + (vader.get(x) ?? 0), 0))],
  ["VADER (the mix's training words only)", pairAccuracy((t) => words(t).reduce((s, x) => s + (trainWords.has(x) ? (vader.get(x) ?? 0) : 0), 0))],
  [`bag-of-words logistic regression, ${short.size} training sentences of <= ${MAX_SENTENCE_WORDS} words`, pairAccuracy(bagOfWords(short))],
];
if (labelled.size > short.size) rows.push([`bag-of-words logistic regression, all ${labelled.size} training sentences`, pairAccuracy(bagOfWords(labelled))]);
console.log(`| baseline on ${held.reduce((n, r) => n + r.pairs.length, 0)} held-out sentiment pairs of ${dir} | pair accuracy |\n| --- | ---: |`);
for (const [name, acc] of rows) console.log(`| ${name} | ${acc.toFixed(3)} |`);
