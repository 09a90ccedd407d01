// The main job: the whole path on the embedded corpus in one call: data recipe → tokenizer →
// token shards → pretraining under a time budget → supervised fine-tuning on the embedded
// instruction mix → GRPO on the tasks it half solves → samples and a chat, every artifact in one run folder that
// later stages reuse.
// Run again in the same folder, it continues an unfinished run (finished stages reused, training
// resumed) or, after saying so, replaces its own finished one; it never writes into a foreign folder.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { runDefaultRecipe } from "../data/defaultRecipe.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { LOCK_FILE, withFolderLock } from "../io/runLock.js";
import { VERSION } from "../version.js";
import { generate, generateText } from "../infer/generate.js";
import { writeRunReport } from "../report/runReport.js";
import { configFromDepth, formatCount, paramCount } from "../model/config.js";
import { loadModel } from "../model/serialize.js";
import { Tokenizer, trainTokenizer, writeTokenShards } from "../tokenizer/index.js";
import type { TokenizerTrainReport } from "../tokenizer/train.js";
import { bf16MatmulAvailable } from "../tensor/ops/matmul.js";
import { writeInstructionMix } from "../sft/instructionMix.js";
import { completedSft, type SftSummary, sft } from "../sft/train.js";
import { completedGrpo, type GrpoSummary, grpo } from "../rl/grpo.js";
import { CHATML_TEMPLATE, renderChat } from "../tokenizer/chatTemplate.js";
import { completedPretrain, pretrain } from "../train/pretrain.js";
import type { TrainSummary } from "../train/trainer.js";

export interface QuickstartOptions {
  /** Run folder (default runs/quickstart). */
  out?: string;
  /** Wall-clock budget for the whole job, in minutes (default 10). */
  minutes?: number;
  /** Model size: the depth dial (default 3: 3 layers, width 192; chosen by val loss at equal wall time). */
  depth?: number;
  vocabSize?: number;
  blockSize?: number;
  batchSize?: number;
  /** Cap on documents per source in the data recipe (default: all). */
  maxDocs?: number;
  seed?: number;
  /** Progress lines on stderr (default true). */
  progress?: boolean;
  /** Prompts for the samples printed at the end. */
  prompts?: string[];
  /** Share of the time budget for supervised fine-tuning (default 0.2; 0 skips the stage). */
  sftShare?: number;
  /** Share of the time budget for RL (GRPO on the instruction tasks the SFT model half solves; default 0.15; 0 skips it). */
  rlShare?: number;
  /** Questions for the chat at the end. */
  chatPrompts?: string[];
  /** Stops the job after the current training step with a checkpoint ({@link QuickstartInterrupted}); run it again to continue. */
  signal?: AbortSignal;
}

/** The job was stopped by its signal; running it again with the same options continues it. */
export class QuickstartInterrupted extends Error {
  constructor(readonly out: string, where: string) {
    super(`quickstart stopped ${where}; run the same command again to continue it`);
    this.name = "QuickstartInterrupted";
  }
}

/** A folder quickstart must not write into. */
export class QuickstartFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuickstartFolderError";
  }
}

export interface QuickstartSummary {
  out: string;
  seconds: number;
  data: { kept: number; removed: number; trainFiles: string[]; valFiles: string[]; report: string };
  tokenizer: { path: string; vocabSize: number; bytesPerToken: number };
  shards: { dir: string; trainTokens: number; valTokens: number };
  model: { dir: string; params: number; depth: number; width: number; layers: number };
  training: TrainSummary;
  samples: { prompt: string; text: string; tokensPerSecond: number }[];
  sft: (Pick<SftSummary, "modelDir" | "before" | "after" | "packing"> & { steps: number; tokensPerSec: number; chat: { prompt: string; answer: string }[] }) | null;
  /** GRPO after SFT: the tasks it trained on and held-out greedy answers before/after. */
  rl: (Pick<GrpoSummary, "modelDir" | "before" | "after"> & { tasks: string[]; steps: number; seconds: number }) | null;
  /** OUT/report.html, the page a person opens in a browser (null when it could not be written). */
  report?: string | null;
}

