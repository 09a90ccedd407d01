// The main job: the whole path on the embedded corpus in one call: data recipe → tokenizer →
// token shards → pretraining under a time budget → supervised fine-tuning on the embedded
// instruction mix → a reward model on the offline preference mix → GRPO on the tasks the SFT model
// half solves → samples and a chat, every artifact in one run folder that later stages reuse.
// `stages` picks which stages run; one left out is not run, and a listed stage reads its output from
// the folder. Run again in the same folder, it continues an unfinished run (finished stages reused,
// training resumed) or, after saying so, replaces the outputs of the stages it runs; it never
// writes into a foreign folder.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { runDefaultRecipe } from "../data/defaultRecipe.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { LOCK_FILE, withFolderLock } from "../io/runLock.js";
import { VERSION } from "../version.js";
import { generate, generateText } from "../infer/generate.js";
import { writeRunReport } from "../report/runReport.js";
import { configFromDepth, formatCount, paramCount } from "../model/config.js";
import { loadRun, runChatTemplate } from "../model/runFolder.js";
import { type ShardManifest, Tokenizer, trainTokenizer, writeTokenShards } from "../tokenizer/index.js";
import type { TokenizerTrainReport } from "../tokenizer/train.js";
import { bf16MatmulAvailable } from "../tensor/ops/matmul.js";
import { writeInstructionMix } from "../sft/instructionMix.js";
import { completedSft, type SftSummary, sft } from "../sft/train.js";
import { recommendedMix, writePreferenceMix } from "../reward/preferenceMix.js";
import { type RewardEval, type RewardSummary, reward } from "../reward/train.js";
import { completedGrpo, type GrpoSummary, grpo } from "../rl/grpo.js";
import { CHATML_TEMPLATE, renderChat } from "../tokenizer/chatTemplate.js";
import { completedPretrain, type PretrainResult, pretrain } from "../train/pretrain.js";
import { completedSummary } from "../train/resume.js";
import type { TrainSummary } from "../train/trainer.js";

/** The stages, in pipeline order. */
export const QUICKSTART_STAGES = ["data", "tokenizer", "shards", "pretrain", "sft", "reward", "rl"] as const;
export type QuickstartStage = (typeof QUICKSTART_STAGES)[number];

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
  /** Share of the time budget for supervised fine-tuning (default 0.2; 0 skips the stage and those that need it). */
  sftShare?: number;
  /** Share of the time budget for the reward model (default 0.1; 0 skips the stage). */
  rmShare?: number;
  /** Share of the time budget for RL (GRPO on the instruction tasks the SFT model half solves; default 0.15; 0 skips it). */
  rlShare?: number;
  /**
   * Stages to run (default all). A stage left out is not run; a listed stage whose input an unlisted stage makes
   * reads that stage's earlier output in `out` ({@link QuickstartStagesError} before any work when there is none).
   * The budget is shared among the training stages that run.
   */
  stages?: readonly string[];
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

/** A stage list or budget share that cannot run: unknown names, or a stage whose input is neither run nor in the folder. */
export class QuickstartStagesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuickstartStagesError";
  }
}

/** One row of the summary table: what a stage consumed, what it produced and what it gained. */
export interface QuickstartStageRow {
  stage: QuickstartStage;
  /** ran: in this call; reused: its finished output in the folder was used; skipped: see `note`; not run: not listed, no output. */
  status: "ran" | "reused" | "skipped" | "not run";
  /** Wall time of the stage in this call (null unless it ran). */
  seconds: number | null;
  consumed: string;
  /** What it wrote (absolute path), null when nothing. */
  produced: string | null;
  /** The measured gain (or result) in words. */
  gain: string;
  /** The numbers behind `consumed` and `gain` (null when unknown). */
  figures: Record<string, number | null>;
  /** Why a stage was skipped. */
  note?: string;
}

export interface QuickstartSummary {
  out: string;
  seconds: number;
  /** The budget (minutes option) in seconds. */
  budgetSeconds: number;
  /** The stages this call ran (pipeline order). */
  ran: QuickstartStage[];
  /** One row per stage, in pipeline order. */
  stages: QuickstartStageRow[];
  data: { kept: number; removed: number; trainFiles: string[]; valFiles: string[]; report: string } | null;
  tokenizer: { path: string; vocabSize: number; bytesPerToken: number } | null;
  shards: { dir: string; trainTokens: number; valTokens: number } | null;
  model: { dir: string; params: number; depth: number; width: number; layers: number } | null;
  training: TrainSummary | null;
  samples: { prompt: string; text: string; tokensPerSecond: number }[];
  sft: (Pick<SftSummary, "modelDir" | "before" | "after" | "packing"> & { steps: number; tokensPerSec: number; chat: { prompt: string; answer: string }[] }) | null;
  /** The reward model: held-out pair accuracy before/after training and the AFINN lexicon's on the same sentiment pairs. */
  reward: (Pick<RewardSummary, "modelDir" | "before" | "after"> & { dataDir: string; steps: number; seconds: number; trainPairs: number; afinnSentiment: number | null }) | null;
  /** GRPO after SFT: the tasks it trained on and held-out greedy answers before/after. */
  rl: (Pick<GrpoSummary, "modelDir" | "before" | "after"> & { tasks: string[]; steps: number; seconds: number }) | null;
  /** The run folder of the model the chat at the end was held with (rl or sft), null without one. */
  chatModel: string | null;
  /** OUT/report.html, the page a person opens in a browser (null when it could not be written). */
  report?: string | null;
}

