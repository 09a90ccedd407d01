// Evaluation tasks as data (lm-evaluation-harness style): a zod-validated JSON spec (kind, prompt template,
// few-shot count, answer extraction, metrics) pointing at a JSONL file of examples, and the built-in offline
// tasks made from the SFT mix's sources, restricted to the items the SFT mix holds out.
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import { convertToPreferences } from "../data/formats/convertPreferences.js";
import type { Conversation } from "../data/formats/conversation.js";
import type { PreferenceRecord } from "../data/formats/preference.js";
import { mulberry32 } from "../data/filters/qualityClassifier.js";
import { hashUnit } from "../data/mix.js";
import { DataInputError } from "../data/types.js";
import { readFileChecked } from "../io/fsErrors.js";
import { buildPreferenceMix } from "../reward/preferenceMix.js";
import { pairLabelledRecords } from "../reward/data.js";
import { buildInstructionMix, INSTRUCTION_TASKS, type InstructionTask, isHeldoutItem } from "../sft/instructionMix.js";
import { loadLexicon, loadSentiment } from "../sft/instructionSources.js";

/** A task file or task name that cannot be used; the message names the file and line and what was expected. */
export class TaskSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskSpecError";
  }
}

/** The kinds of task: options scored by log-likelihood, free generation, or labels scored by log-likelihood. */
export const TASK_KINDS = ["multiple_choice", "generate", "classify"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

/**
 * Metrics each kind may ask for. acc / acc_norm: the option of highest summed / per-character log-likelihood is
 * the gold one; ece: expected calibration error of the softmax over the options' summed log-likelihoods;
 * macro_f1: scikit-learn's macro F1 over the labels; exact_match: llmforge's answer normalisation (case, spaces,
 * trailing punctuation; as the SFT evaluation); squad_em / squad_f1: SQuAD v1.1's; bleu: corpus BLEU-4 (NLTK,
 * smoothing method1); rouge_l: mean ROUGE-L F-measure (best over the right answers).
 */
export const KIND_METRICS = {
  multiple_choice: ["acc", "acc_norm", "ece"],
  classify: ["acc", "macro_f1", "ece"],
  generate: ["exact_match", "squad_em", "squad_f1", "bleu", "rouge_l"],
} as const;
export type MetricName = (typeof KIND_METRICS)[TaskKind][number];
const DEFAULT_METRICS: Record<TaskKind, MetricName[]> = { multiple_choice: ["acc", "acc_norm", "ece"], classify: ["acc", "macro_f1", "ece"], generate: ["exact_match"] };

const extractSchema = z.union([z.literal("first_line"), z.literal("full"), z.strictObject({ regex: z.string().min(1) })]);

const specSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-' only"),
    kind: z.enum(TASK_KINDS),
    description: z.string().optional(),
    /** Template of the question, `{field}` filled from each record. */
    prompt: z.string().min(1),
    /** Text between the prompt and an option / label / answer (lm-eval's target_delimiter). */
    target_prefix: z.string().default(" "),
    /** Between few-shot examples and before the question (lm-eval's fewshot_delimiter). */
    fewshot_delimiter: z.string().default("\n\n"),
    shots: z.number().int().min(0).default(0),
    /** classify: the labels, each scored by its log-likelihood. */
    labels: z.array(z.string().min(1)).min(2).optional(),
    /** generate: how the answer is cut from the generated text. */
    extract: extractSchema.default("first_line"),
    metrics: z.array(z.string()).min(1).optional(),
    max_tokens: z.number().int().positive().default(32),
    stop: z.array(z.string().min(1)).default(["\n"]),
    /** JSONL of examples, relative to the spec file. */
    data: z.string().min(1),
    /** JSONL of few-shot examples (default: the other examples of `data`). */
    fewshot_data: z.string().min(1).optional(),
  });

