// Bounded reads and the shared text policy (io/textInput, io/jsonl): a gzip bomb or an endless line is
// counted as too large while the ingest goes on, in bounded memory; bad bytes are found with their line.
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { createGzip, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readLines } from "../../src/io/jsonl.js";
import { checkTextFileStream, decodeTextBytes, readFileCapped } from "../../src/io/textInput.js";

const root = join(import.meta.dirname, "..", "..");
const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root, encoding: "utf8" });
const tmp = () => mkdtempSync(join(tmpdir(), "llmforge-bounded-"));

/** Writes a gzip file of `mb` MiB of "word " without holding it in memory. */
async function gzipBomb(path: string, mb: number): Promise<void> {
  const gz = createGzip({ level: 9 });
  const done = once(gz.pipe(createWriteStream(path)), "finish");
  const chunk = Buffer.alloc(1 << 20, "word ");
  for (let i = 0; i < mb; i++) if (!gz.write(chunk)) await once(gz, "drain");
  gz.end();
  await done;
}

describe("bounded reads", () => {
  it("ingest counts a gzip bomb and an endless JSONL line as too large, names them, and goes on (CLI)", async () => {
    const dir = tmp();
    const inp = join(dir, "in");
    mkdirSync(inp);
    await gzipBomb(join(inp, "bomb.txt.gz"), 64);
    writeFileSync(join(inp, "lines.jsonl.gz"), gzipSync(`{"text":"first"}\n{"text":"${"x".repeat(3 << 20)}"}\n{"text":"after"}\n`));
    writeFileSync(join(inp, "ok.txt"), "a small plain file\n");
    writeFileSync(join(inp, "big.txt"), "y".repeat(2 << 20)); // plain files obey the same cap
    const out = join(dir, "out");
    const r = cli(["data", "ingest", inp, "-o", out, "-q", "--json", "--max-file-bytes", "1000000", "--max-line-bytes", "1000000"]);
    expect(r.status, r.stderr).toBe(0);
    const stats = JSON.parse(readFileSync(join(out, "stats.json"), "utf8"));
    const text = JSON.stringify(stats);
    expect(text).toMatch(/file too large/);
    expect(text).toMatch(/bomb\.txt\.gz \(over 1000000 bytes after decompression; raise --max-file-bytes\)/);
    expect(text).toMatch(/big\.txt \(over 1000000 bytes; raise --max-file-bytes\)/);
    expect(text).toMatch(/lines\.jsonl\.gz:2 \(3145739 bytes after decompression, over 1000000; raise --max-line-bytes\)/);
    const docs = readFileSync(join(out, "part-00000.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).text);
    expect(docs.sort()).toEqual(["a small plain file\n", "after", "first"].sort());
  }, 60_000);

  it("a gzip bomb read under a cap holds about the cap in memory, not its expansion", async () => {
    const dir = tmp();
    const bomb = join(dir, "bomb.gz");
    await gzipBomb(bomb, 256);
    const before = process.memoryUsage();
    const r = readFileCapped(bomb, 1 << 20);
    const after = process.memoryUsage();
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reject.reason).toBe("file too large");
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 << 20);
    expect(after.rss - before.rss).toBeLessThan(128 << 20);
  }, 60_000);

  it("readLines skips a line over the cap unread and keeps counting lines", async () => {
    const f = join(tmp(), "l.txt");
    writeFileSync(f, `short\n${"z".repeat(5 << 20)}\nnext\nlast`);
    const lines = [];
    for await (const l of readLines(f, 1 << 20)) lines.push({ line: l.line, text: l.bytes.toString(), tooLong: l.tooLong });
    expect(lines).toEqual([
      { line: 1, text: "short", tooLong: undefined },
      { line: 2, text: "", tooLong: 5 << 20 },
      { line: 3, text: "next", tooLong: undefined },
      { line: 4, text: "last", tooLong: undefined },
    ]);
  });
});

describe("one text policy", () => {
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("hello world\n", "utf16le")]);
  const utf16NoBom = Buffer.from("plain ASCII words in UTF-16\n", "utf16le");

  it("rejects empty, binary, UTF-16 (with or without BOM) and invalid UTF-8 with its line", () => {
    const reason = (b: Buffer) => {
      const d = decodeTextBytes(b);
      return d.ok ? "ok" : `${d.reject.reason}${d.reject.line ? `:${d.reject.line}` : ""}`;
    };
    expect(reason(Buffer.from("  \n"))).toBe("empty file");
    expect(reason(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]))).toBe("binary file");
    expect(reason(utf16)).toBe("UTF-16 text");
    expect(reason(utf16NoBom)).toBe("UTF-16 text");
    expect(reason(Buffer.concat([Buffer.from("one\ntwo\nthree "), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]))).toBe("invalid UTF-8:3");
    const ok = decodeTextBytes(Buffer.from("\ufeffcafé\n"));
    expect(ok.ok && ok.text).toBe("café\n");
  });

  it("the streaming check finds the same faults past the first chunk, and accepts a character split across chunks", async () => {
    const dir = tmp();
    // Line 20001 starts past 1 MiB; "é" straddles the 1 MiB chunk boundary in the good file.
    const lines = Array.from({ length: 20000 }, (_, i) => `line ${String(i).padStart(6, "0")} of some text here`);
    const body = Buffer.from(`${lines.join("\n")}\n`);
    const bad = join(dir, "bad.txt");
    writeFileSync(bad, Buffer.concat([body, Buffer.from("ok\nbad "), Buffer.from([0xff]), Buffer.from("\n")]));
    expect(await checkTextFileStream(bad)).toMatchObject({ reason: "invalid UTF-8", line: 20002 });
    const good = join(dir, "good.txt");
    const pad = Buffer.alloc((1 << 20) - 1, "a");
    writeFileSync(good, Buffer.concat([pad, Buffer.from("é and more\n")]));
    expect(await checkTextFileStream(good)).toBeNull();
    const gz = join(dir, "u16.txt.gz");
    writeFileSync(gz, gzipSync(Buffer.concat(Array.from({ length: 1000 }, () => utf16))));
    expect(await checkTextFileStream(gz)).toMatchObject({ reason: "UTF-16 text" });
    const empty = join(dir, "empty.txt");
    writeFileSync(empty, "");
    expect(await checkTextFileStream(empty)).toMatchObject({ reason: "empty file" });
  });

  it("filesystem errors of data commands name the path and what was expected (CLI)", () => {
    const dir = tmp();
    const r1 = cli(["data", "run", "-r", dir]);
    expect(r1.status).toBe(1);
    expect(r1.stderr.trim()).toBe(`llmforge: ${dir}: is a folder, not a file; expected a recipe file (JSON or YAML)`);
    const r2 = cli(["data", "ingest", join(dir, "missing"), "-o", join(dir, "o")]);
    expect(r2.status).toBe(1);
    expect(r2.stderr.trim()).toBe(`llmforge: ${join(dir, "missing")}: no such file or folder; expected a file or folder to ingest`);
  }, 30_000);
});
