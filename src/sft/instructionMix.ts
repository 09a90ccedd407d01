// The embedded, offline instruction-tuning mix for supervised fine-tuning: synthetic tasks with exact
// answers (arithmetic, counting, spelling) and facts from packaged data (WordNet, countries, review
// sentiment), each phrased by several templates and split train/held-out by item and by template.
import type { Conversation, Message } from "../data/formats/conversation.js";
import { mulberry32 } from "../data/filters/qualityClassifier.js";
import { hashUnit } from "../data/mix.js";
import { writeJsonlSplits } from "../io/jsonl.js";
import { VERSION } from "../version.js";
import { loadCapitals, loadLexicon, loadSentiment, sourceVersions } from "./instructionSources.js";

/** Task names, in the order records are generated. */
export const INSTRUCTION_TASKS = ["arithmetic", "counting", "spelling", "definition", "synonym", "antonym", "capital", "sentiment"] as const;
export type InstructionTask = (typeof INSTRUCTION_TASKS)[number];

/** Share of each task's items (not records) that only ever appear in the held-out split. */
export const HELDOUT_ITEM_FRACTION = 0.2;

/** Whether item `key` of SFT task `task` is held out of training in the mix of `seed` (the item split, by hash). */
export function isHeldoutItem(task: string, key: string, seed: number): boolean {
  return hashUnit(`${task}:${key}`, seed) < HELDOUT_ITEM_FRACTION;
}

/**
 * Phrasings per `task.kind`; `{name}` is filled from the item. The LAST phrasing of each list is
 * held-out-only: it never appears in train, so held-out exact-match also measures new phrasings.
 */
export const TEMPLATES: Record<string, readonly string[]> = {
  "arithmetic.add": ["What is {a} plus {b}?", "{a} + {b} =", "Add {a} and {b}.", "Compute the sum of {a} and {b}."],
  "arithmetic.sub": ["What is {a} minus {b}?", "{a} - {b} =", "Subtract {b} from {a}.", "What do you get if you take {b} away from {a}?"],
  "arithmetic.mul": ["What is {a} times {b}?", "{a} * {b} =", "Multiply {a} by {b}."],
  "counting.letters": ["How many letters are in the word '{w}'?", "Count the letters in '{w}'.", "What is the length of the word '{w}'?"],
  "counting.words": ["How many words are in '{p}'?", "Count the words: {p}", "Tell me the number of words in this phrase: {p}"],
  "spelling.spell": ["Spell the word '{w}'.", "How do you spell '{w}'?", "Spell out '{w}' letter by letter."],
  "spelling.reverse": ["Reverse the word '{w}'.", "Write '{w}' backwards.", "What is '{w}' spelled backwards?"],
  "spelling.first": ["What is the first letter of '{w}'?", "Which letter does '{w}' start with?", "'{w}' begins with which letter?"],
  "definition.define": ["What does '{w}' mean?", "Define '{w}'.", "Give a short definition of '{w}'."],
  "synonym.synonym": ["What is a synonym of '{w}'?", "Give a word that means the same as '{w}'.", "Name a word with a similar meaning to '{w}'."],
  "antonym.antonym": ["What is the opposite of '{w}'?", "Give an antonym of '{w}'.", "Which word means the opposite of '{w}'?"],
  "capital.capital": ["What is the capital of {c}?", "Name the capital city of {c}.", "Which city is the capital of {c}?"],
  "sentiment.sentence": ["Is this review positive or negative? {s}", "Review: {s}\nPositive or negative?", "Classify the sentiment (positive or negative): {s}"],
  "sentiment.word": ["Is the word '{w}' positive or negative?", "Does '{w}' sound positive or negative?", "Label the word '{w}' as positive or negative."],
};

/** Short system messages put in front of some records (`SYSTEM_RATE` of them). */
export const SYSTEM_PROMPTS = ["You are a helpful assistant. Answer briefly.", "Answer with just the answer.", "You are a concise assistant."];
const SYSTEM_RATE = 0.15;
/** Share of records with a first question and answer before the scored one, so multi-turn masking is exercised. */
const TWO_TURN_RATE = 0.1;
/** Share of held-out records phrased with a held-out-only template (the rest use train phrasings). */
const HELDOUT_TEMPLATE_RATE = 0.5;

