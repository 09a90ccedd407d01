// fp32 GEMM of the native backend side by side with OpenBLAS (bench/c/sgemm_openblas.c, built here when
// Debian's libopenblas-dev is installed) in the same run, at square sizes and the GEMM shapes of a GPT
// training step, on 1 and 2 threads and each SIMD level (OpenBLAS held to the same one), with % of the FMA peak; plus the bf16 path. Writes a Markdown section (LLMFORGE_BENCH_OUT).
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchGemmShape, type GemmShape } from "../src/tensor/backend/gemmBench.js";
import {
  type Bf16Path, nativeFmaPeak, nativeInfo, nativeKernels, nativeLoadError, nativeSimdLevels, setNativeBf16Path, setNativeSimd, type SimdLevel,
} from "../src/tensor/backend/native.js";
import { cpuLine, simdEnv } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "gemm.md");
const seconds = Number(process.env.LLMFORGE_BENCH_SECONDS ?? "0.6");

interface Case extends GemmShape {
  label: string;
}
// GPT step with d_model 256, MLP 768... shapes: X (2048×256), W stored (in, out) = 256×768.
const cases: Case[] = [
  { label: "256³", M: 256, N: 256, K: 256 },
  { label: "1024³", M: 1024, N: 1024, K: 1024 },
  { label: "2048³", M: 2048, N: 2048, K: 2048 },
  { label: "fwd X·W: 2048×256 @ 256×768", M: 2048, N: 768, K: 256 },
  { label: "bwd dX = dY·Wᵀ: 2048×768 @ (256×768)ᵀ", M: 2048, N: 256, K: 768, transB: true },
  { label: "bwd dW = Xᵀ·dY: (2048×256)ᵀ @ 2048×768", M: 256, N: 768, K: 2048, transA: true },
  { label: "fwd 2048×768 @ 768×256", M: 2048, N: 256, K: 768 },
  { label: "fwd X·Wᵀ: 2048×256 @ (768×256)ᵀ", M: 2048, N: 768, K: 256, transB: true },
];

/** Builds the OpenBLAS harness into bench/out/; returns its path, or why it is not available. */
function buildPeer(): { exe: string | null; why: string } {
  const src = join(root, "bench", "c", "sgemm_openblas.c");
  const outDir = join(root, "bench", "out");
  mkdirSync(outDir, { recursive: true });
  const exe = join(outDir, "sgemm_openblas");
  const r = spawnSync("cc", ["-O2", "-o", exe, src, "-lopenblas"], { encoding: "utf8" });
  if (r.status === 0 && existsSync(exe)) return { exe, why: "" };
  const msg = (r.error ? String(r.error) : r.stderr || "").split("\n").find((l) => l.trim()) ?? "unknown error";
  return { exe: null, why: `OpenBLAS not available (install Debian libopenblas-dev): ${msg.trim()}` };
}

/** OpenBLAS on `threads` threads, held to SIMD level `simd` (its kernel family; see bench/peers.ts simdEnv). */
function runPeer(exe: string, c: Case, threads: number, simd: SimdLevel): { gflops: number; config: string } | null {
  const args = [c.M, c.N, c.K, c.transA ? 1 : 0, c.transB ? 1 : 0, threads, seconds].map(String);
  const pinned = simd === "scalar" ? {} : simdEnv(simd);
  const r = spawnSync(exe, args, { encoding: "utf8", env: { ...process.env, ...pinned, OPENBLAS_NUM_THREADS: String(threads) } });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim()) as { gflops: number; config: string };
}

