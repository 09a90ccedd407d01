// The scaling-law page of a `llmforge scale` sweep: OUT/scale.html, drawn from OUT/scale.json (whose
// types live here, below the pipeline that writes it). Self-contained like report.html: uPlot and the
// data inline, nothing fetched. Charts: loss vs tokens per model size with the fitted curves, loss vs
// compute with the frontier, and N_opt / D_opt vs compute.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { escapeHtml, jsonForScript } from "./reportPage.js";

const require = createRequire(import.meta.url);

/** A value with its bootstrap spread (null when too few resamples). */
export interface Uncertain {
  value: number;
  std: number | null;
  lo: number | null;
  hi: number | null;
}

export interface ScaleFit {
  method: string;
  params: { e: number; a: number; alpha: number; b: number; beta: number };
  rmse: number;
  points: number;
  resamples: number;
  dropped: number;
  constants: { E: Uncertain; A: Uncertain; alpha: Uncertain; B: Uncertain; beta: Uncertain };
  recommendation: { flops: number; n: Uncertain; d: Uncertain; loss: number };
}

export interface ScalePoint {
  id: string;
  depth: number;
  tokens: number;
  steps: number;
  estSeconds: number;
  params: number;
  nonEmbeddingParams: number;
  /** 6 · N (non-embedding) · D. */
  flops: number;
  /** Final validation loss; null until the point is trained. */
  loss: number | null;
  seconds: number | null;
  /** Run folder relative to OUT. */
  dir: string;
}

/** OUT/scale.json. */
export interface ScaleFile {
  format: "llmforge-scale";
  version: 1;
  writer: string;
  createdAt: string;
  settings: {
    data: string; depths: number[]; points: number; tokens: number[] | null; blockSize: number; batchSize: number; lr: number; minLr: number;
    evalBatches: number; minSteps: number; seed: number; budgetMinutes: number;
  };
  probes: { depth: number; tokensPerSec: number; overheadSeconds: number }[];
  probeSeconds: number;
  points: ScalePoint[];
  fit: ScaleFit | null;
  recommendedDepth?: { depth: number; nonEmbeddingParams: number };
  frontier: { flops: number; n: number; d: number; loss: number }[];
}

/** One chart of the sweep (x shared by its series, null where a series has no point); report.html draws "scale-compute" too. */
export interface ScaleChart {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  logY: boolean;
  x: number[];
  series: { label: string; values: (number | null)[]; points: boolean }[];
}

const loss = (f: ScaleFit["params"], n: number, d: number): number => f.e + f.a / n ** f.alpha + f.b / d ** f.beta;

/** Series on a shared x axis: each input series is (x, y) pairs; x values merged and sorted, gaps null. */
function merge(id: string, title: string, xLabel: string, yLabel: string, logY: boolean, input: { label: string; xy: [number, number][]; points: boolean }[]): ScaleChart {
  const x = [...new Set(input.flatMap((s) => s.xy.map((p) => p[0])))].sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  return {
    id, title, xLabel, yLabel, logY, x,
    series: input.map((s) => {
      const values: (number | null)[] = x.map(() => null);
      for (const [px, py] of s.xy) values[at.get(px) as number] = py;
      return { label: s.label, values, points: s.points };
    }),
  };
}

