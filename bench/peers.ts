// Runs the peer baselines in ../shared/peers (PyTorch, jax-js, TensorFlow.js) when installed,
// and parses their JSON line; a missing peer is reported as such, never as a failure.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";

export interface StepFigures {
  tokens_per_s: number;
  ms_per_step: number;
  gflops: number;
  peak_rss_mb: number;
}

export const PEERS_DIR = resolve(process.env.LLMFORGE_PEERS ?? join(import.meta.dirname, "..", "..", "shared", "peers"));
/** Where `npm install @tensorflow/tfjs... @jax-js/jax` was run (see ../shared/peers/README.md). */
export const PEER_NODE_DIR = resolve(process.env.LLMFORGE_PEER_NODE_DIR ?? "/tmp/peerbench");

/** The peer's JSON line, or its text summary line ("... N ms/step, N tok/s, N GFLOP/s[, peak RSS N MB]"). */
function lastJson(stdout: string): StepFigures | null {
  const lines = stdout.trim().split("\n").reverse();
  const json = lines.find((l) => l.trim().startsWith("{"));
  if (json) return JSON.parse(json) as StepFigures;
  for (const l of lines) {
    const m = /(\d+(?:\.\d+)?) ms\/step, (\d+(?:\.\d+)?) tok\/s, (\d+(?:\.\d+)?) GFLOP\/s/.exec(l);
    if (!m) continue;
    const rss = /(?:peak )?RSS[^\d]*(\d+(?:\.\d+)?)\s*(GB|MB)/i.exec(l);
    const mb = rss ? Number(rss[1]) * (rss[2].toUpperCase() === "GB" ? 1024 : 1) : Number.NaN;
    return { ms_per_step: Number(m[1]), tokens_per_s: Number(m[2]), gflops: Number(m[3]), peak_rss_mb: Math.round(mb) };
  }
  return null;
}

/** SIMD levels a peer can be held to, as llmforge's LLMFORGE_SIMD names them. */
export type PeerSimd = "avx512" | "avx2";

/**
 * What holds a peer to one SIMD level, for rows that compare it with llmforge on that level: OpenBLAS's kernel family
 * (OPENBLAS_CORETYPE) and PyTorch's own kernels (ATEN_CPU_CAPABILITY). On an AVX2-only CPU both already run AVX2;
 * forcing AVX2 on an AVX-512 CPU stands in for the laptops most users have. These win over the caller's environment
 * (a machine image may set OPENBLAS_CORETYPE for every process: this one sets Haswell, which would hand the AVX-512
 * rows an AVX2 peer).
 */
export function simdEnv(simd: PeerSimd): Record<string, string> {
  return simd === "avx2" ? { OPENBLAS_CORETYPE: "Haswell", ATEN_CPU_CAPABILITY: "avx2" } : { OPENBLAS_CORETYPE: "SkylakeX", ATEN_CPU_CAPABILITY: "avx512" };
}

/**
 * The environment a peer runs in: its thread count, OMP_WAIT_POLICY=passive unless the caller
 * set a policy (llmforge runs its own OpenMP threads passive; PyTorch's libgomp threads spinning
 * against OpenBLAS's on 2 cores would make the peer look slower than it is; ../shared/peers/README.md),
 * and with `simd`, the SIMD level its kernels are held to ({@link simdEnv}, over the caller's settings).
 */
export function peerEnv(threads: number, simd?: PeerSimd): NodeJS.ProcessEnv {
  const pinned = simd ? simdEnv(simd) : {};
  return { ...process.env, ...pinned, THREADS: String(threads), OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? "passive" };
}

/** The variables of {@link peerEnv} that set how a peer runs, as `NAME=value` pairs for a figure's caption. */
export function describePeerEnv(env: NodeJS.ProcessEnv): string {
  return ["OMP_WAIT_POLICY", "OMP_NUM_THREADS", "THREADS", "OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY"]
    .filter((k) => env[k] !== undefined)
    .map((k) => `${k}=${env[k]}`)
    .join(" ");
}

