// Load run of `llmforge serve` (src/serve/) through the openai SDK on localhost: 1, 4, 8 and 16 concurrent streams,
// each a completion of a fixed number of tokens (ignore_eos); time to first token p50/p99, aggregate and per-stream
// tokens/s, failed requests, RSS. The client shares the server's process (its main thread; generation has a worker).
// Model: $LLMFORGE_SERVE_MODEL (a run folder, e.g. the quickstart's RUN/sft), else a random quickstart-size model.
// Writes a Markdown section (LLMFORGE_BENCH_OUT).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import OpenAI from "openai";
import { configFromDepth } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { saveModel } from "../src/model/serialize.js";
import { startServer } from "../src/serve/server.js";
import { Tokenizer } from "../src/tokenizer/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "serve.md");
const LEVELS = (process.env.LLMFORGE_SERVE_STREAMS ?? "1,4,8,16").split(",").map(Number);
const TOKENS = 96;

let run = process.env.LLMFORGE_SERVE_MODEL;
let tmp: string | null = null;
if (!run) {
  tmp = mkdtempSync(join(tmpdir(), "llmforge-serve-bench-"));
  run = join(tmp, "random");
  const tok = Tokenizer.trainFromTexts(["the cat sat on the mat. a dog ran to the park. ".repeat(50)], { vocabSize: 300 });
  mkdirSync(join(run, "tokenizer"), { recursive: true });
  writeFileSync(join(run, "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(run, "model"), new GPT(configFromDepth(3, { vocabSize: 4096, blockSize: 128, overrides: { dropout: 0 } }), { seed: 1 }));
}
const maxBatch = Math.max(...LEVELS);
const server = await startServer({ run, maxBatch, logger: false });
const base = await server.app.listen({ port: 0, host: "127.0.0.1" });
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "bench", maxRetries: 0 });
const model = server.modelName;

/** One stream: ms to its first token, its tokens, ms from the request to its last token. */
async function stream(i: number): Promise<{ ttft: number; tokens: number; ms: number }> {
  const t0 = performance.now();
  const s = await client.completions.create({
    model, prompt: `the cat ${i}`, max_tokens: TOKENS, temperature: 1, seed: i, stream: true, stream_options: { include_usage: true }, ignore_eos: true,
  } as OpenAI.CompletionCreateParamsStreaming);
  let first = Number.NaN;
  let tokens = 0;
  for await (const c of s) {
    if (Number.isNaN(first) && c.choices.length > 0) first = performance.now();
    if (c.usage) tokens = c.usage.completion_tokens;
  }
  return { ttft: first - t0, tokens, ms: performance.now() - t0 };
}

const q = (xs: number[], f: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(f * xs.length))];
const lines = [
  "## Serving (llmforge serve, openai SDK on localhost)",
  "",
  `Model: ${tmp ? "random weights, quickstart size (3 layers, width 192, vocab 4096)" : basename(run)}; ${TOKENS} tokens per stream (ignore_eos); ${cpus().length} cores; max batch ${maxBatch}.`,
  "",
  "| streams | TTFT p50 ms | TTFT p99 ms | tokens/s (all streams) | tokens/s per stream (with TTFT) | × 1 stream | failed | RSS MB (server + client) |",
  "|---|---|---|---|---|---|---|---|",
];
await stream(0); // warm-up
let single = 0;
for (const n of LEVELS) {
  const t0 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => stream(i)));
  const wall = performance.now() - t0;
  const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const total = ok.reduce((s, r) => s + r.tokens, 0);
  const agg = (total * 1000) / wall;
  if (n === 1) single = agg;
  const per = ok.reduce((s, r) => s + (r.tokens * 1000) / r.ms, 0) / Math.max(1, ok.length);
  const ttft = ok.map((r) => r.ttft);
  const row = `| ${n} | ${q(ttft, 0.5).toFixed(0)} | ${q(ttft, 0.99).toFixed(0)} | ${agg.toFixed(0)} | ${per.toFixed(0)} | ${single ? (agg / single).toFixed(2) : "-"} | ${n - ok.length} | ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} |`;
  lines.push(row);
  console.log(row);
}
// leak check: RSS after warm-up vs after 1,000 more short requests (16 at a time)
const LEAK = Number(process.env.LLMFORGE_SERVE_REQUESTS ?? 1000);
if (LEAK > 0) {
  const short = (i: number) => client.completions.create({ model, prompt: `a dog ${i}`, max_tokens: 4, temperature: 1, seed: i });
  const rounds = async (n: number) => {
    let failed = 0;
    for (let i = 0; i < n; i += 16) failed += (await Promise.allSettled(Array.from({ length: Math.min(16, n - i) }, (_, k) => short(i + k)))).filter((r) => r.status === "rejected").length;
    return failed;
  };
  setFlagsFromString("--expose-gc"); // (the flag on the command line would reach the worker, which refuses it)
  const gc = runInNewContext("gc") as () => void;
  await rounds(200);
  gc();
  const { rss: rss0, heapUsed: heap0 } = process.memoryUsage();
  const t0 = performance.now();
  const failed = await rounds(LEAK);
  gc();
  const { rss: rss1, heapUsed: heap1 } = process.memoryUsage();
  const line = `${LEAK} requests of 4 tokens, 16 at a time: ${((LEAK * 1000) / (performance.now() - t0)).toFixed(0)} requests/s, ${failed} failed; RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MB, main-thread heap ${(heap0 / 2 ** 20).toFixed(1)} -> ${(heap1 / 2 ** 20).toFixed(1)} MB.`;
  lines.push("", line);
  console.log(line);
}
await server.shutdown(1000);
if (tmp) rmSync(tmp, { recursive: true, force: true });
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${lines.join("\n")}\n`);
console.log(`wrote ${outPath}`);
