// Quantised inference, two models: the quickstart model (/tmp/qs, or LLMFORGE_QS) and a GPT-2-small-shaped one (12 layers,
// width 768, vocabulary 50257; seeded random weights: fine for speed, and its perplexity change shows the quantisation
// noise only). Per format (f32, int8, q4_0 through `llmforge quantize`; for the quickstart model also the q8_0/q4_0
// GGUF files read back by llmforge): the weights' file size, perplexity on the quickstart run's val shard (as
// `llmforge eval --data`), and decode tokens/s on 1 and 2 threads (BatchDecoder, every SIMD level the CPU has) side by
// side with llama.cpp (node-llama-cpp, same threads) on the GGUF export of the same model, rounds interleaved.
// Writes bench/results/quant.md (LLMFORGE_BENCH_OUT).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchDecoder } from "../src/infer/batchDecoder.js";
import { quantizeRun } from "../src/infer/quantModel.js";
import { exportGguf } from "../src/model/exportGguf.js";
import { makeConfig } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { loadRun } from "../src/model/runFolder.js";
import { saveModel } from "../src/model/serialize.js";
import { getQuantActivations } from "../src/nn/quantLinear.js";
import { nativeInfo, nativeKernels, nativeLoadError, nativeSimdLevels, setNativeSimd, setNativeThreads, type SimdLevel } from "../src/tensor/backend/native.js";
import { readTokenShard } from "../src/tokenizer/shards.js";
import { evaluate } from "../src/train/trainer.js";
import { type LlamaRun, loadInLlamaCpp } from "../test/io/llamaCpp.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "quant.md");
const qs = process.env.LLMFORGE_QS ?? "/tmp/qs";
const PROMPT = 8;
const THREADS = [1, 2];
const tmp = mkdtempSync(join(tmpdir(), "llmforge-quant-bench-"));

/** Milliseconds for `steps` decode steps of one sequence through `d` (slot 0 reset, an 8-token prompt first, untimed). */
function decodeMs(d: BatchDecoder, V: number, steps: number): number {
  d.truncate(0, 0);
  d.step([{ slot: 0, tokens: Array.from({ length: PROMPT }, (_, i) => (i * 31 + 7) % V) }]);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) d.step([{ slot: 0, tokens: [(i * 13 + 1) % V] }]);
  return performance.now() - t0;
}

/** Milliseconds llama.cpp takes for greedy decoding of `n` tokens after the same prompt (its prompt evaluation included). */
async function llamaCppMs(run: LlamaRun, V: number, n: number): Promise<number> {
  const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 31 + 7) % V);
  const t0 = performance.now();
  const got = await run.greedy(prompt, n);
  const ms = performance.now() - t0;
  // a short answer would make its tokens/s look high: refuse the figure rather than print it
  if (got.length !== n) throw new Error(`llama.cpp returned ${got.length} tokens where ${n} were asked`);
  return ms;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
const weightsBytes = (run: string) => statSync(join(run, "model", "model.safetensors")).size;

interface Case {
  title: string;
  run: string;
  /** Decode steps timed per round, rounds (best of), perplexity batches of 8 x 128. */
  steps: number;
  rounds: number;
  evalBatches: number;
  /** Also read the q8_0/q4_0 GGUF files back with llmforge. */
  ggufRows: boolean;
}