const DEFAULT_PROMPTS = ["The", "In the morning", "He said that"];
const DEFAULT_CHAT = ["What is 12 plus 7?", "Spell the word \"house\".", "What is the capital of France?"];

/** What each stage reads from the stages before it (its direct inputs). */
const STAGE_INPUTS: Record<QuickstartStage, QuickstartStage[]> = {
  data: [], tokenizer: ["data"], shards: ["data", "tokenizer"], pretrain: ["shards", "tokenizer"], sft: ["pretrain"], reward: ["sft"], rl: ["sft"],
};
/** The entries of the run folder each stage writes. */
const STAGE_ENTRIES: Record<QuickstartStage, string[]> = {
  data: ["data"], tokenizer: ["tokenizer"], shards: ["shards"], pretrain: ["checkpoints", "model", "tb", "metrics.jsonl", "run.json"],
  sft: ["sft_data", "sft"], reward: ["reward_data", "reward"], rl: ["rl"],
};
/** What a stage's output is, for messages. */
const STAGE_OUTPUT: Record<QuickstartStage, [what: string, where: string]> = {
  data: ["the data recipe's output", "data"], tokenizer: ["the tokenizer", "tokenizer"], shards: ["the token shards", "shards"],
  pretrain: ["the pretrained model", "model"], sft: ["the fine-tuned model", "sft"], reward: ["the reward model", "reward"], rl: ["the RL model", "rl"],
};
/** The entries of the run folder the job itself writes (replaced by each call that starts afresh). */
const RUN_ENTRIES = ["summary.json", "report.html"];
const TRAINING_STAGES = ["pretrain", "sft", "reward", "rl"] as const;
type TrainingStage = (typeof TRAINING_STAGES)[number];
/** Seconds a training stage spends outside its step loop's time budget (held-out evaluation before and after, saving). */
const OVERHEAD_SECONDS: Record<TrainingStage, number> = { pretrain: 0, sft: 15, reward: 10, rl: 15 };
/**
 * The reward model is skipped when the budget plans it fewer seconds than this (the least any training stage gets):
 * some 30 steps, about what it takes to rank a complete answer above one that runs on.
 */
const MIN_REWARD_SECONDS = 6;
/**
 * Curriculum steps of the reward model per second of its planned time: the fifth of its steps that the recommended mix wants
 * (RECOMMENDED_CURRICULUM_SHARE) where it trains ~10 steps/s (a Zen 5, 2 threads), about 40% at half that speed.
 */
const CURRICULUM_STEPS_PER_SECOND = 2;

/** Every stage the given one reads from, directly or through others. */
function upstreamOf(s: QuickstartStage): Set<QuickstartStage> {
  const seen = new Set<QuickstartStage>();
  const walk = (x: QuickstartStage): void => {
    for (const i of STAGE_INPUTS[x]) if (!seen.has(i)) {
      seen.add(i);
      walk(i);
    }
  };
  walk(s);
  return seen;
}

/** "sft,reward, rl" or ["sft", "rl"] -> the stages in pipeline order; unknown names and an empty list are refused. */
export function parseQuickstartStages(list: string | readonly string[]): QuickstartStage[] {
  const names = (typeof list === "string" ? list.split(",") : list).map((s) => s.trim()).filter((s) => s !== "");
  const unknown = names.filter((s) => !(QUICKSTART_STAGES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new QuickstartStagesError(`unknown stage${unknown.length > 1 ? "s" : ""} ${unknown.map((s) => `"${s}"`).join(", ")} in --stages; the stages are ${QUICKSTART_STAGES.join(",")}`);
  if (names.length === 0) throw new QuickstartStagesError(`--stages names no stage; the stages are ${QUICKSTART_STAGES.join(",")}`);
  return QUICKSTART_STAGES.filter((s) => names.includes(s));
}

interface DataOutput {
  train: string[];
  val: string[];
  read: number;
  kept: number;
  report: string;
  /** Every recipe step was up to date (nothing ran). */
  upToDate: boolean;
}

type Json = Record<string, unknown>;
function readJson(path: string): Json | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Json;
  } catch {
    return null;
  }
}

/** The finished data stage in OUT/data, from its report.json; null when there is none or its mix files are gone. */
function readDataOutput(out: string): DataOutput | null {
  const r = readJson(join(out, "data", "report.json"));
  if (r?.format !== "llmforge-data-report" || !Array.isArray(r.steps) || r.steps.length === 0) return null;
  const steps = r.steps as { step: string; stats?: Json; files?: Record<string, string[]> }[];
  const mix = steps.find((s) => s.step === "mix");
  const train = mix?.files?.train ?? [];
  if (train.length === 0 || !train.every((f) => existsSync(f))) return null;
  return {
    train, val: mix?.files?.val ?? [], read: Number(steps[0].stats?.docsIn ?? 0), kept: Number(steps[steps.length - 1].stats?.docsOut ?? 0),
    report: join(out, "data", "report.md"), upToDate: true,
  };
}

function readTokenizerReport(out: string): TokenizerTrainReport | null {
  const dir = join(out, "tokenizer");
  const r = existsSync(join(dir, "tokenizer.json")) ? readJson(join(dir, "train_report.json")) : null;
  return r?.format === "llmforge-tokenizer-train-report" ? (r as unknown as TokenizerTrainReport) : null;
}