const f = (x: number | null) => (x === null ? "—" : x.toFixed(1));
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}×`);

function main(): void {
  if (!nativeKernels) {
    const text = `## GEMM\n\nNative addon not loaded (${nativeLoadError}); nothing to measure.\n`;
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, text);
    console.log(text);
    return;
  }
  const info = nativeInfo();
  const peer = buildPeer();
  const threadCounts = [...new Set([1, Math.min(2, info.threads)])];
  // every vector level the CPU runs (LLMFORGE_SIMD picks one), widest first; OpenBLAS held to the same level
  const levels = (process.env.LLMFORGE_SIMD ? [process.env.LLMFORGE_SIMD as SimdLevel] : (["avx512", "avx2"] as SimdLevel[])).filter((l) => nativeSimdLevels().includes(l));
  // bf16 columns (the widest level only): AMX tiles (when present) and AVX-512 vdpbf16ps, each against our f32.
  const bf16Paths: Bf16Path[] = !info.bf16 ? [] : info.bf16Path === "amx" ? ["amx", "avx512bf16"] : ["avx512bf16"];
  const bf16Names: Record<Bf16Path, string> = { amx: "bf16 AMX", avx512bf16: "bf16 vdpbf16ps" };
  const bf16Head = bf16Paths.map((p) => ` llmforge ${bf16Names[p]} GFLOP/s | ${bf16Names[p]} / f32 |`).join("");
  const bf16Rule = bf16Paths.map(() => "---:|---:|").join("");
  const pct = (g: number | null, peak: number) => (g === null ? "—" : `${((100 * g) / peak).toFixed(0)}%`);
  const sections: string[] = [];
  const peerConfigs = new Set<string>();
  for (const level of levels) {
    setNativeSimd(level);
    const peaks = new Map(threadCounts.map((t) => [t, nativeFmaPeak(t, 0.5)]));
    const withBf16 = level === levels[0] ? bf16Paths : [];
    const rows: string[] = [];
    for (const c of cases) {
      for (const threads of threadCounts) {
        const peak = peaks.get(threads) as number;
        const ours = benchGemmShape(c, seconds, { threads }).gflops;
        const blas = peer.exe ? runPeer(peer.exe, c, threads, level) : null;
        if (blas) peerConfigs.add(blas.config);
        const bf16 = withBf16.map((path) => {
          setNativeBf16Path(path);
          try {
            return benchGemmShape(c, seconds, { threads, precision: "bf16" }).gflops;
          } finally {
            setNativeBf16Path("auto");
          }
        });
        const bf16Cells = bf16.map((g) => `${f(g)} | ${ratio(g, ours)}`).join(" | ");
        const g = blas?.gflops ?? null;
        const row = `| ${c.label} | ${threads} | ${f(ours)} | ${pct(ours, peak)} | ${f(g)} | ${pct(g, peak)} | ${ratio(ours, g)} |${bf16Cells ? ` ${bf16Cells} |` : ""}`;
        rows.push(row);
        console.error(`${level} ${row}`);
      }
    }
    sections.push(
      `### ${level === "avx512" ? "AVX-512" : "AVX2"} (LLMFORGE_SIMD=${level}; OpenBLAS with OPENBLAS_CORETYPE=${simdEnv(level as "avx512" | "avx2").OPENBLAS_CORETYPE})`,
      "",
      `FMA peak of this level, measured in the same run: ${threadCounts.map((t) => `${(peaks.get(t) as number).toFixed(0)} GFLOP/s on ${t} thread${t > 1 ? "s" : ""}`).join(", ")}.`,
      "",
      `| shape (op(A) M×K @ op(B) K×N) | threads | llmforge f32 GFLOP/s | % of peak | OpenBLAS GFLOP/s | % of peak | llmforge / OpenBLAS |${withBf16.length ? bf16Head : ""}`,
      `|---|---:|---:|---:|---:|---:|---:|${withBf16.length ? bf16Rule : ""}`,
      ...rows,
      "",
    );
  }
  setNativeSimd("auto");
  const cpu = cpuLine();
  const text = [
    "## GEMM",
    "",
    "fp32 GEMM of the native backend (packed, cache-blocked, register-tiled; OpenMP) next to OpenBLAS `cblas_sgemm`",
    "in the same run, on each SIMD level the CPU runs, OpenBLAS held to the same level (its kernel family, OPENBLAS_CORETYPE,",
    "set over the caller's environment: a machine image may set it for every process), and the bf16 GEMMs",
    "(inputs rounded to bf16 while packing, f32 accumulation): AMX tiles (`TDPBF16PS`, the default where present) and AVX-512",
    "`vdpbf16ps`. GFLOP/s = 2·M·N·K / time, best of three chunks of about a third of the time budget each, after one warm-up",
    "call (same protocol on both sides). % of peak: over independent FMA chains of that level on as many threads (nativeFmaPeak).",
    "",
    ...sections,
    `Command: \`node --import tsx bench/gemm.bench.ts\` (LLMFORGE_BENCH_SECONDS=${seconds} per measurement), ${new Date().toISOString()}.`,
    "",
    `Machine: ${cpu}, ${cpus().length} logical CPUs; native SIMD ${info.simd}, bf16 ${info.bf16 ? "yes" : "no"}, default threads ${info.threads}.`,
    peer.exe ? `Peer: ${[...peerConfigs].join("; ") || "OpenBLAS"} (Debian libopenblas-dev).` : `Peer: ${peer.why}.`,
    "The machine is shared with other jobs while these figures are taken: absolute numbers are noisy, the ratios",
    "(measured back to back) less so.",
    "",
  ].join("\n");
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, text);
  console.log(text);
}

main();
