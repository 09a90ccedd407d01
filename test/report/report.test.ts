// `llmforge report`: the page of a small fake run holds its logged points, data funnel, tokenizer
// figures, samples (escaped) and configuration, and refers to nothing outside itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { escapeHtml, jsonForScript } from "../../src/report/reportPage.js";
import { collectRunReport, MAX_CHART_POINTS, type RunReport, RunReportError, writeRunReport } from "../../src/report/runReport.js";
import { HOSTILE_TEXT, makeFakeRun, PRETRAIN_STEPS, pretrainLoss, pretrainLr, pretrainTps, SFT_LOSS, VAL_POINTS } from "./fakeRun.js";

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const fakeRun = (): string => {
  const d = makeFakeRun();
  made.push(d);
  return d;
};

/** The RunReport embedded in the page (the data the charts are drawn from). */
function embedded(html: string): RunReport {
  const m = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html);
  expect(m, "embedded report data").not.toBeNull();
  return JSON.parse((m as RegExpExecArray)[1]) as RunReport;
}

describe("run report", () => {
  it("collects each stage's curves with the logged points", () => {
    const r = collectRunReport(fakeRun());
    expect(r.stages.map((s) => [s.dir, s.kind])).toEqual([[".", "pretraining"], ["sft", "supervised fine-tuning"]]);
    const pre = r.stages[0];
    expect(pre.records).toBe(PRETRAIN_STEPS.length + 2); // the torn last line is skipped
    const loss = pre.charts.find((c) => c.title === "loss");
    expect(loss?.x).toEqual([0, ...PRETRAIN_STEPS]);
    expect(loss?.series[0].values).toEqual([null, ...PRETRAIN_STEPS.map(pretrainLoss)]);
    expect(loss?.series[1].values).toEqual([VAL_POINTS[0][1], null, null, null, null, null, VAL_POINTS[1][1]]);
    expect(pre.charts.find((c) => c.title === "learning rate")?.series[0].values).toEqual(PRETRAIN_STEPS.map(pretrainLr));
    expect(pre.charts.find((c) => c.title === "throughput")?.series[0].values).toEqual(PRETRAIN_STEPS.map(pretrainTps));
    expect(pre.validation?.columns).toEqual(["step", "loss", "ppl", "bpb", "tokens"]);
    expect(pre.validation?.rows.map((x) => [x.label, x.values[0]])).toEqual(VAL_POINTS.map(([s, v]) => [String(s), v]));
    const sft = r.stages[1];
    expect(sft.charts.find((c) => c.title === "loss")?.series[0].values).toEqual([null, ...SFT_LOSS]);
    expect(sft.evaluation?.rows.find((x) => x.label === "answers.exactMatch")?.values).toEqual([0, 0.3]);
    expect(sft.answers).toEqual([{ prompt: "2 + 2 =", answer: "4", reference: "4", match: true }]);
    expect(r.funnel?.map((f) => [f.name, f.docsOut])).toEqual([["ingest", 1000], ["clean", 970], ["filter", 800]]);
    expect(r.funnel?.[2].removed[0]).toEqual({ rule: "gopher_quality.min_words", count: 120, bytes: 12345 });
    expect(r.tokenizer).toContainEqual(["vocabulary", "512"]);
    expect(r.quickstart).toEqual({ minutes: 1, depth: 2, seed: 7 });
  });

  it("writes one self-contained page holding the data, with all text escaped", () => {
    const run = fakeRun();
    const { path, bytes } = writeRunReport(run);
    expect(path).toBe(join(run, "report.html"));
    const html = readFileSync(path, "utf8");
    expect(Buffer.byteLength(html)).toBe(bytes);
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    const data = embedded(html);
    expect(data.stages[0].charts[0].x).toEqual([0, ...PRETRAIN_STEPS]);
    expect(data.stages[0].charts[0].series[0].values.slice(1)).toEqual(PRETRAIN_STEPS.map(pretrainLoss));
    // The funnel, the tokenizer, the samples, the configuration and the versions are on the page.
    for (const text of ["gopher_quality.min_words", "12,345", "clean.empty", "language.not_eng", "bytes per token (held-out)", "3.250", "Once upon", "a time there was a report.",
      "What is 2 + 2?", "llmforge-run", "batchSize", "uPlot 1.6.32", "validation loss", "prefers-color-scheme: dark", "answers.exactMatch"]) {
      expect(html, text).toContain(text);
    }
    // The hostile sample is text on the page, never markup; in the JSON it cannot close its <script>.
    expect(html).not.toContain(HOSTILE_TEXT);
    expect(html).toContain(escapeHtml(HOSTILE_TEXT));
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(html).not.toMatch(/<img/i);
    expect(data.samples[1].text).toBe(HOSTILE_TEXT);
    // Nothing is loaded from elsewhere: no external src/href, stylesheet link or CSS import.
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b|@import|url\(\s*["']?(?:https?:)?\/\//i);
    expect(html).toContain("var uPlot=");
  });

  it("writes where --out says", () => {
    const run = fakeRun();
    const out = join(run, "elsewhere.html");
    expect(writeRunReport(run, out).path).toBe(out);
    expect(readFileSync(out, "utf8")).toContain("llmforge run report");
  });

  it("thins long logs to at most MAX_CHART_POINTS steps, keeping every validation point and the last step", () => {
    const run = mkdtempSync(join(tmpdir(), "llmforge-report-long-"));
    made.push(run);
    const n = 3 * MAX_CHART_POINTS + 7;
    const rows = Array.from({ length: n }, (_, i) => JSON.stringify({ step: i + 1, loss: 1 / (i + 1), lr: 0.001, tokens_per_s: 5 }));
    rows.push(JSON.stringify({ step: 1234, val_loss: 0.5 }));
    writeFileSync(join(run, "metrics.jsonl"), `${rows.join("\n")}\n`);
    const loss = collectRunReport(run).stages[0].charts[0];
    expect(loss.logged).toBe(n);
    expect(loss.stride).toBe(4);
    expect(loss.x.length).toBeLessThanOrEqual(MAX_CHART_POINTS + 2);
    expect(loss.x).toContain(1234);
    expect(loss.x[loss.x.length - 1]).toBe(n);
    expect(loss.series[1].values[loss.x.indexOf(1234)]).toBe(0.5);
  });

  it("refuses a folder with nothing to report, naming it", () => {
    const empty = mkdtempSync(join(tmpdir(), "llmforge-report-empty-"));
    made.push(empty);
    expect(() => collectRunReport(empty)).toThrow(RunReportError);
    expect(() => collectRunReport(empty)).toThrow(empty);
    expect(() => collectRunReport(join(empty, "missing"))).toThrow(/is not a folder/);
  });

  it("escapes HTML text and JSON for <script>", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
    expect(escapeHtml("plain ünïcode")).toBe("plain ünïcode");
    const j = jsonForScript({ s: "</script><!-- \u2028" });
    expect(j).not.toMatch(/<|\u2028/);
    expect(JSON.parse(j)).toEqual({ s: "</script><!-- \u2028" });
  });
});
