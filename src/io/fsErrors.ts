// Filesystem errors in words: ENOENT, EISDIR, EACCES and friends become one line that names the path
// and what was expected, instead of Node's raw "EISDIR: illegal operation on a directory, read".
import { readFileSync, statSync } from "node:fs";

/** A path that cannot be used as asked: names the path, what is wrong with it and what was expected. */
export class FileAccessError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = "FileAccessError";
  }
}

type Errno = NodeJS.ErrnoException & { dest?: string };

function isErrno(err: unknown): err is Errno {
  return err instanceof Error && typeof (err as Errno).code === "string" && typeof (err as Errno).syscall === "string";
}

/** What an errno code means for a path, in words (undefined for codes not worth translating). */
function meaning(code: string, syscall: string): string | undefined {
  switch (code) {
    case "ENOENT":
      return "no such file or folder";
    case "EISDIR":
      return "is a folder, not a file";
    case "ENOTDIR":
      return syscall === "scandir" || syscall === "opendir" ? "is a file, not a folder" : "a part of this path is a file, not a folder";
    case "EEXIST":
      return syscall === "mkdir" ? "exists and is a file, not a folder" : "already exists";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOSPC":
      return "no space left on the device";
    case "EROFS":
      return "the file system is read-only";
    case "ENAMETOOLONG":
      return "the name is too long";
    case "ELOOP":
      return "too many symbolic links";
    default:
      return undefined;
  }
}

/** What a raw filesystem error means for its path, in words ("is a folder, not a file"), or undefined. */
export function fsErrorReason(err: unknown): string | undefined {
  return isErrno(err) ? meaning(err.code ?? "", err.syscall ?? "") : undefined;
}

/**
 * A one-line message for a raw filesystem error (`err.path`, or `path` when Node left it out, as
 * it does for reads of a folder), with what was expected; undefined when `err` is not one.
 */
export function describeFsError(err: unknown, path?: string, expected?: string): string | undefined {
  if (!isErrno(err)) return undefined;
  const what = meaning(err.code ?? "", err.syscall ?? "");
  if (what === undefined) return undefined;
  // A rename onto a folder (or into a missing folder) is about the destination.
  const p = (err.syscall === "rename" && err.code !== "ENOENT" ? err.dest : undefined) ?? err.path ?? path;
  const head = p ? `${p}: ${what}` : `${what} (${err.syscall})`;
  return expected ? `${head}; expected ${expected}` : head;
}

/** Rethrows a raw filesystem error as a {@link FileAccessError} naming `path` and what was expected. */
export function explainFsError(err: unknown, path: string, expected: string): never {
  const msg = describeFsError(err, path, expected);
  if (msg === undefined) throw err;
  const e = err as Errno;
  const p = (e.syscall === "rename" && e.code !== "ENOENT" ? e.dest : undefined) ?? e.path ?? path;
  throw new FileAccessError(p, msg.slice(p.length + 2));
}

/** Checks that `path` is a readable regular file; throws a {@link FileAccessError} saying what it is instead. */
export function requireFile(path: string, expected: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    explainFsError(err, path, expected);
  }
  if (isDir) throw new FileAccessError(path, `is a folder; expected ${expected}`);
}

/** `readFileSync` whose errors name the path and what was expected. */
export function readFileChecked(path: string, expected: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    explainFsError(err, path, expected);
  }
}