/** A task spec after validation (defaults filled, metrics checked against the kind). */
export type TaskSpec = Omit<z.output<typeof specSchema>, "metrics"> & { metrics: MetricName[] };
/** A task spec as written in a file (defaults optional). */
export type TaskSpecInput = z.input<typeof specSchema>;

/** One question: `fields` fill the prompt; `choices` are the options (multiple choice) or labels (classify), `gold` indexes them; `answers` are the right texts. */
export interface EvalExample {
  id: string;
  fields: Record<string, string>;
  choices: string[];
  gold: number;
  answers: string[];
  /** A sub-task the result is also broken down by (e.g. the SFT task of an `sft-heldout` item). */
  group?: string;
}

/** A task ready to run. `source` is the spec file or `builtin:NAME`. */
export interface LoadedTask {
  spec: TaskSpec;
  examples: EvalExample[];
  /** Few-shot examples are drawn from here; empty: from the other examples. */
  fewshotPool: EvalExample[];
  source: string;
}

/** Line (1-based) of the first `"key":` in a JSON text, for error positions; 1 when absent. */
function lineOfKey(text: string, key: string | number | undefined): number {
  if (typeof key !== "string") return 1;
  const i = text.search(new RegExp(`"${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"\\s*:`));
  return i < 0 ? 1 : text.slice(0, i).split("\n").length;
}

function issueText(i: z.core.$ZodIssue): string {
  const where = i.path.length > 0 ? `field "${i.path.join(".")}"` : "the spec";
  return `${where}: ${i.message}`;
}

/**
 * Validates a spec object (from `file`, whose text gives line numbers): fills defaults, checks the metrics
 * against the kind and the labels of a classify task. Throws {@link TaskSpecError} naming file:line.
 */
