// One writer per folder: a command that writes a run or data folder holds `.llmforge.lock` in it
// (created exclusively; pid, host, command, start time inside). A second writer is refused with the
// holder named; a lock left by a crashed process on this host (its pid is gone) is taken over.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { processAlive } from "./atomicWrite.js";

export const LOCK_FILE = ".llmforge.lock";

/** What a lock file says about its holder. */
export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  started: string;
}

/** The folder is being written by another process. */
export class FolderLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockInfo | null,
  ) {
    super(
      holder
        ? `${dir} is in use by pid ${holder.pid} on ${holder.host} (${holder.command}, since ${holder.started}); wait for it to finish or choose another folder` +
            (holder.host !== hostname() ? ` (if that process is gone, delete ${join(dir, LOCK_FILE)})` : "")
        : `${dir} is in use (unreadable ${LOCK_FILE}); if no llmforge process writes it, delete ${join(dir, LOCK_FILE)}`,
    );
    this.name = "FolderLockedError";
  }
}

/** A held lock; `release()` removes it (also done at process exit). */
export interface FolderLock {
  readonly dir: string;
  release(): void;
}

const held = new Map<string, FolderLock>();
let exitHook = false;

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as LockInfo;
    return typeof v.pid === "number" && typeof v.host === "string" ? v : null;
  } catch {
    return null;
  }
}

/**
 * Takes the exclusive lock of `dir` (created if missing) for `command`, or throws
 * {@link FolderLockedError}. Re-entrant within one process (the same folder locked twice by
 * nested calls shares one lock). Stale locks of dead processes on this host are taken over.
 */
export function lockFolder(dir: string, command: string): FolderLock {
  const existing = held.get(dir);
  if (existing) return { dir, release: () => {} };
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, `${JSON.stringify(info)}\n`);
      closeSync(fd);
      const lock: FolderLock = {
        dir,
        release: () => {
          if (held.get(dir) !== lock) return;
          held.delete(dir);
          const now = readLock(path); // never remove a lock another process took after a folder was moved away
          if (now === null || (now.pid === process.pid && now.host === info.host)) rmSync(path, { force: true });
          // A folder the lock itself created and nothing else wrote into (a run refused by its checks) goes too.
          if (created) {
            try {
              rmdirSync(dir);
            } catch {
              // not empty: the command wrote its outputs there
            }
          }
        },
      };
      held.set(dir, lock);
      if (!exitHook) {
        exitHook = true;
        process.once("exit", () => {
          for (const l of [...held.values()]) l.release();
        });
      }
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = readLock(path);
      const stale = holder !== null && holder.host === hostname() && holder.pid !== process.pid && !processAlive(holder.pid);
      if (!stale || attempt > 0) throw new FolderLockedError(dir, holder);
      rmSync(path, { force: true }); // its writer died: take over
    }
  }
  throw new FolderLockedError(dir, readLock(path));
}

/** Runs `fn` holding the lock of `dir`; the lock is released when it settles. */
export async function withFolderLock<T>(dir: string, command: string, fn: () => Promise<T> | T): Promise<T> {
  const lock = lockFolder(dir, command);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
