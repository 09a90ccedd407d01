// Training metrics as JSONL (one object per line, appended and flushed every step), plus
// truncation to a step on resume so a resumed run's log reads like an uninterrupted one.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFileAtomicSync } from "../io/atomicWrite.js";

export interface MetricRecord {
  step: number;
  [key: string]: number | string | null;
}

export class MetricsLog {
  constructor(readonly path: string) {}

  append(rec: MetricRecord): void {
    appendFileSync(this.path, `${JSON.stringify(rec)}\n`);
  }

  /** Every record in the file (a torn last line from a crash is ignored). */
  read(): MetricRecord[] {
    if (!existsSync(this.path)) return [];
    const out: MetricRecord[] = [];
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as MetricRecord);
      } catch {
        // A line cut by a crash mid-write: dropped, the step is redone after resume.
      }
    }
    return out;
  }

  /** Keeps only records with step <= lastStep (atomic rewrite). */
  truncateAfter(lastStep: number): void {
    const kept = this.read().filter((r) => r.step <= lastStep);
    writeFileAtomicSync(this.path, kept.map((r) => `${JSON.stringify(r)}\n`).join(""));
  }
}
