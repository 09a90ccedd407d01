// Runs evaluation tasks on a model, as lm-evaluation-harness does: options and labels scored by the
// log-likelihood of their tokens given the prompt (batched), generation tasks by greedy decoding, then the
// task's metrics; reward models by pair accuracy on preference records. Per-example results can go to a JSONL
// file that a rerun resumes from.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { mulberry32 } from "../data/filters/qualityClassifier.js";
import { hashUnit } from "../data/mix.js";
import { type FinishReason, generate } from "../infer/generate.js";
import { readResultsFile } from "../io/jsonl.js";
import { argmaxRow } from "../infer/sampling.js";
import type { GPT } from "../model/gpt.js";
import type { RewardModel } from "../model/heads.js";
import { answerSequence, makeRewardBatch, type RewardExample } from "../reward/data.js";
import { batchRewards, rewardPadId } from "../reward/train.js";
import { exactMatch } from "../sft/instructionMix.js";
import { ids } from "../tensor/ops/index.js";
import { noGrad, Tensor, tidy } from "../tensor/tensor.js";
import { renderChat } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { VERSION } from "../version.js";
import { expectedCalibrationError, precisionRecallF1, squadExactMatch, squadF1 } from "./metrics/classification.js";
import { corpusBleu, rougeL, rougeTokenize, tokenizeForBleu } from "./metrics/textMetrics.js";
import { type EvalExample, fillTemplate, type LoadedTask, type PreferenceTask, type TaskSpec, TaskSpecError } from "./tasks.js";

/** A request the harness cannot score (empty continuation, one longer than the context) or a results file it cannot resume. */
export class EvalRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EvalRunError";
  }
}

/** The log-likelihood of `continuation` given `context` (token ids). */
export interface LoglikelihoodRequest {
  context: readonly number[];
  continuation: readonly number[];
}

export interface LoglikelihoodResult {
  /** Σ log p(continuation token | everything before it). */
  logprob: number;
  /** True when every continuation token is the argmax of its distribution (lm-eval's is_greedy). */
  greedy: boolean;
  /** Context tokens dropped from the front to fit the block size. */
  truncated: number;
}

/**
 * Scores requests in batches of `batchSize` rows (longest first, right-padded; padding sits after every scored
 * position, so with causal attention it changes nothing). A context + continuation longer than the block size
 * keeps its last blockSize + 1 tokens. Log-softmax in float64 over the model's whole vocabulary.
 */
