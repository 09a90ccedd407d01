// The knowledge-base file: one transaction per document (an error or a killed process mid-add leaves it as it was),
// unchanged files skipped and changed ones replaced by content hash, removal, unreadable files named, refusal of
// foreign databases, and BM25 queries that SQL- or FTS-shaped text and control characters cannot break.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addToKb } from "../../src/kb/build.js";
import { chunkText } from "../../src/kb/chunk.js";
import { ftsQuery, KbError, KnowledgeBase, type KbSettings } from "../../src/kb/store.js";
import { writeCorpus } from "./fixture.js";

let dir: string;
let files: string[];
const ROOT = join(import.meta.dirname, "..", "..");
const BM25_ONLY: KbSettings = { embedder: null, tokenCounter: "words", chunkTokens: 32, overlapTokens: 4 };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-kb-store-"));
  files = writeCorpus(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything stored, as comparable rows. */
function dump(path: string): unknown {
  const db = new Database(path, { readonly: true });
  try {
    return {
      docs: db.prepare("SELECT path, sha256 FROM documents ORDER BY path").all(),
      chunks: db.prepare("SELECT c.ordinal, c.text, c.start_char, c.end_char FROM chunks c ORDER BY c.id").all(),
      fts: db.prepare("SELECT rowid, text FROM chunks_fts ORDER BY rowid").all(),
    };
  } finally {
    db.close();
  }
}

describe("KnowledgeBase", () => {
  it("adds, skips unchanged files, replaces changed ones, removes", async () => {
    const kbPath = join(dir, "a.sqlite");
    const first = await addToKb({ kb: kbPath, files: [join(dir, "docs")], chunkTokens: 32 });
    expect(first).toMatchObject({ added: 4, replaced: 0, unchanged: 0, failed: [] });
    const again = await addToKb({ kb: kbPath, files: [join(dir, "docs")] });
    expect(again).toMatchObject({ added: 0, unchanged: 4, chunks: 0 });
    const kb = KnowledgeBase.open(kbPath);
    expect(kb.searchBm25("gluten yeast", 3).length).toBeGreaterThan(0);
    const before = kb.stats().chunks;
    kb.close();
    // change one file: its chunks are replaced, the others untouched
    writeFileSync(files[1], "# Bread\n\nSourdough uses a starter culture instead of baker's yeast.\n");
    const changed = await addToKb({ kb: kbPath, files: [join(dir, "docs")] });
    expect(changed).toMatchObject({ added: 0, replaced: 1, unchanged: 3 });
    const kb2 = KnowledgeBase.open(kbPath);
    expect(kb2.searchBm25("gluten", 3)).toEqual([]);
    const hit = kb2.chunks(kb2.searchBm25("sourdough starter", 1).map((h) => h.id))[0];
    expect(hit.path).toBe(files[1]);
    expect(kb2.stats().chunks).toBeLessThan(before);
    expect(kb2.removeDocument(files[1])).toBe(true);
    expect(kb2.removeDocument(files[1])).toBe(false);
    expect(kb2.searchBm25("sourdough", 3)).toEqual([]);
    expect(kb2.stats().documents).toBe(3);
    const ftsRows = (new Database(kbPath, { readonly: true }).prepare("SELECT count(*) AS n FROM chunks_fts").get() as { n: number }).n;
    expect(ftsRows).toBe(kb2.stats().chunks); // no orphaned index rows
    kb2.close();
  });

  it("rolls a failed add back whole, and keeps the older version", () => {
    const kbPath = join(dir, "tx.sqlite");
    const kb = KnowledgeBase.open(kbPath, { create: BM25_ONLY });
    const doc = { path: "/x/doc.md", sha256: "v1", bytes: 10, format: "text" };
    kb.putDocument(doc, chunkText("first version of the text. ".repeat(20), { maxTokens: 32 }), null);
    const snapshot = dump(kbPath);
    const v2 = chunkText("second version here. ".repeat(40), { maxTokens: 32 });
    expect(v2.length).toBeGreaterThan(3);
    expect(() =>
      kb.putDocument({ ...doc, sha256: "v2" }, v2, null, (i) => {
        if (i === 2) throw new Error("disk full");
      }),
    ).toThrow("disk full");
    expect(dump(kbPath)).toEqual(snapshot);
    expect(kb.document("/x/doc.md")?.sha256).toBe("v1");
    kb.close();
  });

  it("survives a process killed in the middle of an add", () => {
    const kbPath = join(dir, "crash.sqlite");
    const kb = KnowledgeBase.open(kbPath, { create: BM25_ONLY });
    kb.putDocument({ path: "/x/keep.md", sha256: "k", bytes: 1, format: "text" }, chunkText("kept text. ".repeat(30), { maxTokens: 16 }), null);
    kb.close();
    const snapshot = dump(kbPath);
    const script = join(dir, "crash.ts");
    writeFileSync(
      script,
      `import { KnowledgeBase } from ${JSON.stringify(join(ROOT, "src/kb/store.ts"))};
import { chunkText } from ${JSON.stringify(join(ROOT, "src/kb/chunk.ts"))};
const kb = KnowledgeBase.open(${JSON.stringify(kbPath)});
kb.putDocument({ path: "/x/new.md", sha256: "n", bytes: 1, format: "text" }, chunkText("new text. ".repeat(60), { maxTokens: 16 }), null, (i) => { if (i === 3) process.kill(process.pid, "SIGKILL"); });
`,
    );
    const r = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: ROOT, encoding: "utf8" });
    expect(r.signal).toBe("SIGKILL");
    expect(dump(kbPath)).toEqual(snapshot);
    const again = KnowledgeBase.open(kbPath);
    expect(again.document("/x/new.md")).toBeNull();
    expect(again.stats().documents).toBe(1);
    again.close();
  });

  it("names unreadable files and refuses what is not a knowledge base", async () => {
    const bad = join(dir, "bad");
    writeFileSync(join(dir, "binary.bin"), Buffer.from([0, 1, 2, 0, 255, 0, 3]));
    writeFileSync(join(dir, "latin.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const s = await addToKb({ kb: join(dir, "b.sqlite"), files: [join(dir, "binary.bin"), join(dir, "latin.txt"), join(dir, "missing.txt"), files[0]] });
    expect(s.added).toBe(1);
    expect(s.failed.map((f) => f.path.split("/").pop())).toEqual(["missing.txt", "binary.bin", "latin.txt"]);
    for (const f of s.failed) expect(f.reason.length).toBeGreaterThan(3);
    const other = new Database(join(dir, "other.sqlite"));
    other.exec("CREATE TABLE t (x)");
    other.close();
    expect(() => KnowledgeBase.open(join(dir, "other.sqlite"))).toThrow(/not an llmforge knowledge base/);
    writeFileSync(bad, "not a database at all, just text ".repeat(100));
    expect(() => KnowledgeBase.open(bad)).toThrow(KbError);
    expect(() => KnowledgeBase.open(join(dir, "nope.sqlite"))).toThrow(/no such knowledge base/);
  });

  it("treats hostile queries as words: SQL, FTS syntax, quotes, control characters", async () => {
    const kbPath = join(dir, "q.sqlite");
    await addToKb({ kb: kbPath, files: [join(dir, "docs")] });
    const kb = KnowledgeBase.open(kbPath);
    const docsBefore = kb.stats();
    const hostile = [
      "'; DROP TABLE chunks; --", 'bishop" OR 1=1 --', "text:bishop", "NEAR(bishop castling)", "bishop*", "(bishop", "bishop)", "AND OR NOT",
      "\u0000\u0001\u0007\u001b[31m bishop", '"""', "^bishop", "-bishop", "{text}: bishop", "bishop AND", "🙂 ♞ bishop", "", "   ", "%_%", "\\", "x".repeat(10000),
      Array.from({ length: 500 }, (_, i) => `w${i}`).join(" "),
    ];
    for (const q of hostile) {
      const hits = kb.searchBm25(q, 5);
      expect(Array.isArray(hits)).toBe(true);
      if (/bishop/.test(q)) expect(kb.chunks(hits.map((h) => h.id)).some((c) => c.text.includes("bishop")), q).toBe(true);
    }
    expect(ftsQuery('a"b')).toBe('"a" OR "b"');
    expect(ftsQuery("NEAR(x y)")).toBe('"near" OR "x" OR "y"');
    expect(ftsQuery("\u0000;--")).toBeNull();
    expect(kb.stats()).toEqual(docsBefore);
    kb.close();
  });
});
