// Training checkpoints: a folder per step holding model.safetensors (the trained weights: every
// parameter with requiresGrad, so a LoRA run stores its adapters only), optimizer.safetensors
// (AdamW moments by parameter name, and the weights' moving average when the run keeps one) and state.json (step, schedule length, RNG, data cursor, config).
// Written into a temp folder and renamed into place, so a crash never leaves a half checkpoint;
// state.json records the sha256 of both weight files, verified on load and when choosing where to resume.
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { processAlive, removeOrphanedTemps, writeFileAtomicSync } from "../io/atomicWrite.js";
import { floatData, readSafetensors, writeSafetensors, type WritableTensor } from "../io/safetensors.js";
import type { Module } from "../nn/module.js";
import type { AdamW, OptimizerState } from "../optim/optimizers.js";
import type { Storage } from "../tensor/backend/kernels.js";
import { VERSION } from "../version.js";

export const CHECKPOINT_FORMAT = "llmforge-checkpoint";
export const CHECKPOINT_VERSION = 1;

export interface CheckpointState {
  step: number;
  totalSteps: number;
  /** The batch source's position (opaque to the loop). */
  cursor: unknown;
  rng: { s: number[]; spare: number | null };
  /** The model's own dropout generator, when it has one. */
  modelRng?: { s: number[]; spare: number | null } | null;
  /** Validation figures before the first step. */
  initialVal?: Record<string, number | null> | null;
  meta: Record<string, unknown>;
  /** sha256 (hex) of model.safetensors and optimizer.safetensors, set by saveCheckpoint (absent in old checkpoints). */
  sha256?: Record<string, string>;
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

const STEP_DIR = /^step_(\d{8})$/;

function stepDirName(step: number): string {
  return `step_${String(step).padStart(8, "0")}`;
}

/** Completed checkpoints in `dir`, oldest first. */
export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => STEP_DIR.test(n) && existsSync(join(dir, n, "state.json")))
    .sort()
    .map((n) => join(dir, n));
}

/** The newest completed checkpoint in `dir` (not verified: see {@link latestValidCheckpoint}), or null. */
export function latestCheckpoint(dir: string): string | null {
  const all = listCheckpoints(dir);
  return all.length > 0 ? all[all.length - 1] : null;
}

const WEIGHT_FILES = ["model.safetensors", "optimizer.safetensors"] as const;

