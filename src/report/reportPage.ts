// The HTML of `llmforge report`: one self-contained page (CSS, chart library and data inline; it
// loads nothing from the network) that draws a RunReport, in light and dark mode.
// Charts: uPlot (npm `uplot`, pinned). Chosen over Chart.js and others because it is small (about
// 51 kB minified JS + 2 kB CSS, versus about 200 kB for Chart.js), has no dependencies, is still
// maintained by its author, draws thousands of points per series fast on canvas, and ships an IIFE
// build that inlines into a <script> as it is, with no bundler and nothing fetched at view time.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { escapeUTF8 } from "entities";
import type { ChartSpec, NumberTable, RunReport, StageReport } from "./runReport.js";

const require = createRequire(import.meta.url);

/** Escapes text for HTML element content and double-quoted attribute values (& < > " '), via the `entities` package. */
export const escapeHtml = (s: string): string => escapeUTF8(s);

/** JSON that is safe inside a <script> element: no `<` can close it or open a comment. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** Reads a file of the uplot package (resolved from node_modules like an import). */
function uplotFile(name: string): string {
  return readFileSync(require.resolve(`uplot/${name}`), "utf8");
}

/** The uPlot version bundled into reports. */
export function uplotVersion(): string {
  return String((JSON.parse(uplotFile("package.json")) as { version?: unknown }).version ?? "?");
}

/** Library code inlined into a <script>: refuses text that would end the element early. */
function inlineScript(js: string, what: string): string {
  if (/<\/script|<!--/i.test(js)) throw new Error(`${what} contains "</script" or "<!--" and cannot be inlined into the report`);
  return js;
}

const fmt = (v: number | null): string => {
  if (v === null) return "–";
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  // From 1e5 on, toPrecision(5) would switch to its own exponent form ("1.2346e+5"); one form for all large values.
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(5).replace(/\.?0+$/, "");
};

const table = (head: string[], rows: string[][], cls = ""): string =>
  `<table${cls ? ` class="${cls}"` : ""}><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>` +
  rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("") + "</tbody></table>";

const keyValues = (rows: [string, string][]): string => table(["", ""], rows.map(([k, v]) => [escapeHtml(k), escapeHtml(v)]), "kv");

const numberTable = (t: NumberTable): string => table(t.columns, t.rows.map((r) => [escapeHtml(r.label), ...r.values.map(fmt)]), "num");

/** Flattens config/options objects into (dotted key, JSON value) rows. */
function flatten(v: unknown, prefix = "", out: [string, string][] = []): [string, string][] {
  if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, typeof v === "string" ? v : JSON.stringify(v) ?? "null"]);
  return out;
}

/** A chart's place on the page; CLIENT_JS draws into it from the embedded data. */
const chartFigure = (c: ChartSpec): string =>
  `<figure class="chart"><figcaption>${escapeHtml(c.title)}${c.stride > 1 ? ` <small>(${c.x.length} of ${c.logged} steps drawn: every ${c.stride}th)</small>` : ""}</figcaption>` +
  `<div class="plot" id="${escapeHtml(c.id)}" data-chart="${escapeHtml(c.id)}"></div></figure>`;

function stageSection(s: StageReport, i: number): string {
  const title = `${s.kind}${s.dir === "." ? "" : ` (${s.dir}/)`}`;
  const charts = s.charts.map(chartFigure).join("");
  const parts = [
    `<section id="stage-${i}"><h2>${escapeHtml(title)}</h2>`,
    `<p class="muted">${escapeHtml(s.dir)}/metrics.jsonl: ${s.records.toLocaleString("en-US")} records</p>`,
    charts ? `<div class="charts">${charts}</div>` : "<p>No training records with numbers.</p>",
  ];
  if (s.validation) {
    // Long runs: the first and last evaluation shown, every one a click away (the loss chart has them all).
    const v = s.validation;
    const long = v.rows.length > 15;
    parts.push(`<h3>Validation</h3>${numberTable(long ? { columns: v.columns, rows: [v.rows[0], v.rows[v.rows.length - 1]] } : v)}`);
    if (long) parts.push(`<details><summary>all ${v.rows.length} evaluations</summary>${numberTable(v)}</details>`);
  }
  if (s.evaluation) parts.push(`<h3>Evaluation</h3>${numberTable(s.evaluation)}`);
  if (s.answers.length > 0) {
    parts.push(`<h3>Held-out answers after training</h3>${table(["prompt", "answer", "reference", "match"], s.answers.map((a) =>
      [`<pre>${escapeHtml(a.prompt)}</pre>`, `<pre>${escapeHtml(a.answer)}</pre>`, `<pre>${escapeHtml(a.reference)}</pre>`, a.match === null ? "–" : a.match ? "yes" : "no"]))}`);
  }
  if (s.run) {
    parts.push(`<details><summary>Configuration (${escapeHtml(s.dir)}/run.json, ${escapeHtml(s.run.format)}, written by ${escapeHtml(s.run.writer)})</summary>` +
      `<h4>model</h4>${keyValues(flatten(s.run.config))}<h4>options</h4>${keyValues(flatten(s.run.options))}` +
      `<h4>completed</h4>${keyValues(flatten(s.run.completed))}</details>`);
  }
  parts.push("</section>");
  return parts.join("\n");
}

