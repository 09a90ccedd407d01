// `llmforge scale`: a scaling-law sweep. Probes the training speed of each model depth, plans a grid
// of depths × token counts that fits a time budget, pretrains every grid point in its own run folder
// (finished points are skipped, an unfinished one resumes), fits L(N, D) = E + A/N^alpha + B/D^beta
// to the final validation losses, and derives the compute-optimal frontier under C ≈ 6·N·D.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { configFromDepth, formatCount, type GPTConfig, paramCount } from "../model/config.js";
import { writeRunReport } from "../report/runReport.js";
import { type ScaleFile, type ScaleFit, type ScalePoint, writeScalePage } from "../report/scalePage.js";
import type { MatmulPrecision } from "../tensor/ops/index.js";
import { Tokenizer } from "../tokenizer/index.js";
import { completedPretrain, findShards, pretrain, resolveTokenizerPath } from "../train/pretrain.js";
import { VERSION } from "../version.js";

export type { ScaleFile, ScaleFit, ScalePoint } from "../report/scalePage.js";

/** A sweep that cannot run as asked (budget, grid, inputs); the message says what to change. */
export class ScaleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScaleError";
  }
}

// ---------------------------------------------------------------------------------------------
// The fit: variable projection. For fixed (alpha, beta) the model is linear in (E, A, B), so each
// (alpha, beta) on a grid gets its exact least-squares (E, A, B); the best cell is refined on two
// finer grids. No starting point to guess and no local minimum to fall into at grid resolution.

/** One observation: non-embedding parameters N, training tokens D, final validation loss. */
export interface LossObservation {
  n: number;
  d: number;
  loss: number;
}

export interface ChinchillaParams {
  e: number;
  a: number;
  alpha: number;
  b: number;
  beta: number;
}

/** L(N, D) = E + A/N^alpha + B/D^beta. */
export function chinchillaLoss(p: ChinchillaParams, n: number, d: number): number {
  return p.e + p.a / n ** p.alpha + p.b / d ** p.beta;
}

const ALPHA_MIN = 0.02;
const ALPHA_MAX = 2;

/** Least-squares (E, A, B) for fixed exponents; null when singular or when A, B or E come out negative. */
function linearPart(obs: PreparedObs, alpha: number, beta: number): { p: ChinchillaParams; sse: number } | null {
  // Columns scaled to max 1 (divided by the value at the smallest N, D) so the 3×3 normal equations
  // stay well conditioned for any exponent. Allocation-free: the bootstrap calls this ~10^6 times.
  const { logN, logD, loss, minLogN, minLogD } = obs;
  let s11 = 0, s12 = 0, s13 = 0, s22 = 0, s23 = 0, s33 = 0, y1 = 0, y2 = 0, y3 = 0;
  const n = loss.length;
  for (let i = 0; i < n; i++) {
    const u = Math.exp(-alpha * (logN[i] - minLogN));
    const v = Math.exp(-beta * (logD[i] - minLogD));
    const y = loss[i];
    s11 += 1; s12 += u; s13 += v; s22 += u * u; s23 += u * v; s33 += v * v;
    y1 += y; y2 += u * y; y3 += v * y;
  }
  const c = solve3([[s11, s12, s13, y1], [s12, s22, s23, y2], [s13, s23, s33, y3]]);
  if (!c) return null;
  const p = { e: c[0], a: c[1] * Math.exp(alpha * minLogN), alpha, b: c[2] * Math.exp(beta * minLogD), beta };
  if (!(c[1] > 0 && c[2] > 0 && c[0] >= 0)) return null;
  let sse = 0;
  for (let i = 0; i < n; i++) {
    const r = c[0] + c[1] * Math.exp(-alpha * (logN[i] - minLogN)) + c[2] * Math.exp(-beta * (logD[i] - minLogD)) - loss[i];
    sse += r * r;
  }
  return { p, sse };
}

interface PreparedObs {
  logN: Float64Array;
  logD: Float64Array;
  loss: Float64Array;
  minLogN: number;
  minLogD: number;
}

function prepare(obs: LossObservation[]): PreparedObs {
  const logN = Float64Array.from(obs, (o) => Math.log(o.n));
  const logD = Float64Array.from(obs, (o) => Math.log(o.d));
  return { logN, logD, loss: Float64Array.from(obs, (o) => o.loss), minLogN: Math.min(...logN), minLogD: Math.min(...logD) };
}

