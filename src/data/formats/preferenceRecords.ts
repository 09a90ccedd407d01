// One preference record in the forms users bring (TRL chosen/rejected as text or messages, implicit prompts,
// LLaMA-Factory ShareGPT, DS-Chat "Human:/Assistant:" text, KTO labels, rankings, 1-5 scores) to the one
// PreferenceRecord type: detection by keys, rankings and scores expanded to pairs, bad judgements refused.
import type { Message } from "./conversation.js";
import type { PreferencePair, PreferenceRecord } from "./preference.js";
import { alpacaLists, fail, isObj, kind, openaiMessages, optStr, type Rec, SHAREGPT_TAGS, sharegptMessages, withSystem } from "./records.js";

/** The preference record formats `--format` accepts with `--to preferences`. */
export const PREFERENCE_FORMAT_NAMES = ["preference", "pairwise", "sharegpt", "dschat", "kto", "ranking", "scores"] as const;
export type PreferenceFormatName = (typeof PREFERENCE_FORMAT_NAMES)[number];

/** Options of {@link convertPreferenceRecord}. */
export interface PreferenceRecordOptions {
  /** Record format, or `auto` (default) to detect it per record with {@link detectPreferenceFormat}. */
  format?: PreferenceFormatName | "auto";
  /** Allowed range [min, max] of answer scores (default [1, 5]); a score outside it rejects the record. */
  scoreRange?: readonly [number, number];
  /** Weights of score dimensions in the total that orders scored answers (default 1 for every dimension). */
  scoreWeights?: Readonly<Record<string, number>>;
}

/** One converted record, its format, and the pairs that were not made (answer indices, 0-based). */
export interface ConvertedPreference {
  format: PreferenceFormatName;
  record: PreferenceRecord;
  /** Answer pairs judged equal (same rank or same total score): no pair. */
  ties: Array<[number, number]>;
  /** Answer pairs with the same text: no pair (a pair of identical texts teaches nothing but noise). */
  identical: Array<[number, number]>;
}

/** Fields that hold the K answers of ranked or scored records, in the order they are looked for. */
export const ANSWER_LIST_FIELDS = ["responses", "outputs", "answers", "completions"] as const;
const ANSWER_TEXT_FIELDS = ["response", "text", "output", "content", "answer", "value"] as const;
const PROMPT_FIELDS = ["prompt", "input", "question", "query"] as const;
export const DEFAULT_SCORE_RANGE: readonly [number, number] = [1, 5];

const has = (rec: Rec, ...keys: string[]) => keys.every((k) => rec[k] !== undefined && rec[k] !== null);
const isDialogue = (v: unknown) => typeof v === "string" && /^\s*Human:/.test(v) && /\sAssistant:/.test(v);
const answerList = (rec: Rec) => ANSWER_LIST_FIELDS.find((f) => Array.isArray(rec[f]));
/** Score totals and margins are rounded to 1e-9 so that 4.2 - 3.1 is 1.1, not 1.1000000000000005. */
const round9 = (x: number) => Math.round(x * 1e9) / 1e9;

/**
 * The format of a record, by its keys, checked in this order: `responses`+`pairs` (llmforge's own
 * {@link PreferenceRecord}), `chosen`+`rejected` (ShareGPT/LLaMA-Factory when a `conversations`/`messages` list
 * holds the prompt, DS-Chat when the prompt, or else the chosen text, is "Human: ... Assistant:" dialogue, else
 * TRL pairwise), `completion`+`label` (KTO), an answer list ({@link ANSWER_LIST_FIELDS}) with a `ranking`/`order`
 * or per-answer `rank` (ranking) or per-answer `score`/`scores` (scores). Anything else is an error.
 */
export function detectPreferenceFormat(rec: Rec): PreferenceFormatName {
  if (Array.isArray(rec.responses) && Array.isArray(rec.pairs)) return "preference";
  if (has(rec, "chosen", "rejected")) {
    if (Array.isArray(rec.conversations) || Array.isArray(rec.messages)) return "sharegpt";
    return isDialogue(rec.prompt) || (rec.prompt === undefined && isDialogue(rec.chosen)) ? "dschat" : "pairwise";
  }
  if (has(rec, "completion", "label")) return "kto";
  const list = answerList(rec);
  if (list) {
    const items = rec[list] as unknown[];
    if (has(rec, "ranking") || has(rec, "order") || items.some((o) => isObj(o) && o.rank !== undefined)) return "ranking";
    if (items.some((o) => isObj(o) && (o.score !== undefined || o.scores !== undefined))) return "scores";
    return fail(`answer list "${list}" has no ranking or scores`, 'expected "ranking": "1>3>2", an "order" list, or per-answer "rank" / "score" / "scores"');
  }
  if (Array.isArray(rec.messages) || Array.isArray(rec.conversations) || has(rec, "instruction", "output")) {
    return fail("SFT record (no chosen/rejected, ranking or scores) is not preference data; convert it with --to messages");
  }
  return fail("unknown preference record shape", `keys: ${Object.keys(rec).slice(0, 8).join(", ") || "none"}`);
}

