// Recipes: a list of data steps with their configs, run in order under the lock of the recipe's folder. Each step
// publishes its own folder (with its completion marker) and then a `_done.json` record naming its config and input
// fingerprints, so a rerun skips steps that are up to date, map steps resume shard by shard after a crash, and any
// change upstream reruns what depends on it.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { readFileChecked } from "../io/fsErrors.js";
import { dirname, isAbsolute, join, resolve } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { isFinishedFolder } from "../io/stepOutput.js";
import { lockFolder } from "../io/runLock.js";
import { runCorpusStats } from "./corpusStats.js";
import { runDedup } from "./dedup/index.js";
import { ingest } from "./ingest.js";
import { runMapStep, type MapStepConfig } from "./mapSteps.js";
import { runMix } from "./mix.js";
import { fingerprint, listShards, type StepResult } from "./shards.js";
import { dataStatsMarkdown, DataStats, type DataStatsJson } from "./stats.js";
import { runTrainQuality } from "./trainQuality.js";
import { DataConfigError } from "./types.js";

export const RECIPE_STEPS = ["ingest", "clean", "filter", "pii", "process", "dedup", "mix", "train-quality", "stats"] as const;
export type RecipeStepKind = (typeof RECIPE_STEPS)[number];

export const recipeSchema = z
  .object({
    name: z.string().default("recipe"),
    /** Output folder (relative to the recipe file). */
    outDir: z.string(),
    workers: z.number().int().positive().optional(),
    onError: z.enum(["skip", "fail"]).default("skip"),
    steps: z
      .array(
        z
          .object({
            /** Unique name (default: the step kind); `@name` in later inputs/configs refers to its output. */
            name: z.string().regex(/^[\w-]+$/).optional(),
            step: z.enum(RECIPE_STEPS),
            /** Inputs (paths or `@name`); default: the previous step's output shards. */
            inputs: z.array(z.string()).optional(),
            config: z.record(z.string(), z.unknown()).default({}),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();
export type Recipe = z.infer<typeof recipeSchema>;
export type RecipeInput = z.input<typeof recipeSchema>;

/** Reads a recipe from JSON or YAML. */
export function loadRecipe(file: string): { recipe: Recipe; baseDir: string } {
  let raw: unknown;
  const text = readFileChecked(file, "a recipe file (JSON or YAML)").toString("utf8");
  try {
    raw = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new DataConfigError(`${file}: cannot parse recipe: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { recipe: parseRecipe(raw, file), baseDir: dirname(resolve(file)) };
}

export function parseRecipe(raw: unknown, where = "recipe"): Recipe {
  const r = recipeSchema.safeParse(raw);
  if (!r.success) throw new DataConfigError(`${where}: invalid recipe: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const names = new Set<string>();
  for (const s of r.data.steps) {
    const n = s.name ?? s.step;
    if (names.has(n)) throw new DataConfigError(`${where}: two steps are named "${n}"; give them distinct "name"s`);
    names.add(n);
  }
  return r.data;
}

/** What one recipe step did. */
export interface RecipeStepReport {
  name: string;
  step: RecipeStepKind;
  dir: string;
  /** Shards a following step reads by default. */
  outputs: string[];
  stats: DataStatsJson;
  skipped: boolean;
  /** Extra outputs: `model` for train-quality, `train`/`val` for mix. */
  files: Record<string, string[]>;
}

export interface RecipeResult {
  outDir: string;
  steps: RecipeStepReport[];
  reportMarkdown: string;
  reportJson: string;
}

export interface RunRecipeOptions {
  /** Folder relative paths in the recipe are resolved against (default: cwd). */
  baseDir?: string;
  progress?: boolean;
  /** Rerun every step even when up to date. */
  force?: boolean;
  workers?: number;
  /** Stop after this step (by name), e.g. to inspect an intermediate result. */
  until?: string;
}

interface DoneRecord {
  format: "llmforge-data-step";
  version: 1;
  key: string;
  inputs: string;
  outputs: string[];
  files: Record<string, string[]>;
}

/** Fingerprint of a set of input paths: every file below them, with size and mtime. */
function inputsFingerprint(paths: string[]): string {
  const h = createHash("sha256");
  const walk = (p: string) => {
    if (!existsSync(p)) {
      h.update(`missing:${p}\n`);
      return;
    }
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) if (!e.startsWith(".") && e !== "_done.json" && e !== "stats.json" && e !== "stats.md") walk(join(p, e));
    } else h.update(`${p}:${fingerprint(p)}\n`);
  };
  for (const p of paths) walk(p);
  return h.digest("hex");
}

function substitute(v: unknown, refs: Map<string, string>, baseDir: string): unknown {
  if (typeof v === "string") {
    const m = /^@([\w-]+)$/.exec(v);
    if (m) {
      const r = refs.get(m[1]);
      if (!r) throw new DataConfigError(`recipe: "${v}" refers to no earlier step (known: ${[...refs.keys()].join(", ") || "none"})`);
      return r;
    }
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, refs, baseDir));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, refs, baseDir)]));
  return v;
}