const DEFAULT_PROMPTS = ["The", "In the morning", "He said that"];
const DEFAULT_CHAT = ["What is 12 plus 7?", "Spell the word \"house\".", "What is the capital of France?"];

/** What quickstart writes in its folder (and removes when it replaces a finished run). */
const OWN_ENTRIES = ["quickstart.json", "summary.json", "data", "tokenizer", "shards", "sft_data", "sft", "rl", "checkpoints", "model", "tb", "metrics.jsonl", "run.json", "report.html"];

/**
 * Makes `out` ready: a new or empty folder is started; an unfinished quickstart with the same
 * options is continued (returns true); a finished one, or one with other options, is removed after
 * saying so. A non-empty folder that quickstart did not write is refused.
 */
function prepareFolder(out: string, options: Record<string, unknown>, say: (s: string) => void): boolean {
  const marker = join(out, "quickstart.json");
  const want = { format: "llmforge-quickstart", version: 1, options };
  const entries = existsSync(out) ? readdirSync(out).filter((e) => e !== LOCK_FILE) : [];
  const read = (f: string): { format?: string; options?: unknown } | null => {
    try {
      return JSON.parse(readFileSync(join(out, f), "utf8"));
    } catch {
      return null;
    }
  };
  const mine = read("quickstart.json")?.format === want.format;
  const finished = read("summary.json")?.format === "llmforge-quickstart-summary";
  if (entries.length > 0) {
    if (!mine && !finished) throw new QuickstartFolderError(`${out} is not empty and holds no quickstart run (no quickstart.json); choose another --out`);
    if (mine && !finished && JSON.stringify(read("quickstart.json")?.options) === JSON.stringify(options)) {
      say(`${out}: continuing the unfinished quickstart there (finished stages are reused, training resumes from its newest checkpoint)`);
      return true;
    }
    say(`${out}: holds ${finished ? "a finished quickstart" : "an unfinished quickstart with other options"}; removing it to start afresh`);
    for (const e of OWN_ENTRIES) rmSync(join(out, e), { recursive: true, force: true });
  }
  writeFileAtomicSync(marker, `${JSON.stringify(want, null, 2)}\n`);
  return false;
}

/**
 * Runs every stage holding the lock of the run folder; returns where each artifact is and the
 * figures of each stage. Throws {@link QuickstartInterrupted} when its signal stops it.
 */
export async function quickstart(o: QuickstartOptions = {}): Promise<QuickstartSummary> {
  const out = resolve(o.out ?? join("runs", "quickstart"));
  return withFolderLock(out, "llmforge quickstart", () => quickstartLocked(o, out));
}

