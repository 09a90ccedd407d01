// Scaling-law sweep: the fit recovers known constants (exact and noisy data), the frontier is the
// constrained minimum, planning fits the budget and refuses what cannot run, and a rerun skips
// finished points and resumes an unfinished one to the same result.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configFromDepth } from "../../src/model/config.js";
import {
  chinchillaLoss, computeOptimal, fitChinchilla, fitWithBootstrap, growsGrid, type LossObservation, planGrid, runScale, type ScaleFile, ScaleError,
} from "../../src/pipeline/scale.js";
import { completedPretrain, pretrain } from "../../src/train/pretrain.js";
import { writeTinyShards } from "../helpers/tinyShards.js";

// Chinchilla's published constants (Hoffmann et al. 2022, approach 3).
const TRUE = { e: 1.69, a: 406.4, alpha: 0.34, b: 410.7, beta: 0.28 };
const NS = [1e5, 3e5, 1e6, 3e6, 1e7];
const DS = [1e6, 4e6, 1.6e7, 6.4e7, 2.56e8];

function grid(noise: number, seed: number): LossObservation[] {
  let s = seed;
  // Park–Miller: exact in doubles, so the noise is the same on every machine.
  const rand = (): number => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
  const gauss = (): number => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  return NS.flatMap((n) => DS.map((d) => ({ n, d, loss: chinchillaLoss(TRUE, n, d) * (1 + noise * gauss()) })));
}

describe("fitChinchilla", () => {
  it("recovers the constants of noise-free data", () => {
    const { params, rmse } = fitChinchilla(grid(0, 1));
    expect(Math.abs(params.alpha - TRUE.alpha)).toBeLessThan(0.002);
    expect(Math.abs(params.beta - TRUE.beta)).toBeLessThan(0.002);
    expect(Math.abs(params.e - TRUE.e)).toBeLessThan(0.02);
    expect(Math.abs(params.a / TRUE.a - 1)).toBeLessThan(0.05);
    expect(Math.abs(params.b / TRUE.b - 1)).toBeLessThan(0.05);
    expect(rmse).toBeLessThan(1e-3);
  });

  it("with 0.5% noise: exponents within 0.06 and the bootstrap interval covers the truth", () => {
    const fit = fitWithBootstrap(grid(0.005, 7), { resamples: 100, seed: 3, flops: 1e18 });
    expect(Math.abs(fit.params.alpha - TRUE.alpha)).toBeLessThan(0.06);
    expect(Math.abs(fit.params.beta - TRUE.beta)).toBeLessThan(0.06);
    expect(Math.abs(fit.params.e - TRUE.e)).toBeLessThan(0.15);
    for (const [k, truth] of [["alpha", TRUE.alpha], ["beta", TRUE.beta], ["E", TRUE.e]] as const) {
      const c = fit.constants[k];
      expect(c.std).toBeGreaterThan(0);
      expect(c.lo as number).toBeLessThanOrEqual(truth);
      expect(c.hi as number).toBeGreaterThanOrEqual(truth);
    }
    // Seeded: the same intervals every time.
    expect(fitWithBootstrap(grid(0.005, 7), { resamples: 100, seed: 3, flops: 1e18 }).constants).toEqual(fit.constants);
  });

  it("refuses too few points and losses that do not fall", () => {
    expect(() => fitChinchilla(grid(0, 1).slice(0, 5))).toThrow(/at least 2 model sizes, 2 token counts and 6 points/);
    const flat = grid(0, 1).map((o) => ({ ...o, loss: 3 + Math.log(o.n) / 100 + Math.log(o.d) / 100 }));
    expect(() => fitChinchilla(flat)).toThrow(ScaleError);
  });
});

describe("computeOptimal", () => {
  it("is the minimum of L along C = 6ND and matches Chinchilla's split", () => {
    const c = 5.76e23; // Chinchilla's compute
    const opt = computeOptimal(TRUE, c);
    expect(6 * opt.n * opt.d).toBeCloseTo(c, -15);
    for (const f of [0.8, 1.25]) expect(chinchillaLoss(TRUE, opt.n * f, c / (6 * opt.n * f))).toBeGreaterThan(opt.loss);
    // Approach 3 of the paper puts N_opt near 40B for this compute (between 30B and 60B).
    expect(opt.n).toBeGreaterThan(3e10);
    expect(opt.n).toBeLessThan(6e10);
  });
});