/** The page's charts: "scale-tokens" (loss vs tokens per depth, with the fit), "scale-compute" (loss vs FLOPs, frontier), "scale-frontier" (N_opt, D_opt). */
export function scaleCharts(f: ScaleFile): ScaleChart[] {
  const done = f.points.filter((p) => p.loss !== null);
  const depths = [...new Set(f.points.map((p) => p.depth))];
  const tMin = Math.min(...f.points.map((p) => p.tokens));
  const tMax = Math.max(...f.points.map((p) => p.tokens));
  const curve = Array.from({ length: 30 }, (_, i) => tMin / 2 * (4 * tMax / tMin) ** (i / 29));
  const byTokens = depths.flatMap((d) => {
    const pts = done.filter((p) => p.depth === d);
    const n = f.points.find((p) => p.depth === d)?.nonEmbeddingParams as number;
    const measured = { label: `depth ${d} measured`, xy: pts.map((p) => [p.tokens, p.loss as number] as [number, number]), points: true };
    return f.fit ? [measured, { label: `depth ${d} fit`, xy: curve.map((t) => [t, loss(f.fit?.params as ScaleFit["params"], n, t)] as [number, number]), points: false }] : [measured];
  });
  const out = [merge("scale-tokens", "Validation loss vs training tokens, per model size (lines: the fit)", "tokens", "loss", false, byTokens)];
  const byCompute = depths.map((d) => ({ label: `depth ${d}`, xy: done.filter((p) => p.depth === d).map((p) => [p.flops, p.loss as number] as [number, number]), points: true }));
  if (f.frontier.length > 0) byCompute.push({ label: "frontier (compute-optimal loss)", xy: f.frontier.map((c) => [c.flops, c.loss]), points: false });
  out.push(merge("scale-compute", "Loss vs compute C = 6·N·D (line: the compute-optimal frontier)", "FLOPs", "loss", false, byCompute));
  if (f.frontier.length > 0) {
    out.push(merge("scale-frontier", "Compute-optimal N and D vs compute", "FLOPs", "N_opt, D_opt", true, [
      { label: "N_opt (non-embedding parameters)", xy: f.frontier.map((c) => [c.flops, c.n]), points: false },
      { label: "D_opt (tokens)", xy: f.frontier.map((c) => [c.flops, c.d]), points: false },
    ]));
  }
  return out;
}

const num = (v: number | null, digits = 4): string => v === null ? "–" : Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(digits - 1) : v.toPrecision(digits);

const CLIENT_JS = `
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("scale-data").textContent);
  var css = function (n) { return getComputedStyle(document.documentElement).getPropertyValue(n).trim(); };
  var tick = function (u, s) { return s.map(function (v) { return v == null ? "" : (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-2)) ? v.toExponential(1) : String(Number(v.toPrecision(3))); }); };
  var made = [];
  function draw() {
    made.forEach(function (u) { u.destroy(); }); made = [];
    var fg = css("--fg"), grid = css("--line"), pal = [css("--s0"), css("--s1"), css("--s2"), css("--s3"), "#868e96", "#e8590c"];
    data.charts.forEach(function (c) {
      var el = document.getElementById(c.id);
      var axis = function (label) { return { label: label, stroke: fg, size: 70, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: tick }; };
      made.push(new uPlot({
        width: Math.max(320, el.clientWidth), height: 300,
        scales: { x: { time: false, distr: 3 }, y: c.logY ? { distr: 3 } : {} },
        axes: [axis(c.xLabel), axis(c.yLabel)],
        series: [{ label: c.xLabel }].concat(c.series.map(function (s, i) {
          var col = pal[Math.floor(i / (c.id === "scale-tokens" && data.fitted ? 2 : 1)) % pal.length];
          return { label: s.label, stroke: col, width: s.points ? 0 : 1.5, spanGaps: true, points: { show: s.points, size: 7, fill: col } };
        })),
      }, [c.x].concat(c.series.map(function (s) { return s.values; })), el));
    });
    document.body.setAttribute("data-rendered", "true");
  }
  draw();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
})();
`;

