// `llmforge report RUN`: gathers what a run folder holds (each stage's metrics.jsonl, run.json and
// summary, the data stage's report.json, the tokenizer's train report, quickstart samples, the task results
// `llmforge eval --save` keeps under eval/, a `llmforge scale` sweep's scale.json) into one typed record, and writes RUN/report.html from it
// (rendered by reportPage.ts, no network needed).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { type MetricRecord, MetricsLog } from "../train/metricsLog.js";
import { VERSION } from "../version.js";
import { renderReportPage, uplotVersion } from "./reportPage.js";
import { type ScaleFile, scaleCharts, type Uncertain } from "./scalePage.js";

/** One line chart: shared x (steps unless `xLabel` says otherwise) and one y array per series (null where a series has no point). */
export interface ChartSpec {
  id: string;
  title: string;
  yLabel: string;
  /** What x is when it is not the step (the scaling law's FLOPs). */
  xLabel?: string;
  /** Draw x on a log scale. */
  logX?: boolean;
  x: number[];
  series: { label: string; values: (number | null)[]; points: boolean }[];
  /** Set when the log had more points than are drawn: every `stride`-th point is kept (and every validation point). */
  stride: number;
  logged: number;
}

/** A table of numbers with one label column first. */
export interface NumberTable {
  columns: string[];
  rows: { label: string; values: (number | null)[] }[];
}

export interface StageReport {
  /** Folder of the stage relative to the run ("." for the run folder itself). */
  dir: string;
  /** What the stage is, from its run.json format ("pretraining", "supervised fine-tuning", ...). */
  kind: string;
  records: number;
  charts: ChartSpec[];
  /** Every val_* record: one row per step. */
  validation: NumberTable | null;
  /** Numbers of the stage summary's evaluations (before / after training, ...). */
  evaluation: NumberTable | null;
  /** Held-out answers of the summary (prompt, answer, reference, whether it matched). */
  answers: { prompt: string; answer: string; reference: string; match: boolean | null }[];
  /** run.json of the stage: who wrote it, the model config and the options. */
  run: { format: string; writer: string; config: Record<string, unknown>; options: Record<string, unknown>; completed: unknown } | null;
}

/** What one data-recipe step removed, rule by rule. */
export interface FunnelStep {
  name: string;
  docsIn: number;
  docsOut: number;
  bytesIn: number;
  bytesOut: number;
  skipped: boolean;
  removed: { rule: string; count: number; bytes: number }[];
}

/** One saved `llmforge eval --task` run (a file under some eval/ folder of the run): a row per task and per group. */
export interface EvalTable {
  /** The file, relative to the run folder. */
  file: string;
  model: string;
  writer: string;
  rows: { task: string; group: string | null; kind: string; examples: number; metrics: { name: string; value: number; stderr: number | null }[] }[];
}

/** A `llmforge scale` sweep of the run: RUN/scale.json, or RUN/scale/scale.json. */
export interface ScaleSection {
  /** scale.json relative to the run folder. */
  file: string;
  /** Why scale.json could not be used (unreadable, not an llmforge-scale v1 file); the fields below are empty then. */
  error: string | null;
  writer: string;
  data: string;
  depths: number[];
  budgetMinutes: number | null;
  pointsDone: number;
  pointsPlanned: number;
  /** The fit of L(N, D) = E + A/N^alpha + B/D^beta (null until the sweep has finished): each constant with its bootstrap spread. */
  fit: { method: string; rmse: number | null; points: number | null; constants: (Uncertain & { name: string })[] } | null;
  /** The compute-optimal split of `flops` (C ≈ 6·N·D) and the nearest whole depth. */
  recommendation: { flops: number; n: Uncertain; d: Uncertain; loss: number; depth: number | null; depthParams: number | null } | null;
  /** Loss vs compute per depth with the compute-optimal frontier (scale.html's "scale-compute" chart). */
  chart: ChartSpec | null;
  /** scale.html, relative to the run folder as collected and to the page once writeRunReport has written it; null when the sweep has not written it yet. */
  page: string | null;
}

