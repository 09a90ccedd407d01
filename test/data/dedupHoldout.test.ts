// The dedup step with its default config on a small near-duplicate holdout (src/data/dedup/holdout.ts): recall in
// the 0.80-0.85 true-Jaccard band, no hard negative removed, the audit file, and the same bytes out with one worker
// and with two. The full curve the defaults come from is bench/dedupCurve.bench.ts.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildHoldout } from "../../src/data/dedup/holdout.js";
import { AUDIT_FILE, runDedup } from "../../src/data/dedup/index.js";
import { exactJaccard } from "../../src/data/dedup/minhash.js";
import { JsonlWriter } from "../../src/io/jsonl.js";

describe("dedup on a near-duplicate holdout", () => {
  const holdout = buildHoldout({
    seed: 19,
    bands: [
      { lo: 0.8, hi: 0.85, count: 60 },
      { lo: 0.85, hi: 1.0001, count: 15 },
      { lo: 0.55, hi: 0.7, count: 10 },
    ],
    negatives: 15,
  });

  it("builds pairs in the asked bands from realistic edits, and hard negatives well below the threshold", () => {
    const band = holdout.pairs.filter((p) => p.jaccard >= 0.8 && p.jaccard < 0.85);
    expect(band.length).toBeGreaterThanOrEqual(55);
    for (const p of holdout.pairs.slice(0, 20)) expect(exactJaccard(p.a, p.b, 5)).toBe(p.jaccard);
    expect(holdout.pairs.some((p) => p.edits.some((e) => e.startsWith("rewrite")))).toBe(true);
    expect(holdout.pairs.some((p) => p.edits.some((e) => e.startsWith("whitespace")))).toBe(true);
    expect(holdout.negatives.filter((n) => n.kind === "template").length).toBeGreaterThanOrEqual(10);
    for (const n of holdout.negatives) expect(n.jaccard).toBeLessThan(0.6);
    // deterministic from the seed
    const again = buildHoldout({ seed: 19, bands: [{ lo: 0.8, hi: 0.85, count: 5 }], negatives: 2 });
    expect(again.pairs.map((p) => p.b)).toEqual(buildHoldout({ seed: 19, bands: [{ lo: 0.8, hi: 0.85, count: 5 }], negatives: 2 }).pairs.map((p) => p.b));
  });

  it("finds ≥ 90% of the 0.80-0.85 pairs with the defaults, removes no hard negative, audits every removal, same bytes with 1 and 2 workers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-dedup-holdout-"));
    // consecutive documents go to different shards (pairs cross shard boundaries, either copy may come first)
    const docs = [
      ...holdout.pairs.flatMap((p) => [
        { id: `${p.id}-a`, text: p.a },
        { id: `${p.id}-b`, text: p.b },
      ]),
      ...holdout.negatives.flatMap((n) => [
        { id: `${n.id}-a`, text: n.a },
        { id: `${n.id}-b`, text: n.b },
      ]),
    ];
    const shards = 3;
    for (let s = 0; s < shards; s++) {
      const w = new JsonlWriter(join(dir, "in", `part-${s}.jsonl`));
      for (let i = s; i < docs.length; i += shards) w.write({ ...docs[i], source: "holdout", meta: {} });
      w.close();
    }
    const r1 = await runDedup({}, { inputs: [join(dir, "in")], outDir: join(dir, "out1"), workers: 1, progress: false });
    const r2 = await runDedup({}, { inputs: [join(dir, "in")], outDir: join(dir, "out2"), workers: 2, progress: false });
    for (let s = 0; s < shards; s++) expect(readFileSync(r2.outputs[s], "utf8")).toBe(readFileSync(r1.outputs[s], "utf8"));
    const audit1 = readFileSync(join(r1.outDir, AUDIT_FILE), "utf8");
    expect(readFileSync(join(r2.outDir, AUDIT_FILE), "utf8")).toBe(audit1);

    const removed = new Map<string, { kept: string; reason: string; estimated_jaccard: number }>();
    for (const line of audit1.trim().split("\n").filter(Boolean)) {
      const a = JSON.parse(line) as { id: string; kept: string; reason: string; estimated_jaccard: number };
      removed.set(a.id, a);
    }
    expect(removed.size).toBe(r1.stats.removedCount());
    expect(r1.stats.accounted()).toBe(true);
    // input order: shard by shard, so the copy kept is whichever of a and b lies in the lower shard (then earlier)
    const order = new Map(docs.map((d, i) => [d.id, (i % shards) * docs.length + Math.floor(i / shards)]));
    const firstOf = (id: string) => ((order.get(`${id}-a`) as number) < (order.get(`${id}-b`) as number) ? ["a", "b"] : ["b", "a"]);
    const found = (id: string) => {
      const [first, second] = firstOf(id);
      return removed.get(`${id}-${second}`)?.kept === `${id}-${first}` && !removed.has(`${id}-${first}`);
    };
    const band = holdout.pairs.filter((p) => p.jaccard >= 0.8 && p.jaccard < 0.85);
    const recall = band.filter((p) => found(p.id)).length / band.length;
    expect(recall).toBeGreaterThanOrEqual(0.9);
    const above = holdout.pairs.filter((p) => p.jaccard >= 0.85);
    expect(above.filter((p) => found(p.id)).length / above.length).toBeGreaterThanOrEqual(0.9);
    // the first copy in input order is never the one removed
    for (const p of holdout.pairs) expect(removed.has(`${p.id}-${firstOf(p.id)[0]}`)).toBe(false);
    for (const n of holdout.negatives) {
      expect(removed.has(`${n.id}-a`), n.id).toBe(false);
      expect(removed.has(`${n.id}-b`), n.id).toBe(false);
    }
  });
});
