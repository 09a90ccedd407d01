// `llmforge bench ...`: machine-readable figures for the benchmark suite (npm run bench).
import type { Command } from "commander";
import { numberOption, oneOf, positiveIntOption as int } from "./options.js";
import { benchGemmShape } from "../tensor/backend/gemmBench.js";
import { generate } from "../infer/generate.js";
import { makeConfig } from "../model/config.js";
import { GPT } from "../model/gpt.js";
import { setNativeThreads } from "../tensor/backend/native.js";
import { benchTrain } from "../train/benchTrain.js";
import { applyPeft } from "../nn/peft.js";
import { benchSft } from "../sft/benchSft.js";


/** Model size and timing options shared by the training-step benches (defaults: the peers' size). */
function stepSizeOptions(cmd: Command): Command {
  return cmd
    .option("--layers <n>", "layers", int, 4)
    .option("--heads <n>", "heads", int, 4)
    .option("--dim <n>", "width", int, 256)
    .option("--block <n>", "sequence length", int, 256)
    .option("--vocab <n>", "vocabulary", int, 4096)
    .option("--batch <n>", "batch rows", int, 8)
    .option("--steps <n>", "timed steps", int, 5)
    .option("--warmup <n>", "untimed steps first", int, 2);
}

export function registerBenchCommands(program: Command): void {
  const bench = program.command("bench").description("benchmarks: training step throughput, GEMM");
  bench
    .command("gemm")
    .description("f32 (or bf16) GEMM throughput of the engine at N×N×N (or --m/--n/--k)")
    .option("--size <n>", "square size", int, 1024)
    .option("--m <n>", "rows of op(A)", int)
    .option("--n <n>", "columns of op(B)", int)
    .option("--k <n>", "inner dimension", int)
    .option("--trans-a", "A transposed")
    .option("--trans-b", "B transposed")
    .option("--threads <n>", "threads (native backend)", int)
    .option("--seconds <s>", "timing budget", numberOption, 2)
    .option("--bf16", "bf16 products with f32 accumulation")
    .option("--json", "print one JSON line")
    .action((o) => {
      const shape = { M: o.m ?? o.size, N: o.n ?? o.size, K: o.k ?? o.size, transA: !!o.transA, transB: !!o.transB };
      const r = benchGemmShape(shape, o.seconds, { threads: o.threads, precision: o.bf16 ? "bf16" : "f32" });
      if (o.json) console.log(JSON.stringify({ ...r, ...shape }));
      else console.log(`${r.precision} GEMM ${shape.M}x${shape.N}x${shape.K} on ${r.backend}, ${r.threads} thread(s): ${r.gflops.toFixed(1)} GFLOP/s`);
    });
  stepSizeOptions(bench
    .command("train")
    .description("time full training steps (forward, backward, AdamW) on random tokens, like ../shared/peers"))
    .option("--flavour <f>", "gpt2 or llama", "gpt2")
    .option("--precision <p>", "f32 or bf16 matrix products", "f32")
    .option("--json", "print one JSON line")
    .action((o) => {
      const r = benchTrain({ ...o, flavour: o.flavour === "llama" ? "llama" : "gpt2", precision: o.precision === "bf16" ? "bf16" : "f32" });
      if (o.json) console.log(JSON.stringify(r));
      else {
        console.log(
          `llmforge L${o.layers} H${o.heads} C${o.dim} T${o.block} V${o.vocab} B${o.batch} (${(r.params / 1e6).toFixed(2)}M params): ` +
            `${r.ms_per_step} ms/step, ${r.tokens_per_s} tok/s, ${r.gflops} GFLOP/s, peak RSS ${r.peak_rss_mb} MB`,
        );
      }
    });
  stepSizeOptions(bench
    .command("sft")
    .description("time SFT steps: rows from the SFT batch source (packed or padded synthetic chats, masked targets), optionally LoRA"))
    .option("--packing <mode>", "bfd or none", oneOf(["bfd", "none"]), "bfd")
    .option("--peft <method>", "none or lora", oneOf(["none", "lora"]), "none")
    .option("--lora-r <n>", "LoRA rank", int, 8)
    .option("--precision <p>", "f32 or bf16 matrix products", oneOf(["f32", "bf16"]), "f32")
    .option("--json", "print one JSON line")
    .action((o) => {
      const prepare = o.peft === "lora" ? (m: GPT) => void applyPeft(m, { method: "lora", r: o.loraR, alpha: 2 * o.loraR }) : undefined;
      const r = benchSft({ ...o, prepare });
      if (o.json) console.log(JSON.stringify(r));
      else console.log(`llmforge sft (${o.packing}${o.peft === "lora" ? `, LoRA r=${o.loraR}` : ""}): ${r.ms_per_step} ms/step, ${r.tokens_per_s} tok/s, peak RSS ${r.peak_rss_mb} MB, trainable ${r.trainable} of ${r.params}`);
    });
  bench
    .command("generate")
    .description("decode speed with the KV cache on a random-weight model (tokens/s after the prefill)")
    .option("--layers <n>", "layers", int, 3)
    .option("--heads <n>", "heads", int, 6)
    .option("--dim <n>", "width", int, 192)
    .option("--block <n>", "context length", int, 128)
    .option("--vocab <n>", "vocabulary", int, 4096)
    .option("--tokens <n>", "tokens to generate", int, 100)
    .option("--prompt-tokens <n>", "prompt length (time to first token is its prefill)", int, 4)
    .option("--threads <n>", "native threads", int, 1)
    .option("--json", "print one JSON line")
    .action((o) => {
      setNativeThreads(o.threads);
      const config = makeConfig({ nLayer: o.layers, nHead: o.heads, nEmbd: o.dim, blockSize: o.block, vocabSize: o.vocab });
      const model = new GPT(config, { seed: 0 });
      // best of 5 after 3 warm-up runs, through the one-token decode session and through the tensor path
      const run = (fastDecode: boolean) => {
        if (o.promptTokens >= o.block) throw new Error(`--prompt-tokens ${o.promptTokens} must be below --block ${o.block}`);
        const prompt = Array.from({ length: o.promptTokens }, (_, i) => i % o.vocab);
        const opts = { maxTokens: Math.min(o.tokens, o.block - o.promptTokens), temperature: 1, seed: 1, fastDecode };
        for (let i = 0; i < 3; i++) generate(model, prompt, opts);
        return Array.from({ length: 5 }, () => generate(model, prompt, opts)).reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
      };
      const r = run(true);
      const t = run(false);
      const round = (x: number) => Math.round(x * 10) / 10;
      const out = {
        tokens_per_s: round(r.tokensPerSecond), tensor_path_tokens_per_s: round(t.tokensPerSecond), tokens: r.tokens.length,
        prompt_tokens: o.promptTokens, prefill_ms: round(r.prefillMs), tensor_path_prefill_ms: round(t.prefillMs), threads: o.threads,
      };
      console.log(o.json ? JSON.stringify(out) : `decode: ${out.tokens_per_s} tokens/s (tensor path ${out.tensor_path_tokens_per_s}; ${out.tokens} tokens, ${o.threads} thread(s)); time to first token for ${o.promptTokens} prompt tokens ${out.prefill_ms} ms (tensor path ${out.tensor_path_prefill_ms})`);
    });
}
