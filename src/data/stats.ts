// Per-step statistics: documents and bytes in/out, removals per named rule, rejected inputs with
// file:line, modifications (e.g. PII replacements), the same per source (documents in/out, pass rate, removals per
// rule), rendered as versioned JSON and Markdown. Keys are written sorted so the files do not depend on the order in
// which shards (or worker threads) reported.

/** Count, bytes and a few examples for one removal rule, rejection reason or modification kind. */
export interface ReasonEntry {
  count: number;
  bytes: number;
  examples: string[];
}

/** What one source did in a step: documents and bytes in and out, removals per rule, figures a step adds. */
export interface SourceEntry {
  docsIn: number;
  bytesIn: number;
  docsOut: number;
  bytesOut: number;
  /** Documents of this source removed, keyed like {@link DataStatsJson.removed}. */
  removed: Record<string, { count: number; bytes: number }>;
  /** Per-source figures a step reports (e.g. the quality classifier's held-out accuracy and pass rate). */
  extra: Record<string, number | string>;
}

/** The JSON form of a step's statistics (written as `stats.json`). */
export interface DataStatsJson {
  format: "llmforge-data-stats";
  /** 2 added `sources`; version 1 files (no `sources`) are still read. */
  version: 2;
  step: string;
  docsIn: number;
  bytesIn: number;
  docsOut: number;
  bytesOut: number;
  /** Documents removed, keyed by `rule` or `rule.reason`. */
  removed: Record<string, ReasonEntry>;
  /** Inputs that could not be read as documents, keyed by reason; examples name `file:line`. */
  rejected: Record<string, ReasonEntry>;
  /** Kept documents that were changed, keyed by what changed (count = occurrences, bytes = documents touched). */
  modified: Record<string, ReasonEntry>;
  /** Extra figures a step reports (e.g. classifier accuracy, clusters). */
  extra: Record<string, number | string>;
  /** The same per document source, for steps that name the source of each document (absent in version 1). */
  sources?: Record<string, SourceEntry>;
  /** Wall-clock time: the only figure that differs between two runs of the same step on the same inputs. */
  seconds: number;
  /** True when docsIn = docsOut + removed + rejected (every input document accounted for). */
  accounted: boolean;
}

const MAX_EXAMPLES = 3;
const EXAMPLE_CHARS = 160;

/** Shortens a text to a one-line example. */
export function exampleSnippet(text: string, max = EXAMPLE_CHARS): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

function addEntry(map: Record<string, ReasonEntry>, key: string, bytes: number, example: string | undefined, count = 1): void {
  let e = map[key];
  if (!e) {
    e = { count: 0, bytes: 0, examples: [] };
    map[key] = e;
  }
  e.count += count;
  e.bytes += bytes;
  if (example !== undefined && e.examples.length < MAX_EXAMPLES) e.examples.push(example);
}

function newSource(): SourceEntry {
  return { docsIn: 0, bytesIn: 0, docsOut: 0, bytesOut: 0, removed: {}, extra: {} };
}

/** The entries of a record with their keys sorted (code-unit order, independent of locale and insertion order). */
function sortedRecord<T, U = T>(r: Record<string, T>, f: (v: T) => U = (v) => v as unknown as U): Record<string, U> {
  const out: Record<string, U> = {};
  for (const k of Object.keys(r).sort()) out[k] = f(r[k]);
  return out;
}

function mergeExtra(dst: Record<string, number | string>, src: Record<string, number | string>): void {
  for (const [k, v] of Object.entries(src)) {
    const cur = dst[k];
    dst[k] = typeof v === "number" && typeof cur === "number" ? cur + v : v;
  }
}

/** Accumulates the statistics of one step (or one shard of it); shards merge with {@link DataStats.merge}. */
export class DataStats {
  step: string;
  docsIn = 0;
  bytesIn = 0;
  docsOut = 0;
  bytesOut = 0;
  removed: Record<string, ReasonEntry> = {};
  rejected: Record<string, ReasonEntry> = {};
  modified: Record<string, ReasonEntry> = {};
  extra: Record<string, number | string> = {};
  /** Per source; filled by the calls that name a source. */
  sources: Record<string, SourceEntry> = {};
  seconds = 0;

  constructor(step: string) {
    this.step = step;
  }

  /** The entry of `source`, created on first use. */
  source(source: string): SourceEntry {
    let e = this.sources[source];
    if (!e) {
      e = newSource();
      this.sources[source] = e;
    }
    return e;
  }

  /** Counts one input document of `bytes` UTF-8 bytes (and for its source, when given). */
  input(bytes: number, source?: string): void {
    this.docsIn++;
    this.bytesIn += bytes;
    if (source !== undefined) {
      const e = this.source(source);
      e.docsIn++;
      e.bytesIn += bytes;
    }
  }

  /** Counts one output document (and for its source, when given). */
  output(bytes: number, source?: string): void {
    this.docsOut++;
    this.bytesOut += bytes;
    if (source !== undefined) {
      const e = this.source(source);
      e.docsOut++;
      e.bytesOut += bytes;
    }
  }