const PATH_KEYS = new Set(["path", "model", "wordsFile"]);

/** Resolves relative file paths in known path-valued config keys against the recipe folder. */
function resolvePaths(v: unknown, baseDir: string, key = ""): unknown {
  if (typeof v === "string") return PATH_KEYS.has(key) && !isAbsolute(v) && !v.startsWith("@") ? resolve(baseDir, v) : v;
  if (Array.isArray(v)) return v.map((x) => (key === "inputs" && typeof x === "string" && !isAbsolute(x) && !x.startsWith("@") ? resolve(baseDir, x) : resolvePaths(x, baseDir)));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolvePaths(x, baseDir, k)]));
  return v;
}

/** Runs a recipe: every step in order, skipping those whose outputs are up to date. */
export async function runRecipe(recipeInput: RecipeInput, o: RunRecipeOptions = {}): Promise<RecipeResult> {
  const recipe = parseRecipe(recipeInput);
  const outDir = resolve(o.baseDir ?? process.cwd(), recipe.outDir);
  const lock = lockFolder(outDir, "data run");
  try {
    return await runRecipeSteps(recipe, outDir, o);
  } finally {
    lock.release();
  }
}

async function runRecipeSteps(recipe: Recipe, outDir: string, o: RunRecipeOptions): Promise<RecipeResult> {
  const baseDir = o.baseDir ?? process.cwd();
  const workers = o.workers ?? recipe.workers;
  const refs = new Map<string, string>();
  const reports: RecipeStepReport[] = [];
  let prev: string[] = [];
  for (let i = 0; i < recipe.steps.length; i++) {
    const s = recipe.steps[i];
    const name = s.name ?? s.step;
    const dir = join(outDir, `${String(i + 1).padStart(2, "0")}-${name}`);
    const config = substitute(resolvePaths(s.config, baseDir), refs, baseDir) as Record<string, unknown>;
    let inputs: string[];
    if (s.step === "ingest") inputs = ((config.inputs as unknown[]) ?? []).map((x) => (typeof x === "string" ? x : String((x as { path: string }).path)));
    else if (s.inputs) inputs = s.inputs.map((x) => String(substitute(isAbsolute(x) || x.startsWith("@") ? x : resolve(baseDir, x), refs, baseDir)));
    else inputs = prev;
    if (s.step !== "ingest" && inputs.length === 0) throw new DataConfigError(`recipe step "${name}" has no inputs (it is first, or the previous step produced none)`);
    const key = JSON.stringify({ step: s.step, config, inputs: s.step === "ingest" ? undefined : inputs, onError: recipe.onError });
    const inFp = inputsFingerprint(inputs);
    const donePath = join(dir, "_done.json");
    let report: RecipeStepReport | undefined;
    if (!o.force && existsSync(donePath) && isFinishedFolder(dir)) {
      const done = JSON.parse(readFileSync(donePath, "utf8")) as DoneRecord;
      if (done.key === key && done.inputs === inFp && done.outputs.every((p) => existsSync(p))) {
        const stats = JSON.parse(readFileSync(join(dir, "stats.json"), "utf8")) as DataStatsJson;
        report = { name, step: s.step, dir, outputs: done.outputs, stats, skipped: true, files: done.files };
        if (o.progress !== false) process.stderr.write(`${name}: up to date, skipped\n`);
      }
    }
    if (!report) {
      // a folder this recipe finished before is its own to replace
      const common = { outDir: dir, progress: o.progress, onError: recipe.onError, overwrite: existsSync(donePath) };
      let r: StepResult;
      let outputs: string[];
      let files: Record<string, string[]> = {};
      switch (s.step) {
        case "ingest":
          r = await ingest({ onError: recipe.onError, ...config } as Parameters<typeof ingest>[0], common);
          outputs = r.outputs;
          break;
        case "clean":
        case "filter":
        case "pii":
          r = await runMapStep(s.step, { [s.step]: config } as MapStepConfig, { ...common, inputs, workers });
          outputs = r.outputs;
          break;
        case "process":
          r = await runMapStep("process", config as MapStepConfig, { ...common, inputs, workers });
          outputs = r.outputs;
          break;
        case "dedup":
          r = await runDedup(config, { ...common, inputs, workers });
          outputs = r.outputs;
          break;
        case "mix": {
          const m = await runMix(config, { ...common, inputs });
          r = m;
          outputs = m.train;
          files = { train: m.train, val: m.val };
          break;
        }
        case "train-quality": {
          const c = config as { positive?: string[]; negative?: string[]; positiveSources?: string[]; negativeSources?: string[] } & Record<string, unknown>;
          const t = await runTrainQuality({ ...c, positive: c.positive ?? inputs, negative: c.negative ?? inputs, outDir: dir, onError: recipe.onError, overwrite: common.overwrite });
          r = t;
          outputs = listShards(inputs);
          files = { model: [t.modelPath] };
          break;
        }
        case "stats":
          r = await runCorpusStats(inputs, dir, recipe.onError, common);
          outputs = listShards(inputs);
          break;
      }
      const done: DoneRecord = { format: "llmforge-data-step", version: 1, key, inputs: inFp, outputs, files };
      writeFileAtomicSync(donePath, `${JSON.stringify(done, null, 2)}\n`);
      report = { name, step: s.step, dir, outputs, stats: r.stats.toJSON(), skipped: false, files };
    }
    reports.push(report);
    refs.set(name, report.files.model?.[0] ?? (report.step === "mix" ? join(dir, "train") : dir));
    prev = report.outputs;
    if (o.until === name) break;
  }
  const md = [`# Data recipe \`${recipe.name}\``, "", `Output: \`${outDir}\``, "", "| step | docs in | docs out | removed | rejected | skipped |", "| --- | ---: | ---: | ---: | ---: | --- |"];
  for (const r of reports) {
    const st = DataStats.fromJSON(r.stats);
    md.push(`| ${r.name} | ${st.docsIn} | ${st.docsOut} | ${st.removedCount()} | ${st.rejectedCount()} | ${r.skipped ? "yes (up to date)" : "no"} |`);
  }
  md.push("");
  for (const r of reports) md.push(dataStatsMarkdown(r.stats));
  const reportMarkdown = join(outDir, "report.md");
  const reportJson = join(outDir, "report.json");
  writeFileAtomicSync(reportMarkdown, md.join("\n"));
  writeFileAtomicSync(reportJson, `${JSON.stringify({ format: "llmforge-data-report", version: 1, recipe: recipe.name, steps: reports }, null, 2)}\n`);
  return { outDir, steps: reports, reportMarkdown, reportJson };
}