describe("planGrid", () => {
  const probes = [{ depth: 1, tokensPerSec: 2000, overheadSeconds: 2 }, { depth: 2, tokensPerSec: 1000, overheadSeconds: 3 }];
  const base = { depths: [1, 2], points: 3, batchSize: 4, blockSize: 16, probes };

  it("fills the budget with doubling token counts in whole steps", () => {
    const plan = planGrid({ ...base, budgetSeconds: 120 });
    expect(plan.map((p) => p.id)).toHaveLength(6);
    const total = plan.reduce((s, p) => s + p.estSeconds, 0);
    expect(total).toBeLessThanOrEqual(120);
    expect(total).toBeGreaterThan(110); // nearly all of it
    const tokens = plan.filter((p) => p.depth === 1).map((p) => p.tokens);
    for (const t of tokens) expect(t % 64).toBe(0);
    expect(tokens[1] / tokens[0]).toBeCloseTo(2, 1);
    expect(tokens[2] / tokens[1]).toBeCloseTo(2, 1);
    expect(plan.find((p) => p.depth === 2 && p.tokens === tokens[2])?.steps).toBe(tokens[2] / 64);
  });

  it("says the minimum when the budget is too small", () => {
    // Smallest grid: 10/40, 20/40... steps: 640, 1280, 2560 tokens per depth.
    const need = (640 + 1280 + 2560) / 2000 + 6 + (640 + 1280 + 2560) / 1000 + 9;
    expect(() => planGrid({ ...base, budgetSeconds: 10 })).toThrow(new RegExp(`--budget-minutes 0.17 is too small .* needs about ${(need / 60).toPrecision(2)} min of training`));
  });

  it("refuses token counts that are not whole steps, and too small grids", () => {
    expect(() => planGrid({ ...base, tokens: [640, 1000, 1280], budgetSeconds: 1000 })).toThrow(/--tokens 1000: every token count must be a positive multiple of batch × block = 4 × 16 = 64/);
    expect(() => planGrid({ ...base, depths: [1], budgetSeconds: 1000 })).toThrow(/at least 2 model sizes/);
    expect(() => planGrid({ ...base, points: 1, budgetSeconds: 1000 })).toThrow(/at least 2 token counts/);
    expect(() => planGrid({ ...base, points: 2, budgetSeconds: 1000 })).toThrow(/2 × 2 = 4 points is too few/);
  });
});

