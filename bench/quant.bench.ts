// Quantised inference on the quickstart model (/tmp/qs, or LLMFORGE_QS): per format (f32, int8, q4_0 through
// `llmforge quantize`; q8_0/q4_0 GGUF files read back by llmforge), the weights' file size, held-out perplexity on the
// run's val shard (train/trainer.ts evaluate, as `llmforge eval --data`), and decode tokens/s on 1 thread (BatchDecoder,
// both SIMD levels) side by side with llama.cpp (node-llama-cpp, 1 thread) on the GGUF export of the same model.
// Writes bench/results/quant.md (LLMFORGE_BENCH_OUT).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchDecoder } from "../src/infer/batchDecoder.js";
import { quantizeRun } from "../src/infer/quantModel.js";
import { exportGguf } from "../src/model/exportGguf.js";
import type { GPT } from "../src/model/gpt.js";
import { loadRun } from "../src/model/runFolder.js";
import { nativeKernels, nativeLoadError, nativeSimdLevels, setNativeSimd, setNativeThreads, type SimdLevel } from "../src/tensor/backend/native.js";
import { readTokenShard } from "../src/tokenizer/shards.js";
import { evaluate } from "../src/train/trainer.js";
import { type LlamaRun, loadInLlamaCpp } from "../test/io/llamaCpp.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "quant.md");
const qs = process.env.LLMFORGE_QS ?? "/tmp/qs";
const STEPS = 64;
const PROMPT = 8;
const REPEATS = 15;
const tmp = mkdtempSync(join(tmpdir(), "llmforge-quant-bench-"));

/** Milliseconds for STEPS decode steps of one sequence through the BatchDecoder (an 8-token prompt first, untimed). */
function decodeMs(model: GPT): number {
  const V = model.config.vocabSize;
  const d = new BatchDecoder(model, { slots: 1, maxLen: PROMPT + STEPS });
  d.step([{ slot: 0, tokens: Array.from({ length: PROMPT }, (_, i) => (i * 31 + 7) % V) }]);
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) d.step([{ slot: 0, tokens: [(i * 13 + 1) % V] }]);
  return performance.now() - t0;
}

/** Milliseconds llama.cpp takes for greedy decoding of `n` tokens after the same prompt (its prompt evaluation included). */
async function llamaCppMs(run: LlamaRun, V: number, n: number): Promise<number> {
  const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 31 + 7) % V);
  const t0 = performance.now();
  await run.greedy(prompt, n);
  return performance.now() - t0;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
const weightsBytes = (run: string) => statSync(join(run, "model", "model.safetensors")).size;

const lines = ["## Quantised inference (quickstart model)", ""];
if (!existsSync(join(qs, "model", "config.json"))) {
  lines.push(`No quickstart run at ${qs} (run \`llmforge quickstart --out ${qs}\` first).`);
} else if (!nativeKernels) {
  lines.push(`Native backend not available: ${nativeLoadError}`);
} else {
  setNativeThreads(1);
  const valShard = readdirSync(join(qs, "shards")).find((f) => f.startsWith("val_") && f.endsWith(".bin"));
  const shard = valShard ? readTokenShard(join(qs, "shards", valShard)).tokens : null;
  const runs: { label: string; path: string; bytes: number }[] = [{ label: "f32 (llmforge)", path: qs, bytes: weightsBytes(qs) }];
  for (const to of ["int8", "q4_0"] as const) {
    const out = join(tmp, `qs-${to}`);
    quantizeRun({ model: qs, to, out });
    runs.push({ label: `${to} (llmforge quantize)`, path: out, bytes: weightsBytes(out) });
  }
  const ggufs: Record<string, string> = {};
  for (const type of ["f32", "q8_0", "q4_0"] as const) {
    ggufs[type] = join(tmp, `qs-${type}.gguf`);
    exportGguf({ model: qs, out: ggufs[type], type });
    if (type !== "f32") runs.push({ label: `${type} GGUF read by llmforge (dequantised to f32)`, path: ggufs[type], bytes: statSync(ggufs[type]).size });
  }
  const levels = (["avx512", "avx2"] as SimdLevel[]).filter((l) => nativeSimdLevels().includes(l));
  const models = runs.map((r) => loadRun(r.path).model);
  const ppl = models.map((model) => {
    const T = model.config.blockSize;
    return shard ? evaluate(model, ["val"], () => shard, 8, T, Math.max(1, Math.floor((shard.length - 1) / (8 * T)))).perplexity : Number.NaN;
  });
  const V = models[0].config.vocabSize;
  const llamaRuns = await Promise.all(Object.values(ggufs).map((p) => loadInLlamaCpp(p, PROMPT + STEPS + 8)));
  // Interleaved rounds (every model and llama.cpp once a round, best of REPEATS rounds): a busy shared machine slows all alike.
  const ours = models.map(() => levels.map(() => Number.POSITIVE_INFINITY));
  // llama.cpp: best time for 1 token and for STEPS + 1 tokens, each over the rounds; the difference is STEPS decode steps.
  const theirs1 = llamaRuns.map(() => Number.POSITIVE_INFINITY);
  const theirsN = llamaRuns.map(() => Number.POSITIVE_INFINITY);
  for (let rep = 0; rep < REPEATS; rep++) {
    levels.forEach((l, li) => {
      setNativeSimd(l);
      models.forEach((m, mi) => {
        ours[mi][li] = Math.min(ours[mi][li], decodeMs(m));
      });
    });
    setNativeSimd("auto");
    for (const [i, r] of llamaRuns.entries()) {
      theirs1[i] = Math.min(theirs1[i], await llamaCppMs(r, V, 1));
      theirsN[i] = Math.min(theirsN[i], await llamaCppMs(r, V, STEPS + 1));
    }
  }
  for (const r of llamaRuns) await r.dispose();
  const tps = (ms: number) => ((STEPS * 1000) / ms).toFixed(0);
  lines.push(`Val shard: ${valShard ?? "none"} (perplexity as \`llmforge eval --data\`: batches of 8 × ${models[0].config.blockSize}). Decode: 1 sequence, ${PROMPT}-token prompt then ${STEPS} steps, 1 thread, best of ${REPEATS} rounds interleaved over every model and llama.cpp (llama.cpp: best time for 65 tokens minus best time for 1).`, "");
  lines.push(`| weights | file MiB | perplexity | Δ vs f32 | ${levels.map((l) => `decode tok/s (${l})`).join(" | ")} |`);
  lines.push(`|---|---|---|---|${levels.map(() => "---|").join("")}`);
  runs.forEach((r, i) => {
    const delta = `${(((ppl[i] - ppl[0]) / ppl[0]) * 100).toFixed(2)}%`;
    lines.push(`| ${r.label} | ${mib(r.bytes)} | ${ppl[i].toFixed(3)} | ${delta} | ${ours[i].map(tps).join(" | ")} |`);
  });
  lines.push("", "llama.cpp (node-llama-cpp 3.21.1 prebuilt CPU build, 1 thread) on the GGUF export of the same model, in the same rounds:", "");
  lines.push("| GGUF | file MiB | decode tok/s |", "|---|---|---|");
  for (const [i, [type, path]] of Object.entries(ggufs).entries()) lines.push(`| ${type} | ${mib(statSync(path).size)} | ${tps(theirsN[i] - theirs1[i])} |`);
}
rmSync(tmp, { recursive: true, force: true });
const text = `${lines.join("\n")}\n`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, text);
process.stdout.write(text);
process.exit(0);
