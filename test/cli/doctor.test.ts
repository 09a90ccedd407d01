// `llmforge doctor` and `llmforge bench gemm --json` report the backend, why, SIMD, threads and a
// GEMM figure, on the native backend and when forced onto the reference one.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nativeKernels } from "../../src/tensor/backend/index.js";

const root = join(import.meta.dirname, "..", "..");
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), ...args], {
    cwd: root, encoding: "utf8", env: { ...process.env, ...env },
  });

describe("doctor", () => {
  it("reports the reference backend and why when forced", () => {
    const r = run(["doctor", "--json", "--seconds", "0.2"], { LLMFORGE_BACKEND: "ref" });
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.backend).toBe("ref");
    expect(d.reason).toMatch(/LLMFORGE_BACKEND=ref/);
    expect(d.gemmGflops).toBeGreaterThan(0);
    expect(d.version).toMatch(/^\d+\.\d+\.\d+/);
  });
  it("says which text kernels the data pipeline runs, and why not the native ones when switched off", () => {
    const r = run(["doctor", "--json", "--seconds", "0.1"], { LLMFORGE_DATA_NATIVE: "0" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).dataKernels).toMatch(/^typescript \(LLMFORGE_DATA_NATIVE=0/);
  });
  it.skipIf(!nativeKernels)("reports the native backend, its SIMD level and a GEMM figure", () => {
    const r = run(["doctor", "--json", "--seconds", "0.3"]);
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.backend).toBe("native");
    expect(["avx512", "avx2", "scalar"]).toContain(d.simd);
    expect(d.threads).toBeGreaterThanOrEqual(1);
    const g = run(["bench", "gemm", "--size", "128", "--seconds", "0.2", "--json"]);
    expect(JSON.parse(g.stdout).gflops).toBeGreaterThan(0);
  });
});