export function scoreLoglikelihood(model: GPT, requests: readonly LoglikelihoodRequest[], batchSize = 8): LoglikelihoodResult[] {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new EvalRunError(`batchSize must be a positive integer, got ${batchSize}`);
  const block = model.config.blockSize;
  const V = model.config.vocabSize;
  const C = model.config.nEmbd;
  const rows = requests.map((r, i) => {
    if (r.continuation.length === 0) throw new EvalRunError(`request ${i}: the continuation has no tokens`);
    if (r.context.length === 0) throw new EvalRunError(`request ${i}: the context has no tokens (start it with a beginning-of-text token)`);
    if (r.continuation.length > block) throw new EvalRunError(`request ${i}: the continuation has ${r.continuation.length} tokens, more than the model's block size ${block}`);
    const full = [...r.context, ...r.continuation];
    const cut = Math.max(0, full.length - (block + 1));
    const input = full.slice(cut, -1); // positions start+j predict continuation[j]
    return { i, input, start: input.length - r.continuation.length, targets: r.continuation, truncated: cut };
  });
  const order = rows.map((_, i) => i).sort((a, b) => rows[b].input.length - rows[a].input.length || a - b);
  const out = new Array<LoglikelihoodResult>(rows.length);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let s = 0; s < order.length; s += batchSize) {
      const batch = order.slice(s, s + batchSize).map((i) => rows[i]);
      const B = batch.length;
      const T = batch[0].input.length;
      const data = new Int32Array(B * T); // pad id 0: never attended to by a scored position
      for (let b = 0; b < B; b++) data.set(batch[b].input, b * T);
      const N = batch.reduce((n, r) => n + r.targets.length, 0);
      const logits = tidy(() =>
        noGrad(() => {
          const h = model.hidden(ids(data, [B, T])).toTypedArray(); // (B, T, C)
          // Only the scored positions go through the LM head: (N, C) -> (N, V).
          const sel = h instanceof Float64Array ? new Float64Array(N * C) : new Float32Array(N * C);
          let n = 0;
          for (let b = 0; b < B; b++) {
            const r = batch[b];
            for (let j = 0; j < r.targets.length; j++, n++) sel.set(h.subarray((b * T + r.start + j) * C, (b * T + r.start + j + 1) * C), n * C);
          }
          return model.head(Tensor.from(sel, [N, C], { dtype: model.dtype, backend: model.backendName })).toTypedArray();
        }),
      );
      let n = 0;
      for (const r of batch) {
        let logprob = 0;
        let greedy = true;
        for (let j = 0; j < r.targets.length; j++, n++) {
          const row = logits.subarray(n * V, (n + 1) * V);
          let max = Number.NEGATIVE_INFINITY;
          let arg = 0;
          for (let v = 0; v < V; v++) {
            if (row[v] > max) {
              max = row[v];
              arg = v;
            }
          }
          let sum = 0;
          for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
          logprob += row[r.targets[j]] - max - Math.log(sum);
          if (arg !== r.targets[j]) greedy = false;
        }
        out[r.i] = { logprob, greedy, truncated: r.truncated };
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

/** Softmax of scores (float64, max-shifted). */
export function softmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** Index of the largest value (the first on ties). */
function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Cuts the answer from generated text as the spec says: first non-empty line, all of it, or a regex (its first group when it has one). */
export function extractAnswer(raw: string, extract: TaskSpec["extract"]): string {
  if (extract === "full") return raw.trim();
  if (extract === "first_line") return raw.replace(/^\s+/, "").split("\n")[0].trim();
  const m = new RegExp(extract.regex).exec(raw);
  return m ? (m[1] ?? m[0]).trim() : "";
}

/**
 * The prompt of one example: `shots` solved examples (drawn with a seed from the task's few-shot pool, or from
 * the other examples), each `prompt + target_prefix + answer`, joined by the few-shot delimiter, then the question.
 */
export function buildPrompt(task: LoadedTask, ex: EvalExample, shots: number, seed: number): string {
  const s = task.spec;
  const parts: string[] = [];
  if (shots > 0) {
    const pool = task.fewshotPool.length > 0 ? task.fewshotPool : task.examples;
    const avail = pool.length - (pool === task.examples ? 1 : 0);
    if (shots > avail) throw new TaskSpecError(`${task.source}: ${shots} shots asked but only ${avail} few-shot examples exist`);
    const rand = mulberry32(Math.floor(hashUnit(`${s.name}:fewshot:${ex.id}`, seed) * 2 ** 32));
    const picked = new Set<number>();
    while (picked.size < shots) {
      const k = Math.floor(rand() * pool.length);
      if (pool[k].id !== ex.id || pool !== task.examples) picked.add(k);
    }
    for (const k of picked) parts.push(fillTemplate(s.prompt, pool[k].fields) + s.target_prefix + pool[k].answers[0]);
  }
  parts.push(fillTemplate(s.prompt, ex.fields));
  return parts.join(s.fewshot_delimiter);
}

/** How task text becomes tokens: plain (after the document token, when the tokenizer has one) or as a chat user turn. */
export interface PromptEncoder {
  context(text: string): number[];
  continuation(text: string): number[];
  /** Text between the prompt and an option when scoring (plain: the spec's target_prefix; chat: nothing, the answer is the assistant turn). */
  prefix(spec: TaskSpec): string;
  stopTokens: number[];
}

/** The special token llmforge documents start with; a plain prompt starts with it too, as `llmforge generate` does. */
export const DOC_TOKEN = "<|endoftext|>";

/** A {@link PromptEncoder} for a tokenizer; with `chatTemplate`, each prompt is rendered as one user message plus the generation prompt. */
export function promptEncoder(tok: Tokenizer, chat?: { template: string; eosToken?: string }): PromptEncoder {
  const doc = tok.specialTokens.get(DOC_TOKEN);
  if (chat) {
    const eos = tok.specialId(chat.eosToken ?? "<|im_end|>");
    return {
      context: (text) => tok.encode(renderChat(chat.template, [{ role: "user", content: text }], { addGenerationPrompt: true }), { allowedSpecial: "all" }),
      continuation: (text) => tok.encode(text),
      prefix: () => "",
      stopTokens: [eos],
    };
  }
  return {
    context: (text) => [...(doc !== undefined ? [doc] : []), ...tok.encode(text)],
    continuation: (text) => tok.encode(text),
    prefix: (spec) => spec.target_prefix,
    stopTokens: doc !== undefined ? [doc] : [],
  };
}

/** One example's result as stored in the results file (options/labels scored by log-likelihood). */
export interface ChoiceRecord {
  task: string;
  key: string;
  id: string;
  gold: number;
  /** Σ log p per option. */
  logprobs: number[];
  /** Characters of each scored continuation (prefix included), the acc_norm denominator. */
  chars: number[];
  pred: number;
  pred_norm: number;
  group?: string;
}

/** One generation example's result as stored in the results file. */
export interface GenerateRecord {
  task: string;
  key: string;
  id: string;
  answers: string[];
  prediction: string;
  raw: string;
  finish: string;
  group?: string;
}

/** One preference record's result: the reward of each answer (null: longer than the block) and the pairs scored. */
export interface PreferenceResultRecord {
  task: string;
  key: string;
  id: string;
  rewards: (number | null)[];
  /** [better, worse] answer indices of the pairs whose answers both fit the block. */
  pairs: Array<[number, number]>;
  group?: string;
}

export type ExampleRecord = ChoiceRecord | GenerateRecord | PreferenceResultRecord;

/** Options of {@link evaluateTask}. */
export interface EvalOptions {
  /** Few-shot examples per prompt (default: the spec's `shots`). */
  shots?: number;
  /** Evaluate the first N examples only. */
  limit?: number;
  /** Rows per forward pass when scoring, prompts decoded together when generating, records per pass for a reward model (default 8). */
  batchSize?: number;
  /** Seeds the few-shot draws (default 1234). */
  seed?: number;
  /** Per-example results (JSONL): appended as they are made, and a rerun skips the examples already there. */
  out?: string;
  /** Render prompts as a chat user turn (SFT models). */
  chat?: { template: string; eosToken?: string };
  /** Identifies the model in the results file's fingerprint (e.g. its folder), so a resume never mixes models. */
  modelId?: string;
  /** Called after each chunk of examples. */
  onProgress?: (task: string, done: number, total: number) => void;
}

/** Metrics and counts of one task. */
export interface TaskResult {
  task: string;
  kind: TaskSpec["kind"] | "preference";
  source: string;
  shots: number;
  examples: number;
  /** Examples read back from the results file instead of computed. */
  resumed: number;
  metrics: Record<string, number>;
  seconds: number;
  /** Options (or labels) scored per second, for log-likelihood tasks. */
  optionsPerSecond?: number;
  /** Examples per second over the examples computed in this run. */
  examplesPerSecond: number;
  /** The metrics per group (e.g. per SFT task, per preference `meta.task`), when the examples name one. */
  groups?: Record<string, { examples: number; metrics: Record<string, number> }>;
  /** Preference tasks: pairs scored, and pairs left out because an answer is longer than the model's block. */
  pairs?: number;
  pairsTooLong?: number;
}

const RESULTS_FORMAT = "llmforge-eval-results";

/** Reads a results file's records; a torn last line (a run killed mid-write) is cut from the file so appends start clean. */
export function readResults(file: string): ExampleRecord[] {
  return readResultsFile<{ format?: string }, ExampleRecord>(file, RESULTS_FORMAT, "an llmforge eval results file", (m) => new EvalRunError(m)).records;
}

/** The records of task `name` already in the results file `out` (created with its header when new or empty). */
function openResults(out: string | undefined, name: string, key: string): Map<string, ExampleRecord> {
  const done = new Map<string, ExampleRecord>();
  if (!out) return done;
  for (const r of readResults(out)) {
    if (r.task !== name) continue;
    if (r.key !== key) throw new EvalRunError(`${out} holds results of task ${name} made with other settings (model, spec, shots, seed or chat mode differ); give --out a new file or delete it`);
    done.set(r.id, r);
  }
  if (!existsSync(out) || readFileSync(out, "utf8").trim() === "") writeFileSync(out, `${JSON.stringify({ format: RESULTS_FORMAT, version: 1, writtenBy: `llmforge ${VERSION}` })}\n`);
  return done;
}

/** The metrics of each group of records (records without a group are in none); undefined when no record has one. */
function groupMetrics(records: readonly ExampleRecord[], metrics: (rs: ExampleRecord[]) => Record<string, number>): TaskResult["groups"] {
  const by = new Map<string, ExampleRecord[]>();
  for (const r of records) if (r.group !== undefined) by.set(r.group, [...(by.get(r.group) ?? []), r]);
  if (by.size === 0) return undefined;
  return Object.fromEntries([...by].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([g, rs]) => [g, { examples: rs.length, metrics: metrics(rs) }]));
}

/** What makes results comparable: the task (spec, examples and few-shot pool), shots, seed, chat mode, model. */
function fingerprint(task: LoadedTask, shots: number, seed: number, opts: EvalOptions): string {
  const h = createHash("sha256").update(JSON.stringify({ spec: task.spec, shots, seed, chat: opts.chat ?? null, model: opts.modelId ?? null }));
  for (const e of task.examples) h.update(JSON.stringify(e));
  h.update("\u0000fewshot");
  for (const e of task.fewshotPool) h.update(JSON.stringify(e));
  return h.digest("hex").slice(0, 16);
}

function meanOf(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard error of a mean (lm-eval's `*_stderr`). */
function stderrOf(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1) / xs.length);
}

/** The spec's metrics over per-example records (the same numbers whether the records were computed now or resumed). */
export function aggregateMetrics(spec: TaskSpec, records: readonly ExampleRecord[]): Record<string, number> {
  const m: Record<string, number> = {};
  if (records.length === 0) return m;
  if (spec.kind === "generate") {
    const rs = records as GenerateRecord[];
    for (const name of spec.metrics) {
      if (name === "exact_match") {
        const xs = rs.map((r) => (exactMatch(r.prediction, r.answers) ? 1 : 0));
        m.exact_match = meanOf(xs);
        m.exact_match_stderr = stderrOf(xs);
      } else if (name === "squad_em") m.squad_em = meanOf(rs.map((r) => squadExactMatch(r.prediction, r.answers)));
      else if (name === "squad_f1") m.squad_f1 = meanOf(rs.map((r) => squadF1(r.prediction, r.answers)));
      else if (name === "rouge_l") m.rouge_l = meanOf(rs.map((r) => Math.max(...r.answers.map((a) => rougeL(rougeTokenize(a), rougeTokenize(r.prediction)).fmeasure))));
      else if (name === "bleu") {
        // Corpus BLEU-4 with NLTK's method1 smoothing (short answers have no 4-gram matches), word/punctuation tokens.
        const hyps = rs.map((r) => tokenizeForBleu(r.prediction));
        m.bleu = hyps.every((h) => h.length === 0) ? 0 : corpusBleu(rs.map((r) => r.answers.map((a) => tokenizeForBleu(a))), hyps, { smoothing: "method1" });
      }
    }
    return m;
  }
  const rs = records as ChoiceRecord[];
  const correct = rs.map((r) => r.pred === r.gold);
  for (const name of spec.metrics) {
    if (name === "acc") {
      const xs = correct.map((c) => (c ? 1 : 0));
      m.acc = meanOf(xs);
      m.acc_stderr = stderrOf(xs);
    } else if (name === "acc_norm") {
      const xs = rs.map((r) => (r.pred_norm === r.gold ? 1 : 0));
      m.acc_norm = meanOf(xs);
      m.acc_norm_stderr = stderrOf(xs);
    } else if (name === "ece") {
      // Confidence: the softmax over the options' summed log-likelihoods, at the predicted option.
      m.ece = expectedCalibrationError(rs.map((r) => Math.max(...softmax(r.logprobs))), correct).ece;
    } else if (name === "macro_f1") {
      const labels = spec.labels ?? [];
      m.macro_f1 = precisionRecallF1(rs.map((r) => labels[r.gold]), rs.map((r) => labels[r.pred]), { average: "macro", labels, zeroDivision: 0 }).f1;
    }
  }
  return m;
}

/**
 * Runs one task: scores (or generates for) each example not already in `opts.out`, appends the new records
 * there chunk by chunk, and returns the metrics over all of the first `limit` examples.
 */
export function evaluateTask(model: GPT, tok: Tokenizer, task: LoadedTask, opts: EvalOptions = {}): TaskResult {
  const spec = task.spec;
  const shots = opts.shots ?? spec.shots;
  const seed = opts.seed ?? 1234;
  const batchSize = opts.batchSize ?? 8;
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) throw new EvalRunError(`limit must be a positive integer, got ${opts.limit}`);
  const examples = task.examples.slice(0, opts.limit ?? task.examples.length);
  const key = fingerprint(task, shots, seed, opts);
  const done = openResults(opts.out, spec.name, key);
  const enc = promptEncoder(tok, opts.chat);
  const todo = examples.filter((e) => !done.has(e.id));
  const records = new Map<string, ExampleRecord>(done);
  const t0 = performance.now();
  let scoredOptions = 0;
  const chunk = Math.max(32, batchSize * 4);
  for (let s = 0; s < todo.length; s += chunk) {
    const part = todo.slice(s, s + chunk);
    const made: ExampleRecord[] = spec.kind === "generate" ? generateAnswers(model, tok, task, part, enc, shots, seed, key, batchSize) : scoreChoices(model, task, part, enc, shots, seed, key, batchSize);
    if (spec.kind !== "generate") scoredOptions += part.reduce((n, ex) => n + ex.choices.length, 0);
    if (opts.out && made.length > 0) appendFileSync(opts.out, `${made.map((r) => JSON.stringify(r)).join("\n")}\n`);
    for (const r of made) records.set(r.id, r);
    opts.onProgress?.(spec.name, done.size + s + part.length, examples.length);
  }
  const seconds = (performance.now() - t0) / 1000;
  const ordered = examples.map((e) => records.get(e.id)).filter((r): r is ExampleRecord => r !== undefined);
  const result: TaskResult = {
    task: spec.name, kind: spec.kind, source: task.source, shots, examples: ordered.length, resumed: examples.length - todo.length,
    metrics: aggregateMetrics(spec, ordered), seconds, examplesPerSecond: seconds > 0 ? todo.length / seconds : 0,
  };
  const groups = groupMetrics(ordered, (rs) => aggregateMetrics(spec, rs));
  if (groups) result.groups = groups;
  if (spec.kind !== "generate") result.optionsPerSecond = seconds > 0 ? scoredOptions / seconds : 0;
  return result;
}