/**
 * A "Human: ... Assistant: ..." dialogue (Anthropic HH, DS-Chat) as messages: markers at the start or after
 * whitespace, turn texts trimmed; a final empty "Assistant:" (where the answer goes) is dropped.
 */
export function parseDialogue(text: string, field: string): Message[] {
  const marks = [...text.matchAll(/(?:^|\s)(Human|Assistant):[ \t]*/g)];
  if (marks.length === 0 || text.slice(0, marks[0].index).trim() !== "") fail(`field "${field}" must start with a "Human:" turn`);
  const msgs: Message[] = marks.map((m, i) => ({
    role: m[1] === "Human" ? "user" : "assistant",
    content: text.slice((m.index ?? 0) + m[0].length, marks[i + 1]?.index ?? text.length).trim(),
  }));
  const last = msgs.at(-1);
  if (last?.role === "assistant" && last.content === "") msgs.pop();
  return msgs;
}

const sameMessage = (a: Message, b: Message) => a.role === b.role && a.content === b.content && a.name === b.name;

/** TRL's implicit prompt: two full conversations share everything up to their final assistant turns. */
function splitShared(chosen: Message[], rejected: Message[]): { prompt: Message[]; chosen: string; rejected: string } {
  let i = 0;
  while (i < chosen.length && i < rejected.length && sameMessage(chosen[i], rejected[i])) i++;
  if (i === chosen.length && i === rejected.length) fail("chosen equals rejected");
  const c = chosen.slice(i);
  const r = rejected.slice(i);
  if (c.length !== 1 || r.length !== 1 || c[0].role !== "assistant" || r[0].role !== "assistant") {
    fail("chosen and rejected must share everything but one final assistant turn", `they differ from turn ${i + 1} (${c.length} and ${r.length} turns left)`);
  }
  return { prompt: chosen.slice(0, i), chosen: c[0].content, rejected: r[0].content };
}

/** The prompt of a record: Alpaca `instruction`(+`input`, `system`, `history`), else the first of {@link PROMPT_FIELDS} (text or messages). */
function promptOf(rec: Rec): Message[] | undefined {
  if (rec.instruction !== undefined) return alpacaLists({ ...rec, output: "" })[0].slice(0, -1);
  const field = PROMPT_FIELDS.find((f) => rec[f] !== undefined && rec[f] !== null);
  if (!field) return undefined;
  const v = rec[field];
  const msgs = typeof v === "string" ? [{ role: "user" as const, content: v }] : Array.isArray(v) ? openaiMessages(v, field) : fail(`field "${field}" must be text or a list of messages`, `got ${kind(v)}`);
  return withSystem(optStr(rec, "system"), msgs);
}

/** One answer: text, a list of one assistant message (TRL conversational), or one ShareGPT/OpenAI message object. */
function answerText(v: unknown, field: string): string {
  if (typeof v === "string") return v;
  const msgs = Array.isArray(v) ? openaiMessages(v, field) : isObj(v) ? ("from" in v ? sharegptMessages([v], field) : openaiMessages([v], field)) : fail(`field "${field}" must be text or an assistant message`, `got ${kind(v)}`);
  if (msgs.length !== 1 || msgs[0].role !== "assistant") fail(`field "${field}" must be exactly one assistant message`, `got ${msgs.map((m) => m.role).join(", ") || "none"}`);
  return msgs[0].content;
}

/** Full conversations (implicit prompt) from a chosen/rejected value: message lists, or dialogue text. */
const conversationOf = (v: unknown, field: string): Message[] => (typeof v === "string" ? parseDialogue(v, field) : openaiMessages(v, field));