export function validateTaskSpec(raw: unknown, file: string, text = ""): TaskSpec {
  const parsed = specSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const top = i.path.length === 1 && typeof raw === "object" && raw !== null && !Array.isArray(raw) ? String(i.path[0]) : null;
    const missing = top !== null && !(top in (raw as Record<string, unknown>));
    const line = missing ? 1 : lineOfKey(text, i.path[i.path.length - 1] as string | undefined);
    const extra = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more: ${parsed.error.issues.slice(1).map(issueText).join("; ")})` : "";
    throw new TaskSpecError(`${file}:${line}: ${missing ? `missing ${issueText(i)}` : issueText(i)}${extra}; a task spec needs name, kind (${TASK_KINDS.join(" | ")}), prompt and data`);
  }
  const s = parsed.data;
  const allowed: readonly string[] = KIND_METRICS[s.kind];
  const metrics = (s.metrics ?? DEFAULT_METRICS[s.kind]) as MetricName[];
  for (const m of metrics) {
    if (!allowed.includes(m)) throw new TaskSpecError(`${file}:${lineOfKey(text, "metrics")}: metric "${m}" does not apply to a ${s.kind} task; expected some of ${allowed.join(", ")}`);
  }
  if (s.kind === "classify" && !s.labels) throw new TaskSpecError(`${file}:${lineOfKey(text, "kind")}: a classify task needs "labels" (at least two)`);
  if (s.kind !== "classify" && s.labels) throw new TaskSpecError(`${file}:${lineOfKey(text, "labels")}: "labels" is for classify tasks; a ${s.kind} task takes ${s.kind === "multiple_choice" ? "per-record options" : "per-record answers"}`);
  if (typeof s.extract === "object") {
    try {
      new RegExp(s.extract.regex);
    } catch (e) {
      throw new TaskSpecError(`${file}:${lineOfKey(text, "regex")}: extract.regex is not a valid regular expression (${(e as Error).message})`);
    }
  }
  return { ...s, metrics };
}

const TEMPLATE_FIELD = /\{(\w+)\}/g;

/** Fills `{field}` from `fields`; an unknown field is left as written (records are checked when loaded). */
export function fillTemplate(template: string, fields: Record<string, string>): string {
  return template.replace(TEMPLATE_FIELD, (m, k: string) => fields[k] ?? m);
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const recordSchema = z.looseObject({ id: z.union([z.string(), z.number()]).optional() });

/** Parses one JSONL examples file for `spec`; every error names file:line and what was expected. */
export function parseTaskExamples(spec: TaskSpec, file: string, text: string): EvalExample[] {
  const fieldsUsed = [...spec.prompt.matchAll(TEMPLATE_FIELD)].map((m) => m[1]);
  const out: EvalExample[] = [];
  const ids = new Set<string>();
  const lines = text.split("\n");
  lines.forEach((lineText, i) => {
    const at = `${file}:${i + 1}`;
    if (lineText.trim() === "") return;
    let raw: unknown;
    try {
      raw = JSON.parse(lineText);
    } catch (e) {
      throw new TaskSpecError(`${at}: not valid JSON (${(e as Error).message}); expected one JSON object per line`);
    }
    const rec = recordSchema.safeParse(raw);
    if (!rec.success) throw new TaskSpecError(`${at}: expected a JSON object with an optional string "id"`);
    const r = rec.data as Record<string, unknown>;
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) if (scalar.safeParse(v).success) fields[k] = String(v);
    for (const f of fieldsUsed) if (!(f in fields)) throw new TaskSpecError(`${at}: missing field "${f}" (the prompt uses {${f}}); expected a string or number`);
    const id = r.id !== undefined ? String(r.id) : `${i + 1}`;
    if (ids.has(id)) throw new TaskSpecError(`${at}: id "${id}" appears twice; ids must be unique (resume keys on them)`);
    ids.add(id);
    if (spec.kind === "multiple_choice") {
      const opts = z.array(z.string().min(1)).min(2).safeParse(r.options);
      if (!opts.success) throw new TaskSpecError(`${at}: "options" must be an array of at least two non-empty strings`);
      const choices = opts.data;
      if (new Set(choices).size !== choices.length) throw new TaskSpecError(`${at}: "options" repeat a value; each option must be different`);
      const gold = typeof r.answer === "number" ? r.answer : typeof r.answer === "string" ? choices.indexOf(r.answer) : -2;
      if (gold === -2) throw new TaskSpecError(`${at}: missing "answer"; expected an option's text or its 0-based index`);
      if (!(Number.isInteger(gold) && gold >= 0 && gold < choices.length)) {
        throw new TaskSpecError(`${at}: answer ${JSON.stringify(r.answer)} is not among the options ${JSON.stringify(choices)}${typeof r.answer === "number" ? ` (an index must be 0..${choices.length - 1})` : ""}`);
      }
      out.push({ id, fields, choices, gold, answers: [choices[gold]] });
    } else if (spec.kind === "classify") {
      const labels = spec.labels as string[];
      if (typeof r.label !== "string") throw new TaskSpecError(`${at}: missing "label"; expected one of ${JSON.stringify(labels)}`);
      const gold = labels.indexOf(r.label);
      if (gold < 0) throw new TaskSpecError(`${at}: label ${JSON.stringify(r.label)} is not among the task's labels ${JSON.stringify(labels)}`);
      out.push({ id, fields, choices: labels, gold, answers: [r.label] });
    } else {
      const a = z.union([z.string(), z.array(z.string()).min(1)]).safeParse(r.answer);
      if (!a.success) throw new TaskSpecError(`${at}: missing "answer"; expected a string or a non-empty array of right answers`);
      out.push({ id, fields, choices: [], gold: -1, answers: typeof a.data === "string" ? [a.data] : a.data });
    }
  });
  if (out.length === 0) throw new TaskSpecError(`${file}: no examples (an empty task); expected one JSON object per line`);
  return out;
}

