// Sample texts for the spaCy English fixture (scripts/make_spacy_fixture.py reads them): Brown corpus texts,
// SpamAssassin emails (cleaned bodies and raw messages), nlp-corpus sentences and WordNet glosses, each cut
// to a few kilobytes so the committed fixture stays small. Deterministic (fixed picks, no randomness).
// Run: node --import tsx scripts/spacy_fixture_inputs.ts > /tmp/spacy_inputs.jsonl

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { brownDocuments, emailDocuments, nlpCorpusDocuments, spamAssassinDirs, wordnetDocuments } from "../src/data/embedded.js";

const out: Array<{ source: string; text: string }> = [];
/** Every `step`-th item, at most `n`, each cut to `maxChars` (at a space, so words stay whole). */
function pick<T>(xs: T[], n: number, step: number, text: (x: T) => string, source: string, maxChars: number): void {
  for (let i = 0, k = 0; i < xs.length && k < n; i += step, k++) {
    let t = text(xs[i]);
    if (t.length > maxChars) {
      const cut = t.lastIndexOf(" ", maxChars);
      t = t.slice(0, cut > 0 ? cut : maxChars);
    }
    out.push({ source, text: t });
  }
}

pick(brownDocuments(), 70, 7, (d) => d.text, "brown", 2500);
pick(nlpCorpusDocuments(), 25, 3, (d) => d.text, "nlp-corpus", 1500);
pick(wordnetDocuments(), 25, 50, (d) => d.text, "wordnet", 1500);
const sa = spamAssassinDirs();
const { docs } = await emailDocuments([...sa.ham, ...sa.spam], 400);
pick(docs, 40, 10, (d) => d.text, "email", 2500);
const raw: string[] = [];
for (const dir of [...sa.ham, ...sa.spam]) {
  const files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
  for (let i = 0; i < files.length; i += 97) raw.push(readFileSync(join(dir, files[i]), "latin1"));
}
pick(raw, 40, 1, (t) => t, "email-raw", 2500);
for (const r of out) process.stdout.write(`${JSON.stringify(r)}\n`);
