// Decode speed of the BatchDecoder (src/infer/batchDecoder.ts) on 1 thread: tokens/s for 1 sequence and for 16
// sequences of different lengths decoded together (aggregate), quickstart-size model and GPT-2 small shape (random
// weights), on every SIMD level the CPU runs; best of a few repeats. Beside each 16-sequence row, the compute floor
// of its step (its FLOPs at the FMA ceiling of that level, nativeFmaPeak) and the ratio to one sequence that floor
// would allow. Writes a Markdown section (LLMFORGE_BENCH_OUT).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchDecoder } from "../src/infer/batchDecoder.js";
import { configFromDepth, makeConfig, type GPTConfig } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { nativeFmaPeak, nativeKernels, nativeLoadError, nativeSimdLevels, setNativeSimd, setNativeThreads, type SimdLevel } from "../src/tensor/backend/native.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "decode.md");
const levels = (process.env.LLMFORGE_SIMD ? [process.env.LLMFORGE_SIMD] : ["avx512", "avx2"]) as SimdLevel[];

interface Model {
  label: string;
  config: GPTConfig;
  /** Decode steps timed per repeat, and repeats (the best is kept). */
  steps: number;
  repeats: number;
}
const models: Model[] = [
  { label: "quickstart (3 layers, width 192, vocab 4096)", config: configFromDepth(3, { vocabSize: 4096, blockSize: 128, overrides: { dropout: 0 } }), steps: 64, repeats: 5 },
  { label: "GPT-2 small (12 layers, width 768, vocab 50257)", config: makeConfig({ nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, vocabSize: 50257 }), steps: 16, repeats: 3 },
];
const SEQS = 16;
/** Prompt lengths: sequence s of 16 gets 4 + 4s tokens (4..64); one sequence alone gets their mean (34). */
const promptLen = (s: number, seqs: number) => (seqs === 1 ? 34 : 4 + 4 * s);

interface Row {
  tokensPerS: number;
  msPerStep: number;
  packMs: number;
  /** FLOPs of one timed step, averaged over the timed steps (matmuls and attention). */
  flopsPerStep: number;
}

/** `seqs` sequences: a prompt each (one step, untimed), then `steps` steps of one token per sequence. */
function decode(model: GPT, m: Model, seqs: number): Row {
  const { vocabSize: V, nLayer: L, nEmbd: C } = m.config;
  const lens = Array.from({ length: seqs }, (_, s) => promptLen(s, seqs));
  const t0 = performance.now();
  const d = new BatchDecoder(model, { slots: seqs, maxLen: Math.max(...lens) + m.steps });
  const packMs = performance.now() - t0;
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < m.repeats; rep++) {
    for (let s = 0; s < seqs; s++) d.truncate(s);
    d.step(lens.map((n, s) => ({ slot: s, tokens: Array.from({ length: n }, (_, i) => (i * 31 + s * 7) % V) })));
    const t1 = performance.now();
    for (let i = 0; i < m.steps; i++) d.step(Array.from({ length: seqs }, (_, s) => ({ slot: s, tokens: [(i * 13 + s * 5 + 1) % V] })));
    best = Math.min(best, performance.now() - t1);
  }
  // per row and step: 2 FLOPs per weight of every matmul (the LM head included), and q·k plus p·v over its cache
  // (the 2-D parameters less the embedding tables, plus the head when it is tied to the token embeddings)
  const embeddings = V * C + (model.wpe ? m.config.blockSize * C : 0);
  const matmul = model.parameters().filter((p) => p.shape.length === 2).reduce((a, p) => a + p.shape[0] * p.shape[1], 0) - embeddings + (model.lm_head ? 0 : V * C);
  const meanLen = lens.reduce((a, n) => a + n, 0) / seqs + (m.steps + 1) / 2;
  const flopsPerStep = seqs * (2 * matmul + 4 * L * C * meanLen);
  return { tokensPerS: (seqs * m.steps * 1000) / best, msPerStep: best / m.steps, packMs, flopsPerStep };
}

const lines = ["## Decoding (BatchDecoder, 1 thread)", ""];
if (!nativeKernels) {
  lines.push(`Native backend not available: ${nativeLoadError}`);
} else {
  setNativeThreads(1);
  lines.push("| model | SIMD | sequences | tokens/s (all sequences) | ms/step | × 1 sequence | compute floor ms/step | × 1 sequence at that floor | decoder made (packing) ms |");
  lines.push("|---|---|---|---|---|---|---|---|---|");
  const avail = nativeSimdLevels();
  const peaks: string[] = [];
  for (const m of models) {
    console.error(`decode bench: ${m.label}`);
    const model = new GPT(m.config, { seed: 1, backend: "native" });
    model.eval();
    for (const level of levels.filter((l) => avail.includes(l))) {
      setNativeSimd(level);
      const peak = nativeFmaPeak(1, 0.3) * 1e9;
      if (m === models[0]) peaks.push(`${level} ${(peak / 1e9).toFixed(0)} GFLOP/s`);
      const one = decode(model, m, 1);
      const many = decode(model, m, SEQS);
      for (const [n, r] of [[1, one], [SEQS, many]] as const) {
        const floorMs = (r.flopsPerStep / peak) * 1e3;
        const floorX = n === 1 ? "—" : ((n * one.msPerStep) / floorMs).toFixed(2);
        lines.push(`| ${m.label} | ${level} | ${n} | ${r.tokensPerS.toFixed(1)} | ${r.msPerStep.toFixed(2)} | ${(r.tokensPerS / one.tokensPerS).toFixed(2)} | ${floorMs.toFixed(3)} | ${floorX} | ${r.packMs.toFixed(0)} |`);
      }
    }
    setNativeSimd("auto");
  }
  lines.push("");
  lines.push(`Each sequence: a prompt (untimed; the 16 sequences 4, 8, ..., 64 tokens, one sequence alone 34, their mean), then one token per step; best of the repeats. ` +
    `Compute floor: the step's FLOPs (2 per weight of every matmul and the LM head per row, 4·layers·width·cache length per row for attention) at the FMA ceiling ` +
    `of that level on one thread (${peaks.join(", ")}; nativeFmaPeak): no 16-row step can be faster, so "× 1 sequence at that floor" is the most batching can give ` +
    `against the measured one-sequence step. Issue 20 target: 16 sequences ≥ 8× one sequence's tokens/s.`);
  lines.push("", `Command: \`node --import tsx bench/decode.bench.ts\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, Node ${process.version}.`);
}
const md = lines.join("\n");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${md}\n`);
console.log(md);