async function quickstartLocked(o: QuickstartOptions, out: string): Promise<QuickstartSummary> {
  const t0 = performance.now();
  const budget = (o.minutes ?? 10) * 60;
  const seed = o.seed ?? 1337;
  const show = o.progress ?? true;
  const say = (s: string): void => {
    if (show) process.stderr.write(`${s}\n`);
  };
  const elapsed = (): number => (performance.now() - t0) / 1000;
  const { signal } = o;
  const stopIfAsked = (where: string): void => {
    if (signal?.aborted) throw new QuickstartInterrupted(out, where);
  };
  const recorded = {
    minutes: o.minutes, depth: o.depth, vocabSize: o.vocabSize, blockSize: o.blockSize, batchSize: o.batchSize, maxDocs: o.maxDocs, seed, sftShare: o.sftShare, rlShare: o.rlShare,
  };
  const continuing = prepareFolder(out, recorded, say);
  const sftShare = o.sftShare ?? 0.2;
  const rlShare = sftShare > 0 ? (o.rlShare ?? 0.15) : 0;
  const N = rlShare > 0 ? 7 : 6; // stages

  say(`[1/${N}] data: running the default recipe on the embedded corpus -> ${join(out, "data")}`);
  const data = await runDefaultRecipe({ outDir: join(out, "data"), maxDocs: o.maxDocs, progress: show, seed });
  const ingest = data.steps[0]?.stats;
  const mixStats = data.steps[data.steps.length - 1]?.stats;
  const kept = Number(mixStats?.docsOut ?? 0);
  const read = Number(ingest?.docsIn ?? 0);
  say(`      kept ${kept} of ${read} documents (${((elapsed())).toFixed(0)} s); report ${join(out, "data", "report.md")}`);

  stopIfAsked("after the data stage");

  // A continued run keeps the tokenizer it has: its shards and checkpoints were made with it.
  const tokDir = join(out, "tokenizer");
  const reuse = continuing && existsSync(join(tokDir, "train_report.json"));
  say(`[2/${N}] tokenizer: ${reuse ? `reusing ${join(tokDir, "tokenizer.json")}` : `training byte-level BPE (vocab ${o.vocabSize ?? 4096})`}`);
  const tok = reuse
    ? {
        tokenizer: Tokenizer.fromFile(join(tokDir, "tokenizer.json")), tokenizerPath: join(tokDir, "tokenizer.json"),
        report: JSON.parse(readFileSync(join(tokDir, "train_report.json"), "utf8")) as TokenizerTrainReport,
      }
    : await trainTokenizer(data.train, { vocabSize: o.vocabSize ?? 4096, outDir: tokDir, progress: show });
  say(`      ${tok.report.vocabSize} tokens, ${tok.report.bytesPerToken.toFixed(2)} bytes/token on held-out text`);

  say(`[3/${N}] shards: encoding the corpus into llm.c token shards`);
  const shards = await writeTokenShards({
    inputs: [...data.train, ...data.val], tokenizer: tok.tokenizer, outDir: join(out, "shards"), valFraction: 0.05,
    progress: show, overwrite: !continuing,
  });
  stopIfAsked("after the shard stage");
  say(`      ${formatCount(shards.trainTokens)} train / ${formatCount(shards.valTokens)} val tokens`);

  const depth = o.depth ?? 3;
  const config = configFromDepth(depth, { vocabSize: tok.tokenizer.vocabSize, blockSize: o.blockSize ?? 128, overrides: { dropout: 0 } });
  const reserve = 20 + 0.02 * budget; // evaluation, saving and samples
  const sftSeconds = sftShare * budget;
  const rlSeconds = rlShare * budget;
  const minutes = Math.max(0.1, (budget - elapsed() - reserve - sftSeconds - rlSeconds) / 60);
  say(`[4/${N}] pretraining: ${formatCount(paramCount(config))} parameters (depth ${depth}), about ${minutes.toFixed(1)} min, ${bf16MatmulAvailable() ? "bf16" : "f32"} matmuls`);
  const trained = (continuing ? completedPretrain(out) : null) ?? await pretrain({
    data: join(out, "shards"), tokenizer: tok.tokenizerPath ?? join(out, "tokenizer"), out, config,
    batchSize: o.batchSize ?? 16, steps: 100_000, minutes, lr: 3e-3, minLr: 3e-4, warmupSteps: 30,
    evalEvery: 100, evalBatches: 8, checkpointEvery: 250, keepCheckpoints: 2, seed, progress: show, resume: continuing, signal,
    // Mixed precision pays here: bf16 products run several times faster than f32 on CPUs that have them.
    precision: bf16MatmulAvailable() ? "bf16" : "f32",
  });
  if (trained.modelDir === null) throw new QuickstartInterrupted(out, `during pretraining at step ${trained.summary.steps} (checkpoint ${trained.summary.checkpoint})`);
  const modelDir = trained.modelDir;

  let sftResult: QuickstartSummary["sft"] = null;
  if (sftShare > 0) {
    say(`[5/${N}] supervised fine-tuning on the embedded instruction mix (${join(out, "sft")})`);
    const mix = writeInstructionMix(join(out, "sft_data"), { seed });
    const evalSeconds = 15; // held-out answers before and after
    const sftOut = join(out, "sft");
    const s = (continuing ? completedSft(sftOut) : null) ?? await sft({
      model: out, data: [mix.train], valData: [mix.heldout], out: sftOut, batchSize: 16, steps: 100_000,
      minutes: Math.max(0.1, (budget - elapsed() - reserve - evalSeconds - rlSeconds) / 60), lr: 1e-3, minLr: 1e-4, warmupSteps: 20,
      evalEvery: 200, evalPrompts: 200, seed, progress: show, precision: bf16MatmulAvailable() ? "bf16" : "f32", resume: continuing, signal,
    });
    if (s.modelDir === null) throw new QuickstartInterrupted(out, `during fine-tuning at step ${s.training.steps} (checkpoint ${s.training.checkpoint})`);
    sftResult = { modelDir: s.modelDir, before: s.before, after: s.after, packing: s.packing, steps: s.training.steps, tokensPerSec: s.training.tokensPerSec, chat: [] };
  }

  let rlResult: QuickstartSummary["rl"] = null;
  if (rlShare > 0 && sftResult) {
    // GRPO learns where answers differ in reward: the tasks the SFT model solves sometimes, not never or always.
    const perTask = sftResult.after.answers?.perTask ?? {};
    const half = Object.entries(perTask).filter(([, t]) => t.exactMatch > 0 && t.exactMatch < 0.95).map(([k]) => k);
    const tasks = half.length > 0 ? half : ["sentiment", "counting"];
    const rlOut = join(out, "rl");
    say(`[6/${N}] RL: GRPO on ${tasks.join(", ")} (${rlOut})`);
    const r = (continuing ? completedGrpo(rlOut) : null) ?? await grpo({
      model: join(out, "sft"), task: tasks.join(","), out: rlOut, group: 8, batchSize: 8, maxTokens: 16, steps: 100_000,
      minutes: Math.max(0.1, (budget - elapsed() - reserve) / 60), lr: 5e-5, warmupSteps: 5, evalEvery: 100_000, evalLimit: 100, seed, progress: show, resume: continuing, signal,
    });
    if (r.modelDir === null) throw new QuickstartInterrupted(out, `during RL at step ${r.training.steps} (checkpoint ${r.training.checkpoint})`);
    rlResult = { modelDir: r.modelDir, before: r.before, after: r.after, tasks, steps: r.training.steps, seconds: r.training.seconds };
  }

  if (sftResult) {
    // The chat is with the last model of the pipeline.
    const chatModel = loadModel(rlResult?.modelDir ?? (sftResult.modelDir as string));
    const eos = tok.tokenizer.specialId("<|im_end|>");
    sftResult.chat = (o.chatPrompts ?? DEFAULT_CHAT).map((q) => {
      const prompt = renderChat(CHATML_TEMPLATE, [{ role: "user", content: q }], { addGenerationPrompt: true });
      const r = generate(chatModel, tok.tokenizer.encode(prompt, { allowedSpecial: "all" }), { maxTokens: 24, temperature: 0, stopTokens: [eos] });
      return { prompt: q, answer: tok.tokenizer.decode(r.tokens) };
    });
  }

  say(`[${N}/${N}] samples`);
  const model = loadModel(modelDir);
  const samples = (o.prompts ?? DEFAULT_PROMPTS).map((prompt, i) => {
    const r = generateText(model, tok.tokenizer, prompt, { maxTokens: 48, temperature: 0.8, topK: 40, seed: seed + i });
    return { prompt, text: r.text, tokensPerSecond: r.tokensPerSecond };
  });

  const summary: QuickstartSummary = {
    out,
    seconds: elapsed(),
    data: { kept, removed: Math.max(0, read - kept), trainFiles: data.train, valFiles: data.val, report: join(out, "data", "report.md") },
    tokenizer: { path: tok.tokenizerPath ?? "", vocabSize: tok.report.vocabSize, bytesPerToken: tok.report.bytesPerToken },
    shards: { dir: join(out, "shards"), trainTokens: shards.trainTokens, valTokens: shards.valTokens },
    model: { dir: modelDir, params: trained.params, depth, width: config.nEmbd, layers: config.nLayer },
    training: trained.summary,
    samples,
    sft: sftResult,
    rl: rlResult,
  };
  const header = { format: "llmforge-quickstart-summary", version: 1, writer: `llmforge ${VERSION}` };
  writeFileAtomicSync(join(out, "summary.json"), `${JSON.stringify({ ...header, ...summary }, null, 2)}\n`);
  // Drawn last, from the files above; a page that cannot be drawn costs the finished run nothing.
  try {
    summary.report = writeRunReport(out).path;
  } catch (err) {
    summary.report = null;
    say(`report: not written (${err instanceof Error ? err.message : String(err)}); try \`llmforge report ${out}\``);
  }
  return summary;
}

