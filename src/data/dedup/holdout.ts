// A near-duplicate holdout built from the embedded corpus (Brown texts, SpamAssassin ham emails; nlp-corpus
// sentences as the donor of rewritten spans), deterministic from a seed: pairs (original, edited copy) whose TRUE
// Jaccard similarity, computed exactly on the shingles dedup uses, is spread over a range with a dense 0.80-0.85
// band, and hard negatives (different documents sharing a template or one paragraph) well below the threshold.
// The edits are those that make near-duplicates on the web: whitespace changes, added headers and footers,
// paragraph reordering, span rewrites, insertions and deletions. Used by bench/dedupCurve.bench.ts (the
// recall/precision curve the dedup defaults come from) and test/data/dedupHoldout.test.ts.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { brownDocuments, nlpCorpusDocuments, spamAssassinDirs } from "../embedded.js";
import { exactJaccard } from "./minhash.js";

/** An original and its edited copy. */
export interface HoldoutPair {
  id: string;
  a: string;
  b: string;
  /** Exact Jaccard similarity of the two shingle sets. */
  jaccard: number;
  /** The edits applied, in order (e.g. "footer", "rewrite×3"). */
  edits: string[];
}

/** Two different documents that share boilerplate: dedup must keep both. */
export interface HardNegative {
  id: string;
  a: string;
  b: string;
  jaccard: number;
  /** "template": the same header and footer around different bodies; "paragraph": one identical paragraph. */
  kind: "template" | "paragraph";
}

export interface Holdout {
  pairs: HoldoutPair[];
  negatives: HardNegative[];
}

/** What to build; each target band gets `count` pairs whose true Jaccard lands in [lo, hi). */
export interface HoldoutOptions {
  seed: number;
  /** Words per shingle, as the dedup config (5). */
  ngram?: number;
  bands?: Array<{ lo: number; hi: number; count: number }>;
  /** Hard negatives of each kind. */
  negatives?: number;
  /** Template negatives get a true Jaccard in [lo, hi) (paragraph negatives are what one paragraph gives). */
  negativeRange?: { lo: number; hi: number };
}

/** The default spread: dense at 0.80-0.85 (where the threshold bites), thinner elsewhere. */
export const DEFAULT_HOLDOUT_BANDS = [
  { lo: 0.5, hi: 0.6, count: 30 },
  { lo: 0.6, hi: 0.7, count: 40 },
  { lo: 0.7, hi: 0.75, count: 40 },
  { lo: 0.75, hi: 0.8, count: 60 },
  { lo: 0.8, hi: 0.85, count: 200 },
  { lo: 0.85, hi: 0.9, count: 80 },
  { lo: 0.9, hi: 0.95, count: 50 },
  { lo: 0.95, hi: 1.0001, count: 40 },
];

/** A small seeded generator (mulberry32): the holdout depends on the seed only. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** A document as paragraphs of words (punctuation stays attached to its word). */
type Doc = string[][];
const toDoc = (text: string): Doc =>
  text
    .split(/\n\s*\n|\n(?=\S)/)
    .map((p) => p.split(/\s+/).filter(Boolean))
    .filter((p) => p.length > 0);
const wordCount = (d: Doc) => d.reduce((s, p) => s + p.length, 0);

const HEADERS = [
  (r: Rand) => `Posted ${1 + Math.floor(r() * 28)} March 2003 by the editors | Filed under: News, Archive | ${Math.floor(r() * 90) + 2} comments`,
  (r: Rand) => `Home > Articles > Reading Room > Item ${Math.floor(r() * 9000) + 1000}\nShare this page: Email | Print | Bookmark`,
  (r: Rand) => `From the archive of the Weekly Review, issue ${Math.floor(r() * 400) + 1}. Reprinted with permission.`,
  () => `-----BEGIN FORWARDED MESSAGE-----\nSubject: Fwd: please read`,
];
const FOOTERS = [
  () => `Copyright 2003 the publisher. All rights reserved. This material may not be published, broadcast, rewritten or redistributed.`,
  () => `_______________________________________________\nDiscussion mailing list\nTo unsubscribe or change your options, visit the list information page.`,
  (r: Rand) => `Related articles: ${Math.floor(r() * 12) + 2} more in this section. Click here to subscribe to our newsletter and get the latest stories.`,
  () => `Sent from my laptop. Please consider the environment before printing this email.`,
];

/** One step of an edit plan; positions are fractions so that any prefix of a plan applies to the document. */
type Edit =
  | { kind: "header" | "footer"; text: string }
  | { kind: "swap"; i: number; j: number }
  | { kind: "rewrite" | "insert"; at: number; len: number; donor: string[] }
  | { kind: "delete"; at: number; len: number };

