// Preference records -> reward-model examples and batches: each answer rendered with the chat template
// after its prompt (ending at the answer's <|im_end|>, where the reward is read), pairs and normalised
// score targets kept together per prompt, what cannot be trained on counted by reason, and a seeded,
// resumable source of batches of whole prompts (a prompt's pairs are never shuffled apart).
import type { Message } from "../data/formats/conversation.js";
import type { PreferenceRecord } from "../data/formats/preference.js";
import { Rng } from "../tensor/rng.js";
import { CHATML_TEMPLATE, renderChat } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { GroupPair, PromptGroup, RewardLossKind } from "./losses.js";

/** Bad input or options for reward-model data; the message says what was expected. */
export class RewardDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RewardDataError";
  }
}

/**
 * Answers longer than the block: "skip" leaves them out (counted); "left" cuts the oldest tokens of the
 * prompt's messages, and leaves the answer out when the cut would reach its assistant header or text.
 */
export type RewardTruncation = "skip" | "left";

export interface RewardDataOptions {
  /** Which loss the examples feed: records without what it needs (pairs, scores) are skipped. */
  loss?: RewardLossKind;
  template?: string;
  /** Longest sequence in tokens (the model's block size). */
  maxLen: number;
  truncation?: RewardTruncation;
  /** The source scale of scores, [min, max] (default [1, 5]); mapped linearly to [-1, 1]. */
  scoreRange?: readonly [number, number];
  /** Weight of each score dimension in the regression target (default 1 each). */
  scoreWeights?: Readonly<Record<string, number>>;
  /** The token that ends an answer and where the reward is read (default "<|im_end|>"). */
  eosToken?: string;
}

/** One prompt: its kept answers as token ids, the pairs between them, and score targets in [-1, 1]. */
export interface RewardExample {
  seqs: Int32Array[];
  pairs: GroupPair[];
  /** One per kept answer (null = no score); null when the record has no scores. */
  targets: (number | null)[] | null;
  /** Index in the record's `responses` of each kept answer. */
  responses: number[];
  /** Where the record came from (file:line), for messages. */
  source?: string;
  /** `meta.task` of the record, when it names one: evaluation reports accuracy per task. */
  task?: string;
}

export type RewardSkipReason = "too-long" | "no-pairs" | "no-scores" | "invalid";

/** What {@link tokenizePreferences} kept and left out. */
export interface RewardDataReport {
  records: number;
  kept: number;
  /** Records left out, by reason. */
  skipped: Partial<Record<RewardSkipReason, number>>;
  responses: number;
  pairs: number;
  scored: number;
  /** Answers longer than maxLen (left out, or cut with truncation "left"). */
  tooLong: number;
  truncated: number;
  /** Pairs dropped because an answer of theirs was left out. */
  pairsDropped: number;
  /** Scores outside scoreRange (not used as targets). */
  scoresOutOfRange: number;
  /** The first few left-out records. */
  samples: { source?: string; reason: RewardSkipReason; message: string }[];
}

const sourceOf = (r: PreferenceRecord): string | undefined =>
  typeof r.meta?.file === "string" ? `${r.meta.file}${r.meta.line !== undefined ? `:${String(r.meta.line)}` : ""}` : undefined;

/**
 * The token ids of one answer after its prompt: the template's rendering of prompt + assistant answer,
 * ending right after the answer's closing eos token (the position the reward is read at).
 */
export function answerSequence(tok: Tokenizer, prompt: readonly Message[], answer: string, o: { template?: string; eosToken?: string } = {}): Int32Array {
  const template = o.template ?? CHATML_TEMPLATE;
  const eos = o.eosToken ?? "<|im_end|>";
  const text = renderChat(template, [...prompt, { role: "assistant", content: answer }], { eosToken: eos });
  const end = text.lastIndexOf(eos);
  if (end < 0) throw new RewardDataError(`the chat template does not close an answer with ${eos}; give a template that does (e.g. ChatML)`);
  return Int32Array.from(tok.encode(text.slice(0, end + eos.length), { allowedSpecial: "all" }));
}

