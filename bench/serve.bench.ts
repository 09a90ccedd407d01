// Load run of `llmforge serve` (src/serve/) through the openai SDK on localhost: 1, 4 and 16 concurrent streams,
// each a completion of a fixed number of tokens (ignore_eos); time to first token p50/p99, aggregate and per-stream
// tokens/s, failed requests, the 16-stream / 1-stream ratio, RSS before/after 1,000 requests. The client shares the
// server's process (its main thread; generation has a worker), so RSS is server + client.
// Then side by side with llama.cpp: the same model exported to GGUF f32 and decoded by node-llama-cpp (one context,
// a sequence per stream, batched across sequences), the same prompt token ids, greedy, the same number of tokens and
// threads, in interleaved rounds with llmforge through HTTP and with llmforge's engine alone (no HTTP).
// Model: $LLMFORGE_SERVE_MODEL (a run folder, e.g. the quickstart's RUN/sft), else a random quickstart-size model.
// Writes a Markdown section (LLMFORGE_BENCH_OUT).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { getLlama, LlamaLogLevel, type LlamaContextSequence, type Token } from "node-llama-cpp";
import OpenAI from "openai";
import { configFromDepth } from "../src/model/config.js";
import { exportGguf } from "../src/model/exportGguf.js";
import { GPT } from "../src/model/gpt.js";
import { saveModel } from "../src/model/serialize.js";
import type { SequenceParams } from "../src/serve/protocol.js";
import { defaultGenerationThreads } from "../src/serve/engine.js";
import { type RunningServer, startServer } from "../src/serve/server.js";
import { Tokenizer } from "../src/tokenizer/index.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "serve.md");
const LEVELS = (process.env.LLMFORGE_SERVE_STREAMS ?? "1,4,16").split(",").map(Number);
const TOKENS = 96;
/** Rounds per level (each round runs every level once): this shared machine slows some rounds 2-3×. */
const REPS = Number(process.env.LLMFORGE_BENCH_REPS ?? 15);

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
/** Reads one streamed completion to its end: time to the first chunk, completion tokens (from usage), wall time. */
async function readStream(sdk: OpenAI, body: Omit<OpenAI.CompletionCreateParamsStreaming, "stream" | "stream_options">, t0: number): Promise<{ ttft: number; tokens: number; ms: number }> {
  const s = await sdk.completions.create({ ...body, max_tokens: TOKENS, stream: true, stream_options: { include_usage: true }, ignore_eos: true } as OpenAI.CompletionCreateParamsStreaming);
  let first = Number.NaN;
  let tokens = 0;
  for await (const c of s) {
    if (Number.isNaN(first) && c.choices.length > 0) first = performance.now();
    if (c.usage) tokens = c.usage.completion_tokens;
  }
  return { ttft: first - t0, tokens, ms: performance.now() - t0 };
}

function stream(i: number): Promise<{ ttft: number; tokens: number; ms: number }> {
  return readStream(client, { model, prompt: `the cat ${i}`, temperature: 1, seed: i }, performance.now());
}

