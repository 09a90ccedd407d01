// Preference data formats: each record shape converts to the exact PreferenceRecord, rankings and scores expand to
// pairs in one record, ties and bad judgements are counted or refused with file:line, and the CLI's --to preferences.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { convertPreferenceRecord, convertPreferencesToJsonl, convertToPreferences, type PreferenceRecord, parseRanking, RecordFormatError, type SkippedRecord } from "../../src/data/formats/index.js";
import { DataInputError } from "../../src/data/types.js";

const conv = (rec: unknown, opts = {}) => convertPreferenceRecord(rec, opts);
const rec = (r: unknown, opts = {}) => {
  const { meta, ...rest } = conv(r, opts).record;
  return rest;
};
const reason = (r: unknown, opts = {}) => {
  try {
    conv(r, opts);
  } catch (err) {
    if (err instanceof RecordFormatError) return err.message;
    throw err;
  }
  return "converted";
};
const U = (content: string) => ({ role: "user", content });
const A = (content: string) => ({ role: "assistant", content });
const S = (content: string) => ({ role: "system", content });
const P01 = [{ better: 0, worse: 1 }];
const tmp = () => mkdtempSync(join(tmpdir(), "llmforge-prefs-"));
const jsonl = (rows: unknown[]) => `${rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n")}\n`;
const readOut = (file: string) =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as PreferenceRecord);