/** Loads a task spec file (JSON) and its examples. */
export function loadTaskFile(file: string): LoadedTask {
  const text = readFileChecked(file, "a task spec (JSON)").toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // V8 names the position for most syntax errors (not for an unexpected token, where it quotes the text instead)
    const m = /position (\d+)/.exec((e as Error).message);
    const at = m ? `${file}:${text.slice(0, Number(m[1])).split("\n").length}` : file;
    throw new TaskSpecError(`${at}: not valid JSON (${(e as Error).message}); expected a task spec object`);
  }
  const spec = validateTaskSpec(raw, file, text);
  const dataPath = resolve(dirname(file), spec.data);
  const examples = parseTaskExamples(spec, dataPath, readFileChecked(dataPath, `the examples (JSONL) of task ${spec.name}`).toString("utf8"));
  const fewshotPath = spec.fewshot_data ? resolve(dirname(file), spec.fewshot_data) : null;
  const fewshotPool = fewshotPath ? parseTaskExamples(spec, fewshotPath, readFileChecked(fewshotPath, `the few-shot examples (JSONL) of task ${spec.name}`).toString("utf8")) : [];
  return { spec, examples, fewshotPool, source: file };
}

// ---------------------------------------------------------------- built-in offline tasks

/** The seed of the SFT instruction mix whose held-out items the built-in tasks use (buildInstructionMix's default). */
export const SFT_MIX_SEED = 1234;

/**
 * True when an item of an SFT task is held out of the SFT training set: the instruction mix's item split
 * ({@link isHeldoutItem}, the one the mix itself uses).
 */
export function isSftHeldout(task: string, key: string, mixSeed = SFT_MIX_SEED): boolean {
  return isHeldoutItem(task, key, mixSeed);
}

/**
 * The seed of the instruction mix a run was tuned on, read from the mix's `mix.json`: beside the training data
 * an SFT run folder's run.json names, or in RUN/sft_data or RUN/../sft_data (the quickstart's layout).
 * Null when none is found (the model was not tuned on the built-in mix, or its files moved).
 */
export function detectSftMixSeed(run: string): { seed: number; file: string } | null {
  const dirs: string[] = [];
  const runJson = join(run, "run.json");
  if (existsSync(runJson)) {
    try {
      const r = JSON.parse(readFileSync(runJson, "utf8")) as { format?: string; options?: { data?: unknown } };
      if (r.format === "llmforge-sft-run" && Array.isArray(r.options?.data)) for (const d of r.options.data) if (typeof d === "string") dirs.push(dirname(d));
    } catch {
      // not a run.json we can read: fall back to the folder layout
    }
  }
  dirs.push(join(run, "sft_data"), join(dirname(resolve(run)), "sft_data"));
  for (const d of dirs) {
    const file = join(d, "mix.json");
    if (!existsSync(file)) continue;
    try {
      const m = JSON.parse(readFileSync(file, "utf8")) as { format?: string; seed?: unknown };
      if (m.format === "llmforge-instruction-mix" && Number.isInteger(m.seed)) return { seed: m.seed as number, file };
    } catch {
      // a damaged mix.json says nothing about the seed
    }
  }
  return null;
}

/** Options of the built-in tasks. */
export interface BuiltinTaskOptions {
  /** Seeds the order of examples and the distractors (default 1234). */
  seed?: number;
  /** The seed of the SFT mix the model was tuned on (default {@link SFT_MIX_SEED}): its held-out items are evaluated. */
  mixSeed?: number;
}

/** Sorts examples by a seeded hash of their id: a fixed shuffle, so `limit` takes a fair sample. */
function seededOrder(name: string, xs: EvalExample[], seed: number): EvalExample[] {
  return xs.map((x) => ({ x, h: hashUnit(`${name}:${x.id}`, seed) })).sort((a, b) => a.h - b.h || (a.x.id < b.x.id ? -1 : 1)).map((p) => p.x);
}

function builtinSpec(s: Partial<TaskSpec> & Pick<TaskSpec, "name" | "kind" | "prompt" | "metrics">): TaskSpec {
  return { target_prefix: " ", fewshot_delimiter: "\n\n", shots: 0, extract: "first_line", max_tokens: 32, stop: ["\n"], data: `builtin:${s.name}`, ...s };
}

