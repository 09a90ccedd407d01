// The documents the Gopher rules fixture decides on beyond its threshold cases: the embedded corpus as llmforge's
// readers give it, and the first raw SpamAssassin messages of each folder. scripts/make_gopher_fixture.py runs this
// file to get the same texts (`node --import tsx test/data/gopherCorpus.ts OUT.json EMAILS_PER_GROUP`).
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { brownDocuments, nlpCorpusDocuments, spamAssassinDirs, wordnetDocuments } from "../../src/data/embedded.js";
import { gopherRepetitionOptionsSchema } from "../../src/data/filters/gopherRepetition.js";
import type { TokenSpans } from "../../src/data/words/spacyEnglish.js";

/** Gopher repetition limits low enough that the corpus has texts removed for every reason. */
export const STRICT_REPETITION = gopherRepetitionOptionsSchema.parse({
  maxDupParaFrac: 0.45,
  maxDupParaCharFrac: 0.4,
  maxDupLineFrac: 0.6,
  maxDupLineCharFrac: 0.5,
  topNGrams: [
    [2, 0.6],
    [3, 0.6],
    [4, 0.5],
  ],
  dupNGrams: [
    [5, 0.45],
    [6, 0.3],
    [7, 0.2],
    [8, 0.15],
    [10, 0.1],
  ],
});

/** Whitespace-separated spans (any spans will do for the figures; these make n-grams repeat often). */
export function spaceSpans(text: string): TokenSpans {
  const start: number[] = [];
  const end: number[] = [];
  for (const m of text.matchAll(/\S+/g)) {
    start.push(m.index);
    end.push(m.index + m[0].length);
  }
  return {
    count: start.length,
    start: Int32Array.from(start),
    end: Int32Array.from(end),
  };
}

/** [id, text] of every document, in the fixture's order. */
export function gopherCorpusDocuments(emailsPerGroup: number): Array<[string, string]> {
  const docs: Array<[string, string]> = [];
  for (const d of brownDocuments()) docs.push([`brown/${d.name}`, d.text]);
  for (const d of nlpCorpusDocuments()) docs.push([`nlp/${d.id}`, d.text]);
  for (const d of wordnetDocuments()) docs.push([`wordnet/${d.id}`, d.text]);
  const sa = spamAssassinDirs();
  for (const dir of [...sa.ham, ...sa.spam]) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".txt"))
      .sort()
      .slice(0, emailsPerGroup);
    for (const f of files) docs.push([`email/${basename(dir)}/${f}`, readFileSync(join(dir, f), "utf8")]);
  }
  return docs;
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  writeFileSync(process.argv[2], JSON.stringify(gopherCorpusDocuments(Number(process.argv[3]))));
}
