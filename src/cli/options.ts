// Number parsers for commander options, shared by every command: a bad value names what was expected.
import { constants } from "node:os";
import { type Command, InvalidArgumentError } from "commander";

function wholeNumber(v: string, expected: string, ok: (n: number) => boolean): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || !ok(n)) throw new InvalidArgumentError(`expected ${expected}, got "${v}"`);
  return n;
}

/** A whole number (any sign). */
export const intOption = (v: string): number => wholeNumber(v, "a whole number", () => true);

/** A whole number > 0. */
export const positiveIntOption = (v: string): number => wholeNumber(v, "a positive whole number", (n) => n > 0);

/** A whole number >= 0. */
export const nonNegativeIntOption = (v: string): number => wholeNumber(v, "a whole number >= 0", (n) => n >= 0);

/** A finite number. */
export function numberOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
  return n;
}

/** A finite number >= 0 (learning rates, weight decay). */
export function nonNegativeNumberOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number >= 0, got "${v}"`);
  return n;
}

/** A finite number > 0 (time budgets). */
export function positiveNumberOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number > 0, got "${v}"`);
  return n;
}

/** A fraction: a number >= 0 and < 1. */
export function fractionOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !(n >= 0 && n < 1)) throw new InvalidArgumentError(`expected a fraction >= 0 and < 1, got "${v}"`);
  return n;
}

/** A moving-average decay: a number > 0 and < 1. */
function emaDecayOption(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !(n > 0 && n < 1)) throw new InvalidArgumentError(`expected a decay > 0 and < 1 such as 0.999, got "${v}"`);
  return n;
}

/** A number in [lo, hi] (shares, probabilities with a ceiling). */
export function rangeOption(lo: number, hi: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === "" || !(n >= lo && n <= hi)) throw new InvalidArgumentError(`expected a number from ${lo} to ${hi}, got "${v}"`);
    return n;
  };
}