/** Gaussian elimination with partial pivoting on an augmented 3×4 matrix (modified in place). */
function solve3(m: number[][]): number[] | null {
  for (let col = 0; col < 3; col++) {
    let piv = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r][col]) > Math.abs(m[piv][col])) piv = r;
    if (Math.abs(m[piv][col]) < 1e-12) return null;
    [m[col], m[piv]] = [m[piv], m[col]];
    for (let r = col + 1; r < 3; r++) {
      const f = m[r][col] / m[col][col];
      for (let k = col; k < 4; k++) m[r][k] -= f * m[col][k];
    }
  }
  const x = [0, 0, 0];
  for (let r = 2; r >= 0; r--) {
    let s = m[r][3];
    for (let k = r + 1; k < 3; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

/**
 * Least-squares fit of {@link chinchillaLoss} to the observations (in loss space): a 0.02 grid over
 * alpha, beta ∈ [0.02, 2] (step 0.04) with exact linear least squares for E, A, B ≥ 0 at each cell,
 * then two finer grids (0.004, 0.0004) around the best cell. Needs at least two distinct N, two distinct D
 * and six observations (five constants).
 */
export function fitChinchilla(obs: LossObservation[]): { params: ChinchillaParams; rmse: number } {
  const ns = new Set(obs.map((o) => o.n)).size;
  const ds = new Set(obs.map((o) => o.d)).size;
  if (ns < 2 || ds < 2 || obs.length < 6) {
    throw new ScaleError(`the fit needs at least 2 model sizes, 2 token counts and 6 points; got ${ns} sizes, ${ds} token counts, ${obs.length} points`);
  }
  if (obs.some((o) => !(o.n > 0 && o.d > 0 && Number.isFinite(o.loss)))) throw new ScaleError("the fit needs positive N, D and finite losses");
  const prepared = prepare(obs);
  let best: { p: ChinchillaParams; sse: number } | null = null;
  const scan = (a0: number, a1: number, b0: number, b1: number, step: number): void => {
    for (let alpha = a0; alpha <= a1 + 1e-12; alpha += step) {
      for (let beta = b0; beta <= b1 + 1e-12; beta += step) {
        const r = linearPart(prepared, alpha, beta);
        if (r && (!best || r.sse < best.sse)) best = r;
      }
    }
  };
  scan(ALPHA_MIN, ALPHA_MAX, ALPHA_MIN, ALPHA_MAX, 0.04);
  for (const step of [0.004, 0.0004]) {
    const c = best as { p: ChinchillaParams } | null;
    if (!c) break;
    const lo = (v: number): number => Math.max(ALPHA_MIN, v - 10 * step);
    const hi = (v: number): number => Math.min(ALPHA_MAX, v + 10 * step);
    scan(lo(c.p.alpha), hi(c.p.alpha), lo(c.p.beta), hi(c.p.beta), step);
  }
  const found = best as { p: ChinchillaParams; sse: number } | null;
  if (!found) throw new ScaleError("no fit with positive A, B and E: the losses do not fall with model size and with tokens (train longer or widen the grid)");
  return { params: found.p, rmse: Math.sqrt(found.sse / obs.length) };
}

/**
 * The compute-optimal split of C FLOPs (C = 6·N·D): minimising L along the constraint gives
 * N_opt = G·(C/6)^(beta/(alpha+beta)), G = (alpha·A/(beta·B))^(1/(alpha+beta)), D_opt = C/(6·N_opt).
 */
export function computeOptimal(p: ChinchillaParams, flops: number): { n: number; d: number; loss: number } {
  const g = ((p.alpha * p.a) / (p.beta * p.b)) ** (1 / (p.alpha + p.beta));
  const n = g * (flops / 6) ** (p.beta / (p.alpha + p.beta));
  const d = flops / (6 * n);
  return { n, d, loss: chinchillaLoss(p, n, d) };
}

/** mulberry32: a small seeded generator, so the bootstrap gives the same intervals every run. */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function quantile(sorted: number[], q: number): number {
  const i = q * (sorted.length - 1);
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/**
 * The fit with its uncertainty from a bootstrap over grid points: `resamples` times, draw the
 * points with replacement, refit, and report each constant's standard deviation and 2.5/97.5
 * percentiles (resamples with fewer than 2 sizes, 2 token counts or no valid fit are dropped and
 * counted). The recommended split of `flops` gets the same treatment.
 */
export function fitWithBootstrap(obs: LossObservation[], opts: { resamples?: number; seed?: number; flops: number }): ScaleFit {
  const { params, rmse } = fitChinchilla(obs);
  const rand = seededRandom(opts.seed ?? 0);
  const resamples = opts.resamples ?? 200;
  const draws: (ChinchillaParams & { nOpt: number; dOpt: number })[] = [];
  let dropped = 0;
  for (let r = 0; r < resamples; r++) {
    const sample = obs.map(() => obs[Math.floor(rand() * obs.length)]);
    try {
      const p = fitChinchilla(sample).params;
      const opt = computeOptimal(p, opts.flops);
      draws.push({ ...p, nOpt: opt.n, dOpt: opt.d });
    } catch {
      dropped++;
    }
  }
  const spread = (key: keyof (typeof draws)[number], value: number) => {
    if (draws.length < 2) return { value, std: null, lo: null, hi: null };
    const v = draws.map((x) => x[key]).sort((x, y) => x - y);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1));
    return { value, std, lo: quantile(v, 0.025), hi: quantile(v, 0.975) };
  };
  const opt = computeOptimal(params, opts.flops);
  return {
    method: `least squares in loss space (grid over alpha, beta + exact linear E, A, B); uncertainty: bootstrap over grid points, ${resamples} resamples (${dropped} degenerate dropped), std and 95% percentile interval`,
    params, rmse, points: obs.length, resamples, dropped,
    constants: { E: spread("e", params.e), A: spread("a", params.a), alpha: spread("alpha", params.alpha), B: spread("b", params.b), beta: spread("beta", params.beta) },
    recommendation: { flops: opts.flops, n: spread("nOpt", opt.n), d: spread("dOpt", opt.d), loss: opt.loss },
  };
}

// ---------------------------------------------------------------------------------------------
// Planning: every point's time is its steps at the depth's measured tokens/s plus the depth's
// measured fixed cost (model set-up, the two evaluations, saving); token counts grow by a factor of
// 2 per point and the largest is the biggest that keeps the grid inside the budget.

/** Parameters a token passes through in the transformer blocks (embeddings and head left out, as Kaplan et al. count N). */
export function nonEmbeddingParams(c: GPTConfig): number {
  return paramCount(c) - paramCount({ ...c, nLayer: 0 });
}

/** What the probe measured for one depth. */
export interface DepthProbe {
  depth: number;
  tokensPerSec: number;
  /** Seconds a point of this depth costs besides its training steps. */
  overheadSeconds: number;
}

export interface PlanRequest {
  depths: number[];
  /** Token counts per depth (default 3), each twice the one before. */
  points: number;
  /** Explicit token counts (then `points` is their number); each a multiple of batch × block. */
  tokens?: number[];
  /** Seconds left for training (the budget less the probe). */
  budgetSeconds: number;
  /** Seconds the probe took, for the message when the budget is too small. */
  probeSeconds?: number;
  batchSize: number;
  blockSize: number;
  /** The smallest point trains at least this many steps (default 10). */
  minSteps?: number;
  probes: DepthProbe[];
}

export interface PlannedPoint {
  id: string;
  depth: number;
  tokens: number;
  steps: number;
  estSeconds: number;
}

/** Seconds the points of a grid with these token counts take, at the probes' speed. */
function gridSeconds(tokens: number[], probes: DepthProbe[]): number {
  let s = 0;
  for (const p of probes) for (const t of tokens) s += t / p.tokensPerSec + p.overheadSeconds;
  return s;
}

/** Plans the grid (depths × token counts) so that its estimated time fits `budgetSeconds`; throws ScaleError when it cannot. */
export function planGrid(r: PlanRequest): PlannedPoint[] {
  const unit = r.batchSize * r.blockSize;
  const minSteps = r.minSteps ?? 10;
  checkGridShape(r.depths, r.tokens ? r.tokens.length : r.points);
  for (const d of r.depths) if (!r.probes.some((p) => p.depth === d)) throw new ScaleError(`no throughput probe for depth ${d}`);
  const probes = r.depths.map((d) => r.probes.find((p) => p.depth === d) as DepthProbe);
  let tokens: number[];
  if (r.tokens) {
    checkTokens(r.tokens, r.batchSize, r.blockSize, minSteps);
    tokens = [...r.tokens].sort((a, b) => a - b);
    const need = gridSeconds(tokens, probes);
    if (need > r.budgetSeconds) throw tooSmall(r, need);
  } else {
    const ratios = Array.from({ length: r.points }, (_, i) => 2 ** (i - r.points + 1)); // ..., 1/4, 1/2, 1
    const smallest = minSteps * unit / ratios[0];
    const need = gridSeconds(ratios.map((f) => smallest * f), probes);
    if (need > r.budgetSeconds) throw tooSmall(r, need);
    // Largest D_max whose grid fits: time is linear in D_max.
    const perToken = probes.reduce((s, p) => s + ratios.reduce((t, f) => t + f, 0) / p.tokensPerSec, 0);
    const fixed = probes.reduce((s, p) => s + r.points * p.overheadSeconds, 0);
    const dMax = (r.budgetSeconds - fixed) / perToken;
    tokens = ratios.map((f) => Math.max(minSteps, Math.floor((dMax * f) / unit)) * unit);
  }
  return probes.flatMap((p) => tokens.map((t) => ({
    id: `d${p.depth}-t${t}`, depth: p.depth, tokens: t, steps: t / unit, estSeconds: t / p.tokensPerSec + p.overheadSeconds,
  })));
}

function tooSmall(r: PlanRequest, needSeconds: number): ScaleError {
  const what = `${r.depths.length} depths (${r.depths.join(",")}) × ${r.tokens ? r.tokens.length : r.points} token counts`;
  const probe = r.probeSeconds ?? 0;
  return new ScaleError(
    `--budget-minutes ${fmtMinutes((r.budgetSeconds + probe) / 60)} is too small for ${what}: the smallest such grid needs about ` +
      `${fmtMinutes(needSeconds / 60)} min of training at the measured speed${probe > 0 ? ` after the ${probe.toFixed(0)} s throughput probe` : ""}, ` +
      `so at least ${fmtMinutes((needSeconds + probe) / 60)} min in all. Raise --budget-minutes, or pass fewer --depths / --points.`,
  );
}

const fmtMinutes = (m: number): string => (m >= 10 ? m.toFixed(1) : m.toPrecision(2));

/** Explicit token counts must be whole optimizer steps, distinct, and at least `minSteps` steps each. */
export function checkTokens(tokens: number[], batchSize: number, blockSize: number, minSteps: number): void {
  const unit = batchSize * blockSize;
  const bad = tokens.filter((t) => !Number.isInteger(t) || t <= 0 || t % unit !== 0);
  if (bad.length > 0) {
    throw new ScaleError(`--tokens ${bad.join(",")}: every token count must be a positive multiple of batch × block = ${batchSize} × ${blockSize} = ${unit} (one optimizer step)`);
  }
  if (new Set(tokens).size !== tokens.length) throw new ScaleError(`--tokens ${tokens.join(",")}: token counts repeat`);
  const short = tokens.filter((t) => t / unit < minSteps);
  if (short.length > 0) throw new ScaleError(`--tokens ${short.join(",")}: a point needs at least ${minSteps} steps (${minSteps * unit} tokens at ${batchSize} × ${blockSize} per step)`);
}

/** The grid must give the fit enough distinct sizes and token counts. */
export function checkGridShape(depths: number[], points: number): void {
  if (depths.length < 2) throw new ScaleError(`--depths ${depths.join(",")}: the fit needs at least 2 model sizes`);
  if (new Set(depths).size !== depths.length) throw new ScaleError(`--depths ${depths.join(",")}: depths repeat`);
  if (points < 2) throw new ScaleError(`--points ${points}: the fit needs at least 2 token counts per model size`);
  if (depths.length * points < 6) throw new ScaleError(`a grid of ${depths.length} × ${points} = ${depths.length * points} points is too few for 5 constants; the fit needs at least 6`);
}

// ---------------------------------------------------------------------------------------------
// The sweep.

export interface ScaleOptions {
  data: string;
  tokenizer: string;
  out: string;
  budgetMinutes: number;
  depths?: number[];
  points?: number;
  tokens?: number[];
  blockSize?: number;
  batchSize?: number;
  lr?: number;
  minLr?: number;
  evalBatches?: number;
  /** Steps of the shorter of the two throughput probes per depth (default 3; the other trains 3×). */
  probeSteps?: number;
  minSteps?: number;
  seed?: number;
  /** FLOPs to recommend a model size for (default: the compute of the whole grid). */
  flops?: number;
  resamples?: number;
  precision?: MatmulPrecision;
  signal?: AbortSignal;
  /** Progress lines and the table on stderr (default true). */
  progress?: boolean;
}

export interface ScaleResult {
  file: ScaleFile;
  /** OUT/scale.json and OUT/scale.html. */
  jsonPath: string;
  htmlPath: string | null;
  /** OUT/report.html (the run report, with the sweep's section and every point's curves); null until the sweep has finished. */
  reportPath: string | null;
  /** True when the sweep stopped early on its signal (resume by rerunning). */
  interrupted: boolean;
}

const PLAN_KEYS = ["data", "depths", "points", "tokens", "blockSize", "batchSize", "lr", "minLr", "evalBatches", "minSteps", "seed", "budgetMinutes"] as const;

type PlanSettings = Pick<ScaleFile["settings"], (typeof PLAN_KEYS)[number]>;

/**
 * Whether a sweep planned with `old` can grow into one planned with `now`: only the depths, the explicit token counts
 * and the budget differ, every old depth and token count is still asked for, and something was added.
 */
export function growsGrid(old: PlanSettings, now: PlanSettings): boolean {
  const differ = planDiffer(old, now);
  if (differ.length === 0 || differ.some((k) => k !== "depths" && k !== "tokens" && k !== "budgetMinutes")) return false;
  if (!old.tokens || !now.tokens) return false;
  const newTokens = now.tokens;
  return old.depths.every((d) => now.depths.includes(d)) && old.tokens.every((t) => newTokens.includes(t)) && (now.depths.length > old.depths.length || now.tokens.length > old.tokens.length);
}

/** The plan settings whose values differ between `a` and `b`. */
const planDiffer = (a: PlanSettings, b: PlanSettings): (typeof PLAN_KEYS)[number][] => PLAN_KEYS.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));