describe("runScale", () => {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-scale-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const { tokPath, shards, tok } = writeTinyShards(dir);
  const out = join(dir, "sweep");
  const opts = {
    data: shards, tokenizer: tokPath, out, budgetMinutes: 10, depths: [1, 2], tokens: [640, 1280, 1920], blockSize: 16, batchSize: 4,
    evalBatches: 2, probeSteps: 2, resamples: 20, progress: false,
  };

  it("trains the grid, fits, and a rerun skips finished points and resumes an unfinished one to the same loss", async () => {
    const first = await runScale(opts);
    expect(first.interrupted).toBe(false);
    expect(first.file.points.every((p) => p.loss !== null && Number.isFinite(p.loss))).toBe(true);
    expect(first.file.fit).not.toBeNull();
    expect(first.file.frontier.length).toBeGreaterThan(0);
    const html = readFileSync(first.htmlPath as string, "utf8");
    expect(html).toContain("scale-frontier");
    expect(html).toContain("d2-t1920");

    // Make d2-t1280 unfinished: retrain its folder for 3 steps and stop (checkpoint, no model).
    const target = first.file.points.find((p) => p.id === "d2-t1280");
    if (!target) throw new Error("no point d2-t1280");
    const want = target.loss;
    const pointDir = join(out, target.dir);
    rmSync(pointDir, { recursive: true, force: true });
    let reads = 0;
    const stopAfter3 = { get aborted() { return ++reads > 3; } } as AbortSignal;
    const config = configFromDepth(2, { vocabSize: tok.vocabSize, blockSize: 16, overrides: { dropout: 0 } });
    const partial = await pretrain({
      data: shards, tokenizer: tokPath, out: pointDir, config, batchSize: 4, steps: target.steps, lr: 3e-3, minLr: 3e-4, evalBatches: 2,
      evalEvery: 1_000_000, checkpointEvery: 25, keepCheckpoints: 1, seed: 0, progress: false, signal: stopAfter3,
    });
    expect(partial.modelDir).toBeNull();
    expect(partial.summary.steps).toBe(3);
    expect(completedPretrain(pointDir)).toBeNull();
    const file = JSON.parse(readFileSync(first.jsonPath, "utf8")) as ScaleFile;
    const p = file.points.find((x) => x.id === "d2-t1280") as ScaleFile["points"][number];
    p.loss = null;
    p.seconds = null;
    writeFileSync(first.jsonPath, JSON.stringify(file));
    const other = join(out, "points", "d1-t640", "run.json");
    const before = statSync(other).mtimeMs;

    const second = await runScale(opts);
    expect(statSync(other).mtimeMs).toBe(before); // finished points were not touched
    const resumed = second.file.points.find((x) => x.id === "d2-t1280");
    expect(completedPretrain(pointDir)?.summary.steps).toBe(target.steps);
    // Exact resume: the same loss as the uninterrupted run.
    expect(resumed?.loss).toBeCloseTo(want as number, 4);
    expect(existsSync(join(out, "probe"))).toBe(false);
  }, 240_000);

  it("refuses to resume with other settings", async () => {
    await expect(runScale({ ...opts, blockSize: 32, tokens: [1280, 2560, 3840] })).rejects.toThrow(/planned with other settings \(tokens .*blockSize 16, now 32/);
    // dropping a depth is not growing
    await expect(runScale({ ...opts, depths: [2, 3] })).rejects.toThrow(/planned with other settings \(depths \[1,2\], now \[2,3\]\)/);
  });

  it("grows with a new depth: probes only it, trains only its points, keeps the rest untouched, fits all", async () => {
    const other = join(out, "points", "d2-t1920", "run.json");
    const before = statSync(other).mtimeMs;
    const grown = await runScale({ ...opts, depths: [1, 2, 3], budgetMinutes: 20 });
    expect(grown.interrupted).toBe(false);
    expect(statSync(other).mtimeMs).toBe(before);
    expect(grown.file.settings.depths).toEqual([1, 2, 3]);
    expect(grown.file.settings.budgetMinutes).toBe(20);
    expect(grown.file.probes.map((p) => p.depth)).toEqual([1, 2, 3]);
    expect(grown.file.points.map((p) => p.id)).toEqual(["d1-t640", "d1-t1280", "d1-t1920", "d2-t640", "d2-t1280", "d2-t1920", "d3-t640", "d3-t1280", "d3-t1920"]);
    expect(grown.file.points.every((p) => p.loss !== null && Number.isFinite(p.loss))).toBe(true);
    expect(completedPretrain(join(out, "points", "d3-t1920"))?.summary.steps).toBe(1920 / 64);
    expect(grown.file.fit).not.toBeNull();
    // the grown sweep resumes as itself
    const again = await runScale({ ...opts, depths: [1, 2, 3], budgetMinutes: 20 });
    expect(again.file.points.map((p) => p.loss)).toEqual(grown.file.points.map((p) => p.loss));
  }, 240_000);
});

describe("growsGrid", () => {
  const base: Parameters<typeof growsGrid>[0] = { data: "/d", depths: [1, 2], points: 3, tokens: [640, 1280], blockSize: 16, batchSize: 4, lr: 3e-3, minLr: 3e-4, evalBatches: 2, minSteps: 10, seed: 0, budgetMinutes: 10 };
  const grows = (now: Partial<typeof base>): boolean => {
    const n = { ...base, ...now };
    return growsGrid(base, n);
  };
  it("accepts added depths and token counts, with or without a new budget", () => {
    expect(grows({ depths: [1, 2, 4] })).toBe(true);
    expect(grows({ tokens: [640, 1280, 2560], budgetMinutes: 30 })).toBe(true);
    expect(grows({ depths: [3, 1, 2], tokens: [2560, 640, 1280] })).toBe(true);
  });
  it("refuses removals, other settings, budget-made token counts and no change", () => {
    expect(grows({ depths: [1, 3] })).toBe(false);
    expect(grows({ tokens: [640] })).toBe(false);
    expect(grows({ depths: [1, 2, 3], lr: 1e-3 })).toBe(false);
    expect(grows({ budgetMinutes: 30 })).toBe(false);
    expect(grows({})).toBe(false);
    const auto = { ...base, tokens: null };
    expect(growsGrid(auto, { ...auto, depths: [1, 2, 3] })).toBe(false);
  });
});