/** node-llama-cpp's version, from its package.json. */
const llamaVersion = (): string => (JSON.parse(readFileSync(join(root, "node_modules", "node-llama-cpp", "package.json"), "utf8")) as { version: string }).version;
const q = (xs: number[], f: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(f * xs.length))];
const lines = [
  "## Serving (llmforge serve, openai SDK on localhost)",
  "",
  `\`npm run bench -- serve\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, ${availableParallelism()} cores (shared with other jobs: ` +
    "this machine is noisy, so read the ratios rather than the absolute figures). " +
    `Model: ${tmp ? "random weights, quickstart size (3 layers, width 192, vocab 4096)" : `${basename(run)} (${process.env.LLMFORGE_SERVE_MODEL})`}; ` +
    `${TOKENS} tokens per stream (ignore_eos, temperature 1); max batch ${maxBatch}; generation on ${defaultGenerationThreads()} thread(s), the server's default ` +
    `(${process.env.LLMFORGE_THREADS ? "LLMFORGE_THREADS" : "every core but one: the main thread needs the other"}). Each stream is one \`completions.create\` with \`stream: true\`; ` +
    "TTFT is from the request to its first chunk (p50/p99 over all rounds); per-stream tokens/s counts each stream's tokens over its own wall time (TTFT included); " +
    `tokens/s are the best and the median of ${REPS} interleaved rounds (one round: every level once; the ratios beside them divide by the 1-stream figure of the same kind); failed counts every round; ` +
    "main thread busy is the event-loop utilisation of the process's main thread (HTTP server and SDK client; generation runs in the worker) in that round.",
  "",
  "| streams | TTFT p50 ms | TTFT p99 ms | tokens/s (all streams), best | × 1 stream | median of rounds | × 1 stream (medians) | tokens/s per stream (with TTFT) | failed | main thread busy | RSS MB (server + client) |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
];
const load0 = loadavg()[0];
await stream(0); // warm-up
// Interleaved rounds (every level once per round), the best round per level: load on this shared machine only slows a
// round down. TTFT percentiles and failures are over every stream of every round.
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
const medianAgg = (n: number): number => q((rounds.get(n) ?? []).map((r) => r.agg), 0.5);
const single = LEVELS.includes(1) ? best(1).agg : Number.NaN;
const singleMedian = LEVELS.includes(1) ? medianAgg(1) : Number.NaN;
const times = (x: number, one: number) => (Number.isNaN(one) ? "-" : (x / one).toFixed(2));
for (const n of LEVELS) {
  const all = rounds.get(n) ?? [];
  const ttft = all.flatMap((r) => r.ttft);
  const b = best(n);
  const med = medianAgg(n);
  const row = `| ${n} | ${q(ttft, 0.5).toFixed(0)} | ${q(ttft, 0.99).toFixed(0)} | ${b.agg.toFixed(0)} | ${times(b.agg, single)} | ${med.toFixed(0)} | ${times(med, singleMedian)} | ${b.per.toFixed(0)} | ${all.reduce((s, r) => s + r.failed, 0)} | ${(b.busy * 100).toFixed(0)}% | ${(b.rss / 2 ** 20).toFixed(0)} |`;
  lines.push(row);
  console.log(row);
}
const ratio = best(Math.max(...LEVELS)).agg / single;
const ratioMedian = medianAgg(Math.max(...LEVELS)) / singleMedian;
if (!Number.isNaN(ratio)) lines.push("", `Load average (1 min) ${load0.toFixed(1)} before the rounds, ${loadavg()[0].toFixed(1)} after them, on ${availableParallelism()} cores.`);
lines.push("", `Aggregate tokens/s at ${Math.max(...LEVELS)} streams / 1 stream: ${ratio.toFixed(2)}× best round against best round, ${ratioMedian.toFixed(2)}× median against median (target ≥ 4×: batching pays); failed requests must be 0.`);
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
lines.push("", ...(await sideBySide(run)));
if (tmp) rmSync(tmp, { recursive: true, force: true });
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${lines.join("\n")}\n`);
console.log(`wrote ${outPath}`);

// ---- side by side with llama.cpp ----

/** One stream's figures: ms from the round's start to its first token, its tokens, ms to its last token; its token ids where known. */
type StreamFigures = { ttft: number; tokens: number; ms: number; ids?: number[] };
type Engine = "llmforge serve (HTTP + SSE)" | "llmforge engine (worker, no HTTP)" | "llama.cpp (node-llama-cpp, in process)";

/** The side-by-side section: llmforge and llama.cpp on the same model, prompts and settings (see the file comment). */
async function sideBySide(runDir: string): Promise<string[]> {
  // 1 by default: on a 2-core machine shared with other jobs, llama.cpp at 2 threads fell to 2-3 tokens/s (its
  // threads wait for each other at every op while one is descheduled); LLMFORGE_SERVE_THREADS=1,2 on a quiet machine
  const threadCounts = (process.env.LLMFORGE_SERVE_THREADS ?? "1").split(",").map(Number);
  const dir = mkdtempSync(join(tmpdir(), "llmforge-serve-gguf-"));
  const ggufPath = join(dir, "model-f32.gguf");
  exportGguf({ model: runDir, out: ggufPath, type: "f32" });
  const tok = Tokenizer.fromFile(existsSync(join(runDir, "tokenizer", "tokenizer.json")) ? join(runDir, "tokenizer", "tokenizer.json") : join(runDir, "tokenizer.json"));
  const doc = tok.specialTokens.get("<|endoftext|>");
  // the token ids of `completions.create({prompt: "the cat i"})` on llmforge: the document token, then the text
  const promptIds = (i: number) => [...(doc !== undefined ? [doc] : []), ...tok.encode(`the cat ${i}`)];
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0 });
  const lmodel = await llama.loadModel({ modelPath: ggufPath });
  const maxN = Math.max(...LEVELS);
  const greedy: SequenceParams = {
    temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, seed: 0, stop: [], ignoreEos: true, logprobs: null,
  };
  const engines: Engine[] = ["llmforge serve (HTTP + SSE)", "llmforge engine (worker, no HTTP)", "llama.cpp (node-llama-cpp, in process)"];
  const out: string[] = [
    "## Side by side with llama.cpp (same model, same prompts, greedy)",
    "",
    `The same model exported with \`llmforge export gguf --type f32\` and decoded by llama.cpp through node-llama-cpp ${llamaVersion()} (its prebuilt CPU binaries, ` +
      `${llama.cpuMathCores} math cores seen): one \`LlamaContext\` with ${maxN} sequences (context ${lmodel.trainContextSize} each, its default f16 KV cache), ` +
      "one sequence per stream, each stream a `sequence.evaluate(promptIds, {temperature: 0, yieldEogToken: true})` read for " +
      `${TOKENS} tokens; node-llama-cpp batches the sequences' next tokens into one llama_decode per step. llmforge: the same token ids as \`prompt\` ` +
      `through the openai SDK (\`stream: true\`, temperature 0, ignore_eos, max_tokens ${TOKENS}), and its engine alone (\`Engine.generate\` in the worker, no HTTP, ` +
      "which is what the llama.cpp column measures). Threads: llmforge's kernels via LLMFORGE_THREADS, llama.cpp's context `threads` (maxThreads 0, so exactly that many). " +
      `Each thread count gets its own server and context; within it, rounds interleave the three engines level by level, best of ${REPS} rounds by aggregate tokens/s; ` +
      "TTFT is from the round's start (all its streams start together) to a stream's first token, p50 over every round.",
    "",
    "| threads | engine | streams | TTFT p50 ms | TTFT p99 ms | tokens/s (all streams), best | median of rounds | tokens/s per stream | × 1 stream |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const load0 = loadavg()[0];
  // token ids of the first round at the most streams, per thread count and engine: llama.cpp against llmforge, greedy
  const idsOf = new Map<string, number[][]>();
  const summary: string[] = [];
  /** Largest ratio of the fastest to the slowest round of one engine at one level: how noisy the machine was. */
  let spread = 1;
  for (const threads of threadCounts) {
    // the worker's native addon reads LLMFORGE_THREADS when it loads (the thread count is one setting per process)
    process.env.LLMFORGE_THREADS = String(threads);
    const srv: RunningServer = await startServer({ run: runDir, maxBatch: maxN, logger: false });
    const url = await srv.app.listen({ port: 0, host: "127.0.0.1" });
    const sdk = new OpenAI({ baseURL: `${url}/v1`, apiKey: "bench", maxRetries: 0 });
    const lctx = await lmodel.createContext({ contextSize: lmodel.trainContextSize, sequences: maxN, threads });
    const seqs: LlamaContextSequence[] = Array.from({ length: maxN }, () => lctx.getSequence());

    const viaHttp = (i: number, t0: number): Promise<StreamFigures> => readStream(sdk, { model: srv.modelName, prompt: promptIds(i), temperature: 0 }, t0);
    const viaEngine = async (i: number, t0: number): Promise<StreamFigures> => {
      let first = Number.NaN;
      const ids: number[] = [];
      const h = srv.engine.generate({ kind: "ids", ids: promptIds(i) }, 1, { ...greedy, maxTokens: TOKENS }, {
        onToken: (t) => {
          if (Number.isNaN(first)) first = performance.now();
          ids.push(t.token);
        },
      });
      const o = await h.done;
      return { ttft: first - t0, tokens: o.choices[0].completionTokens, ms: performance.now() - t0, ids };
    };
    const viaLlama = async (i: number, t0: number, seq: LlamaContextSequence): Promise<StreamFigures> => {
      await seq.clearHistory();
      let first = Number.NaN;
      const ids: number[] = [];
      for await (const t of seq.evaluate(promptIds(i) as Token[], { temperature: 0, yieldEogToken: true })) {
        if (Number.isNaN(first)) first = performance.now();
        ids.push(Number(t));
        if (ids.length >= TOKENS) break;
      }
      return { ttft: first - t0, tokens: ids.length, ms: performance.now() - t0, ids };
    };

    type SbsRound = { agg: number; per: number; ttft: number[] };
    const results = new Map<string, SbsRound[]>();
    const round = async (engine: Engine, n: number, rep: number): Promise<StreamFigures[]> => {
      const t0 = performance.now();
      const streams = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          engine === engines[0] ? viaHttp(rep * 100 + i, t0) : engine === engines[1] ? viaEngine(rep * 100 + i, t0) : viaLlama(rep * 100 + i, t0, seqs[i]),
        ),
      );
      const wall = performance.now() - t0;
      const total = streams.reduce((s, r) => s + r.tokens, 0);
      if (total !== n * TOKENS) throw new Error(`${engine}: ${total} tokens in a round of ${n} streams, expected ${n * TOKENS}`);
      const key = `${engine}|${n}`;
      results.set(key, [...(results.get(key) ?? []), { agg: (total * 1000) / wall, per: streams.reduce((s, r) => s + (r.tokens * 1000) / r.ms, 0) / n, ttft: streams.map((r) => r.ttft) }]);
      return streams;
    };
    await round(engines[0], 1, 99); // warm-up: server, worker, and llama.cpp's first decode
    await round(engines[2], 1, 99);
    for (let rep = 0; rep < REPS; rep++) {
      for (const n of LEVELS) {
        // the order of the engines rotates each round, so neither always runs right after the other
        for (let k = 0; k < engines.length; k++) {
          const engine = engines[(k + rep) % engines.length];
          const streams = await round(engine, n, rep);
          if (rep === 0 && n === maxN && engine !== engines[0]) idsOf.set(`${threads}|${engine}`, streams.map((s) => s.ids ?? []));
        }
        console.log(`${threads} thread(s), round ${rep + 1}, ${n} streams: ${engines.map((e) => `${e.split(" (")[0]} ${(results.get(`${e}|${n}`)?.at(-1)?.agg ?? 0).toFixed(0)}`).join(", ")} tokens/s`);
      }
    }
    const bestOf = (engine: Engine, n: number) => (results.get(`${engine}|${n}`) ?? []).reduce((a, b) => (b.agg > a.agg ? b : a));
    const aggs = (engine: Engine, n: number) => (results.get(`${engine}|${n}`) ?? []).map((r) => r.agg);
    const median = (engine: Engine, n: number) => q(aggs(engine, n), 0.5);
    for (const e of engines) for (const n of LEVELS) spread = Math.max(spread, Math.max(...aggs(e, n)) / Math.min(...aggs(e, n)));
    summary.push(
      `${threads} thread${threads > 1 ? "s" : ""}, llmforge engine / llama.cpp aggregate tokens/s, best (median) of the rounds: ` +
        LEVELS.map((n) => `${n} stream${n > 1 ? "s" : ""} ${(bestOf(engines[1], n).agg / bestOf(engines[2], n).agg).toFixed(2)}× (${(median(engines[1], n) / median(engines[2], n)).toFixed(2)}×)`).join(", ") +
        `; through HTTP llmforge keeps ${LEVELS.map((n) => `${((100 * bestOf(engines[0], n).agg) / bestOf(engines[1], n).agg).toFixed(0)}%`).join(" / ")} of its engine's best rate.`,
    );
    for (const engine of engines) {
      const best = (n: number) => bestOf(engine, n);
      const single = LEVELS.includes(1) ? best(1).agg : Number.NaN;
      for (const n of LEVELS) {
        const ttft = (results.get(`${engine}|${n}`) ?? []).flatMap((r) => r.ttft);
        const b = best(n);
        const row = `| ${threads} | ${engine} | ${n} | ${q(ttft, 0.5).toFixed(1)} | ${q(ttft, 0.99).toFixed(1)} | ${b.agg.toFixed(0)} | ${median(engine, n).toFixed(0)} | ${b.per.toFixed(0)} | ${Number.isNaN(single) ? "-" : (b.agg / single).toFixed(2)} |`;
        out.push(row);
        console.log(row);
      }
    }
    await lctx.dispose();
    await srv.shutdown(1000);
  }
  await lmodel.dispose();
  rmSync(dir, { recursive: true, force: true });
  out.push(
    "",
    `Load average (1 min) ${load0.toFixed(1)} before these rounds, ${loadavg()[0].toFixed(1)} after them, on ${availableParallelism()} cores; ` +
      `the fastest round of one engine at one level was up to ${spread.toFixed(1)}× its slowest` +
      (spread > 2 ? ", so the machine, not the engines, set most of these figures: take the ratios as rough and rerun on a quiet machine before drawing conclusions." : "."),
  );
  out.push(
    "",
    "What the columns compare: node-llama-cpp is llama.cpp's library, not its HTTP server (the package ships no llama-server), so the llama.cpp rows " +
      "have no HTTP, JSON or SSE in them and go with the \"llmforge engine\" rows; the \"llmforge serve\" rows add the server's HTTP side and the SDK client, " +
      "which share the process's main thread and the same cores as the decoding. Both engines decode the same f32 weights (llama.cpp keeps its KV cache in f16, llmforge in f32); " +
      "llama.cpp's TTFT includes its prompt evaluation, as llmforge's does.",
    "",
    ...summary.map((l) => `- ${l}`),
  );
  for (const threads of threadCounts) {
    const ours = idsOf.get(`${threads}|${engines[1]}`) ?? [];
    const theirs = idsOf.get(`${threads}|${engines[2]}`) ?? [];
    // greedy decoding of the same f32 weights: the streams should agree until a near-tie flips on rounding
    const same = ours.map((a, i) => {
      const b = theirs[i] ?? [];
      let k = 0;
      while (k < a.length && a[k] === b[k]) k++;
      return k;
    });
    out.push(
      "",
      `Check (${threads} thread${threads > 1 ? "s" : ""}, first round of ${maxN} streams): llama.cpp's greedy tokens equal llmforge's for all ${TOKENS} tokens in ` +
        `${same.filter((k) => k === TOKENS).length} of ${same.length} streams; where they part, at tokens ${same.filter((k) => k < TOKENS).join(", ") || "-"}.`,
    );
  }
  return out;
}