/** A bad option to {@link buildInstructionMix}. */
export class InstructionMixError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstructionMixError";
  }
}

/** One question: `key` identifies it for the item split; `vars` fill the template. */
interface Item {
  key: string;
  vars: Record<string, string>;
  answer: string;
  /** Other answers that are also right (synonyms, antonyms); `answer` is always first. */
  accept?: string[];
}

const spell = (w: string): string => [...w].join("-");
const reverse = (w: string): string => [...w].reverse().join("");

/** The items of each kind of a task (keyed `task.kind`); `rand` draws the synthetic phrases. */
function taskItems(task: InstructionTask, rand: () => number): Record<string, Item[]> {
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const arith = (op: string, f: (a: number, b: number) => number, as: number[], bs: (a: number) => number[]): Item[] =>
    as.flatMap((a) => bs(a).map((b) => ({ key: `${a}${op}${b}`, vars: { a: `${a}`, b: `${b}` }, answer: `${f(a, b)}` })));
  switch (task) {
    case "arithmetic":
      return {
        "arithmetic.add": arith("+", (a, b) => a + b, range(100), () => range(100)),
        "arithmetic.sub": arith("-", (a, b) => a - b, range(100), (a) => range(a + 1)),
        "arithmetic.mul": arith("*", (a, b) => a * b, range(13), () => range(13)),
      };
    case "counting": {
      const words = shortWords(3, 8);
      const phrases = new Set<string>();
      const top = words.slice(0, 600);
      for (let i = 0; i < 2000; i++) phrases.add(Array.from({ length: 2 + Math.floor(rand() * 5) }, () => top[Math.floor(rand() * top.length)]).join(" "));
      return {
        "counting.letters": words.map((w) => ({ key: w, vars: { w }, answer: `${w.length}` })),
        "counting.words": [...phrases].map((p) => ({ key: p, vars: { p }, answer: `${p.split(" ").length}` })),
      };
    }
    case "spelling": {
      const words = shortWords(3, 7);
      const per = (f: (w: string) => string): Item[] => words.map((w) => ({ key: w, vars: { w }, answer: f(w) }));
      return { "spelling.spell": per(spell), "spelling.reverse": per(reverse), "spelling.first": per((w) => w[0]) };
    }
    case "definition":
      // Words of one synset share a definition, so they share an item key (and a split).
      return { "definition.define": loadLexicon().definitions.map((d) => ({ key: `${d.pos}:${d.synset}`, vars: { w: d.word }, answer: d.definition })) };
    // "good→bad" and "bad→good" are one item, so neither direction leaks across the split.
    case "synonym":
      return { "synonym.synonym": loadLexicon().synonyms.map((s) => ({ key: [s.word, s.answer].sort().join("/"), vars: { w: s.word }, answer: s.answer, accept: s.accept })) };
    case "antonym":
      return { "antonym.antonym": loadLexicon().antonyms.map((a) => ({ key: [a.word, a.answer].sort().join("/"), vars: { w: a.word }, answer: a.answer, accept: a.accept })) };
    case "capital":
      return { "capital.capital": loadCapitals().map((c) => ({ key: c.country, vars: { c: c.country }, answer: c.capital })) };
    case "sentiment": {
      const s = loadSentiment();
      return {
        "sentiment.sentence": s.sentences.map((x) => ({ key: x.text, vars: { s: x.text }, answer: x.label })),
        "sentiment.word": s.words.map((x) => ({ key: x.word, vars: { w: x.word }, answer: x.label })),
      };
    }
  }
}

function shortWords(min: number, max: number): string[] {
  return loadLexicon().words.filter((w) => w.length >= min && w.length <= max && /^[a-z]+$/.test(w));
}

