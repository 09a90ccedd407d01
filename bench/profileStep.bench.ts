// Where one training step of the quickstart-size model spends its time, per native kernel kind, on every SIMD
// level the CPU runs: each method of the native kernel table is wrapped with performance.now() for this process
// only (src/ is unchanged); the step time not spent inside a kernel is JS, tape and allocation overhead.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeConfig } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { AdamW, clipGradNorm } from "../src/optim/optimizers.js";
import type { GemmArgs, Kernels } from "../src/tensor/backend/kernels.js";
import { nativeInfo, nativeKernels, nativeLoadError, nativeSimdLevels, setNativeSimd, setNativeThreads, type SimdLevel } from "../src/tensor/backend/native.js";
import { ids } from "../src/tensor/ops/index.js";
import { Rng } from "../src/tensor/rng.js";
import { tidy } from "../src/tensor/tensor.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "profileStep.md");
const threads = Number(process.env.THREADS ?? "2");
const steps = Number(process.env.LLMFORGE_PROFILE_STEPS ?? "6");
/**
 * The model and batch: the quickstart's (src/pipeline/quickstart.ts: depth 3, width 192, 6 heads, vocab 4096, block
 * 128, batch 16) unless LLMFORGE_PROFILE_SIZE gives "L H C T V B" as the train bench names its sizes.
 */
const QUICKSTART_SIZE = "3 6 192 128 4096 16";
const SIZE = (process.env.LLMFORGE_PROFILE_SIZE ?? QUICKSTART_SIZE).trim().split(/\s+/).map(Number);
if (SIZE.length !== 6 || SIZE.some((x) => !(Number.isInteger(x) && x > 0))) {
  console.error(`LLMFORGE_PROFILE_SIZE: expected six positive whole numbers "L H C T V B", got "${process.env.LLMFORGE_PROFILE_SIZE}"`);
  process.exit(2);
}
const [LAYERS, HEADS, C, T, V, B] = SIZE;
const QUICKSTART = SIZE.join(" ") === QUICKSTART_SIZE;

/** Time (ms) and calls per kernel kind, within the timed steps only. */
interface Bucket {
  ms: number;
  calls: number;
}
const buckets = new Map<string, Bucket>();
let recording = false;

/** GEMM kind from its shape: the role it plays in the step (forward X·Wᵀ, dX, dW, LM head). */
function gemmKind(p: GemmArgs): string {
  const tag = `${p.transA ? "T" : "N"}${p.transB ? "T" : "N"}`;
  const lm = p.M === V || p.N === V || p.K === V ? " (LM head)" : "";
  return `gemm ${tag} ${p.M}×${p.N}×${p.K}${p.batch > 1 ? ` ×${p.batch}` : ""}${lm}`;
}

/** Wraps every function of `k` in place so that calls add their time to `buckets` while `recording`. */
function instrument(k: Kernels): void {
  const table = k as unknown as Record<string, unknown>;
  for (const name of Object.keys(table)) {
    const f = table[name];
    if (typeof f !== "function" || name === "supports") continue;
    const orig = f as (...a: unknown[]) => unknown;
    table[name] = (...args: unknown[]): unknown => {
      if (!recording) return orig.apply(k, args);
      const kind = name === "gemm" ? gemmKind(args[0] as GemmArgs) : name === "gemmPair" ? `gemmPair ${gemmKind(args[0] as GemmArgs)} + ${gemmKind(args[1] as GemmArgs)}` : name === "binary" || name === "unary" || name === "unaryBackward" ? `${name} ${String(args[0])}` : name;
      const t0 = performance.now();
      const r = orig.apply(k, args);
      const b = buckets.get(kind) ?? { ms: 0, calls: 0 };
      b.ms += performance.now() - t0;
      b.calls++;
      buckets.set(kind, b);
      return r;
    };
  }
}

interface Profile {
  simd: SimdLevel;
  stepMs: number;
  /** CPU time of this process per step (all threads): close to the step's cost on free cores when the machine is shared. */
  cpuMs: number;
  phases: Record<string, number>;
  kernels: [string, Bucket][];
}

