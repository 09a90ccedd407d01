// Decode speed of the BatchDecoder (src/infer/batchDecoder.ts) on 1 thread: tokens/s for 1 sequence and for 16
// sequences decoded together (aggregate), quickstart-size model and GPT-2 small shape (random weights), on every
// SIMD level the CPU runs; best of a few repeats. Writes a Markdown section (LLMFORGE_BENCH_OUT).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchDecoder } from "../src/infer/batchDecoder.js";
import { configFromDepth, makeConfig, type GPTConfig } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { nativeKernels, nativeLoadError, nativeSimdLevels, setNativeSimd, setNativeThreads, type SimdLevel } from "../src/tensor/backend/native.js";

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
const PROMPT = 8;

interface Row {
  tokensPerS: number;
  msPerStep: number;
  packMs: number;
}

/** `seqs` sequences: an 8-token prompt each (one step, untimed), then `steps` steps of one token per sequence. */
function decode(model: GPT, m: Model, seqs: number): Row {
  const V = m.config.vocabSize;
  const t0 = performance.now();
  const d = new BatchDecoder(model, { slots: seqs, maxLen: PROMPT + m.steps });
  const packMs = performance.now() - t0;
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < m.repeats; rep++) {
    for (let s = 0; s < seqs; s++) d.truncate(s);
    d.step(Array.from({ length: seqs }, (_, s) => ({ slot: s, tokens: Array.from({ length: PROMPT }, (_, i) => (i * 31 + s * 7) % V) })));
    const t1 = performance.now();
    for (let i = 0; i < m.steps; i++) d.step(Array.from({ length: seqs }, (_, s) => ({ slot: s, tokens: [(i * 13 + s * 5 + 1) % V] })));
    best = Math.min(best, performance.now() - t1);
  }
  return { tokensPerS: (seqs * m.steps * 1000) / best, msPerStep: best / m.steps, packMs };
}

const lines = ["## Decoding (BatchDecoder, 1 thread)", ""];
if (!nativeKernels) {
  lines.push(`Native backend not available: ${nativeLoadError}`);
} else {
  setNativeThreads(1);
  lines.push("| model | SIMD | sequences | tokens/s (all sequences) | ms/step | × 1 sequence | decoder made (packing) ms |");
  lines.push("|---|---|---|---|---|---|---|");
  const avail = nativeSimdLevels();
  for (const m of models) {
    console.error(`decode bench: ${m.label}`);
    const model = new GPT(m.config, { seed: 1, backend: "native" });
    model.eval();
    for (const level of levels.filter((l) => avail.includes(l))) {
      setNativeSimd(level);
      const one = decode(model, m, 1);
      const many = decode(model, m, 16);
      for (const [n, r] of [[1, one], [16, many]] as const) {
        lines.push(`| ${m.label} | ${level} | ${n} | ${r.tokensPerS.toFixed(1)} | ${r.msPerStep.toFixed(2)} | ${(r.tokensPerS / one.tokensPerS).toFixed(2)} | ${r.packMs.toFixed(0)} |`);
      }
    }
    setNativeSimd("auto");
  }
  lines.push("");
  lines.push(`Each sequence: an ${PROMPT}-token prompt (untimed), then one token per step; best of the repeats. Issue 20 target: 16 sequences ≥ 8× one sequence's tokens/s.`);
}
const md = lines.join("\n");
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${md}\n`);
console.log(md);
