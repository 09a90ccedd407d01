// A fixed sample of the embedded corpus (Brown, nlp-corpus, WordNet, SpamAssassin mail) and the decisions
// the document steps make on it: kept (with a hash of the output text and its metadata) or the rule that removed it.
// Used to pin the pipeline's behaviour across speed work (test/data/decisions.test.ts, fixtures/decisions.json).
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { brownDocuments, nlpCorpusDocuments, spamAssassinDirs, wordnetDocuments } from "../../src/data/embedded.js";
import { makeDocFn, type MapStepName } from "../../src/data/mapSteps.js";
import { readEmailMessage } from "../../src/data/readers/email.js";
import { DataStats } from "../../src/data/stats.js";
import type { DataDoc } from "../../src/data/types.js";

/** The sample pinned by fixtures/decisions.json. */
export const DECISION_SAMPLE = { every: 10, mailsPerDir: 40 } as const;

/** Every `every`-th document of each embedded text source and the first `mailsPerDir` messages of each SpamAssassin folder. */
export async function embeddedSample(every: number, mailsPerDir: number): Promise<DataDoc[]> {
  const docs: DataDoc[] = [];
  const pick = <T>(xs: T[]) => xs.filter((_, i) => i % every === 0);
  for (const d of pick(brownDocuments())) docs.push({ id: `brown/${d.name}`, text: d.text, source: "brown", meta: {} });
  for (const d of pick(nlpCorpusDocuments())) docs.push({ id: `nlp/${d.id}`, text: d.text, source: "nlp_corpus", meta: {} });
  for (const d of pick(wordnetDocuments())) docs.push({ id: `wn/${d.id}`, text: d.text, source: "wordnet", meta: {} });
  const sa = spamAssassinDirs();
  for (const dir of [...sa.ham, ...sa.spam]) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".txt"))
      .sort()
      .slice(0, mailsPerDir);
    for (const f of files) {
      const item = await readEmailMessage(readFileSync(join(dir, f)), 1, { textSplit: "file", textField: "text", emailHeaders: true, maxDocBytes: 4 << 20 });
      if (item.kind === "doc") docs.push({ id: `mail/${dir.split("/").pop()}/${f}`, text: item.text, source: dir.includes("spam") ? "email_spam" : "email_ham", meta: item.meta });
    }
  }
  return docs;
}

/** What a step decided about one document. */
export interface Decision {
  id: string;
  /** sha256 (first 16 hex) of the input text, to tell a changed input from a changed decision. */
  input: string;
  /** `kept`, or the `rule.reason` that removed the document. */
  outcome: string;
  /** sha256 (first 16 hex) of the output text (kept documents). */
  text?: string;
  /** Output metadata as JSON (kept documents). */
  meta?: string;
}

export const shortHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);

/** Runs `step` with default config over `docs`, one document at a time; returns each decision and the step's counts. */
export function recordDecisions(docs: readonly DataDoc[], step: MapStepName): { decisions: Decision[]; removed: Record<string, number>; modified: Record<string, number> } {
  const stats = new DataStats(step);
  const fn = makeDocFn(step, {}, stats);
  const decisions: Decision[] = [];
  for (const doc of docs) {
    const before = stats.removedCount();
    const removedBefore = Object.fromEntries(Object.entries(stats.removed).map(([k, e]) => [k, e.count]));
    const out = fn(doc, Buffer.byteLength(doc.text));
    const d: Decision = { id: doc.id, input: shortHash(doc.text), outcome: "kept" };
    if (out) {
      d.text = shortHash(out.text);
      d.meta = JSON.stringify(out.meta);
    } else {
      if (stats.removedCount() !== before + 1) throw new Error(`${doc.id}: removed without exactly one removal recorded`);
      d.outcome = Object.keys(stats.removed).find((k) => stats.removed[k].count !== (removedBefore[k] ?? 0)) ?? "?";
    }
    decisions.push(d);
  }
  const counts = (m: Record<string, { count: number }>) => Object.fromEntries(Object.entries(m).map(([k, e]) => [k, e.count]).sort());
  return { decisions, removed: counts(stats.removed), modified: counts(stats.modified) };
}