  /**
   * Counts a document removed by `rule` (e.g. `gopher_quality.mean_word_length`); `id` and `text` make the example;
   * `source` (the document's) adds the removal to that source's row.
   */
  remove(rule: string, bytes: number, id: string, text: string, detail?: string, source?: string): void {
    // the example (a pass over the whole text) is built only while the reason still collects examples
    const full = (this.removed[rule]?.examples.length ?? 0) >= MAX_EXAMPLES;
    addEntry(this.removed, rule, bytes, full ? undefined : `${id}${detail ? ` (${detail})` : ""}: ${exampleSnippet(text)}`);
    if (source !== undefined) {
      const r = this.source(source).removed;
      r[rule] ??= { count: 0, bytes: 0 };
      const e = r[rule];
      e.count++;
      e.bytes += bytes;
    }
  }

  /** Counts an input unit that could not become a document; `where` is `file:line`. An input is counted too. */
  reject(reason: string, bytes: number, where: string): void {
    this.docsIn++;
    this.bytesIn += bytes;
    addEntry(this.rejected, reason, bytes, where);
  }

  /** Records `count` changes of kind `what` in one kept document. */
  modify(what: string, count: number, example?: string): void {
    addEntry(this.modified, what, 1, example, count);
  }

  /** Adds another shard's statistics into this one. */
  merge(o: DataStats | DataStatsJson): this {
    this.docsIn += o.docsIn;
    this.bytesIn += o.bytesIn;
    this.docsOut += o.docsOut;
    this.bytesOut += o.bytesOut;
    for (const [src, dst] of [
      [o.removed, this.removed],
      [o.rejected, this.rejected],
      [o.modified, this.modified],
    ] as const) {
      for (const [k, e] of Object.entries(src)) {
        addEntry(dst, k, e.bytes, undefined, e.count);
        const d = dst[k];
        for (const ex of e.examples) if (d.examples.length < MAX_EXAMPLES) d.examples.push(ex);
      }
    }
    mergeExtra(this.extra, o.extra);
    for (const [name, src] of Object.entries(o.sources ?? {})) {
      const d = this.source(name);
      d.docsIn += src.docsIn;
      d.bytesIn += src.bytesIn;
      d.docsOut += src.docsOut;
      d.bytesOut += src.bytesOut;
      for (const [k, e] of Object.entries(src.removed)) {
        d.removed[k] ??= { count: 0, bytes: 0 };
        const r = d.removed[k];
        r.count += e.count;
        r.bytes += e.bytes;
      }
      mergeExtra(d.extra, src.extra);
    }
    return this;
  }

  removedCount(): number {
    return Object.values(this.removed).reduce((s, e) => s + e.count, 0);
  }

  rejectedCount(): number {
    return Object.values(this.rejected).reduce((s, e) => s + e.count, 0);
  }

  /** True when every input document is kept, removed by a named rule, or rejected with a reason. */
  accounted(): boolean {
    return this.docsIn === this.docsOut + this.removedCount() + this.rejectedCount();
  }

  /** The JSON form; reason and source keys sorted (a step's `extra` keeps the order the step wrote it in). */
  toJSON(): DataStatsJson {
    const copy = (e: ReasonEntry): ReasonEntry => ({ count: e.count, bytes: e.bytes, examples: [...e.examples] });
    return {
      format: "llmforge-data-stats",
      version: 2,
      step: this.step,
      docsIn: this.docsIn,
      bytesIn: this.bytesIn,
      docsOut: this.docsOut,
      bytesOut: this.bytesOut,
      removed: sortedRecord(this.removed, copy),
      rejected: sortedRecord(this.rejected, copy),
      modified: sortedRecord(this.modified, copy),
      extra: { ...this.extra },
      sources: sortedRecord(this.sources, (e) => ({ ...e, removed: sortedRecord(e.removed, (r) => ({ ...r })), extra: { ...e.extra } })),
      seconds: this.seconds,
      accounted: this.accounted(),
    };
  }

  static fromJSON(j: DataStatsJson): DataStats {
    const s = new DataStats(j.step).merge(j);
    s.seconds = j.seconds;
    return s;
  }

  /** A readable Markdown report: totals table, then the top reasons with examples. */
  toMarkdown(topN = 10): string {
    return dataStatsMarkdown(this.toJSON(), topN);
  }
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "-";
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
}

function fmtFigure(v: number | string | undefined): string {
  if (v === undefined) return "-";
  return typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : String(v);
}

/**
 * Per-source tables: documents in/out and pass rate (with the figures a step adds per source), then every removal
 * reason with its count per source and the share of that source's input it removed.
 */