/** Word for a WordNet definition among 4 (3 distractors of the same part of speech); questions from SFT held-out definition items, shots from train items. */
function wordnetDefinitionMc(seed: number, mixSeed: number): LoadedTask {
  const defs = loadLexicon().definitions;
  // Words of one synset share a definition and an SFT item key; one question per synset, asked with its first word.
  const byKey = new Map<string, { word: string; pos: string; definition: string; words: Set<string> }>();
  for (const d of defs) {
    const key = `${d.pos}:${d.synset}`;
    const e = byKey.get(key);
    if (e) e.words.add(d.word);
    else byKey.set(key, { word: d.word, pos: d.pos, definition: d.definition, words: new Set([d.word]) });
  }
  const definitionOf = new Map(defs.map((d) => [d.word, d.definition]));
  const byPos = new Map<string, string[]>();
  for (const [, e] of byKey) byPos.set(e.pos, [...(byPos.get(e.pos) ?? []), e.word]);
  const make = (key: string, e: { word: string; pos: string; definition: string; words: Set<string> }): EvalExample => {
    const rand = mulberry32(Math.floor(hashUnit(`wordnet-definition-mc:${key}`, seed) * 2 ** 32));
    const pool = byPos.get(e.pos) ?? [];
    const options = new Set([e.word]);
    for (let tries = 0; options.size < 4 && tries < 200; tries++) {
      const w = pool[Math.floor(rand() * pool.length)];
      if (!e.words.has(w) && definitionOf.get(w) !== e.definition) options.add(w); // no second right answer
    }
    const choices = [...options].slice(1);
    const gold = Math.floor(rand() * (choices.length + 1));
    choices.splice(gold, 0, e.word);
    return { id: key, fields: { definition: e.definition }, choices, gold, answers: [e.word] };
  };
  const examples: EvalExample[] = [];
  const fewshotPool: EvalExample[] = [];
  for (const [key, e] of byKey) (isSftHeldout("definition", key, mixSeed) ? examples : fewshotPool).push(make(key, e));
  const spec = builtinSpec({ name: "wordnet-definition-mc", kind: "multiple_choice", prompt: "Definition: {definition}\nWord:", metrics: ["acc", "acc_norm", "ece"], description: "the word for a WordNet definition, among 4" });
  return { spec, examples: seededOrder(spec.name, examples, seed), fewshotPool: seededOrder(spec.name, fewshotPool, seed), source: "builtin:wordnet-definition-mc" };
}

/** Positive or negative for short labelled review sentences (SFT held-out sentence items), scored by label log-likelihood. */
function sentimentTask(seed: number, mixSeed: number): LoadedTask {
  const labels = ["negative", "positive"];
  const examples: EvalExample[] = [];
  const fewshotPool: EvalExample[] = [];
  for (const s of loadSentiment().sentences) {
    const ex = { id: s.text, fields: { text: s.text }, choices: labels, gold: labels.indexOf(s.label), answers: [s.label] };
    (isSftHeldout("sentiment", s.text, mixSeed) ? examples : fewshotPool).push(ex);
  }
  const spec = builtinSpec({ name: "sentiment", kind: "classify", prompt: "Review: {text}\nSentiment:", labels, metrics: ["acc", "macro_f1", "ece"], description: "positive or negative review sentences" });
  return { spec, examples: seededOrder(spec.name, examples, seed), fewshotPool: seededOrder(spec.name, fewshotPool, seed), source: "builtin:sentiment" };
}

