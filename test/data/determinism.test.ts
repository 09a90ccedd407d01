// Every data step is a function of its inputs, config and seed: the default recipe run twice, on 1 and on 2 worker
// threads and in two time zones, writes the same bytes into every output file. Only wall-clock figures may differ:
// `seconds` in stats.json / report.json / shard records and "Time: … s." in stats.md / report.md. Recipe records
// (_done.json, .shards/*.done.json) also hold absolute paths (each run has its own folder, replaced by <out>) and
// input fingerprints made of file sizes and mtimes (`inputs`, `inputFingerprint`: when the files were written, not
// what they hold), so those two fields are left out too. Data shards and the model are compared as raw bytes.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { runDefaultRecipe } from "../../src/data/defaultRecipe.js";
import { ingest } from "../../src/data/ingest.js";

/** Every file below `dir` (hidden ones too), relative, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

const TIMING_KEYS = new Set(["seconds", "inputFingerprint"]);

/** A file's content with its timing fields, mtime fingerprints and run folder taken out (see the header). */
function comparable(root: string, rel: string): string | Buffer {
  const raw = readFileSync(join(root, rel));
  if (/\.jsonl$|model\.json$/.test(rel)) return raw; // data and model: byte for byte, nothing excluded
  const text = raw.toString("utf8").split(root).join("<out>");
  if (rel.endsWith(".md")) return text.replace(/Time: \d+(?:\.\d+)? s\./g, "Time: <excluded> s.");
  if (!rel.endsWith(".json")) return text;
  const isDone = rel.endsWith("_done.json");
  return JSON.stringify(JSON.parse(text), function (this: unknown, k, v) {
    if (TIMING_KEYS.has(k)) return undefined;
    if (isDone && k === "inputs" && typeof v === "string" && this !== null && typeof this === "object" && "key" in this) return undefined;
    return v;
  });
}

/** Runs `f` with the process's time zone set to `tz` (Node rereads TZ when it is assigned). */
async function inTimeZone<T>(tz: string, f: () => Promise<T>): Promise<T> {
  const before = process.env.TZ;
  process.env.TZ = tz;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

describe("determinism", () => {
  it("ingest reads emails the same at any time and in any time zone (dates that do not parse or name no zone)", async () => {
    const raw = mkdtempSync(join(tmpdir(), "llmforge-det-mail-"));
    mkdirSync(join(raw, "mail"));
    const mail = (date: string, body: string) => `From: Ann <ann@example.com>\nTo: list@example.com\nSubject: notes\nDate: ${date}\n\n${body}\n`;
    // SpamAssassin holds both kinds: "+-0500" does not parse, and a date with no zone is local time to a date parser
    writeFileSync(join(raw, "mail", "1.txt"), mail("Thu, 29 Aug 2002 15:36:58 +-0500", "The minutes of the meeting are attached."));
    writeFileSync(join(raw, "mail", "2.txt"), mail("Fri, 23 Aug 2002 19:27:52", "See you at the next meeting on Friday."));
    writeFileSync(join(raw, "mail", "3.txt"), mail("Mon, 2 Sep 2002 07:13:17 -0400 (EDT)", "The build is fixed now."));
    const cfg = { inputs: [{ path: join(raw, "mail"), source: "mail", format: "email" as const }] };
    const run = (tz: string) => inTimeZone(tz, () => ingest(cfg, { outDir: mkdtempSync(join(tmpdir(), "llmforge-det-ing-")), progress: false }));
    const a = await run("UTC");
    await new Promise((r) => setTimeout(r, 5)); // a later clock, too
    const b = await run("Asia/Kolkata");
    expect(readFileSync(b.outputs[0], "utf8")).toBe(readFileSync(a.outputs[0], "utf8"));
    expect(a.stats.docsOut).toBe(3);
  });

  it("the default recipe writes the same outputs on 1 and 2 workers, in any time zone", { timeout: 180_000 }, async () => {
    // 600 documents per source gives 2 ingest shards of the default 2000 documents, so 2 workers split the work
    const maxDocs = 600;
    const a = mkdtempSync(join(tmpdir(), "llmforge-det-a-"));
    const b = mkdtempSync(join(tmpdir(), "llmforge-det-b-"));
    await runDefaultRecipe({ outDir: a, maxDocs, workers: 1, progress: false });
    // a different time zone for the second run: no step may read dates in local time
    await inTimeZone("Pacific/Chatham", () => runDefaultRecipe({ outDir: b, maxDocs, workers: 2, progress: false }));
    const files = filesUnder(a);
    expect(filesUnder(b)).toEqual(files);
    // the comparison is not vacuous: several shards, a trained model, documents removed by the filter
    expect(files.filter((f) => /^01-ingest\/part-\d+\.jsonl$/.test(f)).length).toBeGreaterThanOrEqual(2);
    expect(files.some((f) => f.endsWith("model.json"))).toBe(true);
    const differing = files.filter((f) => {
      const x = comparable(a, f);
      const y = comparable(b, f);
      return typeof x === "string" ? x !== y : !(y instanceof Buffer && x.equals(y));
    });
    expect(differing).toEqual([]);
    // kept for inspection when the test fails
    for (const d of [a, b]) rmSync(d, { recursive: true, force: true });
  });
});
