// Model vs model (`llmforge eval compare`): both models answer the same prompts, a judge (a reward model, or the rule
// grader of the SFT tasks) picks the better answer of each pair, and win / tie / loss rates of A against B are reported
// with seeded bootstrap confidence intervals over prompts. Per-prompt results go to a JSONL file a rerun resumes from.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { conversationProblem, type Message } from "../data/formats/conversation.js";
import { hashUnit } from "../data/mix.js";
import { generate, type GenerateOptions } from "../infer/generate.js";
import { InputLineError, readJsonl, readResultsFile } from "../io/jsonl.js";
import type { GPT } from "../model/gpt.js";
import { isRewardModelConfig } from "../model/heads.js";
import { loadRun, resolveRunPaths, runChatTemplate } from "../model/runFolder.js";
import { answerSequence, makeRewardBatch } from "../reward/data.js";
import { GENERATION_BUDGET_CHARS, GRADES, gradeResponse, PreferenceMixError } from "../reward/preferenceMix.js";
import { type LoadedRewardModel, loadRewardRun } from "../reward/score.js";
import { batchRewards, rewardPadId } from "../reward/train.js";
import type { BackendName } from "../tensor/backend/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { CHATML_TEMPLATE, renderChat, requireChatTokens } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { exactMatch } from "../sft/instructionMix.js";
import { VERSION } from "../version.js";

/** Settings, models or a results file that a comparison cannot run with; the message says what to give instead. */
export class CompareError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CompareError";
  }
}

