// Atomic file output: write to a temp file beside the target, fsync, then rename,
// so a crash mid-write never leaves a half-written file under the final name; the temp files
// a killed writer left behind are removed by the next writer in that folder.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { open, rename, rm, mkdir } from "node:fs/promises";
import { dirname, basename, join, resolve } from "node:path";

function tempPathFor(target: string): string {
  removeOrphanedTemps(dirname(target));
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
}

/** True when a process with this id runs on this machine (ours included). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Temp names this package writes: `.NAME.tmp-PID` (checkpoint folders) and `.NAME.tmp-PID-STAMP` (files). */
const TEMP_NAME = /^\..+\.tmp-(\d+)(?:-[0-9a-z]+)?$/;
const swept = new Set<string>();

/**
 * Removes the temp files and folders in `dir` whose writer is dead (`.NAME.tmp-PID...` with no
 * process PID on this machine), once per folder per process; returns the removed paths.
 * Temps of live writers are left alone.
 */
export function removeOrphanedTemps(dir: string): string[] {
  const key = resolve(dir);
  if (swept.has(key)) return [];
  swept.add(key);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = TEMP_NAME.exec(n);
    if (!m || processAlive(Number(m[1]))) continue;
    rmSync(join(dir, n), { recursive: true, force: true });
    removed.push(join(dir, n));
  }
  return removed;
}

/** Writes `data` to `target` atomically (temp file + fsync + rename). */
export function writeFileAtomicSync(target: string, data: string | Uint8Array): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const fd = openSync(tmp, "w");
  try {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, target);
}

/** Async variant of {@link writeFileAtomicSync}. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, target);
}

/**
 * A streaming writer that appends chunks to a temp file and only renames it to
 * `target` on `commit()`. `abort()` removes the temp file. Use for large outputs
 * (JSONL shards, token shards) that are produced incrementally.
 */
export class AtomicFileWriter {
  readonly target: string;
  readonly tempPath: string;
  private fd: number;
  private closed = false;
  bytesWritten = 0;

  constructor(target: string) {
    this.target = target;
    mkdirSync(dirname(target), { recursive: true });
    this.tempPath = tempPathFor(target);
    this.fd = openSync(this.tempPath, "w");
  }

  write(chunk: string | Uint8Array): void {
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.bytesWritten += buf.length;
  }

  /** Writes `chunk` at an absolute byte position (e.g. to patch a header). */
  writeAt(chunk: Uint8Array, position: number): void {
    writeSync(this.fd, chunk, 0, chunk.length, position);
  }

  commit(): void {
    if (this.closed) throw new Error(`AtomicFileWriter(${this.target}): already closed`);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.closed = true;
    renameSync(this.tempPath, this.target);
  }

  abort(): void {
    if (this.closed) return;
    closeSync(this.fd);
    this.closed = true;
    rmSync(this.tempPath, { force: true });
  }
}
