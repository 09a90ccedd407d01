// Per-step statistics: documents and bytes in/out, removals per named rule, rejected inputs with
// file:line, modifications (e.g. PII replacements), rendered as versioned JSON and a Markdown table.

/** Count, bytes and a few examples for one removal rule, rejection reason or modification kind. */
export interface ReasonEntry {
  count: number;
  bytes: number;
  examples: string[];
}

/** The JSON form of a step's statistics (written as `stats.json`). */
export interface DataStatsJson {
  format: "llmforge-data-stats";
  version: 1;
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
  seconds = 0;

  constructor(step: string) {
    this.step = step;
  }

  /** Counts one input document of `bytes` UTF-8 bytes. */
  input(bytes: number): void {
    this.docsIn++;
    this.bytesIn += bytes;
  }

  /** Counts one output document. */
  output(bytes: number): void {
    this.docsOut++;
    this.bytesOut += bytes;
  }

  /** Counts a document removed by `rule` (e.g. `gopher_quality.mean_word_length`); `id` and `text` make the example. */
  remove(rule: string, bytes: number, id: string, text: string, detail?: string): void {
    // the example (a pass over the whole text) is built only while the reason still collects examples
    const full = (this.removed[rule]?.examples.length ?? 0) >= MAX_EXAMPLES;
    addEntry(this.removed, rule, bytes, full ? undefined : `${id}${detail ? ` (${detail})` : ""}: ${exampleSnippet(text)}`);
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
    for (const [k, v] of Object.entries(o.extra)) {
      const cur = this.extra[k];
      this.extra[k] = typeof v === "number" && typeof cur === "number" ? cur + v : v;
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

  toJSON(): DataStatsJson {
    return {
      format: "llmforge-data-stats",
      version: 1,
      step: this.step,
      docsIn: this.docsIn,
      bytesIn: this.bytesIn,
      docsOut: this.docsOut,
      bytesOut: this.bytesOut,
      removed: this.removed,
      rejected: this.rejected,
      modified: this.modified,
      extra: this.extra,
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
  table("Rejected inputs", j.rejected, "inputs");
  table("Modified", j.modified, "occurrences");
  const extra = Object.entries(j.extra);
  if (extra.length > 0) {
    lines.push("", "| figure | value |", "| --- | --- |");
    for (const [k, v] of extra) lines.push(`| ${mdEscape(k)} | ${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : v} |`);
  }
  return `${lines.join("\n")}\n`;
}