/** Runs (or resumes) the sweep described by `o`; writes OUT/scale.json after every point, OUT/scale.html and OUT/report.html at the end. */
export async function runScale(o: ScaleOptions): Promise<ScaleResult> {
  const say = (line: string): void => {
    if (o.progress !== false) process.stderr.write(`${line}\n`);
  };
  if (!(o.budgetMinutes > 0)) throw new ScaleError(`--budget-minutes must be a positive number, got ${o.budgetMinutes}`);
  const depths = o.depths ?? [1, 2, 3];
  const points = o.tokens?.length ?? o.points ?? 3;
  checkGridShape(depths, points);
  const tokPath = resolveTokenizerPath(o.tokenizer);
  findShards(o.data); // missing shards: a clear error before anything is written
  if (o.tokens) checkTokens(o.tokens, o.batchSize ?? 16, o.blockSize ?? 128, o.minSteps ?? 10);
  const tok = Tokenizer.fromFile(tokPath);
  const B = o.batchSize ?? 16;
  const T = o.blockSize ?? 128;
  const settings = {
    data: resolve(o.data), depths, points, tokens: o.tokens ?? null, blockSize: T, batchSize: B, lr: o.lr ?? 3e-3,
    minLr: o.minLr ?? 3e-4, evalBatches: o.evalBatches ?? 8, minSteps: o.minSteps ?? 10, seed: o.seed ?? 0, budgetMinutes: o.budgetMinutes,
  };
  const configOf = (depth: number): GPTConfig => configFromDepth(depth, { vocabSize: tok.vocabSize, blockSize: T, overrides: { dropout: 0 } });
  mkdirSync(o.out, { recursive: true });
  const jsonPath = join(o.out, "scale.json");

  // Two short runs per depth, k and 3k steps: the difference of their wall times is 2k steps of pure training
  // (tokens/s without start-up and first-step costs), the rest is the fixed cost.
  const probeDepths = async (ds: number[]): Promise<{ probes: DepthProbe[]; seconds: number }> => {
    const started = Date.now();
    const probes: DepthProbe[] = [];
    const probeSteps = o.probeSteps ?? 3;
    const probeRun = async (depth: number, steps: number): Promise<number> => {
      const dir = join(o.out, "probe", `d${depth}-${steps}`);
      rmSync(dir, { recursive: true, force: true });
      const t0 = performance.now();
      const r = await pretrain({
        data: o.data, tokenizer: tokPath, out: dir, config: configOf(depth), batchSize: B, steps, lr: settings.lr,
        minLr: settings.minLr, evalBatches: 1, evalEvery: 1_000_000, checkpointEvery: 1_000_000, keepCheckpoints: 1,
        seed: settings.seed, precision: o.precision, progress: false, signal: o.signal,
      });
      if (r.summary.stoppedBy === "interrupted") throw new ScaleError("interrupted during the throughput probe; nothing to resume, rerun the command");
      rmSync(dir, { recursive: true, force: true });
      return (performance.now() - t0) / 1000;
    };
    for (const depth of ds) {
      const short = await probeRun(depth, probeSteps);
      const long = await probeRun(depth, 3 * probeSteps);
      // A loaded machine can make the longer run no slower; then count all of it as training.
      const tokensPerSec = (2 * probeSteps * B * T) / Math.max(long - short, (long * 2) / 3);
      // Fixed cost measured with 1 eval batch; a point runs two evaluations of evalBatches each (forward only, ~1/3 of a step).
      const evalSeconds = (2 * (settings.evalBatches - 1) * B * T) / tokensPerSec / 3;
      const overheadSeconds = Math.max(0, short - (probeSteps * B * T) / tokensPerSec) + evalSeconds;
      probes.push({ depth, tokensPerSec, overheadSeconds });
      say(`probe depth ${depth}: ${Math.round(tokensPerSec)} tokens/s, ${overheadSeconds.toFixed(1)} s fixed cost per point`);
    }
    rmSync(join(o.out, "probe"), { recursive: true, force: true });
    return { probes, seconds: (Date.now() - started) / 1000 };
  };
  const pointOf = (p: PlannedPoint): ScalePoint => {
    const c = configOf(p.depth);
    return { ...p, params: paramCount(c), nonEmbeddingParams: nonEmbeddingParams(c), flops: 6 * nonEmbeddingParams(c) * p.tokens, loss: null, seconds: null, dir: join("points", p.id) };
  };

  // The plan (probes + grid) is made once and kept, so a rerun trains the same grid; a rerun with more depths or token
  // counts (explicit --tokens, every other setting the same) grows it, keeping the points already trained.
  let file: ScaleFile;
  if (existsSync(jsonPath)) {
    file = readScaleFile(jsonPath);
    const old = file.settings;
    const differ = planDiffer(old, settings);
    const grows = growsGrid(old, settings);
    if (differ.length > 0 && !grows) {
      throw new ScaleError(
        `${jsonPath}: this sweep was planned with other settings (${differ.map((k) => `${k} ${JSON.stringify(old[k])}, now ${JSON.stringify(settings[k])}`).join("; ")}); ` +
          "pass the same ones to resume it (or add depths and --tokens counts to grow it, the rest unchanged), or choose another --out",
      );
    }
    if (grows) {
      const fresh = depths.filter((d) => !old.depths.includes(d));
      const probed = await probeDepths(fresh);
      const probes = [...file.probes, ...probed.probes];
      const kept = new Map(file.points.map((p) => [p.id, p]));
      const plan = planGrid({ depths, points, tokens: o.tokens, budgetSeconds: Number.POSITIVE_INFINITY, batchSize: B, blockSize: T, minSteps: settings.minSteps, probes });
      const added = plan.filter((p) => !kept.has(p.id));
      // the new points and the old ones still unfinished
      const need = plan.filter((p) => (kept.get(p.id)?.loss ?? null) === null).reduce((s, p) => s + p.estSeconds, 0);
      if (need > o.budgetMinutes * 60) {
        throw new ScaleError(
          `--budget-minutes ${fmtMinutes(o.budgetMinutes)} is too small to grow the sweep in ${o.out} by ${added.length} points: they and the unfinished ones need about ` +
            `${fmtMinutes(need / 60)} min of training at the measured speed. Raise --budget-minutes.`,
        );
      }
      file = { ...file, settings, probes, probeSeconds: file.probeSeconds + probed.seconds, points: plan.map((p) => kept.get(p.id) ?? pointOf(p)), fit: null, frontier: [] };
      delete file.recommendedDepth;
      writeScaleFile(jsonPath, file);
      say(`growing the sweep in ${o.out}: ${added.length} new points (${added.map((p) => p.id).join(", ")}); ${kept.size} kept`);
    } else {
      say(`resuming the sweep in ${o.out}: ${file.points.filter((p) => p.loss !== null).length} of ${file.points.length} points done`);
    }
  } else {
    const probed = await probeDepths(depths);
    const plan = planGrid({
      depths, points, tokens: o.tokens, budgetSeconds: o.budgetMinutes * 60 - probed.seconds, probeSeconds: probed.seconds, batchSize: B, blockSize: T, minSteps: settings.minSteps, probes: probed.probes,
    });
    file = {
      format: "llmforge-scale", version: 1, writer: `llmforge ${VERSION}`, createdAt: new Date().toISOString(), settings, probes: probed.probes, probeSeconds: probed.seconds,
      points: plan.map(pointOf), fit: null, frontier: [],
    };
    writeScaleFile(jsonPath, file);
  }

  say(progressTable(file));
  let interrupted = false;
  for (const p of file.points) {
    if (p.loss !== null) continue;
    const dir = join(o.out, p.dir);
    const done = completedPretrain(dir);
    let seconds = p.seconds;
    let result = done;
    if (!result) {
      say(`training ${p.id}: depth ${p.depth}, ${formatCount(p.nonEmbeddingParams)} non-embedding parameters, ${formatCount(p.tokens)} tokens (${p.steps} steps, about ${p.estSeconds.toFixed(0)} s)`);
      const t0 = performance.now();
      result = await pretrain({
        data: o.data, tokenizer: tokPath, out: dir, config: configOf(p.depth), batchSize: B, steps: p.steps, lr: settings.lr, minLr: settings.minLr,
        evalBatches: settings.evalBatches, evalEvery: 1_000_000, checkpointEvery: Math.max(25, Math.ceil(p.steps / 4)), keepCheckpoints: 1,
        seed: settings.seed, precision: o.precision, progress: false, resume: true, signal: o.signal,
      });
      seconds = (p.seconds ?? 0) + (performance.now() - t0) / 1000;
      if (result.modelDir === null) {
        p.seconds = seconds;
        writeScaleFile(jsonPath, file);
        interrupted = true;
        say(`stopped during ${p.id} at step ${result.summary.steps}; rerun the same command to resume`);
        break;
      }
    }
    const val = result.summary.val;
    if (!val) throw new ScaleError(`${dir}: the run has no validation loss (the shard folder ${o.data} needs val_*.bin shards)`);
    p.loss = val.loss;
    p.seconds = seconds;
    writeScaleFile(jsonPath, file);
    say(progressTable(file));
  }

  let htmlPath: string | null = null;
  let reportPath: string | null = null;
  if (!interrupted) {
    const obs = file.points.map((p) => ({ n: p.nonEmbeddingParams, d: p.tokens, loss: p.loss as number }));
    const flops = o.flops ?? file.points.reduce((s, p) => s + p.flops, 0);
    file.fit = fitWithBootstrap(obs, { resamples: o.resamples, seed: settings.seed, flops });
    file.recommendedDepth = nearestDepth(file.fit.recommendation.n.value, configOf);
    const cs = file.points.map((p) => p.flops);
    const c0 = Math.log10(Math.min(...cs)) - 1;
    const c1 = Math.log10(Math.max(flops, ...cs)) + 1;
    file.frontier = Array.from({ length: 25 }, (_, i) => {
      const c = 10 ** (c0 + ((c1 - c0) * i) / 24);
      return { flops: c, ...computeOptimal(file.fit?.params as ChinchillaParams, c) };
    });
    writeScaleFile(jsonPath, file);
    htmlPath = writeScalePage(o.out, file);
    reportPath = writeRunReport(o.out).path;
  }
  return { file, jsonPath, htmlPath, reportPath, interrupted };
}

