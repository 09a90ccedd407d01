import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { detectFormat, ingest } from "../../src/data/ingest.js";
import { htmlToText } from "../../src/data/readers/html.js";
import { splitMbox } from "../../src/data/readers/email.js";
import { DataInputError, } from "../../src/data/types.js";
import { readDocs as readOut, tmp } from "../helpers/dataFiles.js";

const QP_EMAIL = [
  "From: Alice Example <alice@example.com>",
  "To: bob@example.org",
  "Subject: =?UTF-8?Q?Caf=C3=A9_meeting?=",
  "Date: Tue, 30 Jul 2002 08:30:04 +0100",
  "MIME-Version: 1.0",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: quoted-printable",
  "",
  "Let us meet at the caf=C3=A9 at noon. This line is long enough that it was =",
  "wrapped by the encoder.",
  "",
].join("\r\n");

const B64_HTML_EMAIL = [
  "From: shop@example.net",
  "To: carol@example.com",
  "Subject: Offer",
  "MIME-Version: 1.0",
  'Content-Type: multipart/alternative; boundary="XX"',
  "",
  "--XX",
  "Content-Type: text/html; charset=iso-8859-1",
  "Content-Transfer-Encoding: base64",
  "",
  Buffer.from("<html><body><nav>Menu</nav><p>Price: 5 \xe9cus only.</p><script>track()</script></body></html>", "latin1").toString("base64"),
  "--XX--",
  "",
].join("\r\n");

describe("readers", () => {
  it("plain text by file and by paragraph, gzip, NFC", async () => {
    const d = tmp("ingest");
    mkdirSync(join(d, "in"));
    writeFileSync(join(d, "in", "a.txt"), "First para line one.\nline two.\n\n\nSecond para, cafe\u0301.\n");
    writeFileSync(join(d, "in", "b.txt.gz"), gzipSync("Zipped text."));
    const byFile = await ingest({ inputs: [join(d, "in")] }, { outDir: join(d, "f"), progress: false });
    expect(readOut(byFile.outputs).map((x) => x.text)).toEqual(["First para line one.\nline two.\n\n\nSecond para, caf\u00e9.\n", "Zipped text."]);
    const byPara = await ingest({ inputs: [{ path: join(d, "in", "a.txt"), source: "s" }], textSplit: "paragraph" }, { outDir: join(d, "p"), progress: false });
    const docs = readOut(byPara.outputs);
    expect(docs.map((x) => [x.id, x.text, x.meta.line])).toEqual([
      ["s/a.txt#1", "First para line one.\nline two.", 1],
      ["s/a.txt#2", "Second para, caf\u00e9.", 5],
    ]);
  });

  it("JSONL with a chosen text field, and dialogue records", async () => {
    const d = tmp("ingest");
    writeFileSync(join(d, "x.jsonl"), `${JSON.stringify({ body: { content: "nested text" }, key: 7 })}\n${JSON.stringify({ messages: [{ role: "user", content: "Hi?" }, { role: "assistant", content: "Hello!" }] })}\n`);
    const r = await ingest({ inputs: [join(d, "x.jsonl")], textField: "body.content", idField: "key" }, { outDir: join(d, "o"), progress: false });
    const docs = readOut(r.outputs);
    expect(docs[0]).toMatchObject({ id: "x/7", text: "nested text", source: "x" });
    expect(docs[1]).toMatchObject({ text: "user: Hi?\nassistant: Hello!", meta: { kind: "dialogue", turns: 2 } });
  });

  it("HTML: drops script/style/nav/footer and cookie banners, keeps paragraphs", () => {
    const h = htmlToText(
      '<html><head><title>My page</title><style>p{}</style></head><body><nav><a>Home</a></nav><div class="cookie-banner">We use cookies</div><h1>Heading</h1><p>First &amp; <b>bold</b> paragraph.</p><p>Second.</p><footer>(c) 2024</footer><script>alert(1)</script></body></html>',
    );
    expect(h.text).toBe("Heading\n\nFirst & bold paragraph.\n\nSecond.");
    expect(h.title).toBe("My page");
  });

  it("email: headers, quoted-printable, base64 HTML part in latin-1; mbox splitting", async () => {
    const d = tmp("ingest");
    writeFileSync(join(d, "qp.eml"), QP_EMAIL);
    writeFileSync(join(d, "b64.eml"), B64_HTML_EMAIL);
    writeFileSync(join(d, "box.mbox"), `From alice@example.com Tue Jul 30 08:30:04 2002\n${QP_EMAIL.replace(/\r\n/g, "\n")}\nFrom shop@example.net Tue Jul 30 09:00:00 2002\n${B64_HTML_EMAIL.replace(/\r\n/g, "\n")}`);
    const r = await ingest({ inputs: [d] }, { outDir: join(tmp("ingest"), "o"), progress: false });
    const docs = readOut(r.outputs);
    const qp = docs.find((x) => x.meta.file === "qp.eml")!;
    expect(qp.text).toContain("Subject: Café meeting");
    expect(qp.text).toContain("From: \"Alice Example\" <alice@example.com>");
    expect(qp.text).toContain("Let us meet at the café at noon. This line is long enough that it was wrapped by the encoder.");
    const b64 = docs.find((x) => x.meta.file === "b64.eml")!;
    expect(b64.text).toContain("Price: 5 écus only.");
    expect(b64.text).not.toContain("Menu");
    expect(b64.text).not.toContain("track()");
    expect(b64.meta.html_converted).toBe(true);
    expect(docs.filter((x) => x.meta.file === "box.mbox")).toHaveLength(2);
    expect(splitMbox("From a\nx\n>From b\n\nFrom c\ny\n").map((m) => m.raw)).toEqual(["x\nFrom b\n", "y\n"]);
  });

  it("source code keeps its text and gets its language from the extension", async () => {
    const d = tmp("ingest");
    const src = "def f(x):\n    return  x\n";
    writeFileSync(join(d, "m.py"), src);
    const r = await ingest({ inputs: [d] }, { outDir: join(tmp("ingest"), "o"), progress: false });
    expect(readOut(r.outputs)[0]).toMatchObject({ text: src, meta: { kind: "code", lang: "python" } });
  });

  it("detects formats from names and content", () => {
    expect(detectFormat("a.jsonl.gz", "")).toBe("jsonl");
    expect(detectFormat("x/00001.txt", "From a@b.c  Tue Jul 30 08:30:04 2002\n")).toBe("mbox");
    expect(detectFormat("m.txt", "Return-Path: <a@b.c>\nReceived: from x\nSubject: hi\n\nbody")).toBe("email");
    expect(detectFormat("p.txt", "<!DOCTYPE html><html>")).toBe("html");
    expect(detectFormat("p.txt", "just words")).toBe("text");
  });
});