/**
 * Records whose only judgement is a desirable/undesirable label (KTO data, one answer each) merged per
 * prompt: every desirable answer is preferred to every undesirable one of the same prompt.
 */
export function pairLabelledRecords(records: readonly PreferenceRecord[]): PreferenceRecord[] {
  const out: PreferenceRecord[] = [];
  const byPrompt = new Map<string, PreferenceRecord>();
  for (const r of records) {
    if (r.pairs.length > 0 || r.scores || !r.labels) {
      out.push(r);
      continue;
    }
    const key = JSON.stringify(r.prompt);
    let m = byPrompt.get(key);
    if (!m) {
      m = { prompt: r.prompt, responses: [], pairs: [], labels: [], meta: r.meta };
      byPrompt.set(key, m);
      out.push(m);
    }
    for (let i = 0; i < r.responses.length; i++) {
      m.responses.push(r.responses[i]);
      m.labels?.push(r.labels[i] === true);
    }
  }
  for (const m of byPrompt.values()) {
    const labels = m.labels ?? [];
    for (let b = 0; b < labels.length; b++) for (let w = 0; w < labels.length; w++) if (labels[b] && !labels[w]) m.pairs.push({ better: b, worse: w });
  }
  return out;
}

/** The regression target of each answer: weighted mean over dimensions of the score mapped from scoreRange to [-1, 1]. */
function targetsOf(r: PreferenceRecord, o: RewardDataOptions, report: RewardDataReport): (number | null)[] | null {
  if (!r.scores || Object.keys(r.scores).length === 0) return null;
  const [lo, hi] = o.scoreRange ?? [1, 5];
  return r.responses.map((_, i) => {
    let num = 0;
    let den = 0;
    for (const [dim, vals] of Object.entries(r.scores ?? {})) {
      const v = vals[i];
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      if (v < lo || v > hi) {
        report.scoresOutOfRange++;
        continue;
      }
      const w = o.scoreWeights?.[dim] ?? 1;
      num += w * ((2 * (v - lo)) / (hi - lo) - 1);
      den += w;
    }
    return den > 0 ? num / den : null;
  });
}

/**
 * Tokenises preference records into {@link RewardExample}s: answers longer than maxLen are left out
 * or cut (truncation), with their pairs; a record left without what the loss needs is skipped. Every
 * left-out answer, pair and record is counted in the report.
 */