/** Token counts of the complete shard set in OUT/shards (null when there is none). */
function readShardOutput(out: string): { trainTokens: number; valTokens: number; documents: number } | null {
  const m = readJson(join(out, "shards", "shards.json")) as Partial<ShardManifest> | null;
  if (m?.complete !== true || !m.train || !m.val) return null;
  const sum = (s: ShardManifest["train"]) => s.shards.reduce((a, x) => a + x.tokens, 0) + s.partialTokens;
  return { trainTokens: sum(m.train), valTokens: sum(m.val), documents: m.documents ?? 0 };
}

const completedReward = (dir: string): RewardSummary | null => completedSummary<RewardSummary>(dir, "reward.json");

/** Whether the finished output of a stage is in the folder. */
function hasOutput(out: string, s: QuickstartStage): boolean {
  switch (s) {
    case "data": return readDataOutput(out) !== null;
    case "tokenizer": return readTokenizerReport(out) !== null;
    case "shards": return readShardOutput(out) !== null;
    case "pretrain": return completedPretrain(out) !== null;
    case "sft": return completedSft(join(out, "sft")) !== null;
    case "reward": return completedReward(join(out, "reward")) !== null;
    case "rl": return completedGrpo(join(out, "rl")) !== null;
  }
}

interface StagePlan {
  /** Stages this call runs. */
  run: Set<QuickstartStage>;
  /** Unlisted stages whose finished output a stage that runs reads. */
  reused: Set<QuickstartStage>;
  /** Listed stages that do not run, with the reason. */
  skipped: Map<QuickstartStage, string>;
  /** Outputs of stages that are not run made from stages that run: replaced when the call starts afresh. */
  stale: Set<QuickstartStage>;
}

/**
 * Which stages run and which outputs they read from the folder; throws {@link QuickstartStagesError} when a stage that
 * runs needs an output that neither runs nor is there, or would read an output made from one that this call replaces.
 */
function planStages(out: string, listed: readonly QuickstartStage[], shares: Partial<Record<QuickstartStage, number>>): StagePlan {
  const skipped = new Map<QuickstartStage, string>();
  const run = new Set<QuickstartStage>();
  const reused = new Set<QuickstartStage>();
  for (const s of listed) {
    if (shares[s] === 0) {
      skipped.set(s, `its share of the budget is 0 (${s === "reward" ? "rmShare" : `${s}Share`})`);
      continue;
    }
    const blocked = STAGE_INPUTS[s].find((i) => skipped.has(i));
    if (blocked) {
      skipped.set(s, `it needs ${STAGE_OUTPUT[blocked][0]}, and ${blocked} is skipped`);
      continue;
    }
    for (const i of STAGE_INPUTS[s]) {
      if (run.has(i)) continue;
      if (!hasOutput(out, i)) {
        const [what, where] = STAGE_OUTPUT[i];
        throw new QuickstartStagesError(`stage ${s} needs ${what} in ${join(out, where)}, and there is none: add ${i} to --stages`);
      }
      reused.add(i);
    }
    run.add(s);
  }
  // An output read from the folder must not have been made from one this call makes anew: the pair would not match.
  for (const r of reused) {
    const replaced = [...upstreamOf(r)].filter((x) => run.has(x));
    if (replaced.length > 0) {
      const reader = [...run].find((s) => STAGE_INPUTS[s].includes(r));
      throw new QuickstartStagesError(
        `stage ${reader} would read ${STAGE_OUTPUT[r][0]} in ${join(out, STAGE_OUTPUT[r][1])}, which was made from the ${replaced.map((x) => STAGE_OUTPUT[x][0].replace(/^the /, "")).join(" and ")} ` +
          `that ${replaced.join(", ")} would replace: add ${r} to --stages (with the stages between), or leave ${replaced.join(", ")} out`,
      );
    }
  }
  const stale = new Set(QUICKSTART_STAGES.filter((s) => !run.has(s) && !reused.has(s) && [...upstreamOf(s)].some((x) => run.has(x))));
  return { run, reused, skipped, stale };
}

/**
 * Makes `out` ready: a new or empty folder is started; an unfinished quickstart with the same options (the stage list
 * aside) is continued (returns true); otherwise the outputs of the stages that run, and those made from them, are
 * removed after saying so, and the outputs the listed stages read are kept. A non-empty folder that quickstart did not
 * write is refused. The stage plan is made (and checked) before anything is removed.
 */