function pairwise(rec: Rec, format: "pairwise" | "sharegpt" | "dschat"): PreferenceRecord {
  let prompt: Message[];
  let chosen: string;
  let rejected: string;
  const chatField = Array.isArray(rec.conversations) ? "conversations" : "messages";
  if (format === "sharegpt") {
    const list = rec[chatField] as unknown[];
    const sharegpt = isObj(list[0]) && "from" in list[0];
    prompt = withSystem(optStr(rec, "system"), sharegpt ? sharegptMessages(list, chatField, SHAREGPT_TAGS) : openaiMessages(list, chatField));
    [chosen, rejected] = [answerText(rec.chosen, "chosen"), answerText(rec.rejected, "rejected")];
  } else if (format === "dschat" && rec.prompt !== undefined) {
    prompt = parseDialogue(optStr(rec, "prompt") ?? "", "prompt");
    [chosen, rejected] = [answerText(rec.chosen, "chosen").trim(), answerText(rec.rejected, "rejected").trim()];
  } else {
    const p = promptOf(rec);
    if (p) {
      prompt = p;
      [chosen, rejected] = [answerText(rec.chosen, "chosen"), answerText(rec.rejected, "rejected")];
    } else if (typeof rec.chosen === "string" && typeof rec.rejected === "string" && format === "pairwise") {
      // Plain texts with no prompt: a reward model scores each whole text, so the prompt stays empty.
      [prompt, chosen, rejected] = [[], rec.chosen, rec.rejected];
    } else {
      ({ prompt, chosen, rejected } = splitShared(conversationOf(rec.chosen, "chosen"), conversationOf(rec.rejected, "rejected")));
      prompt = withSystem(optStr(rec, "system"), prompt);
    }
  }
  if (chosen === rejected) fail("chosen equals rejected");
  const pair: PreferencePair = { better: 0, worse: 1 };
  if (rec.margin !== undefined) pair.margin = typeof rec.margin === "number" && Number.isFinite(rec.margin) ? rec.margin : fail('field "margin" must be a number', `got ${kind(rec.margin)}`);
  return { prompt, responses: [chosen, rejected], pairs: [pair] };
}

function kto(rec: Rec): PreferenceRecord {
  const label = typeof rec.label === "boolean" ? rec.label : fail('field "label" must be true (desirable) or false (undesirable)', `got ${JSON.stringify(rec.label)}`);
  return { prompt: promptOf(rec) ?? fail('missing field "prompt"'), responses: [answerText(rec.completion, "completion")], pairs: [], labels: [label] };
}

/** The answers of a K-answer record with their objects (undefined for plain-text answers). */
function answers(rec: Rec): { texts: string[]; items: Array<Rec | undefined>; field: string } {
  const field = answerList(rec) ?? fail(`missing answer list (one of ${ANSWER_LIST_FIELDS.join(", ")})`);
  const list = rec[field] as unknown[];
  if (list.length === 0) fail(`field "${field}" is empty`);
  const items = list.map((o) => (isObj(o) ? o : undefined));
  const texts = list.map((o, i) => {
    if (typeof o === "string") return o;
    const k = isObj(o) ? ANSWER_TEXT_FIELDS.find((f) => typeof o[f] === "string") : undefined;
    return k ? ((o as Rec)[k] as string) : fail("answer must be text or an object with a response text", `${field}[${i}]: expected one of ${ANSWER_TEXT_FIELDS.join(", ")}`);
  });
  return { texts, items, field };
}

/**
 * A ranking of K answers as ranks per answer (1 = best; tied answers share a rank): `"1>3>2"` (answer numbers,
 * 1-based, best first; `=` ties, as in `"1>2=3"`) or an order list `[1, 3, 2]` (nested lists tie: `[1, [2, 3]]`).
 * Naming an answer that does not exist, naming one twice or leaving one out throws.
 */
export function parseRanking(ranking: unknown, k: number): number[] {
  const groups: unknown[][] =
    typeof ranking === "string"
      ? ranking.split(">").map((g) => g.split("=").map((t) => (/^\s*\d+\s*$/.test(t) ? Number(t) : fail("malformed ranking", `${JSON.stringify(ranking)}: expected answer numbers joined by ">" (and "=" for ties)`))))
      : Array.isArray(ranking)
        ? ranking.map((g) => (Array.isArray(g) ? g : [g]))
        : fail("ranking must be text like \"1>3>2\" or a list of answer numbers", `got ${kind(ranking)}`);
  const rank = new Array<number>(k).fill(0);
  groups.forEach((g, gi) => {
    for (const v of g) {
      const n = typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= k ? v : fail("ranking names a missing answer", `${JSON.stringify(v)}: the record has answers 1..${k}`);
      if (rank[n - 1] !== 0) fail("ranking repeats an answer", `answer ${n}`);
      rank[n - 1] = gi + 1;
    }
  });
  const missing = rank.indexOf(0);
  if (missing >= 0) fail("ranking leaves out an answer", `answer ${missing + 1} of ${k}`);
  return rank;
}