export function tokenizePreferences(tok: Tokenizer, records: readonly PreferenceRecord[], o: RewardDataOptions): { examples: RewardExample[]; report: RewardDataReport } {
  const [lo, hi] = o.scoreRange ?? [1, 5];
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) throw new RewardDataError(`scoreRange must be [min, max] with min < max, got ${JSON.stringify(o.scoreRange)}`);
  if (!Number.isInteger(o.maxLen) || o.maxLen < 2) throw new RewardDataError(`maxLen must be a whole number >= 2, got ${o.maxLen}`);
  const loss = o.loss ?? "bt";
  const report: RewardDataReport = {
    records: 0, kept: 0, skipped: {}, responses: 0, pairs: 0, scored: 0, tooLong: 0, truncated: 0, pairsDropped: 0, scoresOutOfRange: 0, samples: [],
  };
  const examples: RewardExample[] = [];
  const skip = (r: PreferenceRecord, reason: RewardSkipReason, message: string): void => {
    report.skipped[reason] = (report.skipped[reason] ?? 0) + 1;
    if (report.samples.length < 10) report.samples.push({ source: sourceOf(r), reason, message });
  };
  for (const r of pairLabelledRecords(records)) {
    report.records++;
    const K = r.responses.length;
    const okPair = (p: { better: number; worse: number }) => Number.isInteger(p.better) && Number.isInteger(p.worse) && p.better >= 0 && p.worse >= 0 && p.better < K && p.worse < K && p.better !== p.worse;
    if (K === 0 || !r.pairs.every(okPair)) {
      skip(r, "invalid", K === 0 ? "no answers" : "a pair names a missing answer or an answer with itself");
      continue;
    }
    // Tokens of the prompt's messages (without the assistant header): all that truncation "left" may cut.
    const promptLen = o.truncation === "left" ? tok.encode(renderChat(o.template ?? CHATML_TEMPLATE, r.prompt), { allowedSpecial: "all" }).length : 0;
    const local = new Int32Array(K).fill(-1);
    const seqs: Int32Array[] = [];
    const kept: number[] = [];
    for (let i = 0; i < K; i++) {
      let ids = answerSequence(tok, r.prompt, r.responses[i], o);
      if (ids.length > o.maxLen) {
        report.tooLong++;
        const cut = ids.length - o.maxLen;
        if (o.truncation !== "left" || cut > promptLen) continue;
        ids = ids.slice(cut);
        report.truncated++;
      }
      local[i] = seqs.length;
      seqs.push(ids);
      kept.push(i);
    }
    const pairs: GroupPair[] = [];
    for (const p of r.pairs) {
      if (local[p.better] < 0 || local[p.worse] < 0) report.pairsDropped++;
      else pairs.push({ better: local[p.better], worse: local[p.worse], margin: p.margin ?? 0 });
    }
    const all = targetsOf(r, o, report);
    const targets = all ? kept.map((i) => all[i]) : null;
    const scored = targets ? targets.filter((t) => t !== null).length : 0;
    const tooLong = seqs.length < K;
    if (loss === "bt" && pairs.length === 0) {
      skip(r, tooLong ? "too-long" : "no-pairs", tooLong ? `answers longer than ${o.maxLen} tokens left no pair` : "no pair to learn from");
      continue;
    }
    if (loss === "mse" && scored === 0) {
      skip(r, tooLong ? "too-long" : "no-scores", tooLong ? `answers longer than ${o.maxLen} tokens left no score` : "no score to learn from");
      continue;
    }
    if (loss === "bt+mse" && pairs.length === 0 && scored === 0) {
      skip(r, tooLong ? "too-long" : "no-pairs", "no pair and no score to learn from");
      continue;
    }
    report.kept++;
    report.responses += seqs.length;
    report.pairs += pairs.length;
    report.scored += scored;
    examples.push({ seqs, pairs, targets, responses: kept, source: sourceOf(r), ...(typeof r.meta?.task === "string" ? { task: r.meta.task } : {}) });
  }
  return { examples, report };
}

/**
 * A batch of whole prompts: the token ids of all their answers in `rows` rows of T positions, and where
 * each answer's reward is read (`ends`: flat index row·T + t of its last token).
 */
export interface RewardBatch {
  ids: Int32Array;
  rows: number;
  T: number;
  /** Packed rows: per position, where its sequence starts in the row (padding is a sequence of its own); null: one right-padded sequence per row. */
  docStart: Int32Array | null;
  ends: Int32Array;
  /** Answers (sequences) in the batch. */
  N: number;
  groups: PromptGroup[];
  /** Prompts in the batch (the unit the loss is a mean over). */
  prompts: number;
  /** Real (not padding) tokens. */
  tokens: number;
}

/**
 * Lays out examples as one batch. With `rowLen`, answers are packed first-fit decreasing into rows of
 * rowLen positions (no attention across answers; little padding); without, each answer is one row,
 * right-padded to the longest. Rewards are the same either way.
 */
export function makeRewardBatch(examples: readonly RewardExample[], padId: number, rowLen?: number): RewardBatch {
  const seqs = examples.flatMap((e) => e.seqs);
  const N = seqs.length;
  const longest = Math.max(1, ...seqs.map((s) => s.length));
  const T = rowLen ?? longest;
  if (T < longest) throw new RewardDataError(`an answer of ${longest} tokens does not fit rows of ${T}`);
  const rowOf = new Int32Array(N);
  const offset = new Int32Array(N);
  const used: number[] = [];
  const order = seqs.map((_, i) => i);
  if (rowLen !== undefined) order.sort((a, b) => seqs[b].length - seqs[a].length || a - b);
  for (const n of order) {
    let r = rowLen === undefined ? -1 : used.findIndex((u) => u + seqs[n].length <= T);
    if (r < 0) r = used.push(0) - 1;
    rowOf[n] = r;
    offset[n] = used[r];
    used[r] += seqs[n].length;
  }
  const rows = Math.max(1, used.length);
  const ids = new Int32Array(rows * T).fill(padId);
  const docStart = rowLen === undefined ? null : new Int32Array(rows * T);
  const ends = new Int32Array(N);
  let tokens = 0;
  seqs.forEach((s, n) => {
    const at = rowOf[n] * T + offset[n];
    ids.set(s, at);
    docStart?.fill(offset[n], at, at + s.length);
    ends[n] = at + s.length - 1;
    tokens += s.length;
  });
  if (docStart) for (const [r, u] of used.entries()) docStart.fill(u, r * T + u, (r + 1) * T); // the row's padding, a sequence of its own
  const groups: PromptGroup[] = [];
  let start = 0;
  for (const e of examples) {
    groups.push({ start, count: e.seqs.length, pairs: e.pairs, targets: e.targets ?? undefined });
    start += e.seqs.length;
  }
  return { ids, rows, T, docStart, ends, N, groups, prompts: examples.length, tokens };
}

