// Step statistics per source: documents in/out, pass rate and removals per rule and source, merged across shards in
// any order to the same JSON (keys sorted), rendered in stats.md; the filter step records the source of each removal.
import { describe, expect, it } from "vitest";
import { buildFilterRules, filterDocument, parseFilterConfig } from "../../src/data/filters/index.js";
import { DataStats, type DataStatsJson } from "../../src/data/stats.js";
import type { DataDoc } from "../../src/data/types.js";

function shard(step: string, docs: Array<{ source: string; removedBy?: string }>): DataStats {
  const s = new DataStats(step);
  docs.forEach((d, i) => {
    s.input(10, d.source);
    if (d.removedBy) s.remove(d.removedBy, 10, `${d.source}/${i}`, "some text", "why", d.source);
    else s.output(10, d.source);
  });
  return s;
}

const A = shard("filter", [{ source: "web" }, { source: "web", removedBy: "c4.curly_bracket" }, { source: "mail", removedBy: "gopher_quality.min_words" }]);
const B = shard("filter", [{ source: "mail" }, { source: "books" }, { source: "web", removedBy: "gopher_quality.min_words" }]);

/** The JSON without the examples (the only part that follows merge order: the first three seen). */
function withoutExamples(j: DataStatsJson): unknown {
  return JSON.parse(JSON.stringify(j, (k, v) => (k === "examples" ? undefined : v)));
}

describe("per-source statistics", () => {
  it("counts documents in and out and removals per rule for each source", () => {
    const j = new DataStats("filter").merge(A).merge(B).toJSON();
    expect(j.version).toBe(2);
    expect(j.sources).toEqual({
      books: { docsIn: 1, bytesIn: 10, docsOut: 1, bytesOut: 10, removed: {}, extra: {} },
      mail: { docsIn: 2, bytesIn: 20, docsOut: 1, bytesOut: 10, removed: { "gopher_quality.min_words": { count: 1, bytes: 10 } }, extra: {} },
      web: {
        docsIn: 3,
        bytesIn: 30,
        docsOut: 1,
        bytesOut: 10,
        removed: { "c4.curly_bracket": { count: 1, bytes: 10 }, "gopher_quality.min_words": { count: 1, bytes: 10 } },
        extra: {},
      },
    });
    expect(j.accounted).toBe(true);
  });

  it("gives the same JSON whatever order shards are merged in (keys sorted)", () => {
    const ab = new DataStats("filter").merge(A).merge(B).toJSON();
    const ba = new DataStats("filter").merge(B).merge(A).toJSON();
    expect(JSON.stringify(withoutExamples(ab))).toBe(JSON.stringify(withoutExamples(ba)));
    expect(Object.keys(ab.removed)).toEqual(["c4.curly_bracket", "gopher_quality.min_words"]);
    expect(Object.keys(ab.sources ?? {})).toEqual(["books", "mail", "web"]);
    // and a round trip through JSON (resumed shards are merged from their records) changes nothing
    expect(DataStats.fromJSON(JSON.parse(JSON.stringify(ab))).toJSON()).toEqual(ab);
  });

  it("still reads version 1 statistics (no sources)", () => {
    const v1 = { ...new DataStats("filter").merge(A).toJSON(), version: 1 } as unknown as DataStatsJson;
    delete v1.sources;
    const s = DataStats.fromJSON(v1);
    expect(s.docsIn).toBe(3);
    expect(s.sources).toEqual({});
    expect(s.toMarkdown()).not.toContain("Per source");
  });

  it("renders pass rates per source and a rule × source table in stats.md", () => {
    const md = new DataStats("filter").merge(A).merge(B).toMarkdown();
    expect(md).toContain("| source | docs in | docs out | pass rate | bytes in | bytes out |");
    expect(md).toContain("| web | 3 | 1 | 33.3% | 30 B | 10 B |");
    expect(md).toContain("| rule.reason | books | mail | web | all |");
    expect(md).toContain("| gopher_quality.min_words | 0 | 1 (50.0%) | 1 (33.3%) | 2 |");
    expect(md).toContain("| c4.curly_bracket | 0 | 0 | 1 (33.3%) | 1 |");
  });

  it("shows per-source figures of a step that counts no documents per source as columns", () => {
    const s = new DataStats("train-quality");
    Object.assign(s.source("ham").extra, { class: "positive", pass_rate: 0.975 });
    Object.assign(s.source("spam").extra, { class: "negative", pass_rate: 0.01 });
    const md = s.toMarkdown();
    expect(md).toContain("| source | class | pass_rate |");
    expect(md).toContain("| ham | positive | 0.9750 |");
  });
});

describe("the filter step records removals under the document's source", () => {
  it("attributes each removal to its source", () => {
    const off = Object.fromEntries(["language", "gopher_repetition", "c4", "fineweb", "toxicity"].map((r) => [r, { enabled: false }]));
    const rules = buildFilterRules(parseFilterConfig(off));
    const stats = new DataStats("filter");
    const docs: DataDoc[] = [
      { id: "m/1", text: "too short", source: "mail", meta: {} },
      { id: "w/1", text: "tiny", source: "web", meta: {} },
    ];
    for (const d of docs) {
      stats.input(Buffer.byteLength(d.text), d.source);
      const out = filterDocument(d, rules, stats, Buffer.byteLength(d.text));
      if (out) stats.output(Buffer.byteLength(out.text), d.source);
    }
    const j = stats.toJSON();
    const key = Object.keys(j.removed)[0];
    expect(key).toMatch(/^gopher_quality\./);
    expect(j.sources?.mail.removed[key]?.count).toBe(1);
    expect(j.sources?.web.removed[key]?.count).toBe(1);
    expect(j.sources?.mail.docsOut).toBe(0);
  });
});