/** The scaling-law sweep: fitted constants ± bootstrap spread, the compute-optimal size, loss vs compute, a link to scale.html. */
function scaleSection(r: RunReport): string {
  const s = r.scale;
  if (!s) return "";
  const head = `<section id="scale"><h2>Scaling law</h2>`;
  if (s.error) return `${head}<p class="error">${escapeHtml(s.file)}: ${escapeHtml(s.error)}</p></section>`;
  const interval = (lo: number | null, hi: number | null): string => (lo === null || hi === null ? "" : ` (95%: ${fmt(lo)} .. ${fmt(hi)})`);
  const parts = [head, `<p class="muted">${escapeHtml(s.file)}: <code>llmforge scale</code> on ${escapeHtml(s.data || "?")}, depths ${escapeHtml(s.depths.join(", "))}, ` +
    `${s.pointsDone} of ${s.pointsPlanned} grid points trained${s.budgetMinutes === null ? "" : `, budget ${fmt(s.budgetMinutes)} min`}${s.writer ? `, ${escapeHtml(s.writer)}` : ""}.</p>`];
  if (s.fit) {
    parts.push(`<p>L(N, D) = E + A/N<sup>alpha</sup> + B/D<sup>beta</sup>, N = non-embedding parameters, D = training tokens; ` +
      `fitted to ${s.fit.points ?? "?"} points, rmse ${s.fit.rmse === null ? "?" : s.fit.rmse.toFixed(4)}.</p><p class="muted">${escapeHtml(s.fit.method)}</p>`);
    parts.push(table(["constant", "value", "std", "95% interval"], s.fit.constants.map((c) =>
      [escapeHtml(c.name), fmt(c.value), c.std === null ? "–" : `±${fmt(c.std)}`, c.lo === null || c.hi === null ? "–" : `${fmt(c.lo)} .. ${fmt(c.hi)}`]), "num scale-constants"));
  } else {
    parts.push("<p>No fit yet: the sweep is unfinished (rerun the same <code>llmforge scale</code> command to resume it).</p>");
  }
  const rec = s.recommendation;
  if (rec) {
    parts.push(`<h3>Compute-optimal size</h3><p class="scale-recommendation">For C = ${rec.flops.toExponential(2)} FLOPs (C ≈ 6·N·D): ` +
      `N<sub>opt</sub> = ${fmt(rec.n.value)} non-embedding parameters${interval(rec.n.lo, rec.n.hi)}, D<sub>opt</sub> = ${fmt(rec.d.value)} tokens${interval(rec.d.lo, rec.d.hi)}, ` +
      `predicted loss ${rec.loss.toFixed(3)}${rec.depth === null ? "" : `; nearest depth ${rec.depth}${rec.depthParams === null ? "" : ` (${fmt(rec.depthParams)} non-embedding parameters)`}`}.</p>`);
  }
  if (s.chart) parts.push(`<div class="charts">${chartFigure(s.chart)}</div>`);
  parts.push(s.page
    ? `<p>The sweep's own page, with loss vs tokens per model size and the fitted curves, N<sub>opt</sub> and D<sub>opt</sub> vs compute, and the grid: <a href="${escapeHtml(s.page)}">${escapeHtml(s.page)}</a></p>`
    : "<p class=\"muted\">No scale.html beside scale.json yet: <code>llmforge scale</code> writes it when the sweep finishes.</p>");
  parts.push("</section>");
  return parts.join("\n");
}

function funnelSection(r: RunReport): string {
  if (!r.funnel) return "";
  const top = Math.max(1, ...r.funnel.map((f) => f.docsIn));
  const bars = r.funnel.map((f) => {
    const pct = (100 * f.docsOut) / top;
    return `<div class="bar-row"><span class="bar-label">${escapeHtml(f.name)}</span><span class="bar" data-docs-out="${f.docsOut}" style="width:${pct.toFixed(2)}%"></span>` +
      `<span class="bar-value">${f.docsOut.toLocaleString("en-US")}${f.skipped ? " (skipped)" : ""}</span></div>`;
  }).join("");
  const rows = r.funnel.flatMap((f) => f.removed.length === 0
    ? [[escapeHtml(f.name), "–", "0", "0", `${fmt(f.docsIn)} → ${fmt(f.docsOut)}`]]
    : f.removed.map((x, j) => [j === 0 ? escapeHtml(f.name) : "", escapeHtml(x.rule), fmt(x.count), fmt(x.bytes), j === 0 ? `${fmt(f.docsIn)} → ${fmt(f.docsOut)}` : ""]));
  return `<section id="data"><h2>Data: what each rule removed</h2>
<p class="muted">Documents left after each step of data/report.json (bar length relative to the ${top.toLocaleString("en-US")} documents read).</p>
<div class="funnel">${bars}</div>
${table(["step", "rule", "documents removed", "bytes removed", "documents in → out"], rows, "num funnel-table")}</section>`;
}

