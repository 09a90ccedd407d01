// Training-step throughput of llmforge side by side with the peers in ../shared/peers (PyTorch,
// jax-js, TensorFlow.js) in the same run, at the default size and at 6 6 384 256 8192 8, on
// 2 threads; plus GPT-2 small (124M) peak RSS and generation speed of a quickstart-size model.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuLine, peerEnv, runPeer, type StepFigures, torchBlas } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "train.md");
const threads = Number(process.env.THREADS ?? "2");
const sizes = [
  [4, 4, 256, 256, 4096, 8],
  [6, 6, 384, 256, 8192, 8],
];

/** Runs `llmforge bench train` in a fresh process (so peak RSS is its own). */
function ours(args: number[], extra: string[] = []): StepFigures | string {
  const [layers, heads, dim, block, vocab, batch] = args;
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(root, "src", "cli", "main.ts"), "bench", "train", "--layers", String(layers), "--heads", String(heads),
      "--dim", String(dim), "--block", String(block), "--vocab", String(vocab), "--batch", String(batch), "--json", ...extra],
    { cwd: root, encoding: "utf8", env: { ...process.env, LLMFORGE_THREADS: String(threads) }, timeout: 1_800_000 },
  );
  if (r.status !== 0) return `failed: ${String(r.stderr).trim().split("\n").slice(-2).join(" ")}`;
  const line = r.stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  return line ? (JSON.parse(line) as StepFigures) : "no JSON output";
}

const fmt = (x: StepFigures | string, key: keyof StepFigures): string => (typeof x === "string" ? "—" : String(x[key]));
const lines: string[] = [];
const notes: string[] = [];
lines.push("## Pretraining step (forward + backward + AdamW), tokens/s");
lines.push("");
lines.push(`\`npm run bench -- train\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, ${threads} threads, random tokens, same model and step as ../shared/peers. ` +
  `Peers run with OMP_WAIT_POLICY=${peerEnv(threads).OMP_WAIT_POLICY}, OMP_NUM_THREADS=${threads} (PyTorch: Debian's python3-torch with ${torchBlas()}, glibc malloc defaults).`);
lines.push("");
lines.push("| size (L H C T V B) | engine | tokens/s | ms/step | GFLOP/s | peak RSS MB | vs PyTorch |");
lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
for (const size of sizes) {
  const label = size.join(" ");
  console.error(`train bench ${label}: llmforge`);
  const us = ours(size);
  console.error(`train bench ${label}: PyTorch`);
  const torch = runPeer("torch", size, threads);
  console.error(`train bench ${label}: llmforge bf16`);
  const usBf16 = ours(size, ["--precision", "bf16"]);
  const peers: [string, StepFigures | string][] = [["llmforge", us], ["llmforge, bf16 matmuls (mixed precision)", usBf16], ["PyTorch", torch]];
  if (size[2] === 256) {
    console.error(`train bench ${label}: jax-js, tfjs`);
    peers.push(["jax-js (wasm, jit)", runPeer("jaxjs", size, threads)], ["tfjs (wasm)", runPeer("tfjs", size, threads)]);
  }
  for (const [name, f] of peers) {
    const ratio = typeof f !== "string" && typeof torch !== "string" ? `${(f.tokens_per_s / torch.tokens_per_s).toFixed(2)}×` : "—";
    lines.push(`| ${label} | ${name} | ${fmt(f, "tokens_per_s")} | ${fmt(f, "ms_per_step")} | ${fmt(f, "gflops")} | ${fmt(f, "peak_rss_mb")} | ${ratio} |`);
    if (typeof f === "string") notes.push(`${name} at ${label}: ${f}`);
  }
}
console.error("train bench: GPT-2 small (124M), batch 1 x 1024");
const big = ours([12, 12, 768, 1024, 50257, 1], ["--steps", "2", "--warmup", "1"]);
lines.push("");
lines.push(`GPT-2 small (124M parameters, 12 layers, 768 wide, block 1024, vocab 50257), batch 1: ` +
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
lines.push("Targets: ≥ 1.5× PyTorch tokens/s on 2 threads (goal 2×), peak RSS ≤ PyTorch's. The machine is shared and noisy: compare ratios within one run.");
const md = lines.join("\n");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${md}\n`);
console.log(md);