describe("bad input is reported with file and line, skipped and counted, or stops the run", () => {
  function badDir(): string {
    const d = tmp("ingest");
    const i = join(d, "in");
    mkdirSync(i);
    writeFileSync(join(i, "good.txt"), "A good document.");
    writeFileSync(join(i, "bad-utf8.txt"), Buffer.concat([Buffer.from("line one\nline two \xff\xfe here\n", "latin1")]));
    writeFileSync(join(i, "binary.dat"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 3]));
    writeFileSync(join(i, "empty.txt"), "");
    writeFileSync(join(i, "huge.txt"), "x".repeat(10 * 1024 * 1024));
    writeFileSync(join(i, "docs.jsonl"), `{"text":"ok one"}\n{"text": broken\n{"title":"no text field"}\n\n{"text":"ok two"}\n${Buffer.from('{"text":"bad \xff"}', "latin1").toString("latin1")}\n`);
    // the last line above was written as UTF-8 of U+00FF (valid); add a truly invalid byte line too
    writeFileSync(join(i, "docs2.jsonl"), Buffer.concat([Buffer.from('{"text":"fine"}\n'), Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d, 0x0a])]));
    writeFileSync(join(i, "bigline.jsonl"), `${JSON.stringify({ text: "y".repeat(10 * 1024 * 1024) })}\n`);
    return d;
  }

  it("skip: every input accounted for, reasons with file:line", async () => {
    const d = badDir();
    const r = await ingest({ inputs: [join(d, "in")] }, { outDir: join(d, "o"), progress: false });
    const s = r.stats;
    expect(s.accounted()).toBe(true);
    expect(readOut(r.outputs).map((x) => x.text).sort()).toEqual(["A good document.", "bad \u00ff", "fine", "ok one", "ok two"]);
    expect(s.rejected["invalid UTF-8"].examples.some((e) => e.endsWith("bad-utf8.txt:2"))).toBe(true);
    expect(s.rejected["invalid UTF-8"].examples.some((e) => e.includes("docs2.jsonl:2"))).toBe(true);
    expect(s.rejected["binary file"].examples[0]).toMatch(/binary\.dat$/);
    expect(s.rejected["empty file"].examples[0]).toMatch(/empty\.txt$/);
    expect(s.rejected["malformed JSON line"].examples[0]).toMatch(/docs\.jsonl:2 /);
    expect(s.rejected["missing text field"].examples[0]).toMatch(/docs\.jsonl:3 /);
    expect(s.rejected["document too large"].count).toBe(2);
    expect(s.rejected["document too large"].examples.join(" ")).toMatch(/bigline\.jsonl:1/);
    expect(s.docsIn).toBe(s.docsOut + 8);
    expect(readFileSync(r.statsMarkdownPath, "utf8")).toContain("Every input accounted for: **yes**");
  });

  it("fail: stops at the first bad input naming file and line, and leaves no partial output", async () => {
    const d = badDir();
    const err = await ingest({ inputs: [join(d, "in")], onError: "fail" }, { outDir: join(d, "o"), progress: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataInputError);
    expect((err as DataInputError).message).toMatch(/bad-utf8\.txt:2: invalid UTF-8/);
    expect(() => readFileSync(join(d, "o", "part-00000.jsonl"))).toThrow();
  });
});