/** Pairs from per-answer values where higher is better, margin = value difference; equal values are ties (no pair). */
export function pairsFromValues(values: readonly number[]): { pairs: PreferencePair[]; ties: Array<[number, number]> } {
  const order = values.map((_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
  const pairs: PreferencePair[] = [];
  const ties: Array<[number, number]> = [];
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      const [a, b] = [order[i], order[j]];
      const margin = round9(values[a] - values[b]);
      if (margin === 0) ties.push([Math.min(a, b), Math.max(a, b)]);
      else pairs.push({ better: a, worse: b, margin });
    }
  }
  return { pairs, ties };
}

function ranking(rec: Rec): { record: PreferenceRecord; ties: Array<[number, number]> } {
  const { texts, items, field } = answers(rec);
  const given = rec.ranking ?? rec.order;
  const rank =
    given !== undefined && given !== null
      ? parseRanking(given, texts.length)
      : items.map((o, i) => (typeof o?.rank === "number" && Number.isFinite(o.rank) ? o.rank : fail("every answer needs a numeric rank (1 = best)", `${field}[${i}].rank: ${kind(o?.rank)}`)));
  const { pairs, ties } = pairsFromValues(rank.map((r) => -r)); // margin = rank distance
  const meta = given !== undefined && given !== null ? { ranking: given } : {};
  return { record: { prompt: promptOf(rec) ?? fail(`missing prompt (one of instruction, ${PROMPT_FIELDS.join(", ")})`), responses: texts, pairs, meta }, ties };
}

function scored(rec: Rec, opts: PreferenceRecordOptions): { record: PreferenceRecord; ties: Array<[number, number]> } {
  const { texts, items, field } = answers(rec);
  const [lo, hi] = opts.scoreRange ?? DEFAULT_SCORE_RANGE;
  const perAnswer = items.map((o, i) => {
    const s = o?.scores !== undefined ? o.scores : o?.score !== undefined ? { score: o.score } : fail("every answer needs a score", `${field}[${i}]: expected "score" or "scores"`);
    if (!isObj(s) || Object.keys(s).length === 0) return fail('"scores" must be an object of dimension: number', `${field}[${i}].scores: ${kind(s)}`);
    for (const [d, x] of Object.entries(s)) {
      const v = typeof x === "number" && Number.isFinite(x) ? x : fail("score must be a number", `${field}[${i}] ${d}: ${JSON.stringify(x)}`);
      if (v < lo || v > hi) fail("score out of range", `${field}[${i}] ${d} = ${v}, expected ${lo}..${hi}`);
    }
    return s as Record<string, number>;
  });
  const dims = Object.keys(perAnswer[0]).sort();
  perAnswer.forEach((s, i) => {
    if (Object.keys(s).sort().join() !== dims.join()) fail("answers are scored on different dimensions", `${field}[${i}]: ${Object.keys(s).join(", ")} vs ${dims.join(", ")}`);
  });
  const w = dims.map((d) => opts.scoreWeights?.[d] ?? 1);
  const wsum = w.reduce((a, b) => a + b, 0);
  if (!(wsum > 0)) fail("score weights of this record's dimensions sum to 0", dims.join(", "));
  const totals = perAnswer.map((s) => dims.reduce((t, d, k) => t + w[k] * s[d], 0) / wsum);
  const { pairs, ties } = pairsFromValues(totals);
  const scores = Object.fromEntries(dims.map((d) => [d, perAnswer.map((s) => s[d])]));
  return { record: { prompt: promptOf(rec) ?? fail(`missing prompt (one of instruction, ${PROMPT_FIELDS.join(", ")})`), responses: texts, pairs, scores }, ties };
}