/** One prompt of a comparison, as read from the prompts file. */
export interface ComparePrompt {
  /** `id` of the record, else `line N`. */
  id: string;
  /** Where it was read (file:line). */
  source: string;
  /** The conversation so far, ending with a user turn (a text prompt is one user message). */
  messages: Message[];
  /** True when the record gave plain `prompt` text (a plain model continues it as it is). */
  text: boolean;
  task?: string;
  /** Answer form for the rule grader (`meta.kind` of the SFT instruction mix); without it, right or wrong only. */
  kind?: string;
  /** Accepted answers (the rule judge needs them). */
  accept?: string[];
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Reads a prompts file (JSONL): `{prompt: "text"}`, `{prompt: [messages]}` or `{messages: [...]}` (a final assistant turn, the
 * reference answer of SFT data, is dropped), each optionally with `id`, `task`, `kind`, `accept: string[]` and `answer`, at the top
 * level or under `meta` (so `llmforge data instructions`' heldout.jsonl reads as it is). Bad lines throw {@link InputLineError} (file:line).
 */
export async function readComparePrompts(file: string, opts: { needAccept?: boolean } = {}): Promise<ComparePrompt[]> {
  if (!existsSync(file)) throw new CompareError(`--prompts ${file}: file not found (a JSONL file of {"prompt": ...} or {"messages": [...]} records)`);
  const out: ComparePrompt[] = [];
  const ids = new Set<string>();
  for await (const item of readJsonl<unknown>(file)) {
    if (!item.ok) throw item.error;
    const bad = (why: string): never => {
      throw new InputLineError(file, item.line, why);
    };
    const v = item.value;
    if (typeof v !== "object" || v === null || Array.isArray(v)) bad('expected a JSON object with "prompt" or "messages"');
    const rec = v as Record<string, unknown>;
    const meta = typeof rec.meta === "object" && rec.meta !== null && !Array.isArray(rec.meta) ? (rec.meta as Record<string, unknown>) : {};
    let messages: Message[];
    let text = false;
    if (typeof rec.prompt === "string") {
      if (rec.prompt.trim() === "") bad('"prompt" is empty');
      messages = [{ role: "user", content: rec.prompt }];
      text = true;
    } else if (Array.isArray(rec.prompt) || Array.isArray(rec.messages)) {
      const list = Array.isArray(rec.prompt) ? rec.prompt : rec.messages;
      const problem = conversationProblem({ messages: list });
      if (problem) bad(problem);
      messages = [...(list as Message[])];
      if (messages.at(-1)?.role === "assistant") messages.pop();
      if (messages.at(-1)?.role !== "user") bad("the conversation must end with a user turn (after dropping a final assistant answer)");
    } else {
      return bad('expected "prompt" (text or a list of messages) or "messages"');
    }
    const accept = rec.accept ?? meta.accept;
    if (accept !== undefined && !(Array.isArray(accept) && accept.every((a) => typeof a === "string"))) bad('"accept" must be a list of strings');
    const answer = rec.answer ?? meta.answer;
    if (answer !== undefined && typeof answer !== "string") bad('"answer" must be a string');
    const accepted = [...new Set([...(answer !== undefined ? [answer as string] : []), ...((accept as string[] | undefined) ?? [])])];
    if (opts.needAccept && accepted.length === 0) bad('the rule judge needs accepted answers: give "accept" (a list of strings) or "answer" (or judge with a reward model)');
    const kind = str(rec.kind) ?? str(meta.kind);
    if (kind !== undefined) {
      try {
        gradeResponse("", kind, accepted);
      } catch (err) {
        if (!(err instanceof PreferenceMixError)) throw err;
        bad(`${err.message} (kinds are those of \`llmforge data instructions\`, e.g. arithmetic.add, capital.capital; leave "kind" out to grade right/wrong only)`);
      }
    }
    const rawId = rec.id ?? meta.id;
    const id = typeof rawId === "string" || typeof rawId === "number" ? String(rawId) : `line ${item.line}`;
    if (ids.has(id)) bad(`id ${JSON.stringify(id)} occurs twice; ids must be unique`);
    ids.add(id);
    const task = str(rec.task) ?? str(meta.task);
    out.push({ id, source: `${file}:${item.line}`, messages, text, ...(task ? { task } : {}), ...(kind ? { kind } : {}), ...(accepted.length > 0 ? { accept: accepted } : {}) });
  }
  if (out.length === 0) throw new CompareError(`--prompts ${file}: no prompts in the file (expected JSONL records with "prompt" or "messages")`);
  return out;
}

/**
 * The rule grade of an answer (higher is better): {@link gradeResponse} when the prompt names an answer kind; otherwise
 * correct (an accepted answer), no end (ran to the generation budget) or wrong.
 */
export function ruleGrade(answer: string, p: ComparePrompt): number {
  if (!p.accept) throw new CompareError(`${p.source}: the rule judge needs accepted answers ("accept" or "answer")`);
  if (p.kind !== undefined) return gradeResponse(answer, p.kind, p.accept);
  if (answer.length >= GENERATION_BUDGET_CHARS) return GRADES.noEnd;
  return exactMatch(answer, p.accept) ? GRADES.correct : GRADES.wrongAnswer;
}

export type Outcome = "win" | "tie" | "loss";

/** A vs B by their judge scores: identical answers tie; otherwise A wins when its score is higher by at least `epsilon` (and by more than 0). */
export function outcomeOf(scoreA: number, scoreB: number, epsilon = 0, same = false): Outcome {
  const d = scoreA - scoreB;
  if (same || d === 0 || Math.abs(d) < epsilon) return "tie";
  return d > 0 ? "win" : "loss";
}

/** A rate and its confidence interval. */
export interface RateCI {
  rate: number;
  lo: number;
  hi: number;
}

/** Win / tie / loss rates of A against B over prompts (each prompt weighs one, its samples share it). */
export interface CompareStats {
  prompts: number;
  /** Judged answer pairs, by outcome. */
  pairs: { win: number; tie: number; loss: number };
  win: RateCI;
  tie: RateCI;
  loss: RateCI;
  /** Win rate counting a tie as half a win. */
  winTieHalf: RateCI;
}

/** Per-prompt outcome fractions (each sums to 1 over its samples). */
export interface PromptOutcome {
  win: number;
  tie: number;
  loss: number;
}

/** Linear-interpolated quantile (type 7, as numpy's default) of sorted values. */
function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
}

/**
 * Rates with percentile bootstrap intervals: `resamples` draws of N prompts with replacement (seeded xoshiro128**), the
 * `confidence` interval (default 0.95) of each mean. `pairs` counts whole-sample outcomes when given (else the fractions summed).
 */
export function bootstrapRates(outcomes: readonly PromptOutcome[], opts: { resamples?: number; seed?: number; confidence?: number; pairs?: CompareStats["pairs"] } = {}): CompareStats {
  const N = outcomes.length;
  if (N === 0) throw new CompareError("no prompts to compute rates over");
  const R = opts.resamples ?? 2000;
  if (!(Number.isInteger(R) && R >= 1)) throw new CompareError(`resamples must be a positive integer, got ${R}`);
  const conf = opts.confidence ?? 0.95;
  if (!(conf > 0 && conf < 1)) throw new CompareError(`confidence must be in (0, 1), got ${conf}`);
  const mean = (f: (o: PromptOutcome) => number) => outcomes.reduce((s, o) => s + f(o), 0) / N;
  const fns: Array<(o: PromptOutcome) => number> = [(o) => o.win, (o) => o.tie, (o) => o.loss, (o) => o.win + o.tie / 2];
  const draws = fns.map(() => new Float64Array(R));
  const rng = new Rng(opts.seed ?? 1234);
  for (let r = 0; r < R; r++) {
    let w = 0;
    let t = 0;
    let l = 0;
    for (let i = 0; i < N; i++) {
      const o = outcomes[rng.int(N)];
      w += o.win;
      t += o.tie;
      l += o.loss;
    }
    draws[0][r] = w / N;
    draws[1][r] = t / N;
    draws[2][r] = l / N;
    draws[3][r] = (w + t / 2) / N;
  }
  const ci = (k: number): RateCI => {
    const s = draws[k].sort();
    return { rate: mean(fns[k]), lo: quantile(s, (1 - conf) / 2), hi: quantile(s, 1 - (1 - conf) / 2) };
  };
  const pairs = opts.pairs ?? { win: mean(fns[0]) * N, tie: mean(fns[1]) * N, loss: mean(fns[2]) * N };
  return { prompts: N, pairs, win: ci(0), tie: ci(1), loss: ci(2), winTieHalf: ci(3) };
}

/** One generated answer. */
export interface CompareAnswer {
  text: string;
  finish: string;
  tokens: number;
}

/** One judged pair of answers (one sample of each model). */
export interface CompareSample {
  a: CompareAnswer;
  b: CompareAnswer;
  /** The judge's score of each answer: reward, or rule grade. */
  scoreA: number;
  scoreB: number;
  outcome: Outcome;
}

/** One prompt's result, as stored in the results file. */
export interface ComparePromptResult {
  id: string;
  /** Hash of the prompt (messages, kind, accepted answers): a resume refuses a prompt that changed under the same id. */
  promptHash: string;
  task?: string;
  messages: Message[];
  samples: CompareSample[];
  win: number;
  tie: number;
  loss: number;
  /** Answers the reward model saw cut from the left to its block size. */
  truncated?: number;
}

/** Options of {@link compareModels}; the CLI's flags. */
export interface CompareOptions {
  /** Model A (a run or model folder of a language model). */
  model: string;
  /** Model B, compared against. */
  against: string;
  /** Prompts file (JSONL). */
  prompts: string;
  /** `"rule"`, or a reward model run (OUT of `llmforge reward`) or folder. */
  judge: string;
  /** Answers per prompt from each model (default 1); each sample of A is judged against the same-numbered sample of B. */
  samples?: number;
  /** Most new tokens per answer (default 128). */
  maxTokens?: number;
  /** Sampling temperature (default 0.7; 0 = greedy). */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seeds the sampling (both models draw sample k of a prompt with the same seed) and the bootstrap (default 1234). */
  seed?: number;
  /** Reward differences below this are ties (default 0: only equal rewards). */
  tieEpsilon?: number;
  /** Bootstrap resamples of prompts (default 2000). */
  resamples?: number;
  /** Compare on the first N prompts only. */
  limit?: number;
  /** Render prompts with each model's chat template: "auto" (default) when its tokenizer folder has one (SFT runs write it). */
  chat?: boolean | "auto";
  /** Per-prompt results (JSONL): appended as they are made; a rerun with the same settings skips the prompts already there. */
  out?: string;
  /** Examples kept in the summary (default 3). */
  examples?: number;
  backend?: BackendName;
  onProgress?: (done: number, total: number) => void;
}

/** What {@link compareModels} returns (the CLI prints it with --json). */
export interface CompareSummary {
  format: "llmforge-compare";
  version: 1;
  writtenBy: string;
  model: string;
  against: string;
  judge: string;
  settings: Record<string, unknown>;
  overall: CompareStats;
  /** Per `task`, when the prompts name tasks. */
  byTask: Record<string, CompareStats>;
  /** The first few prompts' results. */
  examples: ComparePromptResult[];
  /** Prompts read back from the results file instead of computed. */
  resumed: number;
  /** Answers cut from the left to fit the reward model's block size. */
  truncated: number;
  seconds: number;
}

/** A policy ready to answer: the model, its tokenizer, and how prompts become tokens. */
interface Policy {
  model: GPT;
  tok: Tokenizer;
  /** Chat template when prompts are rendered as chat, else null (plain text after the document token). */
  template: string | null;
  dir: string;
}

const DOC_TOKEN = "<|endoftext|>";
const CHAT_EOS = "<|im_end|>";

/** A model folder's config.json, or null when it cannot be read (the loaders then say why). */
function modelConfig(dir: string): unknown {
  try {
    return JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  } catch {
    return null;
  }
}

/** Refuses a reward model where a policy is expected (before loading weights), then loads the run. */
function loadPolicy(run: string, flag: string, chat: boolean | "auto", backend?: BackendName): Policy {
  const paths = resolveRunPaths(run);
  if (isRewardModelConfig(modelConfig(paths.modelDir))) {
    throw new CompareError(`${flag} ${run}: ${paths.modelDir} holds a reward model (it scores answers and cannot write them); ${flag} needs a language model (a run of \`llmforge train\` or \`llmforge sft\`). To judge with it, give it as --judge`);
  }
  const loaded = loadRun(run, { backend });
  const { model, tokenizer: tok } = loaded;
  const own = runChatTemplate(loaded);
  const template = chat === "auto" ? own : chat ? (own ?? CHATML_TEMPLATE) : null;
  if (template) requireChatTokens(tok, template, [CHAT_EOS]);
  return { model, tok, template, dir: resolve(paths.modelDir) };
}

/** Loads the reward model judge, refusing a language model with a message that says what to give. */
function loadJudge(run: string, backend?: BackendName): LoadedRewardModel & { dir: string } {
  const paths = resolveRunPaths(run);
  const cfg = modelConfig(paths.modelDir);
  if (cfg !== null && !isRewardModelConfig(cfg)) {
    throw new CompareError(`--judge ${run}: ${paths.modelDir} holds a language model (a policy), not a reward model (no ForSequenceClassification architecture, num_labels 1, score.weight); give a reward run (\`llmforge reward --model RUN --data F --out RM\`) or \`rule\``);
  }
  const rm = loadRewardRun(run, { backend });
  requireChatTokens(rm.tokenizer, rm.template, [CHAT_EOS]);
  return { ...rm, dir: resolve(paths.modelDir) };
}

/** Prompt token ids for a policy: chat-rendered with the generation header, or the document token then the text. */
function promptIds(p: Policy, prompt: ComparePrompt, maxTokens: number): number[] {
  let ids: number[];
  if (p.template) ids = p.tok.encode(renderChat(p.template, prompt.messages, { addGenerationPrompt: true }), { allowedSpecial: "all" });
  else {
    const doc = p.tok.specialTokens.get(DOC_TOKEN);
    // A plain model reads a conversation as its turns' text, one per line.
    const text = prompt.text ? prompt.messages[0].content : prompt.messages.map((m) => m.content).join("\n");
    ids = [...(doc !== undefined ? [doc] : []), ...p.tok.encode(text)];
  }
  const room = Math.max(1, p.model.config.blockSize - maxTokens);
  return ids.length > room ? ids.slice(ids.length - room) : ids;
}

function answer(p: Policy, prompt: ComparePrompt, opts: GenerateOptions & { maxTokens: number }): CompareAnswer {
  const doc = p.tok.specialTokens.get(DOC_TOKEN);
  const stopTokens = p.template ? [p.tok.specialId(CHAT_EOS)] : doc !== undefined ? [doc] : [];
  const r = generate(p.model, promptIds(p, prompt, opts.maxTokens), {
    ...opts, stopTokens, decode: (t) => p.tok.decode(t), vocabLimit: Math.min(p.tok.vocabSize, p.model.config.vocabSize),
  });
  return { text: r.text, finish: r.finishReason, tokens: r.tokens.length };
}

/** Rewards of answers to prompts, one padded row per answer; sequences longer than the block keep their last tokens. */
function rewardScores(rm: LoadedRewardModel, items: ReadonlyArray<{ messages: Message[]; answer: string }>): { rewards: number[]; truncated: boolean[] } {
  const T = rm.model.config.blockSize;
  const padId = rewardPadId(rm.tokenizer) ?? rm.tokenizer.specialId(CHAT_EOS);
  const full = items.map(({ messages, answer: a }) => answerSequence(rm.tokenizer, messages, a, { template: rm.template }));
  const truncated = full.map((s) => s.length > T);
  const seqs = full.map((s) => (s.length > T ? s.slice(s.length - T) : s));
  const b = makeRewardBatch(seqs.map((s) => ({ seqs: [s], pairs: [], targets: null, responses: [0] })), padId);
  const wasTraining = rm.model.training;
  rm.model.eval();
  try {
    const r = tidy(() => noGrad(() => Array.from(batchRewards(rm.model, b).toTypedArray())));
    return { rewards: r, truncated };
  } finally {
    rm.model.train(wasTraining);
  }
}

const RESULTS_FORMAT = "llmforge-compare-results";

/** Reads a results file: its settings key and prompt results; a torn last line (a killed run) is cut so appends start clean. */
function readCompareResults(file: string): { key: string | null; results: ComparePromptResult[] } {
  const what = "an llmforge compare results file";
  const r = readResultsFile<{ format?: string; key?: unknown }, ComparePromptResult>(file, RESULTS_FORMAT, what, (m) => new CompareError(m));
  if (r.header && typeof r.header.key !== "string") throw new CompareError(`${file}:1: not ${what} (its header has no settings key); give --out a new file`);
  return { key: r.header ? (r.header.key as string) : null, results: r.records };
}

const sha = (v: unknown): string => createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);

