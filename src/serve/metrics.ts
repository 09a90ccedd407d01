// Prometheus metrics of the server in the text exposition format (version 0.0.4): counters, gauges read at scrape
// time, and histograms with cumulative buckets. Small on purpose: the few series GET /metrics exposes.

type Labels = Record<string, string>;

const labelKey = (l: Labels) => JSON.stringify(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));
const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const e = Object.entries(l);
  return e.length === 0 ? "" : `{${e.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
};

/** A monotonically increasing count per label set. */
export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels, value: by });
  }

  /** The count for `labels` (0 when never incremented). */
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join("\n");
  }
}

/** A value read when scraped. */
export class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join("\n");
  }
}

/** Observations counted into cumulative buckets (upper bounds in seconds), with their sum and count, per label set. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}

  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      for (let i = 0; i < this.buckets.length; i++) lines.push(`${this.name}_bucket${labelText({ ...labels, le: String(this.buckets[i]) })} ${counts[i]}`);
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join("\n");
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The server's series; `render` gives the body of GET /metrics. */
export class ServerMetrics {
  readonly requests = new Counter("llmforge_requests_total", "HTTP requests answered, by route and status code");
  readonly promptTokens = new Counter("llmforge_prompt_tokens_total", "prompt tokens of accepted generation requests");
  readonly generatedTokens = new Counter("llmforge_generation_tokens_total", "tokens generated");
  readonly finished = new Counter("llmforge_sequences_finished_total", "choices finished, by reason (stop, length, abort: client gone or shutdown)");
  readonly latency = new Histogram("llmforge_request_duration_seconds", "time from request to the last byte, by route", LATENCY_BUCKETS);
  readonly firstToken = new Histogram("llmforge_time_to_first_token_seconds", "time from a generation request to its first token", LATENCY_BUCKETS);
  private readonly gauges: Gauge[];

  constructor(state: { queued: () => number; running: () => number }) {
    this.gauges = [
      new Gauge("llmforge_queue_length", "sequences waiting for a decoding slot", state.queued),
      new Gauge("llmforge_running_sequences", "sequences in the running batch", state.running),
    ];
  }

  render(): string {
    return `${[this.requests, this.promptTokens, this.generatedTokens, this.finished, ...this.gauges, this.latency, this.firstToken].map((m) => m.render()).join("\n")}\n`;
  }
}
