// Each test file writes its scratch folders into a folder of its own (TMPDIR, which os.tmpdir() and every CLI
// process a test starts read), removed when the file's tests are done: a test run leaves nothing in the system's
// temporary folder, even where a test makes folders without removing them or fails before its own clean-up.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

const before = process.env.TMPDIR;
const own = mkdtempSync(join(tmpdir(), "llmforge-test-"));
process.env.TMPDIR = own;

// Registered before the file's own hooks, so it runs after them (vitest runs after-hooks in reverse order).
afterAll(() => {
  if (before === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = before;
  rmSync(own, { recursive: true, force: true });
});