function prepareFolder(
  out: string, options: Record<string, unknown>, listed: readonly QuickstartStage[], shares: Partial<Record<QuickstartStage, number>>, say: (s: string) => void,
): { continuing: boolean; plan: StagePlan } {
  const marker = join(out, "quickstart.json");
  const want = { format: "llmforge-quickstart", version: 1, options };
  const entries = existsSync(out) ? readdirSync(out).filter((e) => e !== LOCK_FILE) : [];
  const had = readJson(marker);
  const mine = had?.format === want.format;
  const finished = readJson(join(out, "summary.json"))?.format === "llmforge-quickstart-summary";
  if (entries.length > 0 && !mine && !finished) throw new QuickstartFolderError(`${out} is not empty and holds no quickstart run (no quickstart.json); choose another --out`);
  const plan = planStages(out, listed, shares);
  const withoutStages = (x: unknown): string => JSON.stringify({ ...(x as Json), stages: undefined });
  const continuing = entries.length > 0 && mine && !finished && withoutStages(had?.options) === withoutStages(options);
  if (continuing) {
    say(`${out}: continuing the unfinished quickstart there (finished stages are reused, training resumes from its newest checkpoint)`);
  } else if (entries.length > 0) {
    const present = QUICKSTART_STAGES.filter((s) => STAGE_ENTRIES[s].some((e) => existsSync(join(out, e))));
    const replaced = present.filter((s) => plan.run.has(s) || plan.stale.has(s));
    const kept = present.filter((s) => !replaced.includes(s));
    const what = finished ? "a finished quickstart" : "an unfinished quickstart with other options";
    if (kept.length === 0) say(`${out}: holds ${what}; removing it to start afresh`);
    else say(`${out}: holds ${what}; keeping the output of ${kept.join(", ")}${replaced.length ? ` and replacing that of ${replaced.join(", ")}` : ""}`);
    for (const s of replaced) for (const e of STAGE_ENTRIES[s]) rmSync(join(out, e), { recursive: true, force: true });
    for (const e of RUN_ENTRIES) rmSync(join(out, e), { recursive: true, force: true });
  }
  writeFileAtomicSync(marker, `${JSON.stringify(want, null, 2)}\n`);
  return { continuing, plan };
}

/**
 * Runs the stages holding the lock of the run folder; returns where each artifact is and the
 * figures of each stage. Throws {@link QuickstartInterrupted} when its signal stops it.
 */
export async function quickstart(o: QuickstartOptions = {}): Promise<QuickstartSummary> {
  const out = resolve(o.out ?? join("runs", "quickstart"));
  // Checked before the lock is taken or anything written.
  const listed = o.stages === undefined ? [...QUICKSTART_STAGES] : parseQuickstartStages(o.stages);
  const shares = { sft: o.sftShare ?? 0.2, reward: o.rmShare ?? 0.1, rl: o.rlShare ?? 0.15 };
  for (const [k, v] of Object.entries(shares)) {
    if (!(v >= 0 && v < 1)) throw new QuickstartStagesError(`${k === "reward" ? "rmShare" : `${k}Share`} must be >= 0 and < 1, got ${v}`);
  }
  if (shares.sft + shares.reward + shares.rl >= 1) throw new QuickstartStagesError(`sftShare + rmShare + rlShare must be < 1 (pretraining gets the rest of the budget), got ${shares.sft + shares.reward + shares.rl}`);
  return withFolderLock(out, "llmforge quickstart", () => quickstartLocked(o, out, listed, shares));
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? "?" : `${(x * 100).toFixed(1)}%`);
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