/** Sums, differences and products as the SFT mix makes them (SFT held-out items), answered by greedy generation, exact match. */
function arithmeticTask(seed: number, mixSeed: number): LoadedTask {
  const examples: EvalExample[] = [];
  const fewshotPool: EvalExample[] = [];
  const add = (op: string, a: number, b: number, r: number) => {
    const key = `${a}${op}${b}`;
    (isSftHeldout("arithmetic", key, mixSeed) ? examples : fewshotPool).push({ id: key, fields: { a: `${a}`, op, b: `${b}` }, choices: [], gold: -1, answers: [`${r}`] });
  };
  for (let a = 0; a < 100; a++) for (let b = 0; b < 100; b++) add("+", a, b, a + b);
  for (let a = 0; a < 100; a++) for (let b = 0; b <= a; b++) add("-", a, b, a - b);
  for (let a = 0; a < 13; a++) for (let b = 0; b < 13; b++) add("*", a, b, a * b);
  const spec = builtinSpec({ name: "arithmetic", kind: "generate", prompt: "{a} {op} {b} =", metrics: ["exact_match"], max_tokens: 6, description: "two-number arithmetic, greedy answer" });
  return { spec, examples: seededOrder(spec.name, examples, seed), fewshotPool: seededOrder(spec.name, fewshotPool, seed), source: "builtin:arithmetic" };
}

/** The question an SFT conversation asks last, as an example answered by any of `meta.accept`; null for a record without one. */
function sftExample(c: Conversation): EvalExample | null {
  const meta = c.meta ?? {};
  const question = [...c.messages].reverse().find((m) => m.role === "user")?.content;
  const accept = Array.isArray(meta.accept) ? meta.accept.filter((a): a is string => typeof a === "string") : [];
  if (question === undefined || accept.length === 0 || typeof meta.task !== "string") return null;
  return { id: `${meta.task}:${String(meta.item)}|${String(meta.template)}`, fields: { question }, choices: [], gold: -1, answers: accept, group: meta.task };
}

/**
 * The SFT mix's own held-out questions (items and held-out-only phrasings never trained on), answered by greedy
 * generation and graded by the mix's `exactMatch` against every accepted answer; results are broken down per SFT
 * task. The questions are exactly those of the mix's heldout.jsonl for `mixSeed` (its default sizes); few-shot
 * examples come from its train split. Only the last user turn of a record is asked (system prompts and a first
 * turn are left out). Meant for chat models: run it with `--chat`.
 */
function sftHeldoutTask(name: string, tasks: readonly InstructionTask[]): (seed: number, mixSeed: number) => LoadedTask {
  return (seed, mixSeed) => {
    const mix = buildInstructionMix({ seed: mixSeed, tasks: [...tasks] });
    const examples = mix.heldout.map(sftExample).filter((e): e is EvalExample => e !== null);
    const fewshotPool = mix.train.map(sftExample).filter((e): e is EvalExample => e !== null);
    const what = tasks.length === INSTRUCTION_TASKS.length ? "every task" : tasks.join(", ");
    const spec = builtinSpec({ name, kind: "generate", prompt: "{question}", metrics: ["exact_match"], description: `held-out questions of the SFT instruction mix (${what}), greedy answer, exact match` });
    return { spec, examples: seededOrder(name, examples, seed), fewshotPool: seededOrder(name, fewshotPool, seed), source: `builtin:${name}` };
  };
}

const BUILTIN: Record<string, (seed: number, mixSeed: number) => LoadedTask> = {
  "wordnet-definition-mc": wordnetDefinitionMc,
  sentiment: sentimentTask,
  arithmetic: arithmeticTask,
  "sft-heldout": sftHeldoutTask("sft-heldout", INSTRUCTION_TASKS),
  ...Object.fromEntries(INSTRUCTION_TASKS.map((t) => [`sft-${t}`, sftHeldoutTask(`sft-${t}`, [t])])),
};

/** Names of the built-in tasks. */
export const BUILTIN_TASKS = Object.keys(BUILTIN);

/** A built-in task by name (deterministic for the seeds). */
export function builtinTask(name: string, opts: BuiltinTaskOptions = {}): LoadedTask {
  const make = BUILTIN[name];
  if (!make) throw new TaskSpecError(`unknown task "${name}"; built-in tasks: ${BUILTIN_TASKS.join(", ")} (or give a task spec file, *.json)`);
  return make(opts.seed ?? 1234, opts.mixSeed ?? SFT_MIX_SEED);
}