/** Times `steps` steps after 2 warm-up steps; per phase (forward, backward, clip, AdamW) and per kernel kind. */
function profile(simd: SimdLevel): Profile {
  setNativeSimd(simd);
  const config = makeConfig({ nLayer: LAYERS, nHead: HEADS, nEmbd: C, blockSize: T, vocabSize: V, dropout: 0 });
  const model = new GPT(config, { seed: 0 });
  const params = model.parameters().filter((p) => p.requiresGrad);
  const opt = new AdamW(params, { lr: 3e-4, weightDecay: 0.1 });
  const rng = new Rng(1);
  const phases: Record<string, number> = { forward: 0, backward: 0, "clip grad norm": 0, "AdamW step": 0, "zero grad": 0 };
  const step = (): void => {
    const x = Int32Array.from({ length: B * T }, () => rng.int(V));
    const y = Int32Array.from({ length: B * T }, () => rng.int(V));
    tidy(() => {
      let t = performance.now();
      const l = model.loss(ids(x, [B, T]), y);
      l.item();
      phases.forward += performance.now() - t;
      t = performance.now();
      l.backward();
      phases.backward += performance.now() - t;
    });
    let t = performance.now();
    clipGradNorm(params, 1.0);
    phases["clip grad norm"] += performance.now() - t;
    t = performance.now();
    opt.step();
    phases["AdamW step"] += performance.now() - t;
    t = performance.now();
    opt.zeroGrad();
    phases["zero grad"] += performance.now() - t;
  };
  for (let i = 0; i < 2; i++) step();
  for (const k of Object.keys(phases)) phases[k] = 0;
  buckets.clear();
  recording = true;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const stepMs = (performance.now() - t0) / steps;
  const c = process.cpuUsage(c0);
  const cpuMs = (c.user + c.system) / 1000 / steps;
  recording = false;
  for (const k of Object.keys(phases)) phases[k] /= steps;
  const kernels = [...buckets.entries()].map(([k, b]): [string, Bucket] => [k, { ms: b.ms / steps, calls: b.calls / steps }]).sort((a, b) => b[1].ms - a[1].ms);
  return { simd, stepMs, cpuMs, phases, kernels };
}

/** Groups kernel kinds into the op families of the issue's profile row. */
function family(kind: string): string {
  if (kind.startsWith("gemm") && kind.includes("LM head")) return "GEMM, LM head (tied embedding)";
  if (kind.startsWith("gemm") && kind.includes("×") && / ×\d+$/.test(kind)) return "GEMM, batched";
  if (kind.startsWith("gemm")) return "GEMM, blocks (qkv, proj, MLP)";
  if (kind.startsWith("attention")) return "attention (fused fwd + bwd)";
  if (kind.startsWith("layerNorm")) return "layernorm fwd + bwd";
  if (kind.includes("gelu")) return "GELU fwd + bwd";
  if (kind.startsWith("crossEntropy") || kind.startsWith("softmax")) return "cross-entropy / softmax";
  if (kind === "adamw") return "AdamW kernel";
  if (kind.startsWith("embedding")) return "embedding gather / scatter-add";
  if (kind.startsWith("binary") || kind.startsWith("copyStrided")) return "elementwise add/mul, copies";
  if (kind.startsWith("sumAxis") || kind.startsWith("maxAxis")) return "reductions (bias grads, norms)";
  return `other (${kind})`;
}

if (!nativeKernels) throw new Error(`profileStep bench: the native backend did not load: ${nativeLoadError}`);
setNativeThreads(threads);
instrument(nativeKernels);
const levels = (process.env.LLMFORGE_SIMD ? [process.env.LLMFORGE_SIMD] : nativeSimdLevels().filter((l) => l !== "scalar")) as SimdLevel[];
const profiles = levels.map((l) => {
  console.error(`profileStep bench: ${l}`);
  return profile(l);
});
setNativeSimd("auto");

