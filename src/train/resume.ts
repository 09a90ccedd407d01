// What a resumed run keeps, refuses and extends: one policy for every training stage. Options that
// define the run (data, model, seed, batch...) cannot change; the schedule is kept from run.json
// unless it is lengthened on purpose (`extend`); a finished run is never "resumed" into doing nothing.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { VERSION } from "../version.js";
import { latestCheckpoint, latestValidCheckpoint, readCheckpointState } from "./checkpoint.js";

/** A run cannot be started or resumed with these options. */
export class ResumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResumeError";
  }
}

/** RUN/run.json as the training stages write it. */
export interface RunRecord {
  format: string;
  version: number;
  writer: string;
  /** The options the run uses (kept ones as the run started them; `steps` as lengthened). */
  options: Record<string, unknown>;
  /** Set once the run's final model is written: the step it holds, and the stage's summary. */
  completed?: { step: number; at: string; result?: unknown };
  [key: string]: unknown;
}

/** Reads RUN/run.json, or throws {@link ResumeError} naming it. */
export function readRunRecord(out: string): RunRecord {
  const file = join(out, "run.json");
  if (!existsSync(file)) throw new ResumeError(`${file} is missing: cannot tell which options the run in ${out} was started with; choose another --out`);
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as RunRecord;
    if (typeof r.options !== "object" || r.options === null) throw new Error("no options");
    return r;
  } catch (err) {
    throw new ResumeError(`${file}: damaged (${(err as Error).message}); choose another --out`);
  }
}

/** Writes RUN/run.json atomically. */
export function writeRunRecord(out: string, r: RunRecord): void {
  writeFileAtomicSync(join(out, "run.json"), `${JSON.stringify(r, null, 2)}\n`);
}

/** Marks the run finished: its final model (at `step`) is written; `result` is what the stage returned. */
export function markRunCompleted(out: string, step: number, result?: unknown): void {
  writeRunRecord(out, { ...readRunRecord(out), completed: { step, at: new Date().toISOString(), result } });
}

export interface ResumeRequest<O extends { steps: number }> {
  out: string;
  resume?: boolean;
  /** With resume: lengthen the schedule to `options.steps`. */
  extend?: boolean;
  /** This call's options, as run.json records them. */
  options: O;
  /** Options that cannot change on resume, with the flag that sets each (for messages). */
  fixed: Partial<Record<keyof O, string>>;
  /** Options the resumed run takes from run.json (its schedule), with their flags. */
  kept: Partial<Record<keyof O, string>>;
  /** Further differences that forbid resuming (e.g. another model config): one phrase each. */
  differences?: (run: RunRecord) => string[];
  say: (line: string) => void;
}

export interface ResumePlan<O> {
  /** The checkpoint the run continues from; null for a new run. */
  checkpoint: string | null;
  /** run.json of the resumed run (null for a new run). */
  record: RunRecord | null;
  /** The options in effect: this call's, with the kept ones (and steps) taken from the run. */
  options: O;
  /** Set when the schedule is lengthened: the new number of steps. */
  extendTo?: number;
}

const show = (v: unknown): string => (v === undefined || v === null ? "(none)" : typeof v === "string" ? v : JSON.stringify(v));
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * Decides how a run starts: new (no checkpoint), or resumed from its newest checkpoint with the
 * run's fixed options checked, its schedule kept (and stated), and lengthened only with `extend`.
 * Throws {@link ResumeError} for checkpoints without `resume`, changed fixed options, `extend`
 * that does not lengthen, and a finished run resumed without `extend`.
 */
export function planResume<O extends { steps: number }>(r: ResumeRequest<O>): ResumePlan<O> {
  if (r.extend && !r.resume) throw new ResumeError("--extend lengthens a run that is resumed: pass it together with --resume");
  const newest = latestCheckpoint(join(r.out, "checkpoints"));
  if (!newest) {
    if (r.resume) r.say(`${r.out}: no checkpoint to resume from; starting the run from step 0`);
    return { checkpoint: null, record: null, options: r.options };
  }
  if (!r.resume) throw new ResumeError(`${r.out} already holds checkpoints (${newest}); pass --resume to continue it or choose another --out`);
  // The checkpoint the step loop will resume from (damaged newer ones are skipped; the loop says which).
  const ckpt = latestValidCheckpoint(join(r.out, "checkpoints"), () => {}) as string;
  const run = readRunRecord(r.out);
  const prev = run.options as Partial<O>;
  const differ: string[] = [];
  for (const [k, flag] of Object.entries({ ...LOOP_FIXED, ...r.fixed }) as [keyof O, string][]) {
    if (!same(prev[k], r.options[k])) differ.push(`${flag} ${show(prev[k])} (now ${show(r.options[k])})`);
  }
  differ.push(...(r.differences?.(run) ?? []));
  if (differ.length > 0) {
    throw new ResumeError(`${join(r.out, "run.json")}: the run was started with ${differ.join("; ")}. These cannot change when a run resumes: pass the run's values, or choose another --out`);
  }
  const state = readCheckpointState(ckpt);
  const options = { ...r.options };
  const kept: string[] = [];
  const unused: string[] = [];
  for (const [k, flag] of Object.entries(r.kept) as [keyof O, string][]) {
    options[k] = prev[k] as O[keyof O];
    if (prev[k] !== undefined && prev[k] !== null) kept.push(`${flag} ${show(prev[k])}`);
    if (!same(prev[k], r.options[k])) unused.push(`${flag} ${show(r.options[k])}`);
  }
  let extendTo: number | undefined;
  if (r.extend) {
    if (r.options.steps <= state.totalSteps) {
      throw new ResumeError(`--extend: --steps ${r.options.steps} does not lengthen the run in ${r.out}, which has ${state.totalSteps} steps; pass more`);
    }
    extendTo = r.options.steps;
  } else {
    options.steps = (prev.steps as number | undefined) ?? state.totalSteps;
    if (r.options.steps !== options.steps) unused.push(`--steps ${r.options.steps}`);
  }
  if (state.step >= state.totalSteps && extendTo === undefined) {
    if (run.completed?.step === state.step) {
      throw new ResumeError(
        `${r.out}: already finished at step ${state.step} (its model is in ${join(r.out, "model")}); nothing to resume. ` +
          `To train it further pass --extend with --steps above ${state.step}, or choose another --out`,
      );
    }
    r.say(`${r.out}: training finished at step ${state.step} but its model was not written; writing it now`);
  }
  r.say(
    `resuming ${r.out} at step ${state.step} of ${extendTo ?? state.totalSteps}` +
      (extendTo ? ` (schedule lengthened from ${state.totalSteps} steps)` : "") +
      `; kept from the run: its schedule${kept.length > 0 ? ` (${kept.join(", ")})` : ""}` +
      (unused.length > 0 ? `; not used: ${unused.join(", ")} (a resumed run keeps its schedule; --extend with more --steps lengthens it)` : ""),
  );
  return { checkpoint: ckpt, record: run, options, extendTo };
}