/** Scores each option (or label) of each example by its log-likelihood after the prompt, in batches across examples. */
function scoreChoices(model: GPT, task: LoadedTask, part: readonly EvalExample[], enc: PromptEncoder, shots: number, seed: number, key: string, batchSize: number): ChoiceRecord[] {
  const prefix = enc.prefix(task.spec);
  const requests: LoglikelihoodRequest[] = [];
  for (const ex of part) {
    const context = enc.context(buildPrompt(task, ex, shots, seed));
    for (const c of ex.choices) requests.push({ context, continuation: enc.continuation(prefix + c) });
  }
  const scores = scoreLoglikelihood(model, requests, batchSize);
  let k = 0;
  return part.map((ex) => {
    const logprobs = ex.choices.map(() => scores[k++].logprob);
    const chars = ex.choices.map((c) => (prefix + c).length);
    const rec: ChoiceRecord = { task: task.spec.name, key, id: ex.id, gold: ex.gold, logprobs, chars, pred: argmax(logprobs), pred_norm: argmax(logprobs.map((l, i) => l / chars[i])) };
    if (ex.group !== undefined) rec.group = ex.group;
    return rec;
  });
}

/**
 * Greedy answers of generation examples, cut by the spec's stop strings and extraction: prompts of the same token
 * length are decoded together, `batchSize` at a time ({@link generateGreedyBatch}); a prompt alone goes through
 * {@link generate}. Prompts longer than the block less `max_tokens` keep their end.
 */
