import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { describe, expect, it } from "vitest";

describe("the test run's temporary folder", () => {
  it("is a folder of this test file's own, under the system's, that the CLI processes a test starts inherit", () => {
    const t = tmpdir();
    expect(basename(t)).toMatch(/^llmforge-test-/);
    expect(existsSync(t)).toBe(true);
    expect(process.env.TMPDIR).toBe(t);
    const d = mkdtempSync(join(t, "x-"));
    writeFileSync(join(d, "f"), "x");
    expect(dirname(d)).toBe(t);
  });
});