export interface RunReport {
  format: "llmforge-run-report";
  version: 1;
  writer: string;
  run: string;
  createdAt: string;
  /** Headline figures (label, value) from the quickstart summary when there is one. */
  headline: [string, string][];
  stages: StageReport[];
  funnel: FunnelStep[] | null;
  tokenizer: [string, string][] | null;
  samples: { prompt: string; text: string; tokensPerSecond: number | null }[];
  chat: { prompt: string; answer: string }[];
  /** Task results saved by `llmforge eval --save` (RUN/eval/*.json and STAGE/eval/*.json). */
  evaluations: EvalTable[];
  /** The scaling-law sweep, when the run folder holds one. */
  scale: ScaleSection | null;
  /** quickstart.json's options, when the run is a quickstart. */
  quickstart: Record<string, unknown> | null;
  /** Which versions produced the files read (file → writer) and drew the page. */
  versions: [string, string][];
}

/** The folder is not a run folder llmforge can report on. */
export class RunReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunReportError";
  }
}

/** Most points one chart draws; longer logs are thinned to every k-th step (validation points are all kept). */
export const MAX_CHART_POINTS = 5000;

/** Folders never searched for stages: data, artifacts and logs other than metrics.jsonl. */
const SKIP_DIRS = new Set(["checkpoints", "data", "shards", "tb", "tokenizer", "model", "sft_data", "node_modules"]);

/** Train-record keys drawn in the standard charts (the rest get a chart each; `ms` is shown as throughput). */
const STANDARD_KEYS = new Set(["step", "loss", "lr", "tokens_per_s", "ms", "grad_norm"]);

const STAGE_KINDS: Record<string, string> = {
  "llmforge-run": "pretraining",
  "llmforge-sft-run": "supervised fine-tuning",
  "llmforge-reward-run": "reward model",
};

type Json = Record<string, unknown>;

