// Whole outputs for commands that write a folder (the data steps): the folder is locked for the run, filled in a
// staging folder beside it (`.NAME.partial`) and renamed into place at the end with its completion marker inside,
// so readers see the old output or the new one, never a mix; a killed run leaves no finished-looking output.
import { existsSync, linkSync, copyFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { LOCK_FILE, lockFolder, type FolderLock } from "./runLock.js";

/** The completion marker of a data step folder: its stats, written last and published with the folder. */
export const STEP_MARKER = "stats.json";

/** The output folder cannot be written as asked (not the step's own, overlaps an input, or unfinished input). */
export class OutputFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputFolderError";
  }
}

/** Options of {@link openStepOutput}. */
export interface StepOutputOptions {
  /** What writes, for the lock file and messages (e.g. "data clean"). */
  command: string;
  /** The step's name as its marker records it: an earlier output of the same step is replaced without asking. */
  step: string;
  /** Input paths: the output may be neither one of them, nor inside one, nor hold one. */
  inputs?: readonly string[];
  /** Replace a non-empty folder that is not an earlier output of this step. */
  overwrite?: boolean;
  /** Keep the staging folder of a killed or failed run so the step can resume from it (map steps). */
  resumable?: boolean;
}

/** A locked output folder being written: write under `dir`, then `publish()`. */
export interface StepOutput {
  /** The final folder. */
  readonly target: string;
  /** The staging folder to write into. */
  readonly dir: string;
  /** Renames the staging folder (which must hold the marker) into place, replacing what was there. */
  publish(): void;
  /** Releases the lock without publishing (the staging folder stays when resumable). */
  release(): void;
}

/** The absolute path with symlinks of its existing part resolved, for comparing paths. */
function canonical(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) return realpathSync.native(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(canonical(parent), basename(abs));
}

/** True when `a` and `b` name the same file or folder (symlinks resolved). */
export function samePath(a: string, b: string): boolean {
  return canonical(a) === canonical(b);
}

/** True when `inner` is `outer` or below it. */
export function pathWithin(inner: string, outer: string): boolean {
  const r = relative(canonical(outer), canonical(inner));
  return r === "" || (r !== ".." && !r.startsWith(`..${sep}`) && !isAbsolute(r));
}

/** Refuses an output file that is one of the inputs (it would be overwritten while read). */
export function assertNotAnInput(out: string, inputs: readonly string[]): void {
  const same = inputs.find((i) => samePath(out, i));
  if (same !== undefined) throw new OutputFolderError(`output ${out} is the same as the input ${same}: it would be overwritten; choose another --out file`);
}

/** Refuses an output that is an input, lies inside one, or holds one. */
export function assertOutputApart(out: string, inputs: readonly string[]): void {
  for (const inp of inputs) {
    if (pathWithin(out, inp)) throw new OutputFolderError(`output ${out} is ${samePath(out, inp) ? "the same as" : "inside"} the input ${inp}: the step would read its own output; choose an output outside its inputs`);
    if (pathWithin(inp, out)) throw new OutputFolderError(`output ${out} holds the input ${inp}: replacing it would delete that input; choose another output`);
  }
}

function markerStep(dir: string): string | null {
  try {
    const v = JSON.parse(readFileSync(join(dir, STEP_MARKER), "utf8")) as { step?: unknown };
    return typeof v.step === "string" ? v.step : "";
  } catch {
    return null;
  }
}

/** True when `dir` is a published data step folder (it, or for `train/` and `val/` its parent, holds the marker). */
export function isFinishedFolder(dir: string): boolean {
  return existsSync(join(dir, STEP_MARKER)) || (/^(train|val)$/.test(basename(dir)) && existsSync(join(dirname(dir), STEP_MARKER)));
}

/**
 * Refuses inputs that are, or lie in, a data step folder that was not finished: one holding a lock file or
 * `part-NNNNN.jsonl` shards but no completion marker (left by a killed or running step).
 */