/** One table per saved evaluation: a row per task and metric (value ± standard error), then per group. */
function evaluationSection(r: RunReport): string {
  if (r.evaluations.length === 0) return "";
  const tables = r.evaluations.map((e) => {
    const rows = e.rows.flatMap((x) =>
      x.metrics.map((m, j) => [
        j === 0 ? (x.group === null ? `<b>${escapeHtml(x.task)}</b>` : `&nbsp;&nbsp;${escapeHtml(x.group)}`) : "",
        j === 0 ? escapeHtml(x.kind) : "", j === 0 ? fmt(x.examples) : "", escapeHtml(m.name), m.value.toFixed(4), m.stderr === null ? "" : `±${m.stderr.toFixed(4)}`,
      ]));
    return `<h3>${escapeHtml(e.file)}</h3><p class="muted">model <code>${escapeHtml(e.model)}</code>${e.writer ? `, ${escapeHtml(e.writer)}` : ""}</p>` +
      table(["task / group", "kind", "examples", "metric", "value", "stderr"], rows, "num eval-table");
  }).join("");
  return `<section id="evaluation"><h2>Evaluation tasks</h2><p class="muted">Saved by <code>llmforge eval --task ... --save</code> under eval/.</p>${tables}</section>`;
}

function samplesSection(r: RunReport): string {
  if (r.samples.length === 0 && r.chat.length === 0) return "";
  const samples = r.samples.map((s) => `<div class="sample"><pre><b>${escapeHtml(s.prompt)}</b>${escapeHtml(s.text)}</pre>` +
    `${s.tokensPerSecond === null ? "" : `<small class="muted">${s.tokensPerSecond.toFixed(0)} tokens/s</small>`}</div>`).join("");
  const chat = r.chat.map((c) => `<div class="sample"><pre><b>user:</b> ${escapeHtml(c.prompt)}\n<b>assistant:</b> ${escapeHtml(c.answer)}</pre></div>`).join("");
  return `<section id="samples"><h2>Sample generations</h2>${samples}${chat ? `<h3>Chat after fine-tuning</h3>${chat}` : ""}</section>`;
}

const CSS = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --panel: #f5f7fa; --accent: #2563eb;
  --s0: #2563eb; --s1: #d9480f; --s2: #2f9e44; --s3: #9c36b5; }
