// Pins what clean+filter+pii (`process`) and `filter` alone decide on a fixed sample of the embedded corpus
// to fixtures/decisions.json, recorded before the speed work: kept (same output text and metadata) or the same rule;
// with the native text kernels (when built) and with the TypeScript ones alone.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { textAddon } from "../../src/data/nativeText.js";
import { DECISION_SAMPLE, type Decision, embeddedSample, recordDecisions, shortHash } from "./decisionSample.js";

interface Fixture {
  format: string;
  version: number;
  sample: typeof DECISION_SAMPLE;
  docs: number;
  process: ReturnType<typeof recordDecisions>;
  filter: ReturnType<typeof recordDecisions>;
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/decisions.json", import.meta.url), "utf8")) as Fixture;

/** The first few documents whose decision differs, described for the failure message. */
function differences(got: Decision[], want: Decision[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(got.length, want.length) && out.length < 5; i++) {
    const g = got[i];
    const w = want[i];
    if (JSON.stringify(g) !== JSON.stringify(w)) out.push(`${w?.id ?? g?.id}: want ${JSON.stringify(w)}, got ${JSON.stringify(g)}`);
  }
  return out;
}

describe("decisions on the embedded sample", async () => {
  const docs = await embeddedSample(fixture.sample.every, fixture.sample.mailsPerDir);

  it("reads the same sample the fixture was recorded on", () => {
    expect(fixture.format).toBe("llmforge-data-decisions");
    expect(fixture.version).toBe(1);
    expect(fixture.sample).toEqual(DECISION_SAMPLE);
    // a changed input (new corpus or mail parser version) is not a changed decision: re-record then
    expect(docs.length).toBe(fixture.docs);
    expect(docs.map((d) => `${d.id} ${shortHash(d.text)}`)).toEqual(fixture.process.decisions.map((d) => `${d.id} ${d.input}`));
  });

  for (const step of ["process", "filter"] as const) {
    it(`${step}: every document kept with the same text and meta, or removed by the same rule`, () => {
      const got = recordDecisions(docs, step);
      const want = fixture[step];
      expect(differences(got.decisions, want.decisions)).toEqual([]);
      expect(got.removed).toEqual(want.removed);
      expect(got.modified).toEqual(want.modified);
      // the sample exercises removals by several rules and PII replacements
      expect(Object.keys(want.removed).length).toBeGreaterThan(5);
      if (step === "process") expect(Object.keys(want.modified).some((k) => k.startsWith("pii."))).toBe(true);
    });
  }

  // the same decisions from the TypeScript kernels alone (the native text addon switched off, in a child process)
  it.skipIf(textAddon === null)("process and filter decide the same with the TypeScript text kernels (LLMFORGE_DATA_NATIVE=0)", () => {
    const sample = new URL("./decisionSample.ts", import.meta.url).href;
    const code = `const m = await import(${JSON.stringify(sample)}); const docs = await m.embeddedSample(${fixture.sample.every}, ${fixture.sample.mailsPerDir}); process.stdout.write(JSON.stringify({ process: m.recordDecisions(docs, "process"), filter: m.recordDecisions(docs, "filter") }));`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", env: { ...process.env, LLMFORGE_DATA_NATIVE: "0" }, maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Pick<Fixture, "process" | "filter">;
    for (const step of ["process", "filter"] as const) {
      expect(differences(got[step].decisions, fixture[step].decisions), step).toEqual([]);
      expect(got[step].removed).toEqual(fixture[step].removed);
      expect(got[step].modified).toEqual(fixture[step].modified);
    }
  }, 60_000);
});
