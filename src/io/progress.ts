// Progress reporting for long jobs: a live line with rate and ETA on a terminal,
// plain periodic lines when stderr is not a TTY (CI logs).

export interface ProgressOptions {
  /** What is being counted, e.g. "docs", "tokens", "steps". */
  unit: string;
  /** Known total, for percent and ETA. */
  total?: number;
  /** Minimum milliseconds between updates (default 200 on a TTY, 5000 otherwise). */
  intervalMs?: number;
  /** Stream to write to (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Set false to silence output entirely (library use, tests). */
  enabled?: boolean;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

function formatRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)}k`;
  return rate.toFixed(1);
}

/** Tracks a count and prints `label: done/total unit (pct) rate unit/s ETA` lines. */
export class Progress {
  private readonly label: string;
  private readonly opts: Required<Omit<ProgressOptions, "total">> & { total?: number };
  private readonly start = performance.now();
  private lastPrint = 0;
  private readonly tty: boolean;
  done = 0;
  extra = "";

  constructor(label: string, options: ProgressOptions) {
    this.label = label;
    const stream = options.stream ?? process.stderr;
    this.tty = Boolean(stream.isTTY);
    this.opts = {
      unit: options.unit,
      total: options.total,
      intervalMs: options.intervalMs ?? (this.tty ? 200 : 5000),
      stream,
      enabled: options.enabled ?? true,
    };
  }

  /** Adds `n` to the count and prints if the interval has passed. `extra` is appended to the line. */
  tick(n = 1, extra?: string): void {
    this.done += n;
    if (extra !== undefined) this.extra = extra;
    const now = performance.now();
    if (now - this.lastPrint >= this.opts.intervalMs) {
      this.lastPrint = now;
      this.print(false);
    }
  }

  /** Changes the expected total (e.g. a schedule fitted to a time budget). */
  setTotal(total: number): void {
    this.opts.total = total;
  }

  /** Elapsed seconds since the progress started. */
  elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }

  line(): string {
    const el = this.elapsed();
    const rate = el > 0 ? this.done / el : 0;
    const { total, unit } = this.opts;
    let s = `${this.label}: ${this.done}`;
    if (total !== undefined && total > 0) {
      const pct = ((100 * this.done) / total).toFixed(1);
      const eta = rate > 0 ? (total - this.done) / rate : Number.NaN;
      s += `/${total} ${unit} (${pct}%) ${formatRate(rate)} ${unit}/s ETA ${formatDuration(eta)}`;
    } else {
      s += ` ${unit} ${formatRate(rate)} ${unit}/s elapsed ${formatDuration(el)}`;
    }
    return this.extra ? `${s} ${this.extra}` : s;
  }

  private print(final: boolean): void {
    if (!this.opts.enabled) return;
    const text = this.line();
    if (this.tty) this.opts.stream.write(`\r\x1b[2K${text}${final ? "\n" : ""}`);
    else this.opts.stream.write(`${text}\n`);
  }

  /** Prints the final line. */
  finish(extra?: string): void {
    if (extra !== undefined) this.extra = extra;
    this.print(true);
  }
}