/** A built-in task by name, or a spec file by path (anything ending in .json or naming an existing file). */
export function resolveTask(nameOrFile: string, opts: BuiltinTaskOptions = {}): LoadedTask {
  if (BUILTIN[nameOrFile]) return builtinTask(nameOrFile, opts);
  if (nameOrFile.endsWith(".json") || nameOrFile.includes("/")) return loadTaskFile(nameOrFile);
  return builtinTask(nameOrFile, opts);
}

// ---------------------------------------------------------------- reward-model pair accuracy

/** Preference records a reward model is measured on: pair accuracy (overall and per `meta.task`) and mean margin. */
export interface PreferenceTask {
  name: string;
  /** The records file (or `builtin:preferences`). */
  source: string;
  /** Each with at least one pair; `id` is stable for a file, for resume. */
  records: Array<{ id: string; record: PreferenceRecord }>;
}

/** The name of the built-in preference task: the held-out split of the offline preference mix. */
export const BUILTIN_PREFERENCE_TASK = "preferences";

/** True when `--task` names a preference task (the built-in one, or a records file: *.jsonl) rather than a policy task. */
export function isPreferenceTaskName(nameOrFile: string): boolean {
  return nameOrFile === BUILTIN_PREFERENCE_TASK || nameOrFile.endsWith(".jsonl");
}

/**
 * The held-out split of the offline preference mix ({@link buildPreferenceMix}, default sizes, seed `mixSeed`):
 * sentiment reviews, VADER word ratings and graded SFT answers, on prompts the mix's train split never has.
 */
export function builtinPreferenceTask(mixSeed = 1234): PreferenceTask {
  const mix = buildPreferenceMix({ seed: mixSeed });
  return { name: BUILTIN_PREFERENCE_TASK, source: `builtin:${BUILTIN_PREFERENCE_TASK}`, records: mix.heldout.filter((r) => r.pairs.length > 0).map((record, i) => ({ id: `${i}`, record })) };
}

/**
 * Reads a preference records file or folder in any format `llmforge data convert --to preferences` reads
 * (chosen/rejected, rankings, scores, KTO labels merged per prompt). A record that cannot be read is an error
 * naming file:line; records whose answers are all tied are left out; a file with no pair at all is an error.
 */
export async function loadPreferenceTaskFile(file: string): Promise<PreferenceTask> {
  if (!existsSync(file)) throw new TaskSpecError(`${file}: preference records not found`);
  const read: PreferenceRecord[] = [];
  try {
    for await (const r of convertToPreferences([file], { onError: "fail" })) read.push(r);
  } catch (e) {
    if (!(e instanceof DataInputError)) throw e;
    throw new TaskSpecError(`${e.file}${e.line > 0 ? `:${e.line}` : ""}: ${e.reason}; expected preference records (see \`llmforge data convert --to preferences\` for the formats read)`);
  }
  const records = pairLabelledRecords(read)
    .filter((r) => r.pairs.length > 0)
    .map((record, i) => ({ id: record.meta?.line !== undefined ? `${basename(String(record.meta.file ?? file))}:${String(record.meta.line)}` : `${i}`, record }));
  if (records.length === 0) throw new TaskSpecError(`${file}: no preference pair (an empty task); expected records with chosen/rejected answers, rankings, scores or labels`);
  return { name: basename(file).replace(/\.jsonl$/, ""), source: file, records };
}

/** The built-in preference task or a records file. */
export async function resolvePreferenceTask(nameOrFile: string, opts: { mixSeed?: number } = {}): Promise<PreferenceTask> {
  return nameOrFile === BUILTIN_PREFERENCE_TASK ? builtinPreferenceTask(opts.mixSeed) : loadPreferenceTaskFile(nameOrFile);
}
