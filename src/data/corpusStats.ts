// The `stats` command: describes a JSONL corpus without changing it: documents, bytes and words per source,
// kinds and languages, document length percentiles; JSON + Markdown like every step.
import { type StepOutput, withStepOutput } from "../io/stepOutput.js";
import { finishStep, listShards, readDocs, type StepResult } from "./shards.js";
import { DataStats } from "./stats.js";
import type { OnErrorPolicy } from "./types.js";

/** Computes corpus statistics of JSONL shards and writes them to `outDir` (stats.json, stats.md), a folder of its own. */
export async function runCorpusStats(inputs: string[], outDir: string, onError: OnErrorPolicy = "skip", o: { overwrite?: boolean } = {}): Promise<StepResult> {
  const files = listShards(inputs);
  return withStepOutput(outDir, { command: "data stats", step: "stats", inputs, overwrite: o.overwrite }, (out) => statsInto(files, out, onError));
}

async function statsInto(files: string[], out: StepOutput, onError: OnErrorPolicy): Promise<StepResult> {
  const t0 = performance.now();
  const stats = new DataStats("stats");
  const lens: number[] = [];
  const bySource = new Map<string, { docs: number; bytes: number; words: number }>();
  const byKind = new Map<string, number>();
  const byLang = new Map<string, number>();
  for (const f of files) {
    for await (const { doc, bytes } of readDocs(f, stats, onError)) {
      stats.input(bytes, doc.source);
      stats.output(bytes, doc.source);
      lens.push(bytes);
      const words = doc.text.split(/\s+/).filter(Boolean).length;
      const s = bySource.get(doc.source) ?? { docs: 0, bytes: 0, words: 0 };
      s.docs++;
      s.bytes += bytes;
      s.words += words;
      bySource.set(doc.source, s);
      const kind = typeof doc.meta.kind === "string" ? doc.meta.kind : "unknown";
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      if (typeof doc.meta.lang === "string") byLang.set(doc.meta.lang, (byLang.get(doc.meta.lang) ?? 0) + 1);
    }
  }
  lens.sort((a, b) => a - b);
  const q = (p: number) => (lens.length ? lens[Math.min(lens.length - 1, Math.floor(p * lens.length))] : 0);
  stats.extra = { "doc_bytes.p10": q(0.1), "doc_bytes.p50": q(0.5), "doc_bytes.p90": q(0.9), "doc_bytes.max": lens.at(-1) ?? 0 };
  for (const [k, v] of [...bySource].sort()) {
    stats.extra[`source.${k}.docs`] = v.docs;
    stats.extra[`source.${k}.bytes`] = v.bytes;
    stats.extra[`source.${k}.words`] = v.words;
  }
  for (const [k, v] of [...byKind].sort()) stats.extra[`kind.${k}`] = v;
  for (const [k, v] of [...byLang].sort()) stats.extra[`lang.${k}`] = v;
  stats.seconds = (performance.now() - t0) / 1000;
  return finishStep(out, stats, []);
}