function readJson(file: string): Json | null {
  if (!existsSync(file)) return null;
  try {
    const v: unknown = JSON.parse(readFileSync(file, "utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const obj = (v: unknown): Json => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});

/** Folders under `run` (itself included, at most 3 levels down) that hold a metrics.jsonl; the run folder first. */
export function findStageDirs(run: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (existsSync(join(dir, "metrics.jsonl"))) found.push(dir);
    if (depth >= 3) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith(".") && !SKIP_DIRS.has(e.name)) walk(join(dir, e.name), depth + 1);
    }
  };
  walk(run, 0);
  return found.sort((a, b) => (a === run ? -1 : b === run ? 1 : a.localeCompare(b)));
}

/** Every record of a metrics.jsonl that names its step (the log's reader skips torn lines). */
function readMetrics(file: string): Json[] {
  return new MetricsLog(file).read().filter((r): r is MetricRecord => r !== null && typeof r === "object" && typeof r.step === "number");
}

/**
 * Builds a chart over `keys`: x is every step where one of them has a number; series of keys
 * starting with val_ draw points (they are sparse). Thinned to {@link MAX_CHART_POINTS}.
 */
function chartOf(id: string, title: string, yLabel: string, records: Json[], keys: { key: string; label: string }[]): ChartSpec | null {
  const byStep = new Map<number, (number | null)[]>();
  for (const r of records) {
    const vals = keys.map((k) => num(r[k.key]));
    if (vals.every((v) => v === null)) continue;
    const step = r.step as number;
    const row = byStep.get(step) ?? keys.map(() => null);
    vals.forEach((v, i) => {
      if (v !== null) row[i] = v;
    });
    byStep.set(step, row);
  }
  if (byStep.size === 0) return null;
  let steps = [...byStep.keys()].sort((a, b) => a - b);
  const logged = steps.length;
  const stride = Math.ceil(logged / MAX_CHART_POINTS);
  if (stride > 1) {
    const isVal = keys.map((k) => k.key.startsWith("val_"));
    steps = steps.filter((s, i) => i % stride === 0 || i === logged - 1 || (byStep.get(s) ?? []).some((v, j) => v !== null && isVal[j]));
  }
  return {
    id, title, yLabel, x: steps, stride, logged,
    series: keys.map((k, i) => ({ label: k.label, points: k.key.startsWith("val_"), values: steps.map((s) => (byStep.get(s) as (number | null)[])[i]) })),
  };
}

/** Numeric leaves of an object as dotted paths (arrays, e.g. answer samples, are left out). */
function numericLeaves(v: unknown, prefix = "", out = new Map<string, number>()): Map<string, number> {
  if (typeof v === "number" && Number.isFinite(v)) out.set(prefix, v);
  else if (v !== null && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) numericLeaves(x, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

/** The evaluations a stage summary holds (sft.json: before/after; reward.json: before/after/trainEval) as one table. */
function evaluationOf(summary: Json | null): NumberTable | null {
  if (!summary) return null;
  const cols = [["before", "before training"], ["after", "after training"], ["trainEval", "after, on training prompts"]].filter(([k]) => summary[k] && typeof summary[k] === "object");
  if (cols.length === 0) return null;
  const leaves = cols.map(([k]) => numericLeaves(summary[k]));
  const labels = [...new Set(leaves.flatMap((m) => [...m.keys()]))];
  return { columns: ["metric", ...cols.map(([, l]) => l)], rows: labels.map((label) => ({ label, values: leaves.map((m) => m.get(label) ?? null) })) };
}

function stageOf(run: string, dir: string, index: number): StageReport {
  const records = readMetrics(join(dir, "metrics.jsonl"));
  const rel = relative(run, dir) || ".";
  const record = readJson(join(dir, "run.json"));
  const format = str(record?.format);
  const id = (name: string): string => `chart-${index}-${name.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
  const charts: ChartSpec[] = [];
  const push = (c: ChartSpec | null): void => {
    if (c) charts.push(c);
  };
  push(chartOf(id("loss"), "loss", "loss (nats/token)", records, [{ key: "loss", label: "train loss" }, { key: "val_loss", label: "validation loss" }]));
  push(chartOf(id("lr"), "learning rate", "learning rate", records, [{ key: "lr", label: "learning rate" }]));
  push(chartOf(id("throughput"), "throughput", "tokens / s", records, [{ key: "tokens_per_s", label: "tokens/s" }]));
  push(chartOf(id("grad_norm"), "gradient norm", "global grad norm", records, [{ key: "grad_norm", label: "grad norm" }]));
  const otherKeys = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => !STANDARD_KEYS.has(k) && !k.startsWith("val_") && num(r[k]) !== null)))];
  for (const k of otherKeys) push(chartOf(id(k), k, k, records, [{ key: k, label: k }]));

  const valRecords = records.filter((r) => Object.keys(r).some((k) => k.startsWith("val_")));
  const valKeys = [...new Set(valRecords.flatMap((r) => Object.keys(r).filter((k) => k.startsWith("val_"))))];
  const validation = valRecords.length === 0 ? null : {
    columns: ["step", ...valKeys.map((k) => k.slice(4))],
    rows: valRecords.map((r) => ({ label: String(r.step), values: valKeys.map((k) => num(r[k])) })),
  };

  const summary = readJson(join(dir, "sft.json")) ?? readJson(join(dir, "reward.json"));
  const samples = (obj(obj(summary?.after).answers).samples ?? []) as unknown[];
  const answers = Array.isArray(samples)
    ? samples.map((s) => obj(s)).map((s) => ({ prompt: str(s.prompt), answer: str(s.answer), reference: str(s.reference), match: typeof s.match === "boolean" ? s.match : null }))
    : [];
  return {
    dir: rel,
    kind: STAGE_KINDS[format] ?? (rel === "." ? "training" : rel),
    records: records.length,
    charts,
    validation,
    evaluation: evaluationOf(summary),
    answers,
    run: record ? { format, writer: str(record.writer), config: obj(record.config), options: obj(record.options), completed: record.completed ?? null } : null,
  };
}

/** The removal funnel of RUN/data/report.json: documents in and out of each step and what each rule removed. */
function funnelOf(report: Json | null): FunnelStep[] | null {
  if (report?.format !== "llmforge-data-report" || !Array.isArray(report.steps)) return null;
  return (report.steps as unknown[]).map((raw) => {
    const s = obj(raw);
    const st = obj(s.stats);
    const rules = [...Object.entries(obj(st.removed)), ...Object.entries(obj(st.rejected))].map(([rule, v]) => ({ rule, count: num(obj(v).count) ?? 0, bytes: num(obj(v).bytes) ?? 0 }));
    return {
      name: str(s.name) || str(s.step), skipped: s.skipped === true,
      docsIn: num(st.docsIn) ?? 0, docsOut: num(st.docsOut) ?? 0, bytesIn: num(st.bytesIn) ?? 0, bytesOut: num(st.bytesOut) ?? 0,
      removed: rules.sort((a, b) => b.count - a.count),
    };
  });
}

/** Tokenizer figures from RUN/tokenizer/train_report.json and RUN/shards/shards.json. */
function tokenizerOf(run: string): [string, string][] | null {
  const t = readJson(join(run, "tokenizer", "train_report.json"));
  const sh = readJson(join(run, "shards", "shards.json"));
  if (!t && !sh) return null;
  const rows: [string, string][] = [];
  const add = (label: string, v: unknown, f: (x: number) => string = (x) => x.toLocaleString("en-US")): void => {
    const x = num(v);
    if (x !== null) rows.push([label, f(x)]);
  };
  if (t) {
    add("vocabulary", t.vocabSize);
    add("requested vocabulary", t.requestedVocabSize);
    add("merges", t.merges);
    if (Array.isArray(t.specialTokens)) rows.push(["special tokens", (t.specialTokens as unknown[]).map(String).join(" ")]);
    add("training documents", t.documents);
    add("training bytes", t.trainBytes);
    add("unique pre-tokens", t.uniquePretokens);
    add(`bytes per token (${str(t.bytesPerTokenOn) || "held-out"})`, t.bytesPerToken, (x) => x.toFixed(3));
    add("held-out documents", t.heldOutDocuments);
    add("training time (s)", obj(t.seconds).total, (x) => x.toFixed(2));
    add("throughput (MB/s)", t.throughputMBps, (x) => x.toFixed(2));
    if (t.pattern !== undefined) rows.push(["pre-tokenizer pattern", str(t.pattern)]);
  }
  if (sh) {
    const tokens = (part: unknown): number => (obj(part).shards as unknown[] | undefined ?? []).reduce((a: number, s) => a + (num(obj(s).tokens) ?? 0), 0);
    add("shard documents", sh.documents);
    rows.push(["train tokens", tokens(sh.train).toLocaleString("en-US")]);
    rows.push(["validation tokens", tokens(sh.val).toLocaleString("en-US")]);
  }
  return rows;
}

/** The `llmforge-eval` documents in every eval/ folder of the run (the run folder and its stages, 3 levels down), by path. */
function evaluationsOf(run: string): EvalTable[] {
  const files: string[] = [];
  const walk = (dir: string, depth: number): void => {
    const ev = join(dir, "eval");
    if (existsSync(ev) && statSync(ev).isDirectory()) for (const f of readdirSync(ev).sort()) if (f.endsWith(".json")) files.push(join(ev, f));
    if (depth >= 3) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== "eval" && !e.name.startsWith(".") && !SKIP_DIRS.has(e.name)) walk(join(dir, e.name), depth + 1);
    }
  };
  walk(run, 0);
  const metricsOf = (m: Json) =>
    Object.entries(m).filter(([k, v]) => !k.endsWith("_stderr") && num(v) !== null).map(([name, v]) => ({ name, value: v as number, stderr: num(m[`${name}_stderr`]) }));
  const out: EvalTable[] = [];
  for (const file of files) {
    const doc = readJson(file);
    if (doc?.format !== "llmforge-eval" || !Array.isArray(doc.results)) continue;
    const rows: EvalTable["rows"] = [];
    for (const raw of doc.results as unknown[]) {
      const r = obj(raw);
      rows.push({ task: str(r.task), group: null, kind: str(r.kind), examples: num(r.examples) ?? 0, metrics: metricsOf(obj(r.metrics)) });
      for (const [g, x] of Object.entries(obj(r.groups))) rows.push({ task: str(r.task), group: g, kind: str(r.kind), examples: num(obj(x).examples) ?? 0, metrics: metricsOf(obj(obj(x).metrics)) });
    }
    out.push({ file: relative(run, file), model: str(doc.model), writer: str(doc.writtenBy), rows });
  }
  return out;
}

/** Where a run folder keeps a sweep: `llmforge scale --out RUN`, or `--out RUN/scale`. */
const SCALE_FILES = ["scale.json", join("scale", "scale.json")];

const toPosix = (p: string): string => p.split(sep).join("/");

const uncertain = (v: unknown): Uncertain | null => {
  const o = obj(v);
  const value = num(o.value);
  return value === null ? null : { value, std: num(o.std), lo: num(o.lo), hi: num(o.hi) };
};

/**
 * The sweep of RUN/scale.json (or RUN/scale/scale.json): its fit, recommendation and loss-vs-compute chart.
 * A file that cannot be used is shown as such on the page (the rest of the report is still written).
 */
function scaleOf(run: string): ScaleSection | null {
  const rel = SCALE_FILES.find((f) => existsSync(join(run, f)));
  if (!rel) return null;
  const path = join(run, rel);
  const empty: ScaleSection = {
    file: toPosix(rel), error: null, writer: "", data: "", depths: [], budgetMinutes: null, pointsDone: 0, pointsPlanned: 0, fit: null, recommendation: null, chart: null, page: null,
  };
  const fail = (error: string): ScaleSection => ({ ...empty, error });
  const section = { ...empty };
  let doc: Json;
  try {
    doc = obj(JSON.parse(readFileSync(path, "utf8")));
  } catch (err) {
    return fail(`unreadable (${err instanceof Error ? err.message : String(err)})`);
  }
  if (doc.format !== "llmforge-scale" || doc.version !== 1 || !Array.isArray(doc.points)) return fail("not an llmforge-scale v1 file (format, version or points missing)");
  const points = (doc.points as unknown[]).map(obj);
  const bad = points.findIndex((p) => [p.depth, p.tokens, p.flops, p.nonEmbeddingParams].some((v) => num(v) === null) || (p.loss !== null && num(p.loss) === null));
  if (bad >= 0) return fail(`points[${bad}] lacks a number (depth, tokens, flops, nonEmbeddingParams, loss)`);
  const settings = obj(doc.settings);
  section.writer = str(doc.writer);
  section.data = str(settings.data);
  section.depths = Array.isArray(settings.depths) ? (settings.depths as unknown[]).map(num).filter((d): d is number => d !== null) : [];
  section.budgetMinutes = num(settings.budgetMinutes);
  section.pointsPlanned = points.length;
  section.pointsDone = points.filter((p) => num(p.loss) !== null).length;

  let fitted = false;
  if (doc.fit !== null && doc.fit !== undefined) {
    const fit = obj(doc.fit);
    const constants = (["E", "A", "alpha", "B", "beta"] as const).map((name) => ({ name, u: uncertain(obj(fit.constants)[name]) }));
    const params = obj(fit.params);
    const rec = obj(fit.recommendation);
    const [n, d, flops, loss] = [uncertain(rec.n), uncertain(rec.d), num(rec.flops), num(rec.loss)];
    if (constants.some((c) => c.u === null) || ["e", "a", "alpha", "b", "beta"].some((k) => num(params[k]) === null) || !n || !d || flops === null || loss === null) {
      return fail("its fit lacks a number (params, constants E, A, alpha, B, beta, or the recommendation's flops, n, d, loss)");
    }
    fitted = true;
    section.fit = { method: str(fit.method), rmse: num(fit.rmse), points: num(fit.points), constants: constants.map((c) => ({ name: c.name, ...(c.u as Uncertain) })) };
    const depth = obj(doc.recommendedDepth);
    section.recommendation = { flops, n, d, loss, depth: num(depth.depth), depthParams: num(depth.nonEmbeddingParams) };
  }
  // The scale page's own chart data (checked above: every point has its numbers, the fit its parameters).
  const frontier = (Array.isArray(doc.frontier) ? (doc.frontier as unknown[]) : []).map(obj).filter((c) => [c.flops, c.n, c.d, c.loss].every((v) => num(v) !== null));
  const file = { ...doc, points, fit: fitted ? doc.fit : null, frontier } as unknown as ScaleFile;
  const c = scaleCharts(file).find((x) => x.id === "scale-compute");
  if (c && c.x.length > 0) section.chart = { id: c.id, title: c.title, xLabel: c.xLabel, yLabel: c.yLabel, logX: true, x: c.x, series: c.series, stride: 1, logged: c.x.length };
  const page = join(dirname(rel), "scale.html");
  if (existsSync(join(run, page))) section.page = toPosix(page);
  return section;
}

/** Headline figures of a quickstart summary.json. */
function headlineOf(s: Json | null): [string, string][] {
  if (!s) return [];
  const rows: [string, string][] = [];
  const model = obj(s.model);
  const tr = obj(s.training);
  const f3 = (v: unknown): string => (num(v) === null ? "?" : (num(v) as number).toFixed(3));
  if (num(model.params) !== null) rows.push(["model", `${(num(model.params) as number).toLocaleString("en-US")} parameters, ${num(model.layers) ?? "?"} layer${num(model.layers) === 1 ? "" : "s"}, width ${num(model.width) ?? "?"}`]);
  if (num(tr.steps) !== null) rows.push(["pretraining", `${tr.steps} steps, ${Math.round(num(tr.tokensPerSec) ?? 0)} tokens/s, stopped by ${str(tr.stoppedBy) || "?"}`]);
  if (tr.val) rows.push(["validation loss", `${f3(obj(tr.initialVal).loss)} → ${f3(obj(tr.val).loss)} (${f3(obj(tr.val).bitsPerByte)} bits/byte)`]);
  const data = obj(s.data);
  if (num(data.kept) !== null) rows.push(["corpus", `kept ${data.kept} documents, removed ${num(data.removed) ?? "?"}`]);
  if (num(s.seconds) !== null) rows.push(["wall time", `${((num(s.seconds) as number) / 60).toFixed(1)} min`]);
  return rows;
}

/** Collects everything the report shows from a run folder; throws {@link RunReportError} when nothing is there to show. */
export function collectRunReport(runDir: string): RunReport {
  const run = resolve(runDir);
  if (!existsSync(run) || !statSync(run).isDirectory()) throw new RunReportError(`${run} is not a folder; give a run folder (one holding metrics.jsonl, e.g. runs/quickstart)`);
  const stages = findStageDirs(run).map((d, i) => stageOf(run, d, i));
  const dataReport = readJson(join(run, "data", "report.json"));
  const funnel = funnelOf(dataReport);
  const summary = readJson(join(run, "summary.json"));
  const quickstart = readJson(join(run, "quickstart.json"));
  const evaluations = evaluationsOf(run);
  const scale = scaleOf(run);
  if (stages.length === 0 && !funnel && !summary && evaluations.length === 0 && !scale) {
    throw new RunReportError(`${run} holds no metrics.jsonl, data/report.json, summary.json, eval/*.json or scale.json: nothing to report`);
  }
  const samples = (Array.isArray(summary?.samples) ? (summary.samples as unknown[]) : []).map(obj).map((x) => ({ prompt: str(x.prompt), text: str(x.text), tokensPerSecond: num(x.tokensPerSecond) }));
  const chatRaw = obj(summary?.sft).chat;
  const chat = (Array.isArray(chatRaw) ? chatRaw : []).map(obj).map((x) => ({ prompt: str(x.prompt), answer: str(x.answer) }));

  const versions: [string, string][] = [["report written by", `llmforge ${VERSION}`], ["charts", `uPlot ${uplotVersion()}`], ["Node.js", process.version]];
  const writerOf = (label: string, j: Json | null): void => {
    const w = str(j?.writer) || str(j?.writtenBy);
    if (w) versions.push([label, w]);
  };
  writerOf("summary.json", summary);
  for (const s of stages) if (s.run?.writer) versions.push([`${s.dir === "." ? "" : `${s.dir}/`}run.json`, s.run.writer]);
  const modelCfg = readJson(join(run, "model", "config.json"));
  if (str(modelCfg?.llmforge_version)) versions.push(["model/config.json", `llmforge ${str(modelCfg?.llmforge_version)}`]);
  for (const e of evaluations) if (e.writer) versions.push([e.file, e.writer]);
  if (scale?.writer) versions.push([scale.file, scale.writer]);
  if (dataReport) versions.push(["data/report.json", `${str(dataReport.format)} v${num(dataReport.version) ?? "?"}, recipe ${str(dataReport.recipe) || "?"}`]);

  return {
    format: "llmforge-run-report", version: 1, writer: `llmforge ${VERSION}`, run, createdAt: new Date().toISOString(),
    headline: headlineOf(summary), stages, funnel, tokenizer: tokenizerOf(run), samples, chat, evaluations, scale,
    quickstart: quickstart ? obj(quickstart.options) : null, versions,
  };
}

/** Writes the report of `runDir` to `out` (default RUN/report.html); returns the path and what it holds. */
export function writeRunReport(runDir: string, out?: string): { path: string; report: RunReport; bytes: number } {
  const report = collectRunReport(runDir);
  const path = resolve(out ?? join(report.run, "report.html"));
  // Links on the page are relative to where the page lies.
  if (report.scale?.page) report.scale.page = toPosix(relative(dirname(path), join(report.run, report.scale.page)));
  const html = renderReportPage(report);
  writeFileAtomicSync(path, html);
  return { path, report, bytes: Buffer.byteLength(html) };
}
