// JSONL document files for the data pipeline's tests: a temp folder, shards written and read back.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DataDoc } from "../../src/data/types.js";
import { JsonlWriter } from "../../src/io/jsonl.js";

/** A new temp folder named llmforge-<prefix>-XXXXXX. */
export function tmp(prefix = "data"): string {
  return mkdtempSync(join(tmpdir(), `llmforge-${prefix}-`));
}

/** Every document of the JSONL files, in order. */
export function readDocs(files: readonly string[]): DataDoc[] {
  return files.flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DataDoc),
  );
}

/** Writes `docs` as one JSONL shard (atomically, as the pipeline does). */
export function writeShard(file: string, docs: readonly DataDoc[]): void {
  const w = new JsonlWriter(file);
  for (const d of docs) w.write(d);
  w.close();
}
