import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { runDefaultRecipe } from "../../src/data/defaultRecipe.js";
import { runMapStep } from "../../src/data/mapSteps.js";
import { copiesOf, planMix, parseMixConfig, runMix } from "../../src/data/mix.js";
import { runRecipe } from "../../src/data/recipe.js";
import type { DataDoc } from "../../src/data/types.js";
import { readDocs as lines, tmp, writeShard } from "../helpers/dataFiles.js";

function writeShards(dir: string, shards: DataDoc[][]): void {
  for (const [i, docs] of shards.entries()) writeShard(join(dir, `part-${i}.jsonl`), docs);
}

const doc = (id: string, source: string, text = `Document ${id} from ${source}.`, meta: Record<string, unknown> = {}): DataDoc => ({ id, text, source, meta });

describe("map steps", () => {
  it("resume: finished shards are not redone, changed inputs are", async () => {
    const d = tmp("pipe");
    writeShards(join(d, "in"), [[doc("a", "s", "Mail me at joe@example.com today.")], [doc("b", "s", "Call 212-555-0199 now.")]]);
    const r1 = await runMapStep("pii", {}, { inputs: [join(d, "in")], outDir: join(d, "out"), workers: 1, progress: false });
    expect(lines(r1.outputs).map((x) => x.text)).toEqual(["Mail me at <EMAIL> today.", "Call <PHONE> now."]);
    expect(r1.stats.extra.shards_resumed).toBe(0);
    const r2 = await runMapStep("pii", {}, { inputs: [join(d, "in")], outDir: join(d, "out"), workers: 1, progress: false });
    expect(r2.stats.extra.shards_resumed).toBe(2);
    expect(r2.stats.toJSON().modified).toEqual(r1.stats.toJSON().modified);
    // simulate a crash that lost shard 1's output: only it is redone
    rmSync(r1.outputs[1]);
    writeShards(join(d, "in"), [[doc("a", "s", "Mail me at joe@example.com today.")]]);
    const r3 = await runMapStep("pii", {}, { inputs: [join(d, "in")], outDir: join(d, "out"), workers: 1, progress: false });
    expect(r3.stats.extra.shards_resumed).toBe(0); // shard 0 input was rewritten (new mtime), shard 1 output missing
    expect(existsSync(r1.outputs[1])).toBe(true);
  });

  it("worker threads give the same result as one thread", async () => {
    const d = tmp("pipe");
    const mk = (n: number) => Array.from({ length: 20 }, (_, i) => doc(`${n}-${i}`, "s", `Contact user${i}@example.com or visit 10.0.0.${i}. The weather is fine and the committee met today.`));
    writeShards(join(d, "in"), [mk(0), mk(1), mk(2)]);
    const one = await runMapStep("process", {}, { inputs: [join(d, "in")], outDir: join(d, "one"), workers: 1, progress: false });
    const two = await runMapStep("process", {}, { inputs: [join(d, "in")], outDir: join(d, "two"), workers: 2, progress: false });
    expect(lines(two.outputs)).toEqual(lines(one.outputs));
    expect(two.stats.toJSON().removed).toEqual(one.stats.toJSON().removed);
    expect(two.stats.accounted()).toBe(true);
  });

  // the built package's workers start from a file, which Node refuses with an inherited --input-type; run where
  // dist/ is as new as the source (npm install builds it, as CI does)
  const built = fileURLToPath(new URL("../../dist/data/mapSteps.js", import.meta.url));
  const fresh = existsSync(built) && statSync(built).mtimeMs >= statSync(fileURLToPath(new URL("../../src/data/mapSteps.ts", import.meta.url))).mtimeMs;
  it.skipIf(!fresh)("starts worker threads from a `node --input-type=module -e` script (an option workers may not inherit)", () => {
    const d = tmp("pipe");
    writeShards(join(d, "in"), [[doc("a", "s", "Mail me at joe@example.com today.")], [doc("b", "s", "Call +1 415 555 0100 now.")]]);
    const code = `const { runMapStep } = await import(${JSON.stringify(pathToFileURL(built).href)}); await runMapStep("pii", {}, { inputs: [${JSON.stringify(join(d, "in"))}], outDir: ${JSON.stringify(join(d, "out"))}, workers: 2, progress: false });`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(d, "out")).filter((f) => f.endsWith(".jsonl"))).toHaveLength(2);
  });
});