/** The human-readable end-of-run report. */
export function formatQuickstartSummary(s: QuickstartSummary): string {
  const t = s.training;
  const lines = [
    "",
    "llmforge quickstart: done",
    `  corpus      kept ${s.data.kept} documents, removed ${s.data.removed} (why: ${s.data.report})`,
    `  tokenizer   ${s.tokenizer.vocabSize} tokens, ${s.tokenizer.bytesPerToken.toFixed(2)} bytes/token (${s.tokenizer.path})`,
    `  shards      ${formatCount(s.shards.trainTokens)} train / ${formatCount(s.shards.valTokens)} val tokens (${s.shards.dir})`,
    `  model       ${formatCount(s.model.params)} parameters, ${s.model.layers} layers, width ${s.model.width} (${s.model.dir})`,
    `  training    ${t.steps} steps, ${Math.round(t.tokensPerSec)} tokens/s, train loss ${t.firstLoss?.toFixed(3) ?? "?"} -> ${t.lastLoss?.toFixed(3) ?? "?"}`,
    `  validation  loss ${t.initialVal?.loss.toFixed(3) ?? "?"} -> ${t.val?.loss.toFixed(3) ?? "?"}` +
      (t.val ? `, perplexity ${t.initialVal?.perplexity.toFixed(0) ?? "?"} -> ${t.val.perplexity.toFixed(1)}` : "") +
      (t.val?.bitsPerByte != null ? `, ${t.val.bitsPerByte.toFixed(3)} bits/byte` : ""),
    `  logs        ${join(s.out, "metrics.jsonl")}, TensorBoard: tensorboard --logdir ${join(s.out, "tb")}`,
    `  wall time   ${(s.seconds / 60).toFixed(1)} min`,
    ...(s.report ? [`  report      ${s.report} (open it in a browser)`] : []),
    "  samples:",
    ...s.samples.map((x) => `    > ${x.prompt}${x.text.replace(/\s+/g, " ")}  [${x.tokensPerSecond.toFixed(0)} tok/s]`),
    ...(s.sft ? sftLines(s.sft, s.rl) : []),
    `  everything is in ${s.out}`,
  ];
  return lines.join("\n");
}