function generateAnswers(model: GPT, tok: Tokenizer, task: LoadedTask, part: readonly EvalExample[], enc: PromptEncoder, shots: number, seed: number, key: string, batchSize: number): GenerateRecord[] {
  const spec = task.spec;
  const room = Math.max(1, model.config.blockSize - spec.max_tokens);
  const prompts = part.map((ex) => {
    const p = enc.context(buildPrompt(task, ex, shots, seed));
    return p.length > room ? p.slice(p.length - room) : p;
  });
  const outs = generateGreedyBatch(model, prompts, {
    maxTokens: spec.max_tokens, stop: spec.stop, stopTokens: enc.stopTokens, decode: (t) => tok.decode(t), vocabLimit: Math.min(tok.vocabSize, model.config.vocabSize), batchSize,
  });
  return part.map((ex, i) => {
    const rec: GenerateRecord = { task: spec.name, key, id: ex.id, answers: ex.answers, prediction: extractAnswer(outs[i].text, spec.extract), raw: outs[i].text, finish: outs[i].finishReason };
    if (ex.group !== undefined) rec.group = ex.group;
    return rec;
  });
}

/** Fewest prompts decoded together; smaller groups of equal-length prompts go one by one through {@link generate}. */
const MIN_DECODE_BATCH = 4;