function positive(name: string, v: number, int: boolean): number {
  if (!((int ? Number.isInteger(v) : Number.isFinite(v)) && v >= 1)) throw new CompareError(`${name} must be a ${int ? "positive whole number" : "number >= 1"}, got ${v}`);
  return v;
}

/**
 * Compares model A against model B on a prompts file: each model answers every prompt `samples` times (sample k of both models
 * drawn with the same seed), the judge scores each answer, and A wins / ties / loses each pair. Returns overall and per-task
 * rates with bootstrap intervals over prompts. Deterministic for a seed; with `out`, resumable.
 */
export async function compareModels(o: CompareOptions): Promise<CompareSummary> {
  const t0 = performance.now();
  const samples = positive("samples", o.samples ?? 1, true);
  const maxTokens = positive("maxTokens", o.maxTokens ?? 128, true);
  const temperature = o.temperature ?? 0.7;
  const seed = o.seed ?? 1234;
  const tieEpsilon = o.tieEpsilon ?? 0;
  if (!(Number.isFinite(tieEpsilon) && tieEpsilon >= 0)) throw new CompareError(`tie epsilon must be a number >= 0, got ${tieEpsilon}`);
  if (samples > 1 && temperature === 0) throw new CompareError(`${samples} samples at temperature 0 would be ${samples} copies of one answer: sample with a temperature > 0, or give 1 sample`);
  if (o.limit !== undefined) positive("limit", o.limit, true);
  const rule = o.judge === "rule";
  const prompts = (await readComparePrompts(o.prompts, { needAccept: rule })).slice(0, o.limit);
  const chat = o.chat ?? "auto";
  const a = loadPolicy(o.model, "--model", chat, o.backend);
  const b = resolve(o.against) === resolve(o.model) ? a : loadPolicy(o.against, "--against", chat, o.backend);
  const rm = rule ? null : loadJudge(o.judge, o.backend);
  const settings = {
    model: a.dir, against: b.dir, judge: rm ? rm.dir : "rule", chat: { model: a.template !== null, against: b.template !== null },
    samples, maxTokens, temperature, topK: o.topK ?? null, topP: o.topP ?? null, seed, tieEpsilon,
  };
  const key = sha(settings);
  const done = new Map<string, ComparePromptResult>();
  const promptHash = (p: ComparePrompt) => sha([p.messages, p.text, p.kind ?? null, p.accept ?? null]);
  if (o.out) {
    const prior = readCompareResults(o.out);
    if (prior.key !== null && prior.key !== key) {
      throw new CompareError(`${o.out} holds a comparison made with other settings (models, judge, samples, max tokens, temperature, seed, tie epsilon or chat mode differ); give --out a new file or delete it`);
    }
    const byId = new Map(prompts.map((p) => [p.id, p]));
    for (const r of prior.results) {
      const p = byId.get(r.id);
      if (p && promptHash(p) !== r.promptHash) throw new CompareError(`${o.out}: prompt ${JSON.stringify(r.id)} (${p.source}) changed since its result was written; give --out a new file or delete it`);
      done.set(r.id, r);
    }
    if (prior.key === null) writeFileSync(o.out, `${JSON.stringify({ format: RESULTS_FORMAT, version: 1, writtenBy: `llmforge ${VERSION}`, key, settings })}\n`);
  }
  const genOpts = { maxTokens, temperature, ...(o.topK !== undefined ? { topK: o.topK } : {}), ...(o.topP !== undefined ? { topP: o.topP } : {}) };
  const todo = prompts.filter((p) => !done.has(p.id));
  const results = new Map(done);
  const CHUNK = 8;
  for (let s = 0; s < todo.length; s += CHUNK) {
    const part = todo.slice(s, s + CHUNK);
    const answers = part.map((p) =>
      Array.from({ length: samples }, (_, k) => {
        // Both models draw sample k of a prompt from the same stream, so identical models give identical answers.
        const sampleSeed = Math.floor(hashUnit(`${p.id}#${k}`, seed) * 2 ** 31);
        return { a: answer(a, p, { ...genOpts, seed: sampleSeed }), b: answer(b, p, { ...genOpts, seed: sampleSeed }) };
      }),
    );
    // Scores in order: prompt, sample, then A before B.
    let scores: number[];
    let cut: boolean[] = [];
    if (rm) {
      const r = rewardScores(rm, part.flatMap((p, i) => answers[i].flatMap((x) => [{ messages: p.messages, answer: x.a.text }, { messages: p.messages, answer: x.b.text }])));
      scores = r.rewards;
      cut = r.truncated;
    } else scores = part.flatMap((p, i) => answers[i].flatMap((x) => [ruleGrade(x.a.text, p), ruleGrade(x.b.text, p)]));
    let k = 0;
    const made = part.map((p, i): ComparePromptResult => {
      let truncated = 0;
      const judged = answers[i].map((x): CompareSample => {
        truncated += (cut[k] ? 1 : 0) + (cut[k + 1] ? 1 : 0);
        const scoreA = scores[k++];
        const scoreB = scores[k++];
        return { a: x.a, b: x.b, scoreA, scoreB, outcome: outcomeOf(scoreA, scoreB, rm ? tieEpsilon : 0, x.a.text === x.b.text) };
      });
      const frac = (w: Outcome) => judged.filter((j) => j.outcome === w).length / samples;
      return {
        id: p.id, promptHash: promptHash(p), ...(p.task ? { task: p.task } : {}), messages: p.messages, samples: judged,
        win: frac("win"), tie: frac("tie"), loss: frac("loss"), ...(truncated > 0 ? { truncated } : {}),
      };
    });
    if (o.out) appendFileSync(o.out, `${made.map((r) => JSON.stringify(r)).join("\n")}\n`);
    for (const r of made) results.set(r.id, r);
    o.onProgress?.(done.size + s + part.length, prompts.length);
  }
  const ordered = prompts.map((p) => results.get(p.id)).filter((r): r is ComparePromptResult => r !== undefined);
  const stats = (rs: readonly ComparePromptResult[]): CompareStats => {
    const pairs = { win: 0, tie: 0, loss: 0 };
    for (const r of rs) for (const x of r.samples) pairs[x.outcome]++;
    return bootstrapRates(rs, { resamples: o.resamples, seed, pairs });
  };
  const tasks = [...new Set(ordered.map((r) => r.task).filter((t): t is string => t !== undefined))].sort();
  return {
    format: "llmforge-compare", version: 1, writtenBy: `llmforge ${VERSION}`, model: o.model, against: o.against, judge: o.judge, settings,
    overall: stats(ordered),
    byTask: Object.fromEntries(tasks.map((t) => [t, stats(ordered.filter((r) => r.task === t))])),
    examples: ordered.slice(0, o.examples ?? 3),
    resumed: prompts.length - todo.length,
    truncated: ordered.reduce((n, r) => n + (r.truncated ?? 0), 0),
    seconds: (performance.now() - t0) / 1000,
  };
}