/** One of a fixed list of words. */
export function oneOf<const W extends string>(words: readonly W[]): (v: string) => W {
  return (v) => {
    if (!(words as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${words.join(", ")}, got "${v}"`);
    return v as W;
  };
}

/** Defaults of {@link addLoopOptions} that differ between stages. */
export interface LoopDefaults {
  steps: number;
  lr: number;
  weightDecay: number;
  evalEvery: number;
  keep: number;
}

/**
 * The options every training command shares (the generic step loop's): length, schedule, weight
 * decay, evaluation and checkpoint cadence, seed, resume and extend, non-finite policy, backend, precision.
 */
export function addLoopOptions(cmd: Command, d: LoopDefaults): Command {
  return cmd
    .option("--steps <n>", "optimizer steps", positiveIntOption, d.steps)
    .option("--minutes <m>", "time budget; the schedule is fitted to it after the first steps", positiveNumberOption)
    .option("--lr <lr>", "peak learning rate", nonNegativeNumberOption, d.lr)
    .option("--min-lr <lr>", "final learning rate (default lr/10)", nonNegativeNumberOption)
    .option("--warmup <n>", "warmup steps", nonNegativeIntOption)
    .option("--weight-decay <wd>", "AdamW weight decay on matrices", nonNegativeNumberOption, d.weightDecay)
    .option("--ema <decay>", "keep a moving average of the weights (e.g. 0.999): evaluated and saved as the model", emaDecayOption)
    .option("--eval-every <n>", "validation every N steps", positiveIntOption, d.evalEvery)
    .option("--ckpt-every <n>", "checkpoint every N steps", positiveIntOption, 200)
    .option("--keep <n>", "checkpoints to keep", positiveIntOption, d.keep)
    .option("--seed <n>", "seed", intOption, 1337)
    .option("--resume", "continue the run in --out from its newest checkpoint (its data, model and seed cannot change; its schedule is kept)")
    .option("--extend", "with --resume: lengthen the run's schedule to --steps (also trains a finished run further)")
    .option("--on-nan <what>", "stop or skip on a non-finite loss", oneOf(["stop", "skip"]), "stop")
    .option("--max-skips <n>", "with --on-nan skip: stop after this many skipped steps in a row", positiveIntOption, 5)
    .option("--backend <b>", "ref or native", oneOf(["ref", "native"]))
    .option("--precision <p>", "matrix products in f32, or bf16 (mixed precision, f32 weights; needs avx512_bf16)", oneOf(["f32", "bf16"]), "f32");
}

/**
 * Ctrl-C (SIGINT) or SIGTERM finishes the current step and writes a checkpoint, through the returned
 * signal (its reason is the signal's name); a second signal quits at once. The command then exits
 * with {@link interruptedExitCode}.
 */
export function abortOnSignals(): AbortSignal {
  const stop = new AbortController();
  const names = ["SIGINT", "SIGTERM"] as const;
  const first = (name: NodeJS.Signals): void => {
    for (const n of names) process.removeListener(n, first);
    process.stderr.write(`\n${name}: finishing this step and writing a checkpoint (${name === "SIGINT" ? "Ctrl-C" : "a second signal"} quits at once)\n`);
    stop.abort(name);
    for (const n of names) process.once(n, (again: NodeJS.Signals) => process.exit(interruptedExitCode(again)));
  };
  for (const n of names) process.once(n, first);
  return stop.signal;
}

/** The exit status of a command stopped by a signal, as shells report it: 128 + its number (SIGINT 130, SIGTERM 143). */
export function interruptedExitCode(signal: AbortSignal | NodeJS.Signals): number {
  const name = (typeof signal === "string" ? signal : signal.reason) as NodeJS.Signals;
  return 128 + (constants.signals[name] ?? constants.signals.SIGINT);
}

/** The parsed flags of {@link addLoopOptions}. */
export interface LoopFlags {
  steps: number;
  minutes?: number;
  lr: number;
  minLr?: number;
  warmup?: number;
  weightDecay: number;
  ema?: number;
  evalEvery: number;
  ckptEvery: number;
  keep: number;
  seed: number;
  resume?: boolean;
  extend?: boolean;
  onNan: "stop" | "skip";
  maxSkips: number;
  backend?: "ref" | "native";
  precision: "f32" | "bf16";
}

/** {@link addLoopOptions}' flags as the step loop's options (StageRunOptions), with the signal that stops the run. */
export function loopRunOptions(o: LoopFlags, signal: AbortSignal) {
  return {
    steps: o.steps, minutes: o.minutes, lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, weightDecay: o.weightDecay, ema: o.ema, evalEvery: o.evalEvery,
    checkpointEvery: o.ckptEvery, keepCheckpoints: o.keep, seed: o.seed, resume: o.resume, extend: o.extend, onNonFinite: o.onNan,
    maxSkips: o.maxSkips, backend: o.backend, precision: o.precision, signal,
  };
}

/** For a run its signal stopped: says where it stands, sets the exit code (128 + signal) and returns true. */
export function reportInterrupted(t: { stoppedBy: string; steps: number; checkpoint: string | null }, signal: AbortSignal): boolean {
  if (t.stoppedBy !== "interrupted") return false;
  console.log(`stopped at step ${t.steps}; checkpoint ${t.checkpoint}; no model written; continue with the same command and --resume`);
  process.exitCode = interruptedExitCode(signal);
  return true;
}

/** Defaults of {@link addSamplingOptions}: an undefined top-k / top-p is left to the sampler (all tokens, no nucleus). */
export interface SamplingDefaults {
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  /** What --max-tokens counts, for its help (default "most new tokens"). */
  maxTokensHelp?: string;
}

/** The sampling options every generating command shares: --max-tokens, --temperature, --top-k, --top-p. */
export function addSamplingOptions(cmd: Command, d: SamplingDefaults): Command {
  return cmd
    .option("--max-tokens <n>", d.maxTokensHelp ?? "most new tokens", positiveIntOption, d.maxTokens)
    .option("--temperature <t>", "sampling temperature; 0 = greedy", nonNegativeNumberOption, d.temperature)
    .option("--top-k <k>", "sample among the k most likely tokens; 0 = all", nonNegativeIntOption, d.topK)
    .option("--top-p <p>", "nucleus sampling mass; 1 = off", positiveNumberOption, d.topP);
}