/** Where a {@link RewardBatches} stream stands (saved in checkpoints). */
export interface RewardCursor {
  format: "llmforge.reward-batches";
  version: 1;
  epoch: number;
  pos: number;
  fingerprint: string;
}

/**
 * Batches of `batchSize` prompts in a seeded order that changes every epoch; batches run on across
 * epoch ends so every batch is full. getCursor/setCursor make a resumed run see the same batches.
 */
export class RewardBatches {
  private epoch = 0;
  private pos = 0;
  private order: Int32Array | null = null;
  private readonly fingerprint: string;

  constructor(
    private readonly examples: readonly RewardExample[],
    private readonly o: { batchSize: number; padId: number; seed?: number; rowLen?: number },
  ) {
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RewardDataError(`batchSize must be a positive whole number, got ${o.batchSize}`);
    if (examples.length === 0) throw new RewardDataError("no training prompts: every record was left out or the input is empty (see the report)");
    let h = 0x811c9dc5;
    const mix = (v: number): void => {
      h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    };
    [examples.length, o.batchSize, o.padId, o.seed ?? 0, o.rowLen ?? 0].forEach(mix);
    for (const e of examples) for (const s of e.seqs) s.subarray(0, 8).forEach(mix);
    this.fingerprint = `${examples.length}:${h.toString(16)}`;
  }

  private epochOrder(): Int32Array {
    if (this.order === null) {
      const order = Int32Array.from({ length: this.examples.length }, (_, i) => i);
      const rng = new Rng(((this.o.seed ?? 0) * 1_000_003 + this.epoch) >>> 0);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      this.order = order;
    }
    return this.order;
  }

  next(): RewardBatch {
    const picked: RewardExample[] = [];
    for (let b = 0; b < this.o.batchSize; b++) {
      picked.push(this.examples[this.epochOrder()[this.pos]]);
      if (++this.pos === this.examples.length) {
        this.epoch++;
        this.pos = 0;
        this.order = null;
      }
    }
    return makeRewardBatch(picked, this.o.padId, this.o.rowLen);
  }

  getCursor(): RewardCursor {
    return { format: "llmforge.reward-batches", version: 1, epoch: this.epoch, pos: this.pos, fingerprint: this.fingerprint };
  }

  setCursor(cursor: unknown): void {
    const c = cursor as Partial<RewardCursor> | null;
    if (c?.format !== "llmforge.reward-batches" || c.version !== 1) throw new RewardDataError(`not a reward batch cursor: ${JSON.stringify(cursor)?.slice(0, 120)}`);
    if (c.fingerprint !== this.fingerprint) {
      throw new RewardDataError(`the checkpoint was saved for other data or settings (fingerprint ${c.fingerprint}, now ${this.fingerprint}); resume with the same data, --batch and --seed`);
    }
    if (!Number.isInteger(c.epoch) || !Number.isInteger(c.pos) || (c.pos as number) < 0 || (c.pos as number) >= this.examples.length) {
      throw new RewardDataError(`cursor out of range: epoch ${c.epoch}, pos ${c.pos}`);
    }
    this.epoch = c.epoch as number;
    this.pos = c.pos as number;
    this.order = null;
  }
}