/** A random plan of `n` content edits for a document of `words` words (spans scale with its length). */
function editPlan(r: Rand, words: number, donor: string[], n: number): Edit[] {
  const plan: Edit[] = [];
  if (r() < 0.5) plan.push({ kind: "header", text: pick(r, HEADERS)(r) });
  if (r() < 0.5) plan.push({ kind: "footer", text: pick(r, FOOTERS)(r) });
  const maxSpan = Math.max(2, Math.round(words / 60));
  for (let k = 0; k < n; k++) {
    const u = r();
    const len = 1 + Math.floor(r() * maxSpan);
    const at = r();
    const from = Math.floor(r() * Math.max(1, donor.length - len));
    if (u < 0.15) plan.push({ kind: "swap", i: r(), j: r() });
    else if (u < 0.6) plan.push({ kind: "rewrite", at, len, donor: donor.slice(from, from + len) });
    else if (u < 0.8) plan.push({ kind: "insert", at, len, donor: donor.slice(from, from + len) });
    else plan.push({ kind: "delete", at, len });
  }
  return plan;
}

/** Applies the first `n` content edits of a plan (headers and footers always) and a seeded whitespace change. */
function applyPlan(doc: Doc, plan: Edit[], n: number, ws: number): string {
  const paras = doc.map((p) => p.slice());
  let head = "";
  let foot = "";
  let done = 0;
  for (const e of plan) {
    if (e.kind === "header" || e.kind === "footer") {
      if (e.kind === "header") head = e.text;
      else foot = e.text;
    } else {
      if (done++ >= n) break;
      if (e.kind === "swap") {
        const i = Math.floor(e.i * paras.length);
        const j = Math.floor(e.j * paras.length);
        [paras[i], paras[j]] = [paras[j], paras[i]];
        continue;
      }
      // a word position across paragraphs
      const span = e as Extract<Edit, { at: number }>;
      const total = paras.reduce((s, p) => s + p.length, 0);
      let at = Math.floor(span.at * total);
      let pi = 0;
      while (pi < paras.length - 1 && at >= paras[pi].length) at -= paras[pi++].length;
      const p = paras[pi];
      if (span.kind === "rewrite") p.splice(at, span.donor.length, ...span.donor);
      else if (span.kind === "insert") p.splice(at, 0, ...span.donor);
      else p.splice(at, Math.min(span.len, Math.max(0, p.length - 1)));
    }
  }
  // whitespace: 0 = as is, 1 = paragraphs on single newlines with trailing spaces, 2 = double spaces and CRLF
  const sep = ws === 1 ? " \n" : ws === 2 ? "\r\n\r\n" : "\n\n";
  const join = ws === 2 ? "  " : " ";
  const body = paras
    .filter((p) => p.length > 0)
    .map((p) => p.join(join))
    .join(sep);
  return [head, body, foot].filter(Boolean).join(sep);
}

/** An edited copy of `text` whose true Jaccard is in [lo, hi) (null when the plan cannot land there). */
function nearCopy(r: Rand, text: string, donor: string[], lo: number, hi: number, ngram: number): { b: string; j: number; edits: string[] } | null {
  const doc = toDoc(text);
  const words = wordCount(doc);
  const plan = editPlan(r, words, donor, Math.max(8, Math.ceil(words / 3)));
  const ws = Math.floor(r() * 3);
  const target = lo + r() * (hi - lo);
  // similarity falls (roughly monotonically) with the number of edits applied: bisect on it
  const contentEdits = plan.filter((e) => e.kind !== "header" && e.kind !== "footer").length;
  let a = 0;
  let z = contentEdits;
  let best: { b: string; j: number; n: number } | null = null;
  const tryN = (n: number) => {
    const b = applyPlan(doc, plan, n, ws);
    const j = exactJaccard(text, b, ngram);
    if (j >= lo && j < hi && (!best || Math.abs(j - target) < Math.abs(best.j - target))) best = { b, j, n };
    return j;
  };
  if (tryN(0) < target) {
    // headers/footers alone already drop below the target: try without them
    for (let k = plan.length - 1; k >= 0; k--) if (plan[k].kind === "header" || plan[k].kind === "footer") plan.splice(k, 1);
    tryN(0);
  }
  while (a < z) {
    const m = (a + z) >> 1;
    if (tryN(m) >= target) a = m + 1;
    else z = m;
  }
  tryN(a);
  if (a > 0) tryN(a - 1);
  if (!best) return null;
  const { b, j, n } = best as { b: string; j: number; n: number };
  const counts = new Map<string, number>();
  let seen = 0;
  for (const e of plan) {
    if (e.kind !== "header" && e.kind !== "footer" && seen++ >= n) break;
    counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
  }
  const edits = [...counts].map(([k, c]) => (c > 1 ? `${k}×${c}` : k));
  if (ws) edits.push(ws === 1 ? "whitespace:newlines" : "whitespace:crlf");
  return { b, j, edits };
}