async function quickstartLocked(o: QuickstartOptions, out: string, listed: QuickstartStage[], shares: { sft: number; reward: number; rl: number }): Promise<QuickstartSummary> {
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
    minutes: o.minutes, depth: o.depth, vocabSize: o.vocabSize, blockSize: o.blockSize, batchSize: o.batchSize, maxDocs: o.maxDocs, seed, sftShare: o.sftShare, rmShare: o.rmShare, rlShare: o.rlShare,
    stages: o.stages === undefined ? undefined : listed,
  };
  const { continuing, plan } = prepareFolder(out, recorded, listed, { sft: shares.sft, reward: shares.reward, rl: shares.rl }, say);
  const runs = (s: QuickstartStage): boolean => plan.run.has(s);
  const order = QUICKSTART_STAGES.filter(runs);
  const N = order.length + 1; // and the samples / chat at the end
  const step = (s: QuickstartStage | "end"): string => `[${s === "end" ? N : order.indexOf(s) + 1}/${N}]`;
  if (plan.reused.size > 0) say(`reusing ${[...plan.reused].map((s) => `${s} (${join(out, STAGE_OUTPUT[s][1])})`).join(", ")}`);
  for (const [s, why] of plan.skipped) say(`${s}: skipped: ${why}`);

  // The budget: the data stages take what they take; each training stage that runs gets its weight's part of what is left.
  const reserve = 20 + 0.02 * budget; // samples, chat, saving, the report
  const weight: Record<TrainingStage, number> = { pretrain: 1 - shares.sft - shares.reward - shares.rl, sft: shares.sft, reward: shares.reward, rl: shares.rl };
  const secondsFor = (s: TrainingStage): number => {
    const ahead = TRAINING_STAGES.slice(TRAINING_STAGES.indexOf(s)).filter(runs);
    const left = budget - elapsed() - reserve - ahead.reduce((a, x) => a + OVERHEAD_SECONDS[x], 0);
    return (left * weight[s]) / ahead.reduce((a, x) => a + weight[x], 0);
  };
  const minutesFor = (s: TrainingStage): number => Math.max(0.1, secondsFor(s) / 60);
  const precision = bf16MatmulAvailable() ? "bf16" : "f32";
  // When each stage ran in this call (absent: its output was found in the folder), then what it consumed and made.
  const ranFor = new Map<QuickstartStage, number>();
  const ran = (stage: QuickstartStage, started: number, didWork: boolean): void => {
    if (didWork) ranFor.set(stage, elapsed() - started);
  };
  const rows = new Map<QuickstartStage, QuickstartStageRow>();
  const describe = (stage: QuickstartStage, r: Pick<QuickstartStageRow, "consumed" | "produced" | "gain" | "figures">): void => {
    const seconds = ranFor.get(stage);
    rows.set(stage, { stage, status: seconds === undefined ? "reused" : "ran", seconds: seconds ?? null, ...r });
  };

  // data
  let data: DataOutput | null = null;
  if (runs("data")) {
    const t = elapsed();
    say(`${step("data")} data: running the default recipe on the embedded corpus -> ${join(out, "data")}`);
    const d = await runDefaultRecipe({ outDir: join(out, "data"), maxDocs: o.maxDocs, progress: show, seed });
    const first = d.steps[0]?.stats;
    const last = d.steps[d.steps.length - 1]?.stats;
    data = { train: d.train, val: d.val, read: Number(first?.docsIn ?? 0), kept: Number(last?.docsOut ?? 0), report: join(out, "data", "report.md"), upToDate: d.steps.every((s) => s.skipped) };
    say(`      kept ${data.kept} of ${data.read} documents (${elapsed().toFixed(0)} s); report ${data.report}`);
    ran("data", t, !(data.upToDate && continuing));
    stopIfAsked("after the data stage");
  } else data = readDataOutput(out);
  if (data) {
    describe("data", {
      consumed: `${data.read} documents`, produced: join(out, "data"),
      gain: `kept ${data.kept}, removed ${Math.max(0, data.read - data.kept)}`, figures: { documents: data.read, kept: data.kept, removed: Math.max(0, data.read - data.kept) },
    });
  }

  // tokenizer: a continued run keeps the tokenizer it has (its shards and checkpoints were made with it)
  const tokDir = join(out, "tokenizer");
  let tokReport: TokenizerTrainReport | null = null;
  let tokenizer: Tokenizer | null = null;
  if (runs("tokenizer")) {
    const t = elapsed();
    const had = continuing ? readTokenizerReport(out) : null;
    say(`${step("tokenizer")} tokenizer: ${had ? `reusing ${join(tokDir, "tokenizer.json")}` : `training byte-level BPE (vocab ${o.vocabSize ?? 4096})`}`);
    if (had) {
      tokReport = had;
      tokenizer = Tokenizer.fromFile(join(tokDir, "tokenizer.json"));
    } else {
      const r = await trainTokenizer((data as DataOutput).train, { vocabSize: o.vocabSize ?? 4096, outDir: tokDir, progress: show });
      tokReport = r.report;
      tokenizer = r.tokenizer;
    }
    say(`      ${tokReport.vocabSize} tokens, ${tokReport.bytesPerToken.toFixed(2)} bytes/token on held-out text`);
    ran("tokenizer", t, had === null);
  } else tokReport = readTokenizerReport(out);
  if (tokReport) {
    describe("tokenizer", {
      consumed: `${mb(tokReport.trainBytes)} of text`, produced: join(tokDir, "tokenizer.json"),
      gain: `${tokReport.bytesPerToken.toFixed(2)} bytes/token (${tokReport.bytesPerTokenOn}), vocab ${tokReport.vocabSize}`,
      figures: { trainBytes: tokReport.trainBytes, bytesPerToken: tokReport.bytesPerToken, vocabSize: tokReport.vocabSize },
    });
  }

  // shards
  let shards: { trainTokens: number; valTokens: number; documents: number } | null = null;
  if (runs("shards")) {
    const t = elapsed();
    say(`${step("shards")} shards: encoding the corpus into llm.c token shards`);
    const d = data as DataOutput;
    const had = continuing ? readShardOutput(out) : null;
    const r = await writeTokenShards({
      inputs: [...d.train, ...d.val], tokenizer: tokenizer ?? Tokenizer.fromFile(join(tokDir, "tokenizer.json")), outDir: join(out, "shards"), valFraction: 0.05,
      progress: show, overwrite: !continuing,
    });
    shards = { trainTokens: r.trainTokens, valTokens: r.valTokens, documents: r.documents };
    say(`      ${formatCount(r.trainTokens)} train / ${formatCount(r.valTokens)} val tokens`);
    ran("shards", t, had === null);
    stopIfAsked("after the shard stage");
  } else shards = readShardOutput(out);
  if (shards) {
    describe("shards", {
      consumed: `${shards.documents} documents`, produced: join(out, "shards"),
      gain: `${formatCount(shards.trainTokens)} train / ${formatCount(shards.valTokens)} val tokens`,
      figures: { documents: shards.documents, trainTokens: shards.trainTokens, valTokens: shards.valTokens },
    });
  }

  // pretraining
  const depth = o.depth ?? 3;
  let trained: PretrainResult | null = null;
  if (runs("pretrain")) {
    const t = elapsed();
    const tok = tokenizer ?? Tokenizer.fromFile(join(tokDir, "tokenizer.json"));
    const config = configFromDepth(depth, { vocabSize: tok.vocabSize, blockSize: o.blockSize ?? 128, overrides: { dropout: 0 } });
    const done = continuing ? completedPretrain(out) : null;
    const minutes = minutesFor("pretrain");
    say(`${step("pretrain")} pretraining: ${formatCount(paramCount(config))} parameters (depth ${depth}), ${done ? "finished earlier" : `about ${minutes.toFixed(1)} min, ${precision} matmuls`}`);
    trained = done ?? await pretrain({
      data: join(out, "shards"), tokenizer: join(tokDir, "tokenizer.json"), out, config,
      batchSize: o.batchSize ?? 16, steps: 100_000, minutes, lr: 3e-3, minLr: 3e-4, warmupSteps: 30,
      evalEvery: 100, evalBatches: 8, checkpointEvery: 250, keepCheckpoints: 2, seed, progress: show, resume: continuing, signal,
      // Mixed precision pays here: bf16 products run several times faster than f32 on CPUs that have them.
      precision,
    });
    if (trained.modelDir === null) throw new QuickstartInterrupted(out, `during pretraining at step ${trained.summary.steps} (checkpoint ${trained.summary.checkpoint})`);
    ran("pretrain", t, done === null);
  } else trained = completedPretrain(out);
  let modelInfo: QuickstartSummary["model"] = null;
  // OUT/model with OUT/tokenizer: the samples at the end come from it
  const baseRun = trained?.modelDir ? loadRun(out) : null;
  if (trained?.modelDir && baseRun) {
    const ts = trained.summary;
    describe("pretrain", {
      consumed: `${ts.steps} steps, ${formatCount(Math.round(ts.tokensPerSec * ts.seconds))} tokens`, produced: join(out, "model"),
      gain: `val loss ${ts.initialVal?.loss.toFixed(3) ?? "?"} -> ${ts.val?.loss.toFixed(3) ?? "?"}`,
      figures: { steps: ts.steps, tokens: Math.round(ts.tokensPerSec * ts.seconds), valLossBefore: ts.initialVal?.loss ?? null, valLossAfter: ts.val?.loss ?? null },
    });
    const c = baseRun.model.config;
    modelInfo = { dir: join(out, "model"), params: trained.params, depth: c.nLayer, width: c.nEmbd, layers: c.nLayer };
  }

  // supervised fine-tuning
  const sftOut = join(out, "sft");
  let sftDone: SftSummary | null = null;
  if (runs("sft")) {
    const t = elapsed();
    const done = continuing ? completedSft(sftOut) : null;
    say(`${step("sft")} supervised fine-tuning on the embedded instruction mix (${sftOut})${done ? ": finished earlier" : ""}`);
    const mix = writeInstructionMix(join(out, "sft_data"), { seed });
    sftDone = done ?? await sft({
      model: out, data: [mix.train], valData: [mix.heldout], out: sftOut, batchSize: 16, steps: 100_000,
      minutes: minutesFor("sft"), lr: 1e-3, minLr: 1e-4, warmupSteps: 20,
      evalEvery: 200, evalPrompts: 200, seed, progress: show, precision, resume: continuing, signal,
    });
    if (sftDone.modelDir === null) throw new QuickstartInterrupted(out, `during fine-tuning at step ${sftDone.training.steps} (checkpoint ${sftDone.training.checkpoint})`);
    ran("sft", t, done === null);
  } else sftDone = completedSft(sftOut);
  let sftResult: QuickstartSummary["sft"] = null;
  if (sftDone?.modelDir) {
    const s = sftDone;
    sftResult = { modelDir: s.modelDir, before: s.before, after: s.after, packing: s.packing, steps: s.training.steps, tokensPerSec: s.training.tokensPerSec, chat: [] };
    describe("sft", {
      consumed: `${s.training.steps} steps, ${formatCount(Math.round(s.training.tokensPerSec * s.training.seconds))} tokens`, produced: join(sftOut, "model"),
      gain: `held-out exact match ${pct(s.before.answers?.exactMatch)} -> ${pct(s.after.answers?.exactMatch)}`,
      figures: {
        steps: s.training.steps, tokens: Math.round(s.training.tokensPerSec * s.training.seconds),
        exactMatchBefore: s.before.answers?.exactMatch ?? null, exactMatchAfter: s.after.answers?.exactMatch ?? null, lossBefore: s.before.loss, lossAfter: s.after.loss,
      },
    });
  }

  // the reward model, from the SFT model, on the offline preference mix written with this seed: its held-out review
  // sentences and words are the ones the SFT mix held out, so the SFT model never saw them labelled
  const rmOut = join(out, "reward");
  const rmData = join(out, "reward_data");
  let rmDone: RewardSummary | null = null;
  if (runs("reward")) {
    const t = elapsed();
    const done = continuing ? completedReward(rmOut) : null;
    // Its part of the budget as planned from the options alone (so a continued run decides the same way).
    const planned = (budget * weight.reward) / TRAINING_STAGES.filter(runs).reduce((a, x) => a + weight[x], 0);
    if (!done && planned < MIN_REWARD_SECONDS) {
      const why = `the budget gives it ${planned.toFixed(1)} s, under the ${MIN_REWARD_SECONDS} s it needs to learn anything measurable; give more --minutes`;
      say(`${step("reward")} reward model: skipped: ${why}`);
      plan.skipped.set("reward", why);
    } else {
      // Prompts per task from the planned time: about two passes over the training records at the ~5 steps/s of
      // 8 prompts the quickstart model trains at.
      const perTask = Math.min(400, Math.max(100, Math.round(planned * 7)));
      say(`${step("reward")} reward model from the SFT model on the offline preference mix (${perTask} prompts per task) -> ${rmOut}${done ? ": finished earlier" : ""}`);
      const written = readJson(join(rmData, "mix.json"));
      const mixReady = continuing && written?.perTask === perTask && written?.curriculum !== undefined;
      const mix = mixReady ? { train: join(rmData, "train.jsonl"), heldout: join(rmData, "heldout.jsonl") } : writePreferenceMix(rmData, { seed, ...recommendedMix(perTask) });
      // lr 1e-3, batch 8 prompts, Bradley-Terry with the records' margins, the recommended mix with its curriculum first: the settings
      // bench/results/reward.md found best at this size; the curriculum's steps from the planned time (so a continued run keeps them)
      const curriculumSteps = Math.max(10, Math.round(planned * CURRICULUM_STEPS_PER_SECOND));
      rmDone = done ?? await reward({
        model: sftOut, data: [mix.train], valData: [mix.heldout], curriculumData: [join(rmData, "curriculum.jsonl")], curriculumSteps,
        out: rmOut, batchSize: 8, steps: 100_000, minutes: minutesFor("reward"),
        lr: 1e-3, warmupSteps: 10, marginScale: 1, evalEvery: 100_000, checkpointEvery: 250, keepCheckpoints: 1, seed, progress: show, resume: continuing, signal,
      });
      if (rmDone.modelDir === null) throw new QuickstartInterrupted(out, `during reward-model training at step ${rmDone.training.steps} (checkpoint ${rmDone.training.checkpoint})`);
      ran("reward", t, done === null);
    }
  } else rmDone = completedReward(rmOut);
  let rewardResult: QuickstartSummary["reward"] = null;
  if (rmDone?.modelDir) {
    const r = rmDone;
    const afinn = readJson(join(rmData, "mix.json"))?.afinnHeldoutSentiment as { accuracy?: number } | undefined;
    const senti = (e: RewardEval | null) => e?.byTask?.sentiment?.pairAccuracy ?? null;
    rewardResult = { modelDir: r.modelDir, before: r.before, after: r.after, dataDir: rmData, steps: r.training.steps, seconds: r.training.seconds, trainPairs: r.train.pairs, afinnSentiment: afinn?.accuracy ?? null };
    describe("reward", {
      consumed: `${r.training.steps} steps, ${formatCount(r.train.pairs)} training pairs`, produced: join(rmOut, "model"),
      gain: `held-out pair accuracy ${pct(r.before?.pairAccuracy)} -> ${pct(r.after?.pairAccuracy)}, sentiment ${pct(senti(r.before))} -> ${pct(senti(r.after))} (AFINN lexicon ${pct(afinn?.accuracy)})`,
      figures: {
        steps: r.training.steps, trainPairs: r.train.pairs, heldoutPairs: r.after?.pairs ?? null, pairAccuracyBefore: r.before?.pairAccuracy ?? null, pairAccuracyAfter: r.after?.pairAccuracy ?? null,
        sentimentBefore: senti(r.before), sentimentAfter: senti(r.after), afinnSentiment: afinn?.accuracy ?? null,
      },
    });
  }

  // RL: GRPO learns where answers differ in reward: the tasks the SFT model solves sometimes, not never or always
  const rlOut = join(out, "rl");
  let rlDone: GrpoSummary | null = null;
  let tasks: string[] = [];
  if (runs("rl") && sftResult) {
    const t = elapsed();
    const perTask = sftResult.after.answers?.perTask ?? {};
    const half = Object.entries(perTask).filter(([, x]) => x.exactMatch > 0 && x.exactMatch < 0.95).map(([k]) => k);
    tasks = half.length > 0 ? half : ["sentiment", "counting"];
    const done = continuing ? completedGrpo(rlOut) : null;
    say(`${step("rl")} RL: GRPO on ${tasks.join(", ")} (${rlOut})${done ? ": finished earlier" : ""}`);
    rlDone = done ?? await grpo({
      model: sftOut, task: tasks.join(","), out: rlOut, group: 8, batchSize: 8, maxTokens: 16, steps: 100_000,
      minutes: minutesFor("rl"), lr: 5e-5, warmupSteps: 5, evalEvery: 100_000, evalLimit: 100, seed, progress: show, resume: continuing, signal,
    });
    if (rlDone.modelDir === null) throw new QuickstartInterrupted(out, `during RL at step ${rlDone.training.steps} (checkpoint ${rlDone.training.checkpoint})`);
    ran("rl", t, done === null);
  } else if (!runs("rl")) rlDone = completedGrpo(rlOut);
  let rlResult: QuickstartSummary["rl"] = null;
  if (rlDone?.modelDir) {
    const r = rlDone;
    if (tasks.length === 0) tasks = String((readJson(join(rlOut, "run.json"))?.options as Json | undefined)?.task ?? "?").split(",");
    rlResult = { modelDir: r.modelDir, before: r.before, after: r.after, tasks, steps: r.training.steps, seconds: r.training.seconds };
    describe("rl", {
      consumed: `${r.training.steps} steps, ${formatCount(Math.round(r.training.tokensPerSec * r.training.seconds))} tokens`, produced: join(rlOut, "model"),
      gain: `held-out solved ${pct(r.before?.solved)} -> ${pct(r.after?.solved)} (GRPO on ${tasks.join(", ")})`,
      figures: { steps: r.training.steps, tokens: Math.round(r.training.tokensPerSec * r.training.seconds), solvedBefore: r.before?.solved ?? null, solvedAfter: r.after?.solved ?? null },
    });
  }

  // The chat is with the last model of the pipeline, with its own tokenizer and template.
  const chatRun = rlResult ? rlOut : sftResult ? sftOut : null;
  say(`${step("end")} samples${chatRun ? " and a chat" : ""}`);
  if (sftResult && chatRun) {
    const chat = loadRun(chatRun);
    const eos = chat.tokenizer.specialId("<|im_end|>");
    const template = runChatTemplate(chat) ?? CHATML_TEMPLATE;
    sftResult.chat = (o.chatPrompts ?? DEFAULT_CHAT).map((q) => {
      const prompt = renderChat(template, [{ role: "user", content: q }], { addGenerationPrompt: true });
      const r = generate(chat.model, chat.tokenizer.encode(prompt, { allowedSpecial: "all" }), { maxTokens: 24, temperature: 0, stopTokens: [eos] });
      return { prompt: q, answer: chat.tokenizer.decode(r.tokens) };
    });
  }
  const samples: QuickstartSummary["samples"] = [];
  if (baseRun) {
    (o.prompts ?? DEFAULT_PROMPTS).forEach((prompt, i) => {
      const r = generateText(baseRun.model, baseRun.tokenizer, prompt, { maxTokens: 48, temperature: 0.8, topK: 40, seed: seed + i });
      samples.push({ prompt, text: r.text, tokensPerSecond: r.tokensPerSecond });
    });
  }

  const stages = QUICKSTART_STAGES.map((s): QuickstartStageRow => {
    const r = rows.get(s);
    const note = plan.skipped.get(s);
    if (note) return { stage: s, status: "skipped", seconds: null, consumed: "", produced: null, gain: "", figures: {}, note };
    return r ?? { stage: s, status: "not run", seconds: null, consumed: "", produced: null, gain: "", figures: {} };
  });
  const summary: QuickstartSummary = {
    out,
    seconds: elapsed(),
    budgetSeconds: budget,
    ran: order.filter((s) => !plan.skipped.has(s)),
    stages,
    data: data ? { kept: data.kept, removed: Math.max(0, data.read - data.kept), trainFiles: data.train, valFiles: data.val, report: data.report } : null,
    tokenizer: tokReport ? { path: join(tokDir, "tokenizer.json"), vocabSize: tokReport.vocabSize, bytesPerToken: tokReport.bytesPerToken } : null,
    shards: shards ? { dir: join(out, "shards"), trainTokens: shards.trainTokens, valTokens: shards.valTokens } : null,
    model: modelInfo,
    training: trained?.summary ?? null,
    samples,
    sft: sftResult,
    reward: rewardResult,
    rl: rlResult,
    chatModel: chatRun,
  };
  const header = { format: "llmforge-quickstart-summary", version: 2, writer: `llmforge ${VERSION}` };
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

