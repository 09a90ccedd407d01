// Saved eval results (RUN/eval/*.json, written by `llmforge eval --save`) in the run report: found in the run folder
// and its stage folders, one row per task and per group with value ± stderr, drawn in report.html's evaluation section.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { collectRunReport, writeRunReport } from "../../src/report/runReport.js";

const doc = (results: unknown[]) => JSON.stringify({ format: "llmforge-eval", version: 1, writtenBy: "llmforge test", model: "/runs/q/sft/model", results });

describe("evaluation tables in the run report", () => {
  it("collects every eval/*.json of the run and its stages and draws them", () => {
    const run = mkdtempSync(join(tmpdir(), "llmforge-evalreport-"));
    mkdirSync(join(run, "eval"));
    mkdirSync(join(run, "sft", "eval"), { recursive: true });
    writeFileSync(join(run, "eval", "sentiment.json"), doc([{ task: "sentiment", kind: "classify", examples: 40, metrics: { acc: 0.625, acc_stderr: 0.0775, macro_f1: 0.6 } }]));
    writeFileSync(join(run, "sft", "eval", "sft-heldout.json"), doc([{
      task: "sft-heldout", kind: "generate", examples: 16, metrics: { exact_match: 0.25, exact_match_stderr: 0.1118 },
      groups: { arithmetic: { examples: 8, metrics: { exact_match: 0.5, exact_match_stderr: 0.189 } }, capital: { examples: 8, metrics: { exact_match: 0 } } },
    }]));
    writeFileSync(join(run, "eval", "other.json"), JSON.stringify({ format: "something-else" }));
    const r = collectRunReport(run);
    expect(r.evaluations.map((e) => e.file)).toEqual([join("eval", "sentiment.json"), join("sft", "eval", "sft-heldout.json")]);
    const sft = r.evaluations[1];
    expect(sft.rows.map((x) => [x.task, x.group, x.examples])).toEqual([["sft-heldout", null, 16], ["sft-heldout", "arithmetic", 8], ["sft-heldout", "capital", 8]]);
    expect(sft.rows[1].metrics).toEqual([{ name: "exact_match", value: 0.5, stderr: 0.189 }]);
    expect(r.evaluations[0].rows[0].metrics.map((m) => [m.name, m.stderr])).toEqual([["acc", 0.0775], ["macro_f1", null]]);

    const html = readFileSync(writeRunReport(run).path, "utf8");
    expect(html).toContain('<section id="evaluation">');
    expect(html).toContain('href="#evaluation"');
    expect(html).toMatch(/<td><b>sft-heldout<\/b><\/td><td>generate<\/td><td>16<\/td><td>exact_match<\/td><td>0\.2500<\/td><td>±0\.1118<\/td>/);
    expect(html).toMatch(/&nbsp;&nbsp;arithmetic<\/td>/);
  });
});