/** The depth (1..64) whose non-embedding parameter count is closest to `n` on a log scale. */
function nearestDepth(n: number, configOf: (d: number) => GPTConfig): { depth: number; nonEmbeddingParams: number } {
  let best = { depth: 1, nonEmbeddingParams: nonEmbeddingParams(configOf(1)) };
  for (let d = 2; d <= 64; d++) {
    const m = nonEmbeddingParams(configOf(d));
    if (Math.abs(Math.log(m / n)) < Math.abs(Math.log(best.nonEmbeddingParams / n))) best = { depth: d, nonEmbeddingParams: m };
  }
  return best;
}

function readScaleFile(path: string): ScaleFile {
  let f: Partial<ScaleFile>;
  try {
    f = JSON.parse(readFileSync(path, "utf8")) as Partial<ScaleFile>;
  } catch (err) {
    throw new ScaleError(`${path}: unreadable (${err instanceof Error ? err.message : String(err)}); remove it to plan the sweep again`);
  }
  if (f.format !== "llmforge-scale" || f.version !== 1 || !Array.isArray(f.points) || !f.settings) {
    throw new ScaleError(`${path}: not an llmforge-scale v1 file; remove it or choose another --out`);
  }
  return f as ScaleFile;
}

function writeScaleFile(path: string, f: ScaleFile): void {
  writeFileAtomicSync(path, `${JSON.stringify(f, null, 2)}\n`);
}