function sha256File(path: string): string {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

const verified = new Map<string, string>();

/**
 * Checks a checkpoint folder: state.json readable, both weight files present and matching the
 * sha256 recorded at save time (old checkpoints without checksums: the files must parse).
 * Returns whether checksums were verified; throws {@link CheckpointError} naming the damaged file.
 */
export function verifyCheckpoint(path: string): { checksummed: boolean } {
  const state = readCheckpointState(path);
  for (const f of WEIGHT_FILES) {
    const file = join(path, f);
    if (!existsSync(file)) throw new CheckpointError(`${file}: missing`);
    const want = state.sha256?.[f];
    if (want === undefined) {
      try {
        readSafetensors(file);
      } catch (err) {
        throw new CheckpointError(`${file}: damaged (${(err as Error).message})`);
      }
      continue;
    }
    // Verified once per process while the file is unchanged (resume checks the same checkpoint more than once).
    const st = statSync(file);
    const stamp = `${st.size}:${st.mtimeMs}:${want}`;
    if (verified.get(file) === stamp) continue;
    const got = sha256File(file);
    if (got === want) verified.set(file, stamp);
    else throw new CheckpointError(`${file}: damaged: sha256 ${got.slice(0, 12)}… differs from ${want.slice(0, 12)}… recorded when it was written`);
  }
  return { checksummed: state.sha256 !== undefined };
}

/** Undoes what a killed save left in `dir`: temp folders of dead writers, and a checkpoint moved aside to be replaced. */
function recoverCheckpointDir(dir: string): void {
  removeOrphanedTemps(dir);
  if (!existsSync(dir)) return;
  for (const n of readdirSync(dir)) {
    const m = /^(step_\d{8})\.old-(\d+)$/.exec(n);
    if (!m || processAlive(Number(m[2]))) continue;
    // Killed between moving the old checkpoint aside and renaming the new one in: put the old one back.
    if (existsSync(join(dir, m[1]))) rmSync(join(dir, n), { recursive: true, force: true });
    else renameSync(join(dir, n), join(dir, m[1]));
  }
}

/**
 * The newest checkpoint in `dir` that verifies ({@link verifyCheckpoint}), for resuming: damaged newer
 * ones are skipped with a line to `warn` saying which and why. Null when `dir` holds no checkpoint;
 * throws {@link CheckpointError} when it holds some but none verifies. Clears a killed save's leftovers first.
 */
export function latestValidCheckpoint(dir: string, warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string | null {
  recoverCheckpointDir(dir);
  const all = listCheckpoints(dir);
  const bad: string[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      verifyCheckpoint(all[i]);
      return all[i];
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      bad.push(err.message);
      warn(`skipping checkpoint ${all[i]}: ${err.message}`);
    }
  }
  if (bad.length > 0) throw new CheckpointError(`no checkpoint in ${dir} verifies (${bad.join("; ")}); move the folder away to start over`);
  return null;
}

/** A run's moving average of its trained weights, one array per trained parameter in `namedParameters` order. */
export interface EmaState {
  decay: number;
  averaged: readonly Storage[];
}

/**
 * Writes a checkpoint for `state.step` and keeps only the newest `keep`; returns its folder. With `ema`,
 * the averaged weights go into optimizer.safetensors as `ema.<name>` (read back by {@link loadCheckpoint}).
 */
export function saveCheckpoint(dir: string, model: Module, opt: AdamW, state: CheckpointState, keep: number, ema?: EmaState): string {
  mkdirSync(dir, { recursive: true });
  recoverCheckpointDir(dir);
  const final = join(dir, stepDirName(state.step));
  const tmp = join(dir, `.${stepDirName(state.step)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const named = model.namedParameters().filter(([, p]) => p.requiresGrad);
  const weights = new Map<string, WritableTensor>();
  for (const [n, p] of named) weights.set(n, { shape: [...p.shape], data: asF32(p.contiguousData()) });
  writeSafetensors(join(tmp, "model.safetensors"), weights, { format: "llmforge", writer: `llmforge ${VERSION}` });

  const os = opt.stateDict();
  const nameOf = new Map(named.map(([n, p]) => [p, n]));
  const moments = new Map<string, WritableTensor>();
  opt.params().forEach((p, i) => {
    const n = nameOf.get(p);
    if (n === undefined) throw new CheckpointError("saveCheckpoint: the optimizer holds a parameter the model does not name");
    moments.set(`m.${n}`, { shape: [...p.shape], data: asF32(os.buffers.m[i]) });
    moments.set(`v.${n}`, { shape: [...p.shape], data: asF32(os.buffers.v[i]) });
  });
  if (ema) {
    if (ema.averaged.length !== named.length) throw new CheckpointError("saveCheckpoint: the moving average does not hold one array per trained parameter");
    named.forEach(([n, p], i) => {
      moments.set(`ema.${n}`, { shape: [...p.shape], data: asF32(ema.averaged[i]) });
    });
  }
  const meta: Record<string, string> = { kind: os.kind, step: String(os.step) };
  if (ema) meta.ema_decay = String(ema.decay);
  writeSafetensors(join(tmp, "optimizer.safetensors"), moments, meta);
  // state.json is written last: its presence marks the checkpoint complete; it carries the files' checksums.
  const sha256 = Object.fromEntries(WEIGHT_FILES.map((f) => [f, sha256File(join(tmp, f))]));
  writeFileAtomicSync(
    join(tmp, "state.json"),
    `${JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, writer: `llmforge ${VERSION}`, ...state, sha256 }, null, 2)}\n`,
  );
  if (existsSync(final)) {
    const old = `${final}.old-${process.pid}`;
    renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, final);
  }
  const all = listCheckpoints(dir);
  for (const stale of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) rmSync(stale, { recursive: true, force: true });
  return final;
}

function asF32(s: Storage): Float32Array {
  return s instanceof Float32Array ? s : Float32Array.from(s);
}

/** Reads the state of a checkpoint folder without loading weights. */
export function readCheckpointState(path: string): CheckpointState {
  const file = join(path, "state.json");
  if (!existsSync(file)) throw new CheckpointError(`${path}: not a checkpoint (no state.json)`);
  let s: CheckpointState & { format?: string; version?: number };
  try {
    s = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CheckpointError(`${file}: damaged (${(err as Error).message})`);
  }
  if (s.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`${file}: not an llmforge checkpoint (format ${String(s.format)})`);
  if (s.version !== CHECKPOINT_VERSION) throw new CheckpointError(`${file}: checkpoint version ${s.version}, this llmforge reads ${CHECKPOINT_VERSION}`);
  return s;
}

const unverifiedSaid = new Set<string>();

/** Where {@link loadCheckpoint} puts a checkpoint's moving average of the trained weights (a WeightEma). */
export interface EmaSink {
  load(averaged: readonly ArrayLike<number>[]): void;
}

/**
 * Loads weights and optimizer moments into `model` and `opt` after verifying the files' checksums
 * (a checkpoint from before checksums loads with a note, once); returns the saved state. With `ema`
 * (and `opt`), the moving average of the weights goes there; a checkpoint without one is refused.
 */
export function loadCheckpoint(path: string, model: Module, opt?: AdamW, ema?: EmaSink): CheckpointState {
  if (!verifyCheckpoint(path).checksummed && !unverifiedSaid.has(path)) {
    unverifiedSaid.add(path);
    process.stderr.write(`note: ${path} has no checksums (written by an older llmforge); loading it unverified\n`);
  }
  const state = readCheckpointState(path);
  const wfile = join(path, "model.safetensors");
  const weights = readSafetensors(wfile);
  const sd = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
  for (const [n, t] of weights.tensors) sd.set(n, { shape: t.shape, data: floatData(t, n, wfile) });
  const trained = model.namedParameters().filter(([, p]) => p.requiresGrad);
  for (const [n, p] of trained) {
    const s = sd.get(n);
    if (!s) throw new CheckpointError(`${wfile}: does not match the model: missing parameter "${n}"`);
    if (s.shape.join(",") !== p.shape.join(",")) {
      throw new CheckpointError(`${wfile}: does not match the model: "${n}" has shape (${s.shape.join(", ")}) in the checkpoint, (${p.shape.join(", ")}) in the model`);
    }
    p.data.set(s.data, p.offset);
  }
  if (sd.size !== trained.length) {
    const own = new Set(trained.map(([n]) => n));
    const extra = [...sd.keys()].filter((n) => !own.has(n));
    throw new CheckpointError(`${wfile}: does not match the model: unexpected parameter "${extra[0]}" (was the run started with other trainable parameters?)`);
  }
  if (opt) {
    const ofile = join(path, "optimizer.safetensors");
    const moments = readSafetensors(ofile);
    const nameOf = new Map(model.namedParameters().map(([n, p]) => [p, n]));
    const get = (key: string): Float32Array | Float64Array => {
      const t = moments.tensors.get(key);
      if (!t) throw new CheckpointError(`${ofile}: missing ${key}`);
      const d = floatData(t, key, ofile);
      // Moments and averaged weights are finite and second moments are never negative: anything else is damage.
      const bad = d.findIndex((x) => !Number.isFinite(x) || (key.startsWith("v.") && x < 0));
      if (bad >= 0) throw new CheckpointError(`${ofile}: ${key}[${bad}] is ${d[bad]}, not a valid ${key.startsWith("ema.") ? "averaged weight" : "AdamW moment"} (damaged, or saved after training diverged)`);
      return d;
    };
    const ps = opt.params();
    const os: OptimizerState = {
      kind: moments.metadata.kind ?? "adamw",
      step: Number(moments.metadata.step ?? 0),
      buffers: { m: ps.map((p) => get(`m.${nameOf.get(p)}`)), v: ps.map((p) => get(`v.${nameOf.get(p)}`)) },
    };
    opt.loadStateDict(os);
    if (ema) {
      if (moments.metadata.ema_decay === undefined) throw new CheckpointError(`${path} holds no moving average of the weights: the run was started without one (--ema)`);
      ema.load(trained.map(([n]) => get(`ema.${n}`)));
    }
  }
  return state;
}

