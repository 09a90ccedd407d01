// `llmforge scale` refuses what cannot run with one clear line (no stack trace), before any grid point trains.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, writeTinyShards } from "../helpers/tinyShards.js";

describe("llmforge scale: bad input", () => {
  const dir = mkdtempSync(join(tmpdir(), "llmforge-scale-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const { tokPath, shards } = writeTinyShards(dir);
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [...CLI, "scale", "--tokenizer", tokPath, "--block", "16", "--batch", "4", ...args], { encoding: "utf8" });
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    return { code: r.status, err: r.stderr };
  };

  it("missing shards", () => {
    const r = run(["--data", join(dir, "nope"), "--out", join(dir, "o1"), "--budget-minutes", "1"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/llmforge: shard folder not found: .*nope/);
  });

  it("a budget too small for the smallest grid says the minimum", () => {
    const out = join(dir, "o2");
    const r = run(["--data", shards, "--out", out, "--budget-minutes", "0.001", "--depths", "1,2"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/llmforge: --budget-minutes 0\.0010 is too small for 2 depths \(1,2\) × 3 token counts: the smallest such grid needs about [\d.]+ min of training at the measured speed after the \d+ s throughput probe, so at least [\d.]+ min in all/);
    expect(existsSync(join(out, "points"))).toBe(false);
    expect(existsSync(join(out, "scale.json"))).toBe(false);
  }, 240_000);

  it("token counts that are not whole steps, a one-size grid, a bad list", () => {
    const out = join(dir, "o3");
    const tokens = run(["--data", shards, "--out", out, "--budget-minutes", "5", "--tokens", "640,1000,1280"]);
    expect(tokens.code).toBe(1);
    expect(tokens.err).toMatch(/--tokens 1000: every token count must be a positive multiple of batch × block = 4 × 16 = 64/);
    expect(existsSync(join(out, "probe"))).toBe(false); // refused before the probe
    const one = run(["--data", shards, "--out", out, "--budget-minutes", "5", "--depths", "2"]);
    expect(one.err).toMatch(/--depths 2: the fit needs at least 2 model sizes/);
    const list = run(["--data", shards, "--out", out, "--budget-minutes", "5", "--depths", "1,x"]);
    expect(list.err).toMatch(/expected comma-separated positive whole numbers/);
  }, 240_000);
});