/** Options of {@link buildInstructionMix}. */
export interface InstructionMixOptions {
  /** Seeds the item split and every draw (default 1234). Same seed, same mix. */
  seed?: number;
  /** Train records per task (default 400). */
  perTask?: number;
  /** Held-out records per task (default perTask / 4, at least 10); fewer when the held-out items run out. */
  heldoutPerTask?: number;
  /** Tasks to include (default all of {@link INSTRUCTION_TASKS}). */
  tasks?: string[];
}

/** Per-task counts of a built mix. */
export interface InstructionTaskStats {
  train: number;
  heldout: number;
  /** Held-out records phrased with a held-out-only template. */
  heldoutNewTemplate: number;
  items: { train: number; heldout: number };
  templates: { train: number; heldoutOnly: number };
}

export interface InstructionMixStats {
  seed: number;
  perTask: number;
  heldoutPerTask: number;
  tasks: Record<string, InstructionTaskStats>;
  total: { train: number; heldout: number };
}

export interface InstructionMix {
  train: Conversation[];
  heldout: Conversation[];
  stats: InstructionMixStats;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new InstructionMixError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Builds the instruction mix: for each task, `perTask` train and `heldoutPerTask` held-out
 * conversations. Held-out records use only held-out items (disjoint from train by `meta.item`),
 * half of them phrased by held-out-only templates. Each record's `meta` holds `task`, `kind`,
 * `template`, `item`, `split`, `answer` (the final assistant content), `accept` (all right answers),
 * `vars`, `turns`, `newTemplate`, and for two-turn records `prior` (item/template/answer of the first turn).
 * Deterministic for a seed; each task draws from its own stream, so adding a task changes no other.
 */
export function buildInstructionMix(opts: InstructionMixOptions = {}): InstructionMix {
  const seed = opts.seed ?? 1234;
  if (!Number.isInteger(seed)) throw new InstructionMixError(`seed must be an integer, got ${seed}`);
  const perTask = positiveInt("perTask", opts.perTask ?? 400);
  const heldoutPerTask = positiveInt("heldoutPerTask", opts.heldoutPerTask ?? Math.max(10, Math.round(perTask / 4)));
  const tasks = opts.tasks ?? [...INSTRUCTION_TASKS];
  for (const t of tasks) {
    if (!(INSTRUCTION_TASKS as readonly string[]).includes(t)) throw new InstructionMixError(`unknown task "${t}"; expected some of: ${INSTRUCTION_TASKS.join(", ")}`);
  }
  const out: InstructionMix = { train: [], heldout: [], stats: { seed, perTask, heldoutPerTask, tasks: {}, total: { train: 0, heldout: 0 } } };
  for (const task of INSTRUCTION_TASKS.filter((t) => tasks.includes(t))) {
    const rand = mulberry32(Math.floor(hashUnit(task, seed) * 2 ** 32));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const kinds = Object.entries(taskItems(task, rand)).map(([kind, items]) => {
      const heldout = (item: Item) => isHeldoutItem(task, item.key, seed);
      const ids = TEMPLATES[kind].map((_, i) => `${kind}.${i}`);
      return { kind, train: items.filter((i) => !heldout(i)), heldout: items.filter(heldout), trainTemplates: ids.slice(0, -1), heldoutTemplates: ids.slice(-1) };
    });
    const st: InstructionTaskStats = { train: 0, heldout: 0, heldoutNewTemplate: 0, items: { train: 0, heldout: 0 }, templates: { train: 0, heldoutOnly: 0 } };
    for (const k of kinds) {
      st.items.train += k.train.length;
      st.items.heldout += k.heldout.length;
      st.templates.train += k.trainTemplates.length;
      st.templates.heldoutOnly += k.heldoutTemplates.length;
    }
    // One question of a split: a kind (uniformly, so small kinds like multiplication still show up), an item, a phrasing.
    const draw = (split: "train" | "heldout", newTemplate: boolean) => {
      const k = pick(kinds.filter((x) => x[split].length > 0));
      const item = pick(k[split]);
      const template = pick(newTemplate ? k.heldoutTemplates : k.trainTemplates);
      const text = TEMPLATES[k.kind][Number(template.slice(template.lastIndexOf(".") + 1))];
      return { kind: k.kind, item, template, question: text.replace(/\{(\w+)\}/g, (_, v: string) => item.vars[v]) };
    };
    for (const split of ["train", "heldout"] as const) {
      if (!kinds.some((k) => k[split].length > 0)) continue;
      const want = split === "train" ? perTask : heldoutPerTask;
      const seen = new Set<string>(); // held-out records are unique (item, template) so none counts twice
      for (let made = 0, tries = 0; made < want && tries < want * 20; tries++) {
        const newTemplate = split === "heldout" && rand() < HELDOUT_TEMPLATE_RATE;
        const q = draw(split, newTemplate);
        if (split === "heldout") {
          if (seen.has(`${q.item.key}|${q.template}`)) continue;
          seen.add(`${q.item.key}|${q.template}`);
        }
        const messages: Message[] = [];
        if (rand() < SYSTEM_RATE) messages.push({ role: "system", content: pick(SYSTEM_PROMPTS) });
        const prior = rand() < TWO_TURN_RATE ? draw(split, false) : null;
        if (prior) messages.push({ role: "user", content: prior.question }, { role: "assistant", content: prior.item.answer });
        messages.push({ role: "user", content: q.question }, { role: "assistant", content: q.item.answer });
        const meta: Record<string, unknown> = {
          task, kind: q.kind, template: q.template, item: q.item.key, split, answer: q.item.answer,
          accept: q.item.accept ?? [q.item.answer], vars: q.item.vars, turns: prior ? 2 : 1, newTemplate,
        };
        if (prior) meta.prior = { item: prior.item.key, template: prior.template, answer: prior.item.answer };
        out[split].push({ messages, meta });
        made++;
        st[split]++;
        if (newTemplate) st.heldoutNewTemplate++;
      }
    }
    out.stats.tasks[task] = st;
    out.stats.total.train += st.train;
    out.stats.total.heldout += st.heldout;
  }
  return out;
}

/** Paths written by {@link writeInstructionMix}. */
export interface WrittenInstructionMix {
  train: string;
  heldout: string;
  mix: string;
  stats: InstructionMixStats;
}

/**
 * Builds the mix and writes `train.jsonl`, `heldout.jsonl` (one {@link Conversation} per line) and
 * `mix.json` (format/version header, options, package versions of the sources, per-task counts)
 * under `outDir`; each file appears atomically (temp file + rename).
 */
export function writeInstructionMix(outDir: string, opts: InstructionMixOptions = {}): WrittenInstructionMix {
  const mix = buildInstructionMix(opts);
  const header = { format: "llmforge-instruction-mix", version: 1, writtenBy: `llmforge ${VERSION}`, sources: sourceVersions(), heldoutItemFraction: HELDOUT_ITEM_FRACTION };
  const paths = writeJsonlSplits(outDir, { train: mix.train, heldout: mix.heldout }, { ...header, ...mix.stats });
  return { ...paths, stats: mix.stats };
}

/**
 * Normalises an answer for exact-match scoring: Unicode NFKC, trim, case-fold, collapse runs of
 * whitespace to one space, drop one pair of surrounding quotes, and strip trailing `.`, `!`, `?`,
 * `,`, `;`, `:`. So "Paris." and " paris" match, but "c-a-t" and "cat" do not.
 */
export function normalizeAnswer(s: string): string {
  const strip = (x: string) => x.replace(/[.!?,;:]+$/, "").trim();
  const t = strip(s.normalize("NFKC").trim().toLowerCase().replace(/\s+/g, " "));
  const q = /^(["'`])(.*)\1$/.exec(t);
  return q ? strip(q[2].trim()) : t;
}

/** True when `pred` equals the reference (or any of several right answers) after {@link normalizeAnswer}. */
export function exactMatch(pred: string, ref: string | readonly string[]): boolean {
  const p = normalizeAnswer(pred);
  return (typeof ref === "string" ? [ref] : ref).some((r) => normalizeAnswer(r) === p);
}
