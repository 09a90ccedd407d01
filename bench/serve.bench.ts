// Load run of `llmforge serve` (src/serve/) through the openai SDK on localhost: 1, 4 and 16 concurrent streams,
// each a completion of a fixed number of tokens (ignore_eos); time to first token p50/p99, aggregate and per-stream
// tokens/s, failed requests, the 16-stream / 1-stream ratio, RSS before/after 1,000 requests. The client shares the
// server's process (its main thread; generation has a worker), so RSS is server + client.
// Model: $LLMFORGE_SERVE_MODEL (a run folder, e.g. the quickstart's RUN/sft), else a random quickstart-size model.
// Writes a Markdown section (LLMFORGE_BENCH_OUT).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import OpenAI from "openai";
import { configFromDepth } from "../src/model/config.js";
import { GPT } from "../src/model/gpt.js";
import { saveModel } from "../src/model/serialize.js";
import { startServer } from "../src/serve/server.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "serve.md");
const LEVELS = (process.env.LLMFORGE_SERVE_STREAMS ?? "1,4,16").split(",").map(Number);
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

const q = (xs: number[], f: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(f * xs.length))];
const lines = [
  "## Serving (llmforge serve, openai SDK on localhost)",
  "",
  `\`npm run bench -- serve\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, ${availableParallelism()} cores (shared with other jobs: ` +
    "this machine is noisy, so read the ratios rather than the absolute figures). " +
    `Model: ${tmp ? "random weights, quickstart size (3 layers, width 192, vocab 4096)" : `${basename(run)} (${process.env.LLMFORGE_SERVE_MODEL})`}; ` +
    `${TOKENS} tokens per stream (ignore_eos, temperature 1); max batch ${maxBatch}. Each stream is one \`completions.create\` with \`stream: true\`; ` +
    "TTFT is from the request to its first chunk (p50/p99 over all rounds); per-stream tokens/s counts each stream's tokens over its own wall time (TTFT included); " +
    `tokens/s are the best of ${Number(process.env.LLMFORGE_BENCH_REPS ?? 5)} interleaved rounds; failed counts every round; ` +
    "main thread busy is the event-loop utilisation of the process's main thread (HTTP server and SDK client; generation runs in the worker) in that round.",
  "",
  "| streams | TTFT p50 ms | TTFT p99 ms | tokens/s (all streams) | tokens/s per stream (with TTFT) | × 1 stream | failed | main thread busy | RSS MB (server + client) |",
  "|---|---|---|---|---|---|---|---|---|",
];
const load0 = loadavg()[0];
await stream(0); // warm-up
// Interleaved rounds (every level once per round), the best round per level: load on this shared machine only slows a
// round down. TTFT percentiles and failures are over every stream of every round.
const REPS = Number(process.env.LLMFORGE_BENCH_REPS ?? 5);
type Round = { agg: number; per: number; ttft: number[]; failed: number; rss: number; busy: number };
const rounds = new Map<number, Round[]>(LEVELS.map((n) => [n, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const n of LEVELS) {
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => stream(rep * 100 + i)));
    const busy = performance.eventLoopUtilization(elu0).utilization;
    const wall = performance.now() - t0;
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const total = ok.reduce((s, r) => s + r.tokens, 0);
    const per = ok.reduce((s, r) => s + (r.tokens * 1000) / r.ms, 0) / Math.max(1, ok.length);
    rounds.get(n)?.push({ agg: (total * 1000) / wall, per, ttft: ok.map((r) => r.ttft), failed: n - ok.length, rss: process.memoryUsage().rss, busy });
    console.log(`round ${rep + 1}, ${n} streams: ${((total * 1000) / wall).toFixed(0)} tokens/s`);
  }
}
const best = (n: number): Round => (rounds.get(n) ?? []).reduce((a, b) => (b.agg > a.agg ? b : a));
const single = LEVELS.includes(1) ? best(1).agg : Number.NaN;
for (const n of LEVELS) {
  const all = rounds.get(n) ?? [];
  const ttft = all.flatMap((r) => r.ttft);
  const b = best(n);
  const row = `| ${n} | ${q(ttft, 0.5).toFixed(0)} | ${q(ttft, 0.99).toFixed(0)} | ${b.agg.toFixed(0)} | ${b.per.toFixed(0)} | ${Number.isNaN(single) ? "-" : (b.agg / single).toFixed(2)} | ${all.reduce((s, r) => s + r.failed, 0)} | ${(b.busy * 100).toFixed(0)}% | ${(b.rss / 2 ** 20).toFixed(0)} |`;
  lines.push(row);
  console.log(row);
}
const ratio = best(Math.max(...LEVELS)).agg / single;
if (!Number.isNaN(ratio)) lines.push("", `Load average (1 min) ${load0.toFixed(1)} before the rounds, ${loadavg()[0].toFixed(1)} after them, on ${availableParallelism()} cores.`);
lines.push("", `Aggregate tokens/s at ${Math.max(...LEVELS)} streams / 1 stream: ${ratio.toFixed(2)}× (target ≥ 4×: batching pays); failed requests must be 0.`);
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
  const mb = (x: number) => (x / 2 ** 20).toFixed(0);
  const { heapUsed: heap0 } = process.memoryUsage();
  // RSS after each quarter: a leak keeps climbing, an allocator settling in flattens out
  const rss = [process.memoryUsage().rss];
  const t0 = performance.now();
  let failed = 0;
  for (let k = 0; k < 4; k++) {
    failed += await rounds(Math.round((LEAK * (k + 1)) / 4) - Math.round((LEAK * k) / 4));
    gc();
    rss.push(process.memoryUsage().rss);
  }
  const { heapUsed: heap1 } = process.memoryUsage();
  const line =
    `Leak check: ${LEAK} requests of 4 tokens, 16 at a time, after 200 warm-up requests: ${((LEAK * 1000) / (performance.now() - t0)).toFixed(0)} requests/s, ${failed} failed; ` +
    `RSS (server + client, one process) before and after each quarter ${rss.map(mb).join(" -> ")} MB; ` +
    `main-thread heap ${(heap0 / 2 ** 20).toFixed(1)} -> ${(heap1 / 2 ** 20).toFixed(1)} MB (after a GC each).`;
  lines.push("", line);
  console.log(line);
}
await server.shutdown(1000);
if (tmp) rmSync(tmp, { recursive: true, force: true });
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${lines.join("\n")}\n`);
console.log(`wrote ${outPath}`);