function sourceTables(lines: string[], j: DataStatsJson): void {
  const sources = j.sources ?? {};
  const names = Object.keys(sources).sort();
  if (names.length === 0) return;
  const extraKeys: string[] = [];
  for (const n of names) for (const k of Object.keys(sources[n].extra)) if (!extraKeys.includes(k)) extraKeys.push(k);
  // a step that only reports figures per source (train-quality) has no documents in/out columns
  const counted = names.some((n) => sources[n].docsIn > 0);
  if (counted || extraKeys.length > 0) perSourceTable(lines, sources, names, counted, extraKeys);
  removalTable(lines, sources, names);
}

function perSourceTable(lines: string[], sources: Record<string, SourceEntry>, names: string[], counted: boolean, extraKeys: string[]): void {
  lines.push("", "#### Per source", "");
  lines.push(`| source |${counted ? " docs in | docs out | pass rate | bytes in | bytes out |" : ""}${extraKeys.map((k) => ` ${mdEscape(k)} |`).join("")}`);
  lines.push(`| --- |${counted ? " ---: | ---: | ---: | ---: | ---: |" : ""}${extraKeys.map(() => " ---: |").join("")}`);
  for (const n of names) {
    const e = sources[n];
    const docs = counted ? ` ${e.docsIn} | ${e.docsOut} | ${pct(e.docsOut, e.docsIn)} | ${fmtBytes(e.bytesIn)} | ${fmtBytes(e.bytesOut)} |` : "";
    lines.push(`| ${mdEscape(n)} |${docs}${extraKeys.map((k) => ` ${fmtFigure(e.extra[k])} |`).join("")}`);
  }
}

function removalTable(lines: string[], sources: Record<string, SourceEntry>, names: string[]): void {
  const rules = [...new Set(names.flatMap((n) => Object.keys(sources[n].removed)))].sort();
  if (rules.length === 0) return;
  lines.push("", "#### Removed per rule and source (documents, share of the source's input)", "");
  lines.push(`| rule.reason |${names.map((n) => ` ${mdEscape(n)} |`).join("")} all |`, `| --- |${names.map(() => " ---: |").join("")} ---: |`);
  for (const r of rules) {
    const cells = names.map((n) => {
      const c = sources[n].removed[r]?.count ?? 0;
      // the share needs the source's input count, which a step that names sources only on removals lacks
      return c === 0 || sources[n].docsIn === 0 ? ` ${c} |` : ` ${c} (${pct(c, sources[n].docsIn)}) |`;
    });
    const all = names.reduce((s, n) => s + (sources[n].removed[r]?.count ?? 0), 0);
    lines.push(`| ${mdEscape(r)} |${cells.join("")} ${all} |`);
  }
}

/** Renders statistics JSON as Markdown. */
export function dataStatsMarkdown(j: DataStatsJson, topN = 10): string {
  const lines: string[] = [];
  lines.push(`### Step \`${j.step}\``, "");
  lines.push("| | documents | bytes |", "| --- | ---: | ---: |");
  lines.push(`| in | ${j.docsIn} | ${fmtBytes(j.bytesIn)} |`);
  lines.push(`| out | ${j.docsOut} (${pct(j.docsOut, j.docsIn)}) | ${fmtBytes(j.bytesOut)} (${pct(j.bytesOut, j.bytesIn)}) |`);
  const rem = Object.values(j.removed).reduce((s, e) => s + e.count, 0);
  const rej = Object.values(j.rejected).reduce((s, e) => s + e.count, 0);
  lines.push(`| removed by rules | ${rem} | ${fmtBytes(Object.values(j.removed).reduce((s, e) => s + e.bytes, 0))} |`);
  lines.push(`| rejected inputs | ${rej} | ${fmtBytes(Object.values(j.rejected).reduce((s, e) => s + e.bytes, 0))} |`);
  lines.push("", `Every input accounted for: **${j.accounted ? "yes" : "NO"}**. Time: ${j.seconds.toFixed(2)} s.`);
  const table = (title: string, map: Record<string, { count: number; bytes: number; examples: string[] }>, unit: string) => {
    const entries = Object.entries(map).sort((a, b) => b[1].count - a[1].count);
    if (entries.length === 0) return;
    lines.push("", `#### ${title}`, "", `| reason | ${unit} | bytes | examples |`, "| --- | ---: | ---: | --- |");
    for (const [k, e] of entries.slice(0, topN)) {
      lines.push(`| ${mdEscape(k)} | ${e.count} | ${unit === "occurrences" ? `${e.bytes} docs` : fmtBytes(e.bytes)} | ${e.examples.map((x) => mdEscape(x)).join("<br>")} |`);
    }
    if (entries.length > topN) lines.push(`| … ${entries.length - topN} more | | | |`);
  };
  table("Removed (top reasons)", j.removed, "documents");
  sourceTables(lines, j);
  table("Rejected inputs", j.rejected, "inputs");
  table("Modified", j.modified, "occurrences");
  const extra = Object.entries(j.extra);
  if (extra.length > 0) {
    lines.push("", "| figure | value |", "| --- | --- |");
    for (const [k, v] of extra) lines.push(`| ${mdEscape(k)} | ${fmtFigure(v)} |`);
  }
  return `${lines.join("\n")}\n`;
}
