// Training-step throughput of llmforge side by side with the peers in ../shared/peers (PyTorch,
// jax-js, TensorFlow.js) in the same run, at the quickstart's size, the default size and 6 6 384 256 8192 8,
// on 2 threads and every SIMD level the CPU runs; plus GPT-2 small (124M) peak RSS and generation speed.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { nativeFmaPeak, setNativeSimd, type SimdLevel } from "../src/tensor/backend/native.js";
import { cpuLine, describePeerEnv, type PeerSimd, peerEnv, runPeer, type StepFigures, torchBlas } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "train.md");
const threads = Number(process.env.THREADS ?? "2");
/** Sizes as `n_layer n_head n_embd block vocab batch`; the first is the quickstart's model (src/pipeline/quickstart.ts: depth 3, block 128, batch 16). */
const sizes = [
  [3, 6, 192, 128, 4096, 16],
  [4, 4, 256, 256, 4096, 8],
  [6, 6, 384, 256, 8192, 8],
];

/** llmforge's SIMD paths to measure: LLMFORGE_SIMD's when set, else every level this CPU runs (widest first). */
const cpuFlags = readFileSync("/proc/cpuinfo", "utf8");
const levels = process.env.LLMFORGE_SIMD
  ? [process.env.LLMFORGE_SIMD]
  : [...(/\bavx512f\b/.test(cpuFlags) ? ["avx512"] : []), ...(/\bavx2\b/.test(cpuFlags) ? ["avx2"] : []), "scalar"].slice(0, 2);
/** The llmforge f32 rows and PyTorch are each run this many times, interleaved; the fastest run counts (the machine is shared). */
const reps = Math.max(1, Number(process.env.LLMFORGE_BENCH_REPS ?? "2"));

/** Cores two spinning threads get for 1 s: well under 2 means other work held a core during the run. */
async function coresAvailable(): Promise<number> {
  const spin = `const t = Date.now(); let x = 0; while (Date.now() - t < 1000) x++; require("node:worker_threads").parentPort.postMessage(x);`;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all([0, 1].map(() => new Promise((done) => new Worker(spin, { eval: true }).once("message", done))));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e3 / (performance.now() - t0);
}

/** The faster of two results (a failure only when both failed). */
function best(a: StepFigures | string | undefined, b: StepFigures | string): StepFigures | string {
  if (a === undefined || typeof a === "string") return b;
  return typeof b === "string" || a.tokens_per_s >= b.tokens_per_s ? a : b;
}

/** Runs `llmforge bench train` in a fresh process (so peak RSS is its own) on SIMD level `simd`. */
function ours(args: number[], simd: string, extra: string[] = []): StepFigures | string {
  const [layers, heads, dim, block, vocab, batch] = args;
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(root, "src", "cli", "main.ts"), "bench", "train", "--layers", String(layers), "--heads", String(heads),
      "--dim", String(dim), "--block", String(block), "--vocab", String(vocab), "--batch", String(batch), "--json", ...extra],
    { cwd: root, encoding: "utf8", env: { ...process.env, LLMFORGE_THREADS: String(threads), LLMFORGE_SIMD: simd }, timeout: 1_800_000 },
  );
  if (r.status !== 0) return `failed: ${String(r.stderr).trim().split("\n").slice(-2).join(" ")}`;
  const line = r.stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  return line ? (JSON.parse(line) as StepFigures) : "no JSON output";
}

const fmt = (x: StepFigures | string, key: keyof StepFigures): string => (typeof x === "string" ? "—" : String(x[key]));
/** The FMA ceiling of each measured level on `threads` threads (GFLOP/s), for the "% of peak" column. */
const peaks = new Map<string, number>();
for (const simd of levels) {
  setNativeSimd(simd as SimdLevel);
  peaks.set(simd, nativeFmaPeak(threads, 0.5));
}
setNativeSimd("auto");
/** PyTorch is held to each level llmforge runs on (OpenBLAS kernels and ATen's), so each row has its own peer. */
const peerLevel = (simd: string): PeerSimd | undefined => (simd === "avx512" || simd === "avx2" ? simd : undefined);
const probeBefore = await coresAvailable();
const loadBefore = loadavg()[0];
const lines: string[] = [];
const notes: string[] = [];
lines.push("## Pretraining step (forward + backward + AdamW), tokens/s");
lines.push("");
lines.push(`\`npm run bench -- train\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, ${threads} threads, random tokens, same model and step as ../shared/peers; ` +
  `llmforge on each SIMD path named in its row (LLMFORGE_SIMD), on its own thread team (idle threads spin 100 µs, yielding, then sleep). ` +
  `PyTorch: Debian's python3-torch with ${torchBlas()}, glibc malloc defaults (large logits are mapped and unmapped each step, as a pip user would have it), ` +
  `held to the same SIMD level as the llmforge rows it is compared with; its environment is in its row. jax-js and tfjs get the same threads and wait policy. ` +
  `llmforge f32 rows and PyTorch: fastest of ${reps} interleaved runs. % of peak: the step's GFLOP/s over the FMA ceiling of that SIMD level on ${threads} threads, ` +
  `measured in the same run (${levels.map((l) => `${l} ${(peaks.get(l) ?? 0).toFixed(0)} GFLOP/s`).join(", ")}; independent FMA chains, src/tensor/backend/native.ts nativeFmaPeak).`);