/** Options of {@link generateGreedyBatch}. */
export interface GreedyBatchOptions {
  maxTokens: number;
  stop?: readonly string[];
  stopTokens?: readonly number[];
  decode: (ids: number[]) => string;
  /** Only ids below this are chosen (default: the model's vocabulary). */
  vocabLimit?: number;
  /** Most prompts decoded together (default 8); 1 decodes each alone. */
  batchSize?: number;
}

/**
 * Greedy decoding of several prompts, the same text and finish reason as {@link generate} at temperature 0 for
 * each: prompts of equal length share one (B, T) KV cache (so no padding, and no mask is needed), each step feeds
 * (B, 1) and takes each row's argmax; a row that has stopped keeps being fed (its output is ignored) until every
 * row of the batch has. Groups of fewer than 4 prompts go one by one (the decode session is faster there). Each prompt plus `maxTokens` must fit the block (the caller trims the prompt).
 */
export function generateGreedyBatch(model: GPT, prompts: readonly (readonly number[])[], o: GreedyBatchOptions): Array<{ text: string; tokens: number[]; finishReason: FinishReason }> {
  const V = model.config.vocabSize;
  const limit = o.vocabLimit ?? V;
  const batchSize = o.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new EvalRunError(`batchSize must be a positive integer, got ${batchSize}`);
  const stops = (o.stop ?? []).filter((x) => x.length > 0);
  const stopTokens = new Set(o.stopTokens ?? []);
  const out = new Array<{ text: string; tokens: number[]; finishReason: FinishReason }>(prompts.length);
  const byLen = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    byLen.set(p.length, [...(byLen.get(p.length) ?? []), i]);
  });
  const groups: number[][] = [];
  for (const idx of byLen.values()) for (let s = 0; s < idx.length; s += batchSize) groups.push(idx.slice(s, s + batchSize));
  const wasTraining = model.training;
  model.eval();
  try {
    for (const g of groups) {
      // The one-token decode session beats the tensor path until a few rows share each step (bench/eval.bench.ts).
      if (g.length < MIN_DECODE_BATCH || !model.cacheable) {
        for (const i of g) {
          const r = generate(model, prompts[i], { maxTokens: o.maxTokens, temperature: 0, stop: stops, stopTokens: [...stopTokens], decode: o.decode, vocabLimit: limit });
          out[i] = { text: r.text, tokens: r.tokens, finishReason: r.finishReason };
        }
        continue;
      }
      const B = g.length;
      const L = prompts[g[0]].length;
      if (L + o.maxTokens > model.config.blockSize) throw new EvalRunError(`a prompt of ${L} tokens plus ${o.maxTokens} new ones does not fit the block size ${model.config.blockSize}`);
      const rows = g.map(() => ({ tokens: [] as number[], text: "", finish: null as FinishReason | null }));
      const cache = model.createCache(B, L + o.maxTokens);
      try {
        const feed = new Int32Array(B * L);
        g.forEach((i, b) => {
          feed.set(prompts[i], b * L);
        });
        let T = L;
        let last = new Int32Array(B);
        for (let step = 0; step < o.maxTokens && rows.some((r) => r.finish === null); step++) {
          const logits = tidy(() => noGrad(() => model.forward(ids(step === 0 ? feed : last, [B, T]), { cache, lastOnly: true }).toTypedArray())); // (B, 1, V)
          const next = new Int32Array(B);
          rows.forEach((r, b) => {
            const t = argmaxRow(logits.subarray(b * V, b * V + limit));
            next[b] = t;
            if (r.finish !== null) return;
            if (stopTokens.has(t)) {
              r.finish = "stop_token";
              return;
            }
            r.tokens.push(t);
            const full = o.decode(r.tokens);
            const cut = stops.reduce((m, x) => {
              const k = full.indexOf(x);
              return k >= 0 && (m < 0 || k < m) ? k : m;
            }, -1);
            r.text = cut >= 0 ? full.slice(0, cut) : full;
            if (cut >= 0) r.finish = "stop";
            else if (r.tokens.length >= o.maxTokens) r.finish = "length";
          });
          last = next;
          T = 1;
        }
      } finally {
        cache.dispose();
      }
      g.forEach((i, b) => {
        out[i] = { text: rows[b].text, tokens: rows[b].tokens, finishReason: rows[b].finish ?? "length" };
      });
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

/** Runs several tasks in order (see {@link evaluateTask}). */
export function evaluateTasks(model: GPT, tok: Tokenizer, tasks: readonly LoadedTask[], opts: EvalOptions = {}): TaskResult[] {
  const names = new Set<string>();
  for (const t of tasks) {
    if (names.has(t.spec.name)) throw new EvalRunError(`task "${t.spec.name}" is given twice; task names must be unique in one run`);
    names.add(t.spec.name);
  }
  return tasks.map((t) => evaluateTask(model, tok, t, opts));
}

/** A reward model ready to score: the model, its tokenizer and the chat template answers are rendered with (as in training). */
export interface RewardScorer {
  model: RewardModel;
  tokenizer: Tokenizer;
  template: string;
}

/** Pair accuracy (a tie counts half, as in reward training), its standard error, and the mean margin r_better - r_worse over the pairs of `records`. */
export function preferenceMetrics(records: readonly PreferenceResultRecord[]): Record<string, number> {
  const correct: number[] = [];
  const margins: number[] = [];
  for (const r of records) {
    for (const [b, w] of r.pairs) {
      const d = (r.rewards[b] as number) - (r.rewards[w] as number);
      correct.push(d > 0 ? 1 : d === 0 ? 0.5 : 0);
      margins.push(d);
    }
  }
  if (margins.length === 0) return {};
  return { pair_acc: meanOf(correct), pair_acc_stderr: stderrOf(correct), margin: meanOf(margins) };
}

/**
 * Measures a reward model on preference records: each answer rendered after its prompt exactly as in reward
 * training ({@link answerSequence}), one reward per answer (`batchSize` records per packed forward pass), then
 * pair accuracy and mean margin overall and per `meta.task`. An answer longer than the block is left out with its
 * pairs (counted in `pairsTooLong`). Resumes from `opts.out` as {@link evaluateTask} does.
 */
export function evaluatePreferenceTask(rm: RewardScorer, task: PreferenceTask, opts: Pick<EvalOptions, "limit" | "batchSize" | "out" | "modelId" | "onProgress"> = {}): TaskResult {
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) throw new EvalRunError(`limit must be a positive integer, got ${opts.limit}`);
  const batchSize = opts.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new EvalRunError(`batchSize must be a positive integer, got ${batchSize}`);
  const records = task.records.slice(0, opts.limit ?? task.records.length);
  const h = createHash("sha256").update(JSON.stringify({ task: task.name, template: rm.template, model: opts.modelId ?? null }));
  for (const r of task.records) h.update(JSON.stringify(r));
  const key = h.digest("hex").slice(0, 16);
  const done = openResults(opts.out, task.name, key);
  const todo = records.filter((r) => !done.has(r.id));
  const results = new Map<string, ExampleRecord>(done);
  const T = rm.model.config.blockSize;
  const padId = rewardPadId(rm.tokenizer) ?? rm.tokenizer.specialId("<|im_end|>");
  const wasTraining = rm.model.training;
  rm.model.eval();
  const t0 = performance.now();
  try {
    for (let s = 0; s < todo.length; s += batchSize) {
      const part = todo.slice(s, s + batchSize);
      const examples: RewardExample[] = part.map(({ record }) => {
        const seqs: Int32Array[] = [];
        const kept: number[] = [];
        record.responses.forEach((a, k) => {
          const seq = answerSequence(rm.tokenizer, record.prompt, a, { template: rm.template });
          if (seq.length <= T) {
            seqs.push(seq);
            kept.push(k);
          }
        });
        return { seqs, pairs: [], targets: null, responses: kept };
      });
      const b = makeRewardBatch(examples, padId, T);
      const r = b.N > 0 ? tidy(() => noGrad(() => batchRewards(rm.model, b).toTypedArray().slice())) : new Float64Array(0);
      const made = part.map(({ id, record }, i): PreferenceResultRecord => {
        const rewards: (number | null)[] = record.responses.map(() => null);
        examples[i].responses.forEach((k, j) => {
          rewards[k] = r[b.groups[i].start + j];
        });
        const pairs = record.pairs.filter((p) => rewards[p.better] !== null && rewards[p.worse] !== null).map((p): [number, number] => [p.better, p.worse]);
        const rec: PreferenceResultRecord = { task: task.name, key, id, rewards, pairs };
        if (typeof record.meta?.task === "string") rec.group = record.meta.task;
        return rec;
      });
      if (opts.out) appendFileSync(opts.out, `${made.map((x) => JSON.stringify(x)).join("\n")}\n`);
      for (const x of made) results.set(x.id, x);
      opts.onProgress?.(task.name, done.size + s + part.length, records.length);
    }
  } finally {
    rm.model.train(wasTraining);
  }
  const seconds = (performance.now() - t0) / 1000;
  const ordered = records.map((r) => results.get(r.id)).filter((x): x is PreferenceResultRecord => x !== undefined);
  const pairs = ordered.reduce((n, x) => n + x.pairs.length, 0);
  const allPairs = records.reduce((n, x) => n + x.record.pairs.length, 0);
  const result: TaskResult = {
    task: task.name, kind: "preference", source: task.source, shots: 0, examples: ordered.length, resumed: records.length - todo.length,
    metrics: preferenceMetrics(ordered), seconds, examplesPerSecond: seconds > 0 ? todo.length / seconds : 0, pairs, pairsTooLong: allPairs - pairs,
  };
  const groups = groupMetrics(ordered, (rs) => preferenceMetrics(rs as PreferenceResultRecord[]));
  if (groups) result.groups = groups;
  return result;
}
