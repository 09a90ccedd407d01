// The native loader: info and settings, environment knobs (LLMFORGE_THREADS, LLMFORGE_SIMD,
// LLMFORGE_BACKEND=ref) read in a fresh process, and clear errors for wrong calls (f64, bad sizes).
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { nativeEnvWarnings, nativeFmaPeak, nativeInfo, nativeKernels, nativeLoadError, nativeSimdLevels, setNativeSimd, setNativeThreads } from "../../src/tensor/backend/native.js";
import { skipNative } from "./helpers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const probe = `import("./src/tensor/backend/native.ts").then((m) => console.log(JSON.stringify({ loaded: m.nativeKernels !== null, error: m.nativeLoadError, info: m.nativeInfo() })))`;

/** Loads the backend in a fresh Node process with extra environment variables. */
function loadWith(env: Record<string, string>): { loaded: boolean; error: string | null; info: { simd: string; threads: number } } {
  const out = execFileSync(process.execPath, ["--import", "tsx", "-e", probe], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop() ?? "{}");
}

describe("native loader", () => {
  it("LLMFORGE_BACKEND=ref skips the addon without throwing and says why", () => {
    const r = loadWith({ LLMFORGE_BACKEND: "ref" });
    expect(r.loaded).toBe(false);
    expect(r.error).toMatch(/LLMFORGE_BACKEND=ref/);
    expect(r.info).toEqual({ simd: "scalar", threads: 1, bf16: false, bf16Path: "none", quantDot: "scalar" });
  });
});

describe.skipIf(skipNative)("native loader (addon present)", () => {
  it("measures the FMA ceiling of a level (wider vectors, more GFLOP/s) and refuses a bad thread count", () => {
    const levels = nativeSimdLevels();
    try {
      const peak = new Map<string, number>();
      for (const l of levels) {
        setNativeSimd(l);
        peak.set(l, nativeFmaPeak(1, 0.05));
      }
      for (const l of levels) expect(peak.get(l)).toBeGreaterThan(0.1);
      // the same chains in 8-lane (AVX2) vectors outrun one lane; the widest level measures at least as much (with slack for a shared machine)
      if (peak.has("avx2") && peak.has("scalar")) expect(peak.get("avx2")).toBeGreaterThan(2 * (peak.get("scalar") as number));
      if (peak.has("avx512") && peak.has("avx2")) expect(peak.get("avx512")).toBeGreaterThan(0.6 * (peak.get("avx2") as number));
    } finally {
      setNativeSimd("auto");
    }
    expect(() => nativeFmaPeak(0)).toThrow(RangeError);
    expect(() => nativeFmaPeak(1.5)).toThrow(RangeError);
  });

  it("reports SIMD level, threads and bf16; f32 only", () => {
    expect(nativeLoadError).toBeNull();
    const info = nativeInfo();
    expect(["avx512", "avx2", "scalar"]).toContain(info.simd);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(nativeSimdLevels()).toContain(info.simd);
    expect(info.quantDot).toMatch(info.simd === "scalar" ? /^scalar$/ : info.simd === "avx2" ? /^maddubs$/ : /^(vnni|maddubs)$/);
    expect(nativeKernels!.supports("f32")).toBe(true);
    expect(nativeKernels!.supports("f64")).toBe(false);
  });

  it("honours LLMFORGE_THREADS and LLMFORGE_SIMD in a fresh process", () => {
    const r = loadWith({ LLMFORGE_THREADS: "1", LLMFORGE_SIMD: "scalar" });
    expect(r.loaded).toBe(true);
    expect(r.info.threads).toBe(1);
    expect(r.info.simd).toBe("scalar");
  });

  it("says which environment values it cannot use and what it uses instead", () => {
    const info = { simd: "avx2", threads: 2, cores: 2, available: ["avx2", "scalar"] };
    expect(nativeEnvWarnings({ LLMFORGE_THREADS: "2", LLMFORGE_SIMD: "avx2", LLMFORGE_SPIN_US: "0" }, info)).toEqual([]);
    expect(nativeEnvWarnings({ LLMFORGE_THREADS: "two", LLMFORGE_SIMD: "avx3", LLMFORGE_SPIN_US: "-5" }, info)).toEqual([
      'LLMFORGE_THREADS="two" is not a whole number >= 1; using 2 threads (all 2 cores)',
      'LLMFORGE_SIMD="avx3" is not one of auto, avx512, avx2, scalar; using avx2',
      'LLMFORGE_SPIN_US="-5" is not a whole number of microseconds >= 0; using the default',
    ]);
    expect(nativeEnvWarnings({ LLMFORGE_SIMD: "avx512", LLMFORGE_THREADS: "0" }, info)).toEqual([
      'LLMFORGE_THREADS="0" is not a whole number >= 1; using 2 threads (all 2 cores)',
      "LLMFORGE_SIMD=avx512: this CPU does not have it (it has avx2, scalar); using avx2",
    ]);
    // in a fresh process outside the test runner the lines reach stderr, once each
    const env: Record<string, string | undefined> = { ...process.env, LLMFORGE_THREADS: "lots", LLMFORGE_BACKEND: "fast" };
    delete env.VITEST;
    delete env.LLMFORGE_QUIET;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", 'import("./src/tensor/backend/index.ts")'], { cwd: root, env, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr.match(/LLMFORGE_THREADS="lots" is not a whole number >= 1; using \d+ threads/g)).toHaveLength(1);
    expect(r.stderr).toContain('LLMFORGE_BACKEND="fast" is not ref or native; ignored');
  });

  it("rejects bad settings and f64 storage with actionable errors", () => {
    expect(() => setNativeThreads(0)).toThrow(RangeError);
    const x = new Float64Array(4);
    expect(() => nativeKernels!.unary("exp", x, x, 4)).toThrow(/unary: (x|out) must be a Float32Array .*f64 stays on the reference backend/);
    expect(() => nativeKernels!.unary("exp", new Float32Array(2), new Float32Array(4), 4)).toThrow(/unary: x has 2 elements, needs at least 4/);
    expect(() => nativeKernels!.softmax(new Float32Array(6), new Float32Array(6), 2, 4, false)).toThrow(/softmax: (x|out) has 6 elements, needs at least 8/);
    expect(() => nativeKernels!.rope(new Float32Array(6), new Float32Array(6), 1, 1, 2, 3, 10000, 0, false)).toThrow(/rope: D = 3 must be even/);
    const q = new Float32Array(16);
    expect(() =>
      nativeKernels!.attention({
        B: 1, T: 2, H: 3, Hkv: 2, D: 2, scale: 1, q, qOff: 0, qRowStride: 6, k: q, kOff: 0, v: q, vOff: 0,
        kvRowStride: 4, out: q, lse: q,
      }),
    ).toThrow(/H = 3 must be a positive multiple of Hkv = 2/);
  });
});