function sftLines(f: NonNullable<QuickstartSummary["sft"]>, rl: QuickstartSummary["rl"]): string[] {
  const pct = (x: number | undefined) => (x === undefined ? "?" : `${(x * 100).toFixed(1)}%`);
  return [
    `  sft         ${f.steps} steps, ${Math.round(f.tokensPerSec)} tokens/s, held-out loss ${f.before.loss?.toFixed(3) ?? "?"} -> ${f.after.loss?.toFixed(3) ?? "?"}` +
      `, exact match ${pct(f.before.answers?.exactMatch)} -> ${pct(f.after.answers?.exactMatch)}, answers ending with <|im_end|> ${pct(f.after.answers?.endedWithEos)} (${f.modelDir})`,
    ...(rl
      ? [`  rl (grpo)   ${rl.steps} steps in ${(rl.seconds / 60).toFixed(1)} min on ${rl.tasks.join(", ")}, held-out solved ${pct(rl.before?.solved)} -> ${pct(rl.after?.solved)} (${rl.modelDir})`]
      : []),
    `  chat (${rl ? "the RL model" : "the SFT model"}; \`llmforge generate --model ${rl?.modelDir ?? f.modelDir} --chat\` or \`llmforge serve --model ...\` for more):`,
    ...f.chat.map((c) => `    user: ${c.prompt}\n    assistant: ${c.answer.replace(/\s+/g, " ")}`),
  ];
}