@media (prefers-color-scheme: dark) { :root { --bg: #14171c; --fg: #e3e6ea; --muted: #9aa3b2; --line: #2e343e; --panel: #1c2027; --accent: #6ea8fe;
  --s0: #6ea8fe; --s1: #ff922b; --s2: #69db7c; --s3: #da77f2; } }
html { background: var(--bg); color: var(--fg); }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; margin-top: 2.2rem; }
a { color: var(--accent); } .muted { color: var(--muted); } nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; } th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
table.num td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; } table.funnel-table td:nth-child(2) { text-align: left; } table.kv td:first-child { color: var(--muted); } table.kv thead { display: none; }
td pre, .sample pre { margin: 0; white-space: pre-wrap; word-break: break-word; font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.sample { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.8rem; margin: 0.5rem 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 1rem; }
.chart { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem; min-width: 0; }
.chart figcaption { font-weight: 600; margin-bottom: 0.3rem; } .plot { width: 100%; min-height: 260px; }
.uplot { color: var(--fg); } .u-legend { font-size: 12px; }
.funnel { margin: 0.8rem 0; } .bar-row { display: grid; grid-template-columns: 9rem 1fr 7rem; align-items: center; gap: 0.5rem; margin: 0.15rem 0; }
.bar { display: block; height: 1rem; background: var(--accent); border-radius: 3px; min-width: 2px; } .bar-value { font-variant-numeric: tabular-nums; }
.error { color: var(--s1); font-weight: 600; }
details { margin: 1rem 0; } summary { cursor: pointer; color: var(--muted); }
`;

/** Draws every chart of the embedded data with uPlot; redrawn when the colour scheme or the width changes. */
const CLIENT_JS = `
(function () {
  "use strict";
  var report = JSON.parse(document.getElementById("report-data").textContent);
  var charts = {};
  window.llmforgeCharts = charts;
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function tickLabel(v) {
    var a = Math.abs(v);
    if (v === 0) return "0";
    if (a < 1e-3 || a >= 1e7) return v.toExponential(1);
    return a >= 1000 ? Math.round(v).toLocaleString("en-US") : String(Number(v.toPrecision(3)));
  }
  function ticks(u, splits) { return splits.map(function (v) { return v == null ? "" : tickLabel(v); }); }
  function specs() {
    var out = report.scale && report.scale.chart ? [report.scale.chart] : [];
    report.stages.forEach(function (s) { s.charts.forEach(function (c) { out.push(c); }); });
    return out;
  }
  function draw() {
    var fg = cssVar("--fg"), grid = cssVar("--line");
    var colours = [cssVar("--s0"), cssVar("--s1"), cssVar("--s2"), cssVar("--s3")];
    specs().forEach(function (c) {
      var el = document.getElementById(c.id);
      if (!el) return;
      if (charts[c.id]) charts[c.id].destroy();
      var axis = function (label, size) { return { label: label, size: size, stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: ticks }; };
      var opts = {
        width: Math.max(300, el.clientWidth), height: 240,
        scales: { x: { time: false, distr: c.logX ? 3 : 1 } },
        axes: [axis(c.xLabel || "step", 50), axis(c.yLabel, 78)],
        series: [{ label: c.xLabel || "step" }].concat(c.series.map(function (s, i) {
          return { label: s.label, stroke: colours[i % colours.length], width: 1.5, spanGaps: true, points: { show: s.points, size: 5, fill: colours[i % colours.length] } };
        })),
      };
      charts[c.id] = new uPlot(opts, [c.x].concat(c.series.map(function (s) { return s.values; })), el);
      el.setAttribute("data-points", String(c.x.length));
    });
    document.body.setAttribute("data-rendered", "true");
  }
  draw();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
  var timer = 0;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      Object.keys(charts).forEach(function (id) { var el = document.getElementById(id); if (el) charts[id].setSize({ width: Math.max(300, el.clientWidth), height: 240 }); });
    }, 100);
  });
})();
`;

/** The whole report page for `r`: self-contained HTML (nothing is loaded from elsewhere when it is opened). */
export function renderReportPage(r: RunReport): string {
  const nav = [
    ...(r.scale ? [["scale", "scaling law"]] : []),
    ...r.stages.map((s, i) => [`stage-${i}`, s.kind]),
    ...(r.evaluations.length > 0 ? [["evaluation", "evaluation"]] : []),
    ...(r.funnel ? [["data", "data"]] : []), ...(r.tokenizer ? [["tokenizer", "tokenizer"]] : []),
    ...(r.samples.length + r.chat.length > 0 ? [["samples", "samples"]] : []), ["config", "configuration and versions"],
  ].map(([id, label]) => `<a href="#${escapeHtml(id)}">${escapeHtml(label)}</a>`).join("");
  const title = `llmforge run report: ${r.run}`;
  return `<!DOCTYPE html>
<!-- ${r.format} v${r.version}, written by ${escapeHtml(r.writer)} at ${r.createdAt}; self-contained: nothing is loaded from the network. -->
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${escapeHtml(r.writer)}">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)}</title>
<style>${uplotFile("dist/uPlot.min.css")}</style>
<style>${CSS}</style>
</head>
<body>
<header><h1>llmforge run report</h1><p class="muted"><code>${escapeHtml(r.run)}</code> · written ${escapeHtml(r.createdAt)} by ${escapeHtml(r.writer)}</p>
<nav>${nav}</nav>
${r.headline.length > 0 ? keyValues(r.headline) : ""}</header>
<main>
${scaleSection(r)}
${r.stages.map(stageSection).join("\n")}
${evaluationSection(r)}
${funnelSection(r)}
${r.tokenizer ? `<section id="tokenizer"><h2>Tokenizer</h2>${keyValues(r.tokenizer)}</section>` : ""}
${samplesSection(r)}
<section id="config"><h2>Configuration and versions</h2>
${r.quickstart ? `<h3>quickstart options (quickstart.json)</h3>${keyValues(flatten(r.quickstart))}` : ""}
<h3>versions</h3>${keyValues(r.versions)}
<p class="muted">Each stage's model configuration and options are under its section.</p></section>
</main>
<script type="application/json" id="report-data">${jsonForScript(r)}</script>
<script>${inlineScript(uplotFile("dist/uPlot.iife.min.js"), "uplot/dist/uPlot.iife.min.js")}</script>
<script>${CLIENT_JS}</script>
</body>
</html>
`;
}
