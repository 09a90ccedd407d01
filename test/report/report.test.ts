// `llmforge report`: the page of a small fake run holds its logged points, data funnel, tokenizer
// figures, samples (escaped) and configuration, and refers to nothing outside itself; a scaling-law
// sweep's scale.json in the run folder becomes a section with its fit, recommendation, chart and link.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { escapeHtml, jsonForScript } from "../../src/report/reportPage.js";
import { collectRunReport, MAX_CHART_POINTS, type RunReport, RunReportError, writeRunReport } from "../../src/report/runReport.js";
import { HOSTILE_TEXT, makeFakeRun, PRETRAIN_STEPS, pretrainLoss, pretrainLr, pretrainTps, SCALE_FRONTIER, SFT_LOSS, VAL_POINTS, writeFakeScale } from "./fakeRun.js";

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

describe("run report of a scaling-law sweep", () => {
  const tempRun = (): string => {
    const d = mkdtempSync(join(tmpdir(), "llmforge-report-scale-"));
    made.push(d);
    return d;
  };

  it("shows the fitted constants with their spread, the compute-optimal size, loss vs compute and a link to scale.html", () => {
    const run = tempRun();
    const f = writeFakeScale(run); // a sweep folder: `llmforge scale --out RUN` (no metrics.jsonl needed to report it)
    const { path, report } = writeRunReport(run);
    const s = report.scale;
    expect(s?.file).toBe("scale.json");
    expect(s?.error).toBeNull();
    expect([s?.pointsDone, s?.pointsPlanned]).toEqual([6, 6]);
    expect(s?.fit?.constants.map((c) => [c.name, c.value, c.std])).toEqual([["E", 1.69, 0.05], ["A", 406.4, 12.5], ["alpha", 0.34, 0.02], ["B", 410.7, null], ["beta", 0.28, 0.01]]);
    expect(s?.recommendation).toEqual({ flops: 3.6e9, n: f.fit?.recommendation.n, d: f.fit?.recommendation.d, loss: 2.345, depth: 2, depthParams: 100_000 });

    const html = readFileSync(path, "utf8");
    expect(html).toContain('<section id="scale"><h2>Scaling law</h2>');
    expect(html).toContain('<a href="#scale">scaling law</a>');
    for (const row of [["E", "1.69", "±0.05", "1.6 .. 1.78"], ["A", "406.4", "±12.5", "380 .. 430"], ["alpha", "0.34", "±0.02", "0.3 .. 0.38"], ["B", "410.7", "–", "–"], ["beta", "0.28", "±0.01", "0.26 .. 0.3"]]) {
      expect(html, row[0]).toContain(`<tr>${row.map((c) => `<td>${c}</td>`).join("")}</tr>`);
    }
    for (const text of ["For C = 3.60e+9 FLOPs", "N<sub>opt</sub> = 1.235e+5 non-embedding parameters (95%: 100,000 .. 150,000)", "D<sub>opt</sub> = 4860.5 tokens (95%: 4,000 .. 6,000)",
      "predicted loss 2.345", "nearest depth 2 (100,000 non-embedding parameters)", "rmse 0.0123", "6 of 6 grid points trained", "budget 7.5 min", "runs/quickstart/shards"]) {
      expect(html, text).toContain(text);
    }
    expect(html).toContain('<a href="scale.html">scale.html</a>');
    expect(html).toContain('<div class="plot" id="scale-compute" data-chart="scale-compute">');

    // The chart is scale.html's loss-vs-compute data: every trained point at 6·N·D, and the frontier.
    const chart = embedded(html).scale?.chart;
    const done = f.points.filter((p) => p.loss !== null);
    const xs = [...new Set([...done.map((p) => p.flops), ...SCALE_FRONTIER.map((c) => c.flops)])].sort((a, b) => a - b);
    expect(chart?.x).toEqual(xs);
    expect([chart?.logX, chart?.xLabel]).toEqual([true, "FLOPs"]);
    expect(chart?.series.map((x) => x.label)).toEqual(["depth 1", "depth 2", "frontier (compute-optimal loss)"]);
    for (const depth of [1, 2]) {
      const want = xs.map((x) => done.find((p) => p.depth === depth && p.flops === x)?.loss ?? null);
      expect(chart?.series[depth - 1].values).toEqual(want);
    }
    expect(chart?.series[2].values.filter((v) => v !== null)).toEqual(SCALE_FRONTIER.map((c) => c.loss));
    expect(report.versions).toContainEqual(["scale.json", "llmforge 0.1.0"]);
  });

  it("finds a sweep in RUN/scale/ beside the stages and links it relative to where the page is written", () => {
    const run = fakeRun();
    writeFakeScale(join(run, "scale"));
    const { path, report } = writeRunReport(run);
    expect(report.scale?.file).toBe("scale/scale.json");
    expect(report.stages.map((s) => s.dir)).toEqual([".", "sft"]);
    expect(readFileSync(path, "utf8")).toContain('<a href="scale/scale.html">scale/scale.html</a>');
    const elsewhere = writeRunReport(run, join(run, "sft", "page.html"));
    expect(readFileSync(elsewhere.path, "utf8")).toContain('<a href="../scale/scale.html">');
  });

  it("says an unfinished sweep has no fit yet, with no link before scale.html exists", () => {
    const run = tempRun();
    writeFakeScale(run, { finished: false, page: false });
    const { path, report } = writeRunReport(run);
    expect([report.scale?.fit, report.scale?.recommendation, report.scale?.page]).toEqual([null, null, null]);
    expect(report.scale?.chart?.series.map((x) => x.label)).toEqual(["depth 1", "depth 2"]);
    const html = readFileSync(path, "utf8");
    expect(html).toContain("No fit yet");
    expect(html).toContain("4 of 6 grid points trained");
    expect(html).not.toContain('href="scale.html"');
  });

  it("shows a corrupt or foreign scale.json as unusable, naming the file, and still writes the rest of the report", () => {
    const run = fakeRun();
    writeFileSync(join(run, "scale.json"), '{"format": "llmforge-scale", "version": 1, "points": [');
    const { path, report } = writeRunReport(run);
    expect(report.scale?.error).toMatch(/^unreadable \(.+\)$/);
    const html = readFileSync(path, "utf8");
    expect(html).toMatch(/<p class="error">scale\.json: unreadable \(/);
    expect(report.stages).toHaveLength(2);
    expect(html).toContain("gopher_quality.min_words");

    writeFileSync(join(run, "scale.json"), JSON.stringify({ format: "llmforge-run", version: 1 }));
    expect(collectRunReport(run).scale?.error).toBe("not an llmforge-scale v1 file (format, version or points missing)");
    const f = writeFakeScale(run);
    writeFileSync(join(run, "scale.json"), JSON.stringify({ ...f, points: [{ ...f.points[0], flops: "many" }] }));
    expect(collectRunReport(run).scale?.error).toMatch(/^points\[0\] lacks a number/);
    writeFileSync(join(run, "scale.json"), JSON.stringify({ ...f, fit: { ...f.fit, constants: { ...f.fit?.constants, alpha: { value: null } } } }));
    expect(collectRunReport(run).scale?.error).toMatch(/^its fit lacks a number/);
  });

  it("reports a folder holding only a corrupt scale.json rather than refusing it", () => {
    const run = tempRun();
    writeFileSync(join(run, "scale.json"), "not json");
    expect(collectRunReport(run).scale?.error).toMatch(/^unreadable/);
  });
});