/** Which BLAS Debian's PyTorch links through the libblas.so.3 alternative (reference BLAS makes it ~15x slower). */
export function torchBlas(): string {
  try {
    const target = realpathSync("/usr/lib/x86_64-linux-gnu/libblas.so.3");
    return /openblas/.test(target) ? `OpenBLAS (${target})` : `reference BLAS (${target}; install libopenblas0-pthread for a fair peer)`;
  } catch {
    return "unknown BLAS";
  }
}

export function runPeer(name: "torch" | "jaxjs" | "tfjs", args: number[], threads: number, timeoutMs = 900_000, simd?: PeerSimd): StepFigures | string {
  const env = peerEnv(threads, simd);
  let r: ReturnType<typeof spawnSync>;
  if (name === "torch") {
    const py = "/usr/bin/python3";
    if (!existsSync(py) || spawnSync(py, ["-c", "import torch"]).status !== 0) return "not installed (apt-get install -y python3-torch)";
    r = spawnSync(py, [join(PEERS_DIR, "torch_gpt_bench.py"), ...args.map(String)], { env, encoding: "utf8", timeout: timeoutMs });
  } else {
    const script = join(PEERS_DIR, name === "jaxjs" ? "jaxjs_gpt_bench.mjs" : "tfjs_gpt_bench.mjs");
    const pkg = join(PEER_NODE_DIR, "node_modules", name === "jaxjs" ? "@jax-js/jax" : "@tensorflow/tfjs");
    if (!existsSync(pkg)) return `not installed (see ${PEERS_DIR}/README.md; set LLMFORGE_PEER_NODE_DIR)`;
    // These peers do not print their peak RSS: GNU time measures it (-f %M, in KB) when present.
    const time = existsSync("/usr/bin/time") ? ["/usr/bin/time", "-f", "LLMFORGE_MAXRSS_KB=%M"] : [];
    const cmd = [...time, process.execPath, script, ...args.map(String)];
    r = spawnSync(cmd[0], cmd.slice(1), {
      env: { ...env, NODE_PATH: join(PEER_NODE_DIR, "node_modules") }, cwd: PEER_NODE_DIR, encoding: "utf8", timeout: timeoutMs,
    });
  }
  if (r.status !== 0) return `failed (exit ${r.status}): ${String(r.stderr ?? "").trim().split("\n").slice(-2).join(" ")}`;
  const figures = lastJson(String(r.stdout ?? ""));
  if (!figures) return "no figures in its output";
  const kb = /LLMFORGE_MAXRSS_KB=(\d+)/.exec(String(r.stderr ?? ""));
  if (Number.isNaN(figures.peak_rss_mb) && kb) figures.peak_rss_mb = Math.round(Number(kb[1]) / 1024);
  return figures;
}

/** CPU model and the widest SIMD it has, for the figures' captions. */
export function cpuLine(): string {
  const info = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(info)?.[1]?.trim() ?? "unknown CPU";
  const isa = /\bavx512f\b/.test(info) ? `AVX-512${/\bamx_tile\b/.test(info) ? "+AMX" : ""}` : /\bavx2\b/.test(info) ? "AVX2" : "no AVX2";
  const core = /AuthenticAMD/.test(info) ? amdCore(Number(/cpu family\s*:\s*(\d+)/.exec(info)?.[1]), Number(/^model\s*:\s*(\d+)/m.exec(info)?.[1])) : null;
  return `${model}${core ? `, ${core}` : ""} (${isa}${core === "Zen 4" && isa === "AVX-512" ? " on 256-bit units: the FMA peak of AVX2" : ""})`;
}

/**
 * The core generation of an AMD CPU from its family and model (what "AMD EPYC" alone does not say: a Zen 4 runs AVX-512 on
 * 256-bit units, a Zen 5 on 512-bit ones, so the same ISA has twice the FMA peak), or null when unknown.
 */
export function amdCore(family: number, model: number): string | null {
  if (family === 0x17) return model >= 0x30 ? "Zen 2" : "Zen/Zen+";
  if (family === 0x19) return (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) || (model >= 0xa0 && model <= 0xaf) ? "Zen 4" : "Zen 3";
  if (family === 0x1a) return "Zen 5";
  return null;
}