/** One model's table: formats x (SIMD level, threads), then llama.cpp on its GGUF files x threads. */
async function measure(c: Case, shard: Uint16Array | Uint32Array | null, lines: string[]): Promise<void> {
  const runs: { label: string; path: string; bytes: number }[] = [{ label: "f32 (llmforge)", path: c.run, bytes: weightsBytes(c.run) }];
  for (const to of ["int8", "q4_0"] as const) {
    const out = join(tmp, `${c.title}-${to}`.replace(/\W+/g, "_"));
    quantizeRun({ model: c.run, to, out });
    runs.push({ label: `${to} (llmforge quantize)`, path: out, bytes: weightsBytes(out) });
  }
  const ggufs: Record<string, string> = {};
  for (const type of ["f32", "q8_0", "q4_0"] as const) {
    ggufs[type] = join(tmp, `${c.title}-${type}.gguf`.replace(/[^\w.-]+/g, "_"));
    exportGguf({ model: c.run, out: ggufs[type], type });
    if (c.ggufRows && type !== "f32") runs.push({ label: `${type} GGUF read by llmforge (dequantised to f32)`, path: ggufs[type], bytes: statSync(ggufs[type]).size });
  }
  const levels = (["avx512", "avx2"] as SimdLevel[]).filter((l) => nativeSimdLevels().includes(l));
  const note = (what: string) => process.stderr.write(`[quant bench] ${c.title}: ${what} (rss ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB)\n`);
  note("files written");
  const models = runs.map((r) => loadRun(r.path).model);
  const V = models[0].config.vocabSize;
  setNativeThreads(2);
  const ppl = models.map((model) => (shard ? evaluate(model, ["val"], () => shard, 8, 128, c.evalBatches).perplexity : Number.NaN));
  note("perplexities measured");
  // weights are packed for the SIMD level that runs when the decoder is made: one decoder per model and level
  const decoders = levels.map((l) => {
    setNativeSimd(l);
    return models.map((m) => new BatchDecoder(m, { slots: 1, maxLen: PROMPT + c.steps }));
  });
  setNativeSimd("auto");
  const cols = levels.flatMap((l) => THREADS.map((t) => ({ l, t })));
  const llama: LlamaRun[][] = [];
  for (const t of THREADS) llama.push(await Promise.all(Object.values(ggufs).map((p) => loadInLlamaCpp(p, PROMPT + c.steps + 8, t))));
  // Interleaved rounds (every model, level, thread count and llama.cpp file once a round, best of the rounds): a busy
  // shared machine slows all alike. llama.cpp: best time for 1 token and for steps + 1, the difference is `steps` steps.
  const ours = models.map(() => cols.map(() => Number.POSITIVE_INFINITY));
  const theirs1 = llama.map((r) => r.map(() => Number.POSITIVE_INFINITY));
  const theirsN = llama.map((r) => r.map(() => Number.POSITIVE_INFINITY));
  // per round: ms of ours [model][col] and llama.cpp's steps [threads][file], for ratios within a round (this VM's
  // memory bandwidth drifts between rounds, which moves both engines together)
  const oursRounds: number[][][] = [];
  const theirsRounds: number[][][] = [];
  note("llama.cpp loaded");
  for (let rep = 0; rep < c.rounds; rep++) {
    note(`round ${rep + 1} of ${c.rounds}`);
    const oursR = models.map(() => cols.map(() => 0));
    cols.forEach(({ l, t }, ci) => {
      setNativeSimd(l);
      setNativeThreads(t);
      decoders[levels.indexOf(l)].forEach((d, mi) => {
        oursR[mi][ci] = decodeMs(d, V, c.steps);
        ours[mi][ci] = Math.min(ours[mi][ci], oursR[mi][ci]);
      });
    });
    setNativeSimd("auto");
    const theirsR = llama.map((r) => r.map(() => 0));
    for (const [ti, runsT] of llama.entries()) {
      for (const [i, r] of runsT.entries()) {
        const one = await llamaCppMs(r, V, 1);
        const all = await llamaCppMs(r, V, c.steps + 1);
        theirs1[ti][i] = Math.min(theirs1[ti][i], one);
        theirsN[ti][i] = Math.min(theirsN[ti][i], all);
        theirsR[ti][i] = all - one;
      }
    }
    oursRounds.push(oursR);
    theirsRounds.push(theirsR);
  }
  for (const r of llama.flat()) await r.dispose();
  const tps = (ms: number) => ((c.steps * 1000) / ms).toFixed(c.steps * 1000 / ms < 100 ? 1 : 0);
  const cfg = models[0].config;
  lines.push(`### ${c.title}`, "");
  lines.push(`${cfg.nLayer} layers, width ${cfg.nEmbd}, ${cfg.nHead} heads, vocabulary ${cfg.vocabSize}, ${cfg.tiedEmbeddings ? "tied" : "untied"} LM head. Perplexity: ${c.evalBatches} batches of 8 × 128 of the val shard. Decode: 1 sequence, ${PROMPT}-token prompt then ${c.steps} steps, best of ${c.rounds} rounds interleaved over every model, thread count and llama.cpp.`, "");
  lines.push(`| weights | file MiB | perplexity | Δ vs f32 | ${cols.map(({ l, t }) => `tok/s ${l} ${t}T`).join(" | ")} |`);
  lines.push(`|---|---:|---:|---:|${cols.map(() => "---:|").join("")}`);
  runs.forEach((r, i) => {
    const delta = `${(((ppl[i] - ppl[0]) / ppl[0]) * 100).toFixed(2)}%`;
    lines.push(`| ${r.label} | ${mib(r.bytes)} | ${ppl[i].toFixed(3)} | ${delta} | ${ours[i].map(tps).join(" | ")} |`);
  });
  lines.push("", "llama.cpp (node-llama-cpp 3.21.1 prebuilt CPU build) on the GGUF export of the same model, in the same rounds:", "");
  lines.push(`| GGUF | file MiB | ${THREADS.map((t) => `tok/s ${t}T`).join(" | ")} |`, `|---|---:|${THREADS.map(() => "---:|").join("")}`);
  for (const [i, [type, path]] of Object.entries(ggufs).entries()) {
    lines.push(`| ${type} | ${mib(statSync(path).size)} | ${THREADS.map((_, ti) => tps(theirsN[ti][i] - theirs1[ti][i])).join(" | ")} |`);
  }
  // llmforge's tokens/s over llama.cpp's on the matching GGUF, per round, median over the rounds
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const gguf = Object.keys(ggufs);
  const pairs = [["f32", 0, "f32"], ["int8", 1, "q8_0"], ["q4_0", 2, "q4_0"]] as const;
  lines.push("", `llmforge / llama.cpp tokens/s, the ratio taken within each round (both engines see the same machine), median (min-max) of the ${c.rounds} rounds:`, "");
  lines.push(`| llmforge vs llama.cpp | ${cols.map(({ l, t }) => `${l} ${t}T`).join(" | ")} |`, `|---|${cols.map(() => "---:|").join("")}`);
  for (const [ours_, mi, theirs_] of pairs) {
    const gi = gguf.indexOf(theirs_);
    const cells = cols.map(({ t }, ci) => {
      const ti = THREADS.indexOf(t);
      const r = oursRounds.map((o, k) => theirsRounds[k][ti][gi] / o[mi][ci]);
      return `${median(r).toFixed(2)}× (${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)})`;
    });
    lines.push(`| ${ours_} vs ${theirs_} | ${cells.join(" | ")} |`);
  }
  lines.push("");
}