/** The summary table: one row per stage (padded columns; paths relative to the run folder). */
export function formatStageTable(s: Pick<QuickstartSummary, "out" | "stages">): string[] {
  const head = ["stage", "status", "time", "consumed", "produced", "gain"];
  const cells = s.stages.map((r) => [
    r.stage, r.status, r.seconds === null ? "-" : `${r.seconds.toFixed(0)} s`, r.consumed || "-",
    r.produced ? `${relative(s.out, r.produced) || "."}` : "-", r.note ? `(${r.note})` : r.gain || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (i === head.length - 1 ? 0 : c[i].length))));
  const line = (c: string[]) => `  ${c.map((x, i) => (i === c.length - 1 ? x : i === 2 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join("  ")}`.trimEnd();
  return [line(head), ...cells.map(line)];
}

/** The human-readable end-of-run report: the stage table, the model, samples and the chat. */
export function formatQuickstartSummary(s: QuickstartSummary): string {
  const t = s.training;
  const lines = [
    "",
    `llmforge quickstart: done in ${(s.seconds / 60).toFixed(1)} min (budget ${(s.budgetSeconds / 60).toFixed(1)} min); paths below are in ${s.out}`,
    ...formatStageTable(s),
    "",
    ...(s.model ? [`  model       ${formatCount(s.model.params)} parameters, ${s.model.layers} layers, width ${s.model.width} (${s.model.dir})`] : []),
    ...(t?.val ? [`  validation  loss ${t.initialVal?.loss.toFixed(3) ?? "?"} -> ${t.val.loss.toFixed(3)}, perplexity ${t.initialVal?.perplexity.toFixed(0) ?? "?"} -> ${t.val.perplexity.toFixed(1)}` +
      (t.val.bitsPerByte != null ? `, ${t.val.bitsPerByte.toFixed(3)} bits/byte` : "")] : []),
    ...(s.data ? [`  data report ${s.data.report} (what each rule removed, and why)`] : []),
    ...(s.training ? [`  logs        ${join(s.out, "metrics.jsonl")}, TensorBoard: tensorboard --logdir ${s.out}`] : []),
    ...(s.report ? [`  report      ${s.report} (open it in a browser)`] : []),
    ...(s.samples.length ? ["  samples of the pretrained model:", ...s.samples.map((x) => `    > ${x.prompt}${x.text.replace(/\s+/g, " ")}  [${x.tokensPerSecond.toFixed(0)} tok/s]`)] : []),
    ...(s.sft && s.chatModel ? chatLines(s.sft, s.chatModel, s.rl !== null) : []),
    `  everything is in ${s.out}`,
  ];
  return lines.join("\n");
}

function chatLines(f: NonNullable<QuickstartSummary["sft"]>, chatModel: string, rl: boolean): string[] {
  return [
    `  chat (${rl ? "the RL model" : "the SFT model"}; \`llmforge generate --model ${chatModel} --chat\` or \`llmforge chat --model ${chatModel}\` for more):`,
    ...f.chat.map((c) => `    user: ${c.prompt}\n    assistant: ${c.answer.replace(/\s+/g, " ")}`),
  ];
}