/** Checks llmforge's own record form (the output of this converter), so converted files can be converted again. */
function native(rec: Rec): PreferenceRecord {
  const prompt = typeof rec.prompt === "string" ? [{ role: "user" as const, content: rec.prompt }] : openaiMessages(rec.prompt, "prompt");
  const responses = (rec.responses as unknown[]).map((r, i) => (typeof r === "string" ? r : fail("responses must be text", `responses[${i}]: ${kind(r)}`)));
  const k = responses.length;
  const idx = (v: unknown, at: string) => (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < k ? v : fail("pair names a missing response", `${at}: ${JSON.stringify(v)}, responses 0..${k - 1}`));
  const pairs = (rec.pairs as unknown[]).map((p, i): PreferencePair => {
    if (!isObj(p)) return fail("pair must be an object {better, worse, margin?}", `pairs[${i}]`);
    const pair: PreferencePair = { better: idx(p.better, `pairs[${i}].better`), worse: idx(p.worse, `pairs[${i}].worse`) };
    if (pair.better === pair.worse) fail("pair compares a response with itself", `pairs[${i}]`);
    if (p.margin !== undefined) pair.margin = typeof p.margin === "number" && Number.isFinite(p.margin) ? p.margin : fail("margin must be a number", `pairs[${i}].margin`);
    return pair;
  });
  const out: PreferenceRecord = { prompt, responses, pairs };
  if (rec.scores !== undefined) {
    const scores = isObj(rec.scores) ? rec.scores : fail('"scores" must be an object of dimension: list of numbers');
    for (const [d, v] of Object.entries(scores)) {
      if (!Array.isArray(v) || v.length !== k || !v.every((x) => typeof x === "number" && Number.isFinite(x))) fail(`scores.${d} must be ${k} numbers, one per response`);
    }
    out.scores = rec.scores as Record<string, number[]>;
  }
  if (rec.labels !== undefined) {
    if (!Array.isArray(rec.labels) || rec.labels.length !== k || !rec.labels.every((x) => typeof x === "boolean")) fail(`labels must be ${k} booleans, one per response`);
    out.labels = rec.labels as boolean[];
  }
  return out;
}

/**
 * Converts one parsed record to a {@link PreferenceRecord} (throws {@link RecordFormatError} with a stable reason).
 * Every answer must be non-empty, the prompt must not end with an assistant turn, and a chosen/rejected pair must
 * differ. Rankings expand to their C(K,2) pairs (margin = rank distance), scores to pairs by the weighted total
 * (margin = total difference), in one record; ties and pairs of identical texts make no pair and are returned.
 * `meta` keeps the record's own `meta` and `id`, then `format` and the given `extra` (file, line...).
 */
export function convertPreferenceRecord(rec: unknown, opts: PreferenceRecordOptions = {}, extra: Record<string, unknown> = {}): ConvertedPreference {
  if (!isObj(rec)) return fail("record is not a JSON object", `got ${kind(rec)}`);
  const format = !opts.format || opts.format === "auto" ? detectPreferenceFormat(rec) : opts.format;
  let record: PreferenceRecord;
  let ties: Array<[number, number]> = [];
  switch (format) {
    case "preference":
      record = native(rec);
      break;
    case "pairwise":
    case "sharegpt":
    case "dschat":
      record = pairwise(rec, format);
      break;
    case "kto":
      record = kto(rec);
      break;
    case "ranking":
    case "scores":
      ({ record, ties } = format === "ranking" ? ranking(rec) : scored(rec, opts));
      break;
  }
  record.responses.forEach((r, i) => {
    if (r.trim() === "") fail("empty answer", `answer ${i + 1} of ${record.responses.length}`);
  });
  if (record.prompt.at(-1)?.role === "assistant") fail("prompt ends with an assistant turn", "the answers must follow a user (or tool) turn");
  const identical: Array<[number, number]> = [];
  record.pairs = record.pairs.filter((p) => {
    const same = record.responses[p.better] === record.responses[p.worse];
    if (same) identical.push([Math.min(p.better, p.worse), Math.max(p.better, p.worse)]);
    return !same;
  });
  const own = isObj(rec.meta) ? rec.meta : {};
  // Re-reading llmforge's own records keeps the format they were first converted from.
  const meta: Record<string, unknown> = { ...own, ...(record.meta ?? {}), format: format === "preference" && typeof own.format === "string" ? own.format : format, ...extra };
  if (typeof rec.id === "string" || typeof rec.id === "number") meta.id = rec.id;
  record.meta = meta;
  return { format, record, ties, identical };
}