/** Email bodies of SpamAssassin ham (headers dropped, HTML mails skipped), in file order, of at least `minWords` words. */
export function hamBodies(maxDocs: number, minWords = 120): string[] {
  const out: string[] = [];
  for (const dir of spamAssassinDirs().ham) {
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith(".txt"))
      .sort()) {
      if (out.length >= maxDocs) return out;
      const raw = readFileSync(join(dir, f), "latin1");
      const at = raw.indexOf("\n\n");
      if (at < 0) continue;
      const body = raw.slice(at + 2).trim();
      if (/<html|<body|<table/i.test(body)) continue;
      if (body.split(/\s+/).length >= minWords) out.push(body);
    }
  }
  return out;
}

/**
 * Builds a holdout: per target band `count` pairs (each base document used once, bases alternating Brown texts and
 * ham emails), then `negatives` template negatives and `negatives` paragraph negatives on further bases.
 */
export function buildHoldout(o: HoldoutOptions): Holdout {
  const ngram = o.ngram ?? 5;
  const bands = o.bands ?? DEFAULT_HOLDOUT_BANDS;
  const nNeg = o.negatives ?? 60;
  const negRange = o.negativeRange ?? { lo: 0.2, hi: 0.6 };
  const r = rng(o.seed);
  const needed = bands.reduce((s, b) => s + b.count, 0) + 4 * nNeg + 16;
  // bases: Brown texts and emails interleaved in a seeded order
  const brown = brownDocuments().map((d) => d.text);
  const emails = hamBodies(Math.max(0, needed - brown.length) + 200);
  const bases = [...brown, ...emails];
  for (let i = bases.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [bases[i], bases[j]] = [bases[j], bases[i]];
  }
  const donor = nlpCorpusDocuments(200)
    .map((d) => d.text)
    .join(" ")
    .split(/\s+/)
    .filter(Boolean);
  let next = 0;
  const base = () => {
    if (next >= bases.length) throw new Error(`holdout: only ${bases.length} base documents for ${needed} wanted`);
    return bases[next++];
  };
  const pairs: HoldoutPair[] = [];
  for (const band of bands) {
    let made = 0;
    let tries = 0;
    while (made < band.count && tries++ < band.count * 4) {
      const a = base();
      const c = nearCopy(r, a, donor, band.lo, band.hi, ngram);
      if (!c) continue;
      pairs.push({ id: `pair-${pairs.length}`, a, b: c.b, jaccard: c.j, edits: c.edits });
      made++;
    }
  }
  const negatives: HardNegative[] = [];
  // template: a shared header+footer (a third document's paragraphs) around two different bodies; its length is
  // grown until the pair's Jaccard reaches a target in the range
  for (let k = 0, tries = 0; k < nNeg && tries < nNeg * 4; tries++) {
    const x = toDoc(base()).flat();
    const y = toDoc(base()).flat();
    const t = toDoc(base()).flat();
    const target = negRange.lo + r() * (negRange.hi - negRange.lo);
    const bodyLen = 60 + Math.floor(r() * 140);
    const bx = x.slice(0, bodyLen).join(" ");
    const by = y.slice(0, bodyLen).join(" ");
    let made: HardNegative | null = null;
    for (let len = 10; len <= t.length; len = Math.ceil(len * 1.15)) {
      const head = t.slice(0, len >> 1).join(" ");
      const foot = t.slice(len >> 1, len).join(" ");
      const a = `${head}\n\n${bx}\n\n${foot}`;
      const b = `${head}\n\n${by}\n\n${foot}`;
      const j = exactJaccard(a, b, ngram);
      if (j >= negRange.hi) break;
      if (j >= target) {
        made = { id: `neg-template-${k}`, a, b, jaccard: j, kind: "template" };
        break;
      }
    }
    if (made) {
      negatives.push(made);
      k++;
    }
  }
  // paragraph: one identical paragraph (from a third document) put into two different documents
  for (let k = 0; k < nNeg; k++) {
    const x = toDoc(base());
    const y = toDoc(base());
    const shared = pick(r, toDoc(base()).filter((p) => p.length >= 20)) ?? ["a", "shared", "paragraph", "of", "boilerplate", "text"];
    x.splice(Math.floor(r() * (x.length + 1)), 0, shared);
    y.splice(Math.floor(r() * (y.length + 1)), 0, shared);
    const a = x.map((p) => p.join(" ")).join("\n\n");
    const b = y.map((p) => p.join(" ")).join("\n\n");
    negatives.push({ id: `neg-paragraph-${k}`, a, b, jaccard: exactJaccard(a, b, ngram), kind: "paragraph" });
  }
  return { pairs, negatives };
}