describe("mix", () => {
  it("plans epochs from byte weights and explicit epochs", () => {
    const cfg = parseMixConfig({ weights: { a: 3, b: 1 }, epochs: { c: 2 } });
    const p = planMix({ a: { docs: 10, bytes: 1000 }, b: { docs: 10, bytes: 1000 }, c: { docs: 5, bytes: 500 } }, cfg);
    // target = 2500 total - 1000 fixed for c = 1500, split 3:1
    expect(p.sources.a.epochs).toBeCloseTo(1.125);
    expect(p.sources.b.epochs).toBeCloseTo(0.375);
    expect(p.sources.c.epochs).toBe(2);
    expect(copiesOf("x", 2, 1)).toBe(2);
    const n = Array.from({ length: 4000 }, (_, i) => copiesOf(`d${i}`, 0.25, 7)).reduce((s, c) => s + c, 0);
    expect(n / 4000).toBeGreaterThan(0.22);
    expect(n / 4000).toBeLessThan(0.28);
  });

  it("up/down-samples by source, splits val without leakage, is deterministic by seed, orders a curriculum", async () => {
    const d = tmp("pipe");
    const docs = [
      ...Array.from({ length: 100 }, (_, i) => doc(`a${i}`, "a", "x".repeat(100), { q: i / 100 })),
      ...Array.from({ length: 100 }, (_, i) => doc(`b${i}`, "b", "y".repeat(100), { q: 1 - i / 100 })),
    ];
    writeShards(join(d, "in"), [docs.slice(0, 120), docs.slice(120)]);
    const cfg = { epochs: { a: 2, b: 0.5 }, valFraction: 0.1, seed: 5 };
    const r = await runMix(cfg, { inputs: [join(d, "in")], outDir: join(d, "m1"), progress: false });
    const train = lines(r.train);
    const val = lines(r.val);
    const valIds = new Set(val.map((x) => x.id));
    expect(val.length).toBeGreaterThan(5);
    expect(train.some((x) => valIds.has(x.id))).toBe(false);
    const nA = train.filter((x) => x.source === "a").length;
    const nB = train.filter((x) => x.source === "b").length;
    const aEligible = 100 - val.filter((x) => x.source === "a").length;
    expect(nA).toBe(2 * aEligible);
    expect(nB).toBeGreaterThan(25);
    expect(nB).toBeLessThan(65);
    expect(r.stats.accounted()).toBe(true);
    expect(r.stats.removed["mix.downsampled"].count).toBeGreaterThan(25);
    const again = await runMix(cfg, { inputs: [join(d, "in")], outDir: join(d, "m2"), progress: false });
    expect(lines(again.train)).toEqual(train);
    const other = await runMix({ ...cfg, seed: 6 }, { inputs: [join(d, "in")], outDir: join(d, "m3"), progress: false });
    expect(lines(other.train).map((x) => x.id)).not.toEqual(train.map((x) => x.id));
    const cur = await runMix({ valFraction: 0, curriculum: { field: "q", order: "desc" } }, { inputs: [join(d, "in")], outDir: join(d, "m4"), progress: false });
    const qs = lines(cur.train).map((x) => x.meta.q as number);
    expect(qs).toHaveLength(200);
    for (let i = 1; i < qs.length; i++) expect(qs[i]).toBeLessThanOrEqual(qs[i - 1] + 1e-9);
  });
});

describe("recipes", () => {
  it("runs steps in order, skips up-to-date steps, reruns what depends on a change (YAML-equivalent data)", async () => {
    const d = tmp("pipe");
    writeFileSync(join(d, "a.txt"), "The committee met on Thursday to discuss the budget. Call 212-555-0199 for details.");
    const recipe = {
      outDir: join(d, "out"),
      steps: [
        { step: "ingest" as const, config: { inputs: [join(d, "a.txt")] } },
        { step: "pii" as const },
        { step: "stats" as const },
      ],
    };
    const r1 = await runRecipe(recipe, { progress: false });
    expect(r1.steps.map((s) => s.skipped)).toEqual([false, false, false]);
    expect(lines(r1.steps[1].outputs)[0].text).toContain("<PHONE>");
    const r2 = await runRecipe(recipe, { progress: false });
    expect(r2.steps.map((s) => s.skipped)).toEqual([true, true, true]);
    writeFileSync(join(d, "a.txt"), "Changed text, mail x@example.com please.");
    const r3 = await runRecipe(recipe, { progress: false });
    expect(r3.steps.map((s) => s.skipped)).toEqual([false, false, false]);
    expect(readFileSync(r3.reportMarkdown, "utf8")).toContain("| pii | 1 | 1 | 0 | 0 | no |");
  });
});

describe("default recipe on the embedded corpus (small sample)", () => {
  it("runs end to end with every document accounted for at every step", async () => {
    const d = tmp("pipe");
    const r = await runDefaultRecipe({ outDir: d, maxDocs: 24, progress: false, workers: 1 });
    expect(r.steps.map((s) => s.name)).toEqual(["ingest", "clean", "pii", "train-quality", "filter", "dedup", "mix"]);
    for (const s of r.steps) expect(s.stats.accounted).toBe(true);
    const ingestStats = r.steps[0].stats;
    expect(ingestStats.docsOut).toBeGreaterThan(80);
    const train = lines(r.train);
    expect(train.length).toBeGreaterThan(20);
    expect(new Set(train.map((x) => x.source))).toEqual(new Set(["brown", "sotu", "gutenberg", "email_ham"]));
    // personal data from the email headers is gone
    expect(train.some((x) => /\b[\w.+-]+@[\w-]+\.[\w.]+\b/.test(x.text))).toBe(false);
    expect(r.steps[2].stats.modified["pii.email"].count).toBeGreaterThan(10);
    expect(Number(r.steps[3].stats.extra.held_out_accuracy)).toBeGreaterThan(0.7);
    expect(readdirSync(join(d, "raw", "brown")).length).toBe(24);
    // a second run is all up to date
    const again = await runDefaultRecipe({ outDir: d, maxDocs: 24, progress: false, workers: 1 });
    expect(again.steps.every((s) => s.skipped)).toBe(true);
  });
});
