// Throughput of the spaCy English port (src/data/words/spacyEnglish.ts) on the Brown corpus, in MB of UTF-8
// input per CPU second (user + system: less swayed than wall time on a shared machine). The JIT is warmed on
// the odd-numbered texts; "new text" is then the first pass over the even-numbered ones (their chunks are
// not cached yet, as in a long stream of fresh documents) and "seen text" the best of 3 later passes. A
// last line times englishWordSpans on text none of whose words were seen: all Brown texts with their
// lower-case letters rotated by k = 1..4 (the shapes of prose, new strings), best of the 4 rounds.
// Run: node --import tsx bench/spacyEnglishWords.ts (a micro-benchmark, not part of `npm run bench`)

import { brownDocuments } from "../src/data/embedded.js";
import { countEnglishSentences, englishSentences, englishWordSpans } from "../src/data/words/spacyEnglish.js";

const all = brownDocuments().map((d) => d.text);
const warm = all.filter((_, i) => i % 2 === 1);
const docs = all.filter((_, i) => i % 2 === 0);
const mb = docs.reduce((a, t) => a + Buffer.byteLength(t), 0) / 1e6;
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const fns: Array<[string, (t: string) => unknown]> = [
  ["englishWordSpans", englishWordSpans],
  ["englishSentences", englishSentences],
  ["countEnglishSentences", (t) => countEnglishSentences(t)],
  ["countEnglishSentences(t, 3)", (t) => countEnglishSentences(t, 3)],
];
for (let r = 0; r < 3; r++) for (const [, f] of fns) for (const t of warm) f(t);
console.log(`Brown corpus: ${docs.length} texts timed, ${mb.toFixed(1)} MB (JIT warmed on the other ${warm.length})`);
for (const [name, f] of fns) {
  const t0 = cpuSeconds();
  for (const t of docs) f(t);
  const fresh = cpuSeconds() - t0;
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const t1 = cpuSeconds();
    for (const t of docs) f(t);
    best = Math.min(best, cpuSeconds() - t1);
  }
  console.log(`${name.padEnd(30)} new text ${(mb / fresh).toFixed(1).padStart(6)} MB/s   seen text ${(mb / best).toFixed(1).padStart(6)} MB/s`);
}

const rotate = (t: string, k: number) => t.replace(/[a-z]/g, (c) => String.fromCharCode(97 + ((c.charCodeAt(0) - 97 + k) % 26)));
const allMb = all.reduce((a, t) => a + Buffer.byteLength(t), 0) / 1e6;
let unseen = 0;
for (let k = 1; k <= 4; k++) {
  const texts = all.map((t) => rotate(t, k));
  const t0 = cpuSeconds();
  for (const t of texts) englishWordSpans(t);
  unseen = Math.max(unseen, allMb / (cpuSeconds() - t0));
}
console.log(`${"englishWordSpans".padEnd(30)} unseen words (rotated Brown, best of 4 x ${allMb.toFixed(1)} MB) ${unseen.toFixed(1).padStart(6)} MB/s`);