/**
 * The summary file (e.g. OUT/sft.json) a stage wrote for its finished run in `out`, or null when the run is not
 * finished: its run record must say it completed at the step of its newest checkpoint.
 */
export function completedSummary<T>(out: string, file: string): T | null {
  const last = latestCheckpoint(join(out, "checkpoints"));
  const path = join(out, file);
  if (!last || !existsSync(path) || !existsSync(join(out, "run.json"))) return null;
  if (readRunRecord(out).completed?.step !== readCheckpointState(last).step) return null;
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** The step loop's options no stage's run can change when it resumes, with their flags (beside each stage's own `fixed`). */
export const LOOP_FIXED = { ema: "--ema" } as const;

/** The schedule options a resumed run takes from its run.json, with their flags (every stage of the step loop). */
export const LOOP_KEPT = { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", minutes: "--minutes", evalBatches: "--eval-batches" } as const;

/** What a pretraining stage with its own objective passes to {@link openObjectiveRun}: its options as the CLI gave them. */
export interface ObjectiveStage {
  out: string;
  data: string;
  steps: number;
  resume?: boolean;
  extend?: boolean;
  progress?: boolean;
}

/**
 * The opening of a pretraining run with its own objective and grown tokenizer (masked LM, span corruption): the
 * stage's progress printer, the resume plan over its options as run.json records them (paths resolved; fixed options
 * checked, the schedule kept, the model config unchanged), run.json written for a new or lengthened run, and
 * OUT/tokenizer/tokenizer.json written once.
 */
export function openObjectiveRun<S extends ObjectiveStage>(a: {
  stage: S;
  tokenizerPath: string;
  fixed: Partial<Record<keyof S, string>>;
  config: unknown;
  /** The flags that set the config, for the message when it changed. */
  configFlags: string;
  objective: string;
  tokenizerJson: string;
}): { plan: ResumePlan<S>; say: (line: string) => void } {
  const { stage } = a;
  const say = (line: string): void => {
    if (stage.progress !== false) process.stderr.write(`${line}\n`);
  };
  const recorded = { ...stage, data: resolve(stage.data), tokenizer: resolve(a.tokenizerPath), config: undefined, signal: undefined, resume: undefined, extend: undefined };
  const plan = planResume<S>({
    out: stage.out, resume: stage.resume, extend: stage.extend, options: recorded as S, say, fixed: a.fixed, kept: LOOP_KEPT as Partial<Record<keyof S, string>>,
    differences: (run) => (JSON.stringify(run.config) !== JSON.stringify(a.config) ? [`another model config (${a.configFlags})`] : []),
  });
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(stage.out, { ...plan.record, format: "llmforge-run", version: 1, writer: `llmforge ${VERSION}`, config: a.config, objective: a.objective, options: plan.options as Record<string, unknown>, completed: undefined });
  }
  mkdirSync(join(stage.out, "tokenizer"), { recursive: true });
  if (!plan.checkpoint) writeFileAtomicSync(join(stage.out, "tokenizer", "tokenizer.json"), a.tokenizerJson);
  return { plan, say };
}

/**
 * The close of such a run: unless it was interrupted, the model saved (by `save`) in OUT/model with the run's tokenizer
 * beside it and the run marked completed. Returns `result` with its modelDir set when the model was written.
 */
export function closeObjectiveRun<R extends { modelDir: string | null }>(
  out: string, summary: { stoppedBy?: string; steps: number }, result: R, save: (dir: string) => void, tokenizerJson: string,
): R {
  if (summary.stoppedBy === "interrupted") return result;
  result.modelDir = join(out, "model");
  save(result.modelDir);
  writeFileAtomicSync(join(result.modelDir, "tokenizer.json"), tokenizerJson);
  markRunCompleted(out, summary.steps, result);
  return result;
}