/** The grid as a fixed-width table: one row per point with its plan, status and loss. */
export function progressTable(f: ScaleFile): string {
  const head = ["point", "depth", "N (non-emb)", "tokens", "steps", "est s", "status", "val loss", "s"];
  const rows = f.points.map((p) => [
    p.id, String(p.depth), formatCount(p.nonEmbeddingParams), formatCount(p.tokens), String(p.steps), p.estSeconds.toFixed(0),
    p.loss !== null ? "done" : p.seconds !== null ? "partial" : "todo", p.loss === null ? "–" : p.loss.toFixed(4), p.seconds === null ? "–" : p.seconds.toFixed(0),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(w[i])).join("  ");
  const done = f.points.filter((p) => p.loss !== null).length;
  return [`grid: ${done}/${f.points.length} points done`, line(head), ...rows.map(line)].join("\n");
}

/** Lines for the terminal: the fitted constants ± their uncertainty and the recommendation. */
export function describeFit(f: ScaleFile): string[] {
  const fit = f.fit;
  if (!fit) return ["no fit yet (the sweep is unfinished)"];
  const show = (name: string, c: ScaleFit["constants"]["E"], digits = 3): string =>
    `  ${name.padEnd(6)} ${fmtNum(c.value, digits)}${c.std === null ? "" : ` ± ${fmtNum(c.std, 2)}  (95%: ${fmtNum(c.lo as number, digits)} .. ${fmtNum(c.hi as number, digits)})`}`;
  const r = fit.recommendation;
  // formatCount is for plausible sizes; a wild bootstrap draw (1e-9 or 1e20) prints as an exponent.
  const count = (v: number): string => (v >= 1e3 && v < 1e12 ? formatCount(v) : v >= 1 && v < 1e3 ? v.toPrecision(3) : v.toExponential(2));
  const edge = (["alpha", "beta"] as const).filter((k) => fit.params[k] <= ALPHA_MIN + 1e-9 || fit.params[k] >= ALPHA_MAX - 1e-9);
  return [
    `fit of L(N, D) = E + A/N^alpha + B/D^beta over ${fit.points} points (N: non-embedding parameters, D: tokens), rmse ${fit.rmse.toFixed(4)}`,
    `  ${fit.method}`,
    show("E", fit.constants.E), show("A", fit.constants.A), show("alpha", fit.constants.alpha), show("B", fit.constants.B), show("beta", fit.constants.beta),
    ...(edge.length > 0 ? [`  warning: ${edge.join(" and ")} ended at the edge of the search range [${ALPHA_MIN}, ${ALPHA_MAX}]: these points do not determine ${edge.length > 1 ? "them" : "it"} (train longer, or widen the grid)`] : []),
    `compute-optimal for C = ${r.flops.toExponential(2)} FLOPs (C ≈ 6·N·D): N_opt ${count(r.n.value)}${r.n.lo === null ? "" : ` (95%: ${count(r.n.lo)} .. ${count(r.n.hi as number)})`}, ` +
      `D_opt ${count(r.d.value)} tokens${r.d.lo === null ? "" : ` (95%: ${count(r.d.lo)} .. ${count(r.d.hi as number)})`}, predicted loss ${r.loss.toFixed(3)}`,
    ...(f.recommendedDepth ? [`  nearest depth: ${f.recommendedDepth.depth} (${formatCount(f.recommendedDepth.nonEmbeddingParams)} non-embedding parameters)`] : []),
  ];
}

function fmtNum(v: number, digits: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(digits - 1) : v.toPrecision(digits);
}
