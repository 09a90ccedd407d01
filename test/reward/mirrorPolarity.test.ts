// The preference mix's polarity mirrors (`mirrorPolarity`): every training sentiment and VADER record again under a training
// phrasing of the other polarity with its preferences reversed, so that only the polarity × valence interaction lowers their loss.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildPreferenceMix, writePreferenceMix } from "../../src/reward/index.js";
import { sentimentPromptSplit } from "../../src/reward/preferenceMix.js";

const base = buildPreferenceMix({ seed: 7, perTask: 80 });
const mir = buildPreferenceMix({ seed: 7, perTask: 80, mirrorPolarity: true });
const mirrors = mir.train.filter((r) => r.meta?.mirror === true);

describe("buildPreferenceMix mirrorPolarity", () => {
  it("is off by default; on, it appends one mirror per training sentiment and VADER record and leaves the rest as it was", () => {
    expect(base.train.some((r) => r.meta?.mirror)).toBe(false);
    expect(base.stats.mirrored).toBeUndefined();
    expect(mir.train.slice(0, base.train.length)).toEqual(base.train);
    expect(mir.heldout).toEqual(base.heldout);
    expect(mirrors).toEqual(mir.train.slice(base.train.length));
    expect(mir.stats.mirrored).toEqual({ sentiment: 80, vader: 80 });
    expect(mir.stats.total.train).toBe(base.stats.total.train + 160);
  });

  it("mirrors a record: same answers, the other polarity's training phrasing, every pair reversed, scores s -> 6 - s", () => {
    const originals = base.train.filter((r) => r.meta?.task === "sentiment" || r.meta?.task === "vader");
    const trainPrompts = sentimentPromptSplit(7).train;
    originals.forEach((o, i) => {
      const m = mirrors[i];
      expect(m.meta?.task).toBe(o.meta?.task);
      expect(m.meta?.polarity).toBe(o.meta?.polarity === "positive" ? "negative" : "positive");
      expect(m.responses).toEqual(o.responses);
      expect(m.pairs).toEqual(o.pairs.map((p) => ({ ...p, better: p.worse, worse: p.better })));
      expect(m.prompt[0].content).toContain(m.meta?.polarity as string);
      if (o.meta?.task === "sentiment") expect(trainPrompts[m.meta?.polarity as string]).toContain(m.prompt[0].content);
      for (const [k, v] of Object.entries(o.scores ?? {})) expect(m.scores?.[k].map((s) => 6 - s)).toEqual(v.map((s) => expect.closeTo(s, 9)));
    });
  });

  it("balances each answer: better under one polarity as often as worse under the other", () => {
    // wins minus losses of each answer over both polarities: zero, so no answer is simply "better"
    const wins = new Map<string, number>();
    for (const r of mir.train.filter((x) => x.meta?.task === "sentiment" || x.meta?.task === "vader"))
      for (const p of r.pairs) {
        wins.set(r.responses[p.better], (wins.get(r.responses[p.better]) ?? 0) + 1);
        wins.set(r.responses[p.worse], (wins.get(r.responses[p.worse]) ?? 0) - 1);
      }
    expect(wins.size).toBeGreaterThan(100);
    for (const w of wins.values()) expect(w).toBe(0);
  });
});

describe("writePreferenceMix curriculum", () => {
  it("writes curriculum.jsonl: the training records that ask for the positive polarity, in train.jsonl's order", () => {
    const dir = mkdtempSync(join(tmpdir(), "curmix-"));
    const plain = writePreferenceMix(join(dir, "a"), { seed: 7, perTask: 40, mirrorPolarity: true });
    const w = writePreferenceMix(join(dir, "b"), { seed: 7, perTask: 40, mirrorPolarity: true, curriculum: true });
    expect(plain.curriculum).toBeUndefined();
    expect(existsSync(join(dir, "a", "curriculum.jsonl"))).toBe(false);
    const read = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const train = read(w.train);
    const cur = read(w.curriculum as string);
    expect(cur).toEqual(train.filter((r) => r.meta?.polarity === "positive"));
    // 40 sentiment and 40 VADER records and their mirrors, each asked both ways: exactly half of those 160
    expect(cur.length).toBe(80);
    expect(readFileSync(w.train)).toEqual(readFileSync(plain.train));
    expect(JSON.parse(readFileSync(w.mix, "utf8")).curriculum).toBe(cur.length);
  });
});