const lines = ["## Quantised inference", ""];
if (!existsSync(join(qs, "model", "config.json"))) {
  lines.push(`No quickstart run at ${qs} (run \`llmforge quickstart --out ${qs}\` first).`);
} else if (!nativeKernels) {
  lines.push(`Native backend not available: ${nativeLoadError}`);
} else {
  const valShard = readdirSync(join(qs, "shards")).find((f) => f.startsWith("val_") && f.endsWith(".bin"));
  const shard = valShard ? readTokenShard(join(qs, "shards", valShard)).tokens : null;
  lines.push(`\`node --import tsx bench/quant.bench.ts\` on ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model.trim()}, SIMD levels ${nativeSimdLevels().join("/")}; quantised matmuls with ${getQuantActivations()} activations (integer dot products: ${nativeInfo().quantDot} at the best level); val shard ${valShard ?? "none"} of ${qs}.`, "");
  const rounds = Number(process.env.LLMFORGE_QUANT_ROUNDS ?? 8);
  await measure({ title: "Quickstart model", run: qs, steps: 64, rounds, evalBatches: 1000, ggufRows: true }, shard, lines);
  writeFileSync(`${outPath}.partial`, `${lines.join("\n")}\n`); // what a long second case must not lose
  // GPT-2 small's shape, seeded random weights, with the quickstart tokenizer (the GGUF pads its vocabulary to 50257).
  const g2 = join(tmp, "gpt2-small");
  const model = new GPT(makeConfig({ nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, vocabSize: 50257 }), { seed: 1 });
  saveModel(join(g2, "model"), model);
  cpSync(join(qs, "tokenizer"), join(g2, "tokenizer"), { recursive: true });
  // 64 steps: llama.cpp's figure is the difference of two timed calls (65 tokens and 1), so short runs inflate it
  await measure({ title: "GPT-2-small shape (random weights)", run: g2, steps: 64, rounds: Math.max(5, rounds), evalBatches: 4, ggufRows: false }, shard, lines);
  rmSync(`${outPath}.partial`, { force: true });
}
rmSync(tmp, { recursive: true, force: true });
const text = `${lines.join("\n")}\n`;
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, text);
process.stdout.write(text);
process.exit(0);