const lines: string[] = [];
lines.push(`## Where a training step goes (${QUICKSTART ? "quickstart-size model" : `${SIZE.join(" ")} (L H C T V B)`})`);
lines.push("");
lines.push(`\`npm run bench -- profileStep\` on ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? "unknown CPU"}, ${nativeInfo().threads} threads, ` +
  `load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores. GPT gpt2 flavour, ${LAYERS} layers, ${HEADS} heads, width ${C}, vocab ${V}, block ${T}, batch ${B} ` +
  `(${B * T} tokens/step), mean of ${steps} steps after 2 warm-up steps. Each native kernel call is timed in JS (performance.now() around the call, ` +
  "~0.1 µs each); \"JS, tape, allocation\" is the step time spent outside every kernel.");
lines.push("");
lines.push(`| op family | ${profiles.map((p) => `${p.simd} ms/step | share`).join(" | ")} |`);
lines.push(`| --- | ${profiles.map(() => "---: | ---:").join(" | ")} |`);
const fams = new Map<string, number[]>();
const callCount = profiles.map((p) => p.kernels.reduce((s, [, b]) => s + b.calls, 0));
profiles.forEach((p, i) => {
  for (const [kind, b] of p.kernels) {
    const f = family(kind);
    const row = fams.get(f) ?? profiles.map(() => 0);
    row[i] += b.ms;
    fams.set(f, row);
  }
});
const inKernels = profiles.map((_, i) => [...fams.values()].reduce((s, r) => s + r[i], 0));
fams.set("JS, tape, allocation (outside kernels)", profiles.map((p, i) => p.stepMs - inKernels[i]));
const cell = (ms: number, i: number): string => `${ms.toFixed(2)} | ${((100 * ms) / profiles[i].stepMs).toFixed(1)}%`;
for (const [f, row] of [...fams.entries()].sort((a, b) => b[1][0] - a[1][0])) lines.push(`| ${f} | ${row.map(cell).join(" | ")} |`);
lines.push(`| **whole step** | ${profiles.map((p) => `**${p.stepMs.toFixed(1)}** | ${Math.round((B * T * 1000) / p.stepMs)} tok/s`).join(" | ")} |`);
lines.push("");
lines.push(`CPU time per step (both threads): ${profiles.map((p) => `${p.cpuMs.toFixed(1)} ms (${p.simd}; wall/CPU ${(p.stepMs / p.cpuMs).toFixed(2)}, ` +
  "between 0.5 and 1 on two free cores)").join(", ")}: a wall/CPU ratio above 1 means other work held the cores and the wall figures are inflated.`);
lines.push("");
lines.push(`Kernel calls per step: ${profiles.map((p, i) => `${Math.round(callCount[i])} (${p.simd})`).join(", ")}. ` +
  `Phases (ms/step): ${profiles.map((p) => `${p.simd}: ${Object.entries(p.phases).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`).join("; ")}.`);
lines.push("");
lines.push(`Top kernel kinds on ${profiles[profiles.length - 1].simd}:`);
lines.push("");
lines.push("| kernel (GEMM: transA transB M×N×K) | calls/step | ms/step | µs/call | GEMM GFLOP/s |");
lines.push("| --- | ---: | ---: | ---: | ---: |");
for (const [kind, b] of profiles[profiles.length - 1].kernels.slice(0, 16)) {
  // FLOPs of every GEMM named in the kind (a gemmPair names two)
  const flops = [...kind.matchAll(/gemm \S+ (\d+)×(\d+)×(\d+)(?: ×(\d+))?/g)].reduce((s, m) => s + 2 * Number(m[1]) * Number(m[2]) * Number(m[3]) * Number(m[4] ?? 1), 0);
  const gflops = flops > 0 ? ((flops * b.calls) / (b.ms * 1e6)).toFixed(1) : "";
  lines.push(`| ${kind} | ${b.calls.toFixed(0)} | ${b.ms.toFixed(2)} | ${((1000 * b.ms) / b.calls).toFixed(1)} | ${gflops} |`);
}
const md = lines.join("\n");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${md}\n`);
console.log(md);