export function assertFinishedInputs(inputs: readonly string[]): void {
  for (const inp of inputs) {
    if (!existsSync(inp)) continue;
    const isDir = statSync(inp).isDirectory();
    if (!isDir && !/^part-\d{5}\.jsonl$/.test(basename(inp))) continue;
    const dir = isDir ? inp : dirname(inp);
    if (isFinishedFolder(dir)) continue;
    const names = readdirSync(dir);
    if (names.includes(LOCK_FILE) || names.some((n) => /^part-\d{5}\.jsonl$/.test(n))) {
      throw new OutputFolderError(`${dir} is not a finished data step (no ${STEP_MARKER}): the step writing it was killed or still runs; rerun that step first`);
    }
  }
}

/**
 * Locks `target` for a step and prepares its staging folder. Refuses (with {@link OutputFolderError}) an output
 * that overlaps an input, or a non-empty folder that is not an earlier output of this step unless `overwrite`.
 */
export function openStepOutput(target: string, o: StepOutputOptions): StepOutput {
  target = resolve(target);
  if (o.inputs) assertOutputApart(target, o.inputs);
  const name = basename(target);
  const parent = dirname(target);
  const created = !existsSync(target);
  const lock: FolderLock = lockFolder(target, o.command);
  const dir = join(parent, `.${name}.partial`);
  try {
    const held = readdirSync(target).filter((n) => n !== LOCK_FILE);
    if (held.length > 0 && markerStep(target) !== o.step) {
      if (!o.overwrite) {
        const shown = held.slice(0, 3).join(", ") + (held.length > 3 ? ", ..." : "");
        throw new OutputFolderError(`${target} is not empty (${shown}) and is no earlier ${o.step} output; choose a new folder or pass --overwrite to replace it`);
      }
      const cwd = process.cwd();
      if (pathWithin(cwd, target) || pathWithin(homedir(), target)) throw new OutputFolderError(`refusing to replace ${target}: it holds the current or home folder`);
    }
    for (const n of readdirSync(parent)) if (n.startsWith(`.${name}.old-`)) rmSync(join(parent, n), { recursive: true, force: true }); // left by a crash mid-publish
    if (!o.resumable) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    lock.release();
    throw err;
  }
  let done = false;
  return {
    target,
    dir,
    publish() {
      if (done) return;
      if (!existsSync(join(dir, STEP_MARKER))) throw new OutputFolderError(`${dir}: no ${STEP_MARKER} to publish`);
      // the lock travels with the new folder, so the target is never unlocked while this process writes it
      writeFileSync(join(dir, LOCK_FILE), readFileSync(join(target, LOCK_FILE)));
      const old = join(parent, `.${name}.old-${process.pid}`);
      renameSync(target, old);
      try {
        renameSync(dir, target);
      } catch (err) {
        done = true; // keep the finished staging folder
        lock.release();
        throw new OutputFolderError(`${target}: could not move the finished output into place (${(err as Error).message}); it is kept in ${dir}`);
      }
      rmSync(old, { recursive: true, force: true });
      done = true;
      lock.release();
    },
    release() {
      if (done) return;
      if (!o.resumable) rmSync(dir, { recursive: true, force: true });
      done = true;
      lock.release();
      if (created) {
        try {
          rmdirSync(target); // only when empty: nothing of a failed first run is left that looks like output
        } catch {}
      }
    },
  };
}

/** Runs `fn` on a locked staging folder for `target`; `fn` publishes it (see {@link openStepOutput}). */
export async function withStepOutput<T>(target: string, o: StepOutputOptions, fn: (out: StepOutput) => Promise<T>): Promise<T> {
  const out = openStepOutput(target, o);
  try {
    return await fn(out);
  } finally {
    out.release();
  }
}

/** Puts `file` at `to` as a hard link (a copy where links are refused), replacing what is there. */
export function linkOrCopy(file: string, to: string): void {
  rmSync(to, { force: true });
  mkdirSync(dirname(to), { recursive: true });
  try {
    linkSync(file, to);
  } catch {
    copyFileSync(file, to);
  }
}