describe("preference record converters", () => {
  it("TRL standard: text prompt / chosen / rejected, an optional margin, and no prompt at all", () => {
    expect(conv({ prompt: "The sky is", chosen: " blue.", rejected: " green.", id: 3 }).record).toEqual({
      prompt: [U("The sky is")],
      responses: [" blue.", " green."],
      pairs: P01,
      meta: { format: "pairwise", id: 3 },
    });
    expect(rec({ prompt: "q", chosen: "a", rejected: "b", margin: 1.5, system: "Be brief." })).toEqual({ prompt: [S("Be brief."), U("q")], responses: ["a", "b"], pairs: [{ better: 0, worse: 1, margin: 1.5 }] });
    expect(rec({ chosen: "The sky is blue.", rejected: "The sky is green." })).toEqual({ prompt: [], responses: ["The sky is blue.", "The sky is green."], pairs: P01 });
    expect(rec({ instruction: "Add", input: "1 2", chosen: "3", rejected: "4" })).toEqual({ prompt: [U("Add\n1 2")], responses: ["3", "4"], pairs: P01 });
  });

  it("TRL conversational, explicit and implicit prompt (shared prefix of the two conversations)", () => {
    expect(rec({ prompt: [U("hi")], chosen: [A("hello")], rejected: [A("go away")] })).toEqual({ prompt: [U("hi")], responses: ["hello", "go away"], pairs: P01 });
    const head = [S("sys"), U("2+2?"), A("4"), U("and 3+3?")];
    expect(rec({ chosen: [...head, A("6")], rejected: [...head, A("7")] })).toEqual({ prompt: head, responses: ["6", "7"], pairs: P01 });
    expect(reason({ chosen: [U("a"), A("x")], rejected: [U("b"), A("x")] })).toMatch(/must share everything but one final assistant turn \(they differ from turn 1/);
    expect(reason({ prompt: [U("q")], chosen: [A("x"), U("more")], rejected: [A("y")] })).toMatch(/field "chosen" must be exactly one assistant message/);
  });

  it("ShareGPT / LLaMA-Factory preference records", () => {
    const r = { conversations: [{ from: "human", value: "q" }], chosen: { from: "gpt", value: "good" }, rejected: { from: "gpt", value: "bad" }, system: "s" };
    expect(conv(r).format).toBe("sharegpt");
    expect(rec(r)).toEqual({ prompt: [S("s"), U("q")], responses: ["good", "bad"], pairs: P01 });
    expect(rec({ messages: [U("q")], chosen: A("good"), rejected: "bad" })).toEqual({ prompt: [U("q")], responses: ["good", "bad"], pairs: P01 });
    expect(reason({ conversations: [{ from: "human", value: "q" }], chosen: { from: "human", value: "x" }, rejected: { from: "gpt", value: "y" } })).toMatch(/exactly one assistant message \(got user\)/);
  });

  it("DS-Chat text: Human/Assistant prompt with answers, and Anthropic HH full dialogues", () => {
    const ds = { prompt: "\n\nHuman: Hi there\n\nAssistant:", response: " Hello!", chosen: " Hello!", rejected: " Bye" };
    expect(conv(ds).format).toBe("dschat");
    expect(rec(ds)).toEqual({ prompt: [U("Hi there")], responses: ["Hello!", "Bye"], pairs: P01 });
    expect(rec({ prompt: " Human: What is 2+2? Assistant:", chosen: " 4", rejected: " 5" })).toEqual({ prompt: [U("What is 2+2?")], responses: ["4", "5"], pairs: P01 });
    const hh = "\n\nHuman: What is 2+2?\n\nAssistant: 4\n\nHuman: and 3+3?\n\nAssistant: ";
    expect(rec({ chosen: `${hh}6`, rejected: `${hh}seven` })).toEqual({ prompt: [U("What is 2+2?"), A("4"), U("and 3+3?")], responses: ["6", "seven"], pairs: P01 });
    expect(reason({ prompt: "Hi\n\nHuman: x\n\nAssistant:", chosen: "a", rejected: "b" }, { format: "dschat" })).toMatch(/must start with a "Human:" turn/);
  });

  it("unpaired KTO records", () => {
    expect(conv({ prompt: "q", completion: "a", label: false })).toMatchObject({ format: "kto", record: { prompt: [U("q")], responses: ["a"], pairs: [], labels: [false] } });
    expect(rec({ prompt: [U("q")], completion: [A("a")], label: true })).toEqual({ prompt: [U("q")], responses: ["a"], pairs: [], labels: [true] });
    expect(reason({ prompt: "q", completion: "a", label: "yes" })).toMatch(/field "label" must be true \(desirable\) or false/);
  });

  it("a ranking of K answers expands to its C(K,2) pairs in one record, margin = rank distance", () => {
    const c = conv({ prompt: "q", responses: ["a", "b", "c"], ranking: "1>3>2" });
    expect(c.record.pairs).toEqual([
      { better: 0, worse: 2, margin: 1 },
      { better: 0, worse: 1, margin: 2 },
      { better: 2, worse: 1, margin: 1 },
    ]);
    expect(c.record.meta).toEqual({ ranking: "1>3>2", format: "ranking" });
    const five = conv({ question: "q", answers: ["a", "b", "c", "d", "e"], order: [5, 4, 3, 2, 1] }).record;
    expect(five.pairs).toHaveLength(10);
    expect(five.pairs.every((p) => p.better > p.worse && p.margin === p.better - p.worse)).toBe(true);
    expect(parseRanking("2 > 1 = 3 > 4", 4)).toEqual([2, 1, 2, 3]);
    expect(parseRanking([1, [2, 3]], 3)).toEqual([1, 2, 2]);
    const tied = conv({ prompt: "q", outputs: [{ text: "a", rank: 1 }, { text: "b", rank: 3 }, { text: "c", rank: 1 }] });
    expect(tied.record.pairs).toEqual([
      { better: 0, worse: 1, margin: 2 },
      { better: 2, worse: 1, margin: 2 },
    ]);
    expect(tied.ties).toEqual([[0, 2]]);
  });

  it("scores on one or more dimensions: kept per dimension, pairs by the (weighted) total, ties make none", () => {
    const one = conv({ input: "q", outputs: [{ response: "a", score: 4 }, { response: "b", score: 2 }, { response: "c", score: 4 }] });
    expect(one.record.scores).toEqual({ score: [4, 2, 4] });
    expect(one.record.pairs).toEqual([
      { better: 0, worse: 1, margin: 2 },
      { better: 2, worse: 1, margin: 2 },
    ]);
    expect(one.ties).toEqual([[0, 2]]);
    const multi = { prompt: "q", outputs: [{ response: "a", scores: { help: 4.2, honest: 3 } }, { response: "b", scores: { honest: 4, help: 3.1 } }] };
    expect(rec(multi)).toEqual({ prompt: [U("q")], responses: ["a", "b"], scores: { help: [4.2, 3.1], honest: [3, 4] }, pairs: [{ better: 0, worse: 1, margin: 0.05 }] });
    expect(rec(multi, { scoreWeights: { honest: 3 } }).pairs).toEqual([{ better: 1, worse: 0, margin: 0.475 }]);
    expect(reason({ input: "q", outputs: [{ response: "a", score: 7 }, { response: "b", score: 2 }] })).toBe("score out of range (outputs[0] score = 7, expected 1..5)");
    expect(reason({ input: "q", outputs: [{ response: "a", score: 7 }, { response: "b", score: 2 }] }, { scoreRange: [0, 10] })).toBe("converted");
    expect(reason({ input: "q", outputs: [{ response: "a", scores: { x: 1 } }, { response: "b", scores: { y: 2 } }] })).toMatch(/scored on different dimensions/);
    expect(reason({ input: "q", outputs: [{ response: "a", score: "4" }] })).toMatch(/score must be a number/);
  });

  it("reads its own output form back (format kept) and checks it", () => {
    const first = conv({ prompt: "q", responses: ["a", "b", "c"], ranking: "1>3>2", id: 1 }).record;
    const again = conv(JSON.parse(JSON.stringify(first)));
    expect(again.format).toBe("preference");
    expect(again.record).toEqual(first);
    expect(reason({ prompt: [U("q")], responses: ["a", "b"], pairs: [{ better: 0, worse: 2 }] })).toMatch(/pair names a missing response \(pairs\[0\].worse: 2/);
    expect(reason({ prompt: [U("q")], responses: ["a", "b"], pairs: [], scores: { s: [1] } })).toMatch(/scores.s must be 2 numbers/);
  });

  it("refuses bad judgements: same answer, empty answer, bad rankings, a prompt ending with an answer, SFT data", () => {
    expect(reason({ prompt: "q", chosen: "same", rejected: "same" })).toBe("chosen equals rejected");
    expect(reason({ chosen: [U("q"), A("x")], rejected: [U("q"), A("x")] })).toBe("chosen equals rejected");
    expect(reason({ prompt: "q", chosen: " ", rejected: "a" })).toBe("empty answer (answer 1 of 2)");
    expect(reason({ prompt: "q", responses: ["a", "b", "c"], ranking: "1>4>2" })).toBe("ranking names a missing answer (4: the record has answers 1..3)");
    expect(reason({ prompt: "q", responses: ["a", "b", "c"], ranking: "1>2>1" })).toBe("ranking repeats an answer (answer 1)");
    expect(reason({ prompt: "q", responses: ["a", "b", "c"], ranking: "1>2" })).toBe("ranking leaves out an answer (answer 3 of 3)");
    expect(reason({ prompt: "q", responses: ["a", "b"], ranking: "first>second" })).toMatch(/^malformed ranking/);
    expect(reason({ prompt: [U("q"), A("a")], chosen: "x", rejected: "y" })).toMatch(/prompt ends with an assistant turn/);
    expect(reason({ messages: [U("q"), A("a")] })).toMatch(/SFT record .* convert it with --to messages/);
    expect(reason({ prompt: "q", responses: ["a", "b"] })).toMatch(/answer list "responses" has no ranking or scores/);
    expect(reason({ foo: 1 })).toBe("unknown preference record shape (keys: foo)");
    // identical texts inside a ranking: that pair is dropped and returned, the rest kept
    const dup = conv({ prompt: "q", responses: ["a", "b", "a"], ranking: "1>2>3" });
    expect(dup.identical).toEqual([[0, 2]]);
    expect(dup.record.pairs).toHaveLength(2);
  });
});

describe("preference file converter", () => {
  it("accounts for every record: written, removed (nothing left), rejected with file:line; ties counted with file:line", async () => {
    const dir = tmp();
    const f = join(dir, "prefs.jsonl");
    writeFileSync(
      f,
      jsonl([
        { prompt: "q", chosen: "a", rejected: "b" },
        { prompt: "q", chosen: "a", rejected: "a" },
        "{not json",
        { input: "q", outputs: [{ response: "x", score: 3 }, { response: "y", score: 3 }, { response: "z", score: 1 }] },
        { prompt: "q", responses: ["a", "b"], ranking: "1=2" },
        { prompt: "q", responses: ["a", "b", "c"], ranking: "3>1" },
        { prompt: "q", completion: "ok", label: true },
      ]),
    );
    const arr = join(dir, "more.json");
    writeFileSync(arr, JSON.stringify([{ prompt: "p", responses: ["a", "b", "c"], ranking: "3>2>1" }, { prompt: "p", chosen: "", rejected: "x" }], null, 2));
    const skipped: SkippedRecord[] = [];
    const out = join(dir, "out.jsonl");
    const r = await convertPreferencesToJsonl([f, arr], out, { onSkip: (s) => skipped.push(s) });
    const recs = readOut(out);
    expect(recs.map((x) => [x.meta?.format, x.meta?.line, x.pairs.length])).toEqual([
      ["pairwise", 1, 1],
      ["scores", 4, 2],
      ["kto", 7, 0],
      ["ranking", 2, 3],
    ]);
    expect(recs[3].meta?.file).toBe(arr);
    expect(skipped).toEqual([
      { file: f, line: 2, reason: "chosen equals rejected", removed: false },
      { file: f, line: 3, reason: expect.stringMatching(/^malformed JSON line/), removed: false },
      { file: f, line: 5, reason: "no_pairs (tied: 1/2)", removed: true },
      { file: f, line: 6, reason: "ranking leaves out an answer (answer 2 of 3)", removed: false },
      { file: arr, line: 11, reason: "empty answer (answer 1 of 2)", removed: false },
    ]);
    const s = r.stats;
    expect([s.docsIn, s.docsOut]).toEqual([9, 4]);
    expect(s.accounted()).toBe(true);
    expect(s.modified.tie_no_pair).toMatchObject({ count: 1, examples: [`${f}:4 (answers 1/2)`] });
    expect(s.rejected["chosen equals rejected"].examples).toEqual([`${f}:2`]);
    expect(s.extra).toMatchObject({ records: 8, pairs: 6, responses: 9, "format.pairwise": 1, "format.ranking": 1 });
    expect(readFileSync(join(dir, "out.stats.md"), "utf8")).toContain("tie_no_pair");

    const again: PreferenceRecord[] = [];
    for await (const x of convertToPreferences([out])) again.push(x);
    expect(again.map(({ meta, ...rest }) => rest)).toEqual(recs.map(({ meta, ...rest }) => rest));
    expect(again.map((x) => x.meta?.format)).toEqual(["pairwise", "scores", "kto", "ranking"]);

    const failOut = join(dir, "fail.jsonl");
    await expect(convertPreferencesToJsonl([f], failOut, { onError: "fail" })).rejects.toThrow(DataInputError);
    await expect(convertPreferencesToJsonl([f], failOut, { onError: "fail" })).rejects.toThrow(`${f}:2: chosen equals rejected`);
    expect(existsSync(failOut)).toBe(false);
  });
});

describe("llmforge data convert --to preferences", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), "data", "convert", ...args], { cwd: root, encoding: "utf8" });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it("writes preference records and stats, honours --score-range and --format, and names file:line on failure", { timeout: 120_000 }, () => {
    const dir = tmp();
    const f = join(dir, "in.jsonl");
    writeFileSync(f, jsonl([{ prompt: "q", chosen: "a", rejected: "b" }, { input: "q", outputs: [{ response: "x", score: 9 }, { response: "y", score: 2 }] }]));
    const out = join(dir, "prefs.jsonl");
    const ok = cli(["--to", "preferences", f, "-o", out, "--json"]);
    expect(ok.code).toBe(0);
    expect(readOut(out).map((x) => x.responses)).toEqual([["a", "b"]]);
    expect(JSON.parse(ok.out)).toMatchObject({ docsIn: 2, docsOut: 1, accounted: true });
    expect(ok.err).toContain(`skipped ${f}:2: score out of range (outputs[0] score = 9, expected 1..5)`);

    expect(cli(["--to", "preferences", f, "-o", out, "--score-range", "0..10"]).code).toBe(0);
    expect(readOut(out)).toHaveLength(2);
    const bad = cli(["--to", "preferences", f, "-o", join(dir, "bad.jsonl"), "--on-error", "fail"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`${f}:2: score out of range`);
    expect(bad.err).not.toMatch(/\n\s+at /);
    expect(cli(["--to", "preferences", f, "-o", out, "--format", "alpaca"]).err).toMatch(/--format must be auto or one of preference, pairwise/);
    expect(cli(["--to", "preferences", f, "-o", out, "--score-range", "5..1"]).err).toMatch(/--score-range must be lo..hi/);
  });
});