const CSS = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --panel: #f5f7fa; --s0: #2563eb; --s1: #d9480f; --s2: #2f9e44; --s3: #9c36b5; }
@media (prefers-color-scheme: dark) { :root { --bg: #14171c; --fg: #e3e6ea; --muted: #9aa3b2; --line: #2e343e; --panel: #1c2027; --s0: #6ea8fe; --s1: #ff922b; --s2: #69db7c; --s3: #da77f2; } }
html { background: var(--bg); color: var(--fg); } body { font: 14px/1.5 system-ui, sans-serif; max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
.muted { color: var(--muted); } table { border-collapse: collapse; margin: 0.5rem 0 1rem; } th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; } .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1rem; }
figure { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem; min-width: 0; } figcaption { font-weight: 600; } .plot { width: 100%; min-height: 300px; } .uplot { color: var(--fg); }
`;

const table = (head: string[], rows: string[][]): string =>
  `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;

/** The page for a sweep: constants ± uncertainty, the recommendation, the charts and the grid. */
export function renderScalePage(f: ScaleFile): string {
  const cs = scaleCharts(f);
  const fit = f.fit;
  const constRows = fit ? (Object.entries(fit.constants) as [string, Uncertain][]).map(([k, c]) => [k, num(c.value), c.std === null ? "–" : `± ${num(c.std, 2)}`, c.lo === null ? "–" : `${num(c.lo, 3)} .. ${num(c.hi, 3)}`]) : [];
  const r = fit?.recommendation;
  const fitHtml = fit && r
    ? `<h2>Fit</h2><p>L(N, D) = E + A/N<sup>alpha</sup> + B/D<sup>beta</sup>, N = non-embedding parameters, D = training tokens; ${fit.points} points, rmse ${fit.rmse.toFixed(4)}.</p>
<p class="muted">${escapeHtml(fit.method)}</p>${table(["constant", "value", "std", "95% interval"], constRows)}
<h2>Compute-optimal size</h2><p>For C = ${r.flops.toExponential(2)} FLOPs (C ≈ 6·N·D): N<sub>opt</sub> = ${num(r.n.value, 3)} non-embedding parameters${r.n.lo === null ? "" : ` (95%: ${num(r.n.lo, 3)} .. ${num(r.n.hi, 3)})`}, D<sub>opt</sub> = ${num(r.d.value, 3)} tokens${r.d.lo === null ? "" : ` (95%: ${num(r.d.lo, 3)} .. ${num(r.d.hi, 3)})`}, predicted loss ${r.loss.toFixed(3)}${f.recommendedDepth ? `; nearest depth ${f.recommendedDepth.depth} (${num(f.recommendedDepth.nonEmbeddingParams, 3)} parameters)` : ""}.</p>`
    : "<p>No fit yet: the sweep is unfinished.</p>";
  const grid = table(["point", "depth", "N (non-emb)", "params", "tokens", "steps", "FLOPs", "val loss", "seconds (est)"], f.points.map((p) => [
    p.id, String(p.depth), String(p.nonEmbeddingParams), String(p.params), String(p.tokens), String(p.steps), p.flops.toExponential(2),
    p.loss === null ? "–" : p.loss.toFixed(4), `${p.seconds === null ? "–" : p.seconds.toFixed(0)} (${p.estSeconds.toFixed(0)})`,
  ]));
  const figures = cs.map((c) => `<figure><figcaption>${escapeHtml(c.title)}</figcaption><div class="plot" id="${escapeHtml(c.id)}"></div></figure>`).join("");
  const uplotJs = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
  if (/<\/script|<!--/i.test(uplotJs)) throw new Error("uplot/dist/uPlot.iife.min.js cannot be inlined into the page");
  return `<!DOCTYPE html>
<!-- llmforge scaling-law page, written by ${escapeHtml(f.writer)} from scale.json; self-contained. -->
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">
<title>llmforge scaling laws</title><style>${readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8")}</style><style>${CSS}</style></head>
<body><h1>Scaling laws</h1><p class="muted">${escapeHtml(f.settings.data)} · depths ${f.settings.depths.join(", ")} · batch ${f.settings.batchSize} × block ${f.settings.blockSize} · seed ${f.settings.seed} · budget ${f.settings.budgetMinutes} min · planned ${escapeHtml(f.createdAt)}</p>
${fitHtml}<div class="charts">${figures}</div><h2>Grid</h2>${grid}
<script type="application/json" id="scale-data">${jsonForScript({ charts: cs, fitted: fit !== null })}</script>
<script>${uplotJs}</script><script>${CLIENT_JS}</script></body></html>
`;
}

/** Writes OUT/scale.html from the sweep record; returns its path. */
export function writeScalePage(out: string, f: ScaleFile): string {
  const path = join(out, "scale.html");
  writeFileAtomicSync(path, renderScalePage(f));
  return path;
}