lines.push("");
lines.push("| size (L H C T V B) | engine | tokens/s | ms/step | GFLOP/s | % of FMA peak | peak RSS MB | vs PyTorch (same SIMD level) |");
lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
const probes: number[] = [probeBefore];
for (const size of sizes) {
  const label = size.join(" ");
  const us = new Map<string, StepFigures | string>();
  const torch = new Map<string, StepFigures | string>();
  for (let rep = 0; rep < reps; rep++) {
    for (const simd of levels) {
      console.error(`train bench ${label}: llmforge ${simd} (run ${rep + 1}/${reps})`);
      us.set(simd, best(us.get(simd), ours(size, simd)));
      console.error(`train bench ${label}: PyTorch held to ${simd} (run ${rep + 1}/${reps})`);
      torch.set(simd, best(torch.get(simd), runPeer("torch", size, threads, undefined, peerLevel(simd))));
    }
  }
  const row = (name: string, f: StepFigures | string, simd: string | null) => {
    const peer = simd ? torch.get(simd) : undefined;
    const ratio = typeof f !== "string" && peer !== undefined && typeof peer !== "string" ? `${(f.tokens_per_s / peer.tokens_per_s).toFixed(2)}×` : "—";
    const peak = simd ? peaks.get(simd) : undefined;
    const pct = typeof f !== "string" && peak ? `${((100 * f.gflops) / peak).toFixed(0)}%` : "—";
    lines.push(`| ${label} | ${name} | ${fmt(f, "tokens_per_s")} | ${fmt(f, "ms_per_step")} | ${fmt(f, "gflops")} | ${pct} | ${fmt(f, "peak_rss_mb")} | ${ratio} |`);
    if (typeof f === "string") notes.push(`${name} at ${label}: ${f}`);
  };
  for (const simd of levels) {
    row(`llmforge (${simd})`, us.get(simd) ?? "not run", simd);
    row(`PyTorch (${describePeerEnv(peerEnv(threads, peerLevel(simd)))})`, torch.get(simd) ?? "not run", simd);
  }
  if (size[0] !== 3) {
    console.error(`train bench ${label}: llmforge bf16 (${levels[0]})`);
    row(`llmforge (${levels[0]}), bf16 matmuls (mixed precision)`, ours(size, levels[0], ["--precision", "bf16"]), levels[0]);
  }
  if (size[2] === 256) {
    console.error(`train bench ${label}: jax-js, tfjs`);
    row("jax-js (wasm, jit)", runPeer("jaxjs", size, threads), levels[0]);
    row("tfjs (wasm)", runPeer("tfjs", size, threads), levels[0]);
  }
  probes.push(await coresAvailable());
}
lines.push("");
lines.push(`Two threads that only spin for 1 s got ${probes.map((p) => p.toFixed(2)).join(", ")} cores before and after each size (load average ${loadBefore.toFixed(1)} at the start); ` +
  "well under 2 means other work shared the cores during those rows.");
console.error("train bench: GPT-2 small (124M), batch 1 x 1024");
const big = ours([12, 12, 768, 1024, 50257, 1], levels[0], ["--steps", "2", "--warmup", "1"]);
lines.push("");
lines.push(`GPT-2 small (124M parameters, 12 layers, 768 wide, block 1024, vocab 50257), batch 1, ${levels[0]}: ` +
  (typeof big === "string" ? big : `${big.tokens_per_s} tokens/s, ${big.ms_per_step} ms/step, peak RSS ${big.peak_rss_mb} MB (target < 4096 MB).`));
console.error("train bench: generation");
/** `llmforge bench generate` (1 thread) with these arguments: its JSON line, or why it failed. */
function benchGenerate(args: string[]): Record<string, number> | string {
  const gen = spawnSync(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), "bench", "generate", "--json", "--threads", "1", ...args], { cwd: root, encoding: "utf8" });
  const line = gen.stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  return line ? (JSON.parse(line) as Record<string, number>) : `failed: ${gen.stderr.trim().split("\n").pop()}`;
}
const small = benchGenerate([]);
lines.push("");
lines.push(
  "Generation with the KV cache, quickstart-size model (3 layers, width 192, vocab 4096), 1 thread: " +
    (typeof small === "string"
      ? small
      : `${small.tokens_per_s} tokens/s through the one-token decode session (src/infer/decodeSession.ts; target ≥ 3000), ${small.tensor_path_tokens_per_s} tokens/s through the tensor path; sampling at temperature 1 over the whole vocabulary, best of 5 after 3 warm-up runs.`),
);
const gpt2Gen = benchGenerate(["--layers", "12", "--heads", "12", "--dim", "768", "--block", "1024", "--vocab", "50257", "--tokens", "32", "--prompt-tokens", "512"]);
lines.push("");
lines.push(
  "Generation, GPT-2 small shape (124M, f32, random weights), 1 thread, 512-token prompt: " +
    (typeof gpt2Gen === "string"
      ? gpt2Gen
      : `${gpt2Gen.tokens_per_s} tokens/s (target ≥ 25; tensor path ${gpt2Gen.tensor_path_tokens_per_s}), time to first token ${gpt2Gen.prefill_ms} ms (tensor path ${gpt2Gen.tensor_path_prefill_ms} ms).`),
);
if (notes.length > 0) {
  lines.push("");
  for (const n of notes) lines.push(`- ${n}`);
}
lines.push("");
lines.push("Targets (issue 20): ≥ 1.5× PyTorch tokens/s on 2 threads at the quickstart and default sizes, ≥ 1.3× and ≥ 70% of the FMA peak at 6 6 384 256 8192 8, on AVX2 and on AVX-512; peak RSS ≤ PyTorch's. The machine is shared and noisy: compare ratios within one run.");
const md = lines.join("\n");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${md}\n`);
console.log(md);
