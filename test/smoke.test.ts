import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomicSync, AtomicFileWriter } from "../src/io/atomicWrite.js";

describe("atomic writes", () => {
  it("writes whole files and leaves no temp files", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-"));
    writeFileAtomicSync(join(dir, "a.txt"), "hello");
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("hello");
    expect(readdirSync(dir)).toEqual(["a.txt"]);
  });
  it("abort leaves nothing under the target name", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-"));
    const w = new AtomicFileWriter(join(dir, "b.bin"));
    w.write("partial");
    w.abort();
    expect(readdirSync(dir)).toEqual([]);
  });
});
