// The documents the Gopher rules fixture decides on beyond its threshold cases: the embedded corpus as llmforge's
// readers give it, and the first raw SpamAssassin messages of each folder. scripts/make_gopher_fixture.py runs this
// file to get the same texts (`node --import tsx test/data/gopherCorpus.ts OUT.json EMAILS_PER_GROUP`).
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { brownDocuments, nlpCorpusDocuments, spamAssassinDirs, wordnetDocuments } from "../../src/data/embedded.js";

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
