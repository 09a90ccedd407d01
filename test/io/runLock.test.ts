// One writer per folder: a live holder is named in the refusal, a dead one's lock is taken over.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FolderLockedError, LOCK_FILE, lockFolder, withFolderLock } from "../../src/io/runLock.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("folder locks", () => {
  it("refuses a second writer while a live process holds the folder, and names it", async () => {
    const f = join(dir, "busy");
    const src = `import { lockFolder } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "src", "io", "runLock.ts"))};
lockFolder(${JSON.stringify(f)}, "holder"); console.log("locked"); setTimeout(() => {}, 20000);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", src], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    try {
      expect(() => lockFolder(f, "second")).toThrow(FolderLockedError);
      expect(() => lockFolder(f, "second")).toThrow(new RegExp(`in use by pid ${child.pid}`));
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    // The holder died without releasing: its lock is stale and is taken over.
    const lock = lockFolder(f, "third");
    expect(JSON.parse(readFileSync(join(f, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(join(f, LOCK_FILE))).toBe(false);
  }, 30_000);

  it("takes over a lock whose pid is gone, keeps one of another host, and is re-entrant in one process", async () => {
    const f = join(dir, "stale");
    mkdirSync(f);
    writeFileSync(join(f, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), command: "old", started: "then" }));
    await withFolderLock(f, "new", async () => {
      expect(lockFolder(f, "nested").dir).toBe(f);
    });
    writeFileSync(join(f, LOCK_FILE), JSON.stringify({ pid: 1, host: "elsewhere", command: "old", started: "then" }));
    expect(() => lockFolder(f, "new")).toThrow(/on elsewhere/);
  });

  it("removes a folder it created when the command wrote nothing there (a refused run leaves no empty folder)", async () => {
    const f = join(dir, "refused");
    await expect(withFolderLock(f, "cmd", () => {
      throw new Error("bad option");
    })).rejects.toThrow(/bad option/);
    expect(existsSync(f)).toBe(false);
    await withFolderLock(f, "cmd", () => writeFileSync(join(f, "out.txt"), "x"));
    expect(existsSync(join(f, "out.txt"))).toBe(true);
  });
});
