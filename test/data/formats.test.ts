// SFT data formats: each record shape converts to the exact expected messages, auto-detection and forced
// formats, JSON arrays and LLaMA-Factory folders, bad records reported with file:line, stats, and the CLI.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type Conversation, convertRecord, convertToConversations, convertToJsonl, RecordFormatError, type SkippedRecord } from "../../src/data/formats/index.js";
import { DataInputError } from "../../src/data/types.js";

const msgs = (rec: unknown, opts = {}) => convertRecord(rec, opts).conversations.map((c) => c.messages);
const tmp = () => mkdtempSync(join(tmpdir(), "llmforge-formats-"));
const jsonl = (rows: unknown[]) => `${rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n")}\n`;
const readOut = (file: string) =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Conversation);
const U = (content: string) => ({ role: "user", content });
const A = (content: string) => ({ role: "assistant", content });
const S = (content: string) => ({ role: "system", content });

describe("record converters", () => {
  it("question/answer and its aliases", () => {
    expect(convertRecord({ question: "2+2?", answer: "4" })).toEqual({ format: "qa", conversations: [{ messages: [U("2+2?"), A("4")], meta: { format: "qa" } }] });
    expect(msgs({ q: "a?", a: "b", system: "Be brief." })).toEqual([[S("Be brief."), U("a?"), A("b")]]);
    expect(msgs({ query: "x", response: "y", id: 7 })).toEqual([[U("x"), A("y")]]);
    expect(convertRecord({ query: "x", response: "y", id: 7 }).conversations[0].meta).toEqual({ format: "qa", id: 7 });
    expect(msgs({ prompt: "p", response: "r" })).toEqual([[U("p"), A("r")]]);
  });

  it("OpenAI messages with system, tool calls (null content) and tool results", () => {
    const rec = {
      messages: [
        { role: "developer", content: "You can call tools." },
        { role: "user", content: [{ type: "text", text: "Weather" }, { type: "text", text: "in Paris?" }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] },
        { role: "tool", tool_call_id: "c1", content: "18C" },
        { role: "tool", name: "clock", content: "noon" },
        { role: "assistant", content: "18C at noon." },
      ],
      tools: [{ type: "function", function: { name: "weather" } }],
    };
    const r = convertRecord(rec);
    expect(r.format).toBe("messages");
    expect(r.conversations[0].messages).toEqual([
      S("You can call tools."),
      U("Weather\nin Paris?"),
      A('[{"name":"weather","arguments":"{\\"city\\":\\"Paris\\"}"}]'),
      { role: "tool", content: "18C", name: "weather" },
      { role: "tool", content: "noon", name: "clock" },
      A("18C at noon."),
    ]);
    expect(r.conversations[0].meta?.tools).toEqual(rec.tools);
    // text and calls together: text first, then the calls
    expect(msgs({ messages: [U("hi"), { role: "assistant", content: "Let me look.", function_call: { name: "f", arguments: "{}" } }] })[0][1]).toEqual(A('Let me look.\n[{"name":"f","arguments":"{}"}]'));
  });

  it("multi-turn role/content under messages or conversations, with a record-level system", () => {
    const turns = [U("a"), A("b"), U("c"), A("d")];
    expect(msgs({ messages: turns })).toEqual([turns]);
    expect(msgs({ conversations: turns, system: "sys" })).toEqual([[S("sys"), ...turns]]);
    expect(msgs({ conversations: [S("own"), ...turns], system: "sys" })).toEqual([[S("own"), ...turns]]);
  });

  it("ShareGPT roles", () => {
    const rec = {
      conversations: [
        { from: "system", value: "sys" },
        { from: "human", value: "q" },
        { from: "function_call", value: '{"name":"f","arguments":{}}' },
        { from: "observation", value: "result" },
        { from: "gpt", value: "answer" },
      ],
    };
    expect(convertRecord(rec).format).toBe("sharegpt");
    expect(msgs(rec)).toEqual([[S("sys"), U("q"), A('{"name":"f","arguments":{}}'), { role: "tool", content: "result" }, A("answer")]]);
    expect(msgs({ conversations: [{ from: "human", value: "q" }, { from: "gpt", value: "a" }], system: "s" })).toEqual([[S("s"), U("q"), A("a")]]);
  });

  it("prompt/completion as strings and as message lists", () => {
    expect(convertRecord({ prompt: "The sky is", completion: " blue." })).toMatchObject({ format: "prompt-completion", conversations: [{ messages: [U("The sky is"), A(" blue.")] }] });
    expect(msgs({ prompt: [S("s"), U("q")], completion: [A("a")] })).toEqual([[S("s"), U("q"), A("a")]]);
    expect(() => convertRecord({ prompt: "q", completion: [A("a")] })).toThrow(/must both be strings or both message lists/);
  });

  it("prompt-only records (RL prompts) are the user turn alone: removed for SFT, kept with the prompts option", async () => {
    expect(convertRecord({ prompt: "Write a review." })).toMatchObject({ format: "prompt-completion", conversations: [{ messages: [U("Write a review.")] }] });
    expect(msgs({ prompt: [S("s"), U("q")] })).toEqual([[S("s"), U("q")]]);
    const f = join(tmp(), "prompts.jsonl");
    writeFileSync(f, jsonl([{ prompt: "p1" }, { messages: [S("s"), U("p2")] }, { question: "q", answer: "a" }, { messages: [U("q"), A(" ")] }, { prompt: "p3", meta: { task: "t" } }]));
    const read = async (prompts: boolean) => {
      const skipped: SkippedRecord[] = [];
      const convs: Conversation[] = [];
      for await (const c of convertToConversations([f], { prompts, onSkip: (s) => skipped.push(s) })) convs.push(c);
      return { convs: convs.map((c) => [c.meta?.line, c.messages]), skipped: skipped.map((s) => [s.line, s.reason.split(" (")[0]]) };
    };
    expect(await read(false)).toEqual({
      convs: [[3, [U("q"), A("a")]]],
      skipped: [[1, "no_assistant_turn"], [2, "no_assistant_turn"], [4, "empty final assistant turn"], [5, "no_assistant_turn"]],
    });
    expect(await read(true)).toEqual({
      convs: [[1, [U("p1")]], [2, [S("s"), U("p2")]], [3, [U("q"), A("a")]], [5, [U("p3")]]],
      skipped: [[4, "empty final assistant turn"]],
    });
  });

  it("Alpaca with input, system and history; a list output gives one conversation per output", () => {
    const rec = { instruction: "Translate", input: "chat", output: "cat", system: "sys", history: [["hi", "hello"]] };
    expect(msgs(rec)).toEqual([[S("sys"), U("hi"), A("hello"), U("Translate\nchat"), A("cat")]]);
    const r = convertRecord({ instruction: "Name a colour", output: ["red", "blue"] });
    expect(r.conversations).toEqual([
      { messages: [U("Name a colour"), A("red")], meta: { format: "alpaca", output_index: 0 } },
      { messages: [U("Name a colour"), A("blue")], meta: { format: "alpaca", output_index: 1 } },
    ]);
    expect(() => convertRecord({ instruction: "x", output: [] })).toThrow(/"output" must be a string or a non-empty list of strings/);
    expect(() => convertRecord({ instruction: "x", output: "y", history: [["only one"]] })).toThrow(/history\[0\]/);
  });

  it("text/label classification with and without a label set", () => {
    expect(msgs({ text: "great film", label: "pos" })).toEqual([[U("Classify the following text. Answer with its label.\n\nText: great film"), A("pos")]]);
    const withSet = [[U("Classify the following text. Answer with one of these labels: neg, pos.\n\nText: dull"), A("neg")]];
    expect(msgs({ text: "dull", label: 0 }, { labels: ["neg", "pos"] })).toEqual(withSet);
    expect(msgs({ text: "dull", label: "neg" }, { labels: ["neg", "pos"] })).toEqual(withSet);
    expect(msgs({ text: "x", label: 3 })).toEqual([[U("Classify the following text. Answer with its label.\n\nText: x"), A("3")]]);
    expect(() => convertRecord({ text: "x", label: 5 }, { labels: ["neg", "pos"] })).toThrow(/not an index into the label set/);
    expect(() => convertRecord({ text: "x", label: "meh" }, { labels: ["neg", "pos"] })).toThrow(/not in the label set/);
    expect(() => convertRecord({ text: "x", label: true })).toThrow(/"label" must be a string or a number/);
  });

  it("entity/facts knowledge records", () => {
    expect(msgs({ entity: "Paris", facts: ["Paris is the capital of France.", "Paris lies on the Seine."] })).toEqual([
      [U("What do you know about Paris?"), A("Paris is the capital of France.\nParis lies on the Seine.")],
    ]);
    expect(msgs({ entity: "Oslo", fact: "Oslo is in Norway." })).toEqual([[U("What do you know about Oslo?"), A("Oslo is in Norway.")]]);
    expect(() => convertRecord({ entity: "X", facts: [1] })).toThrow(/"facts" must be a non-empty list of strings/);
  });

  it("reports language-modelling text, preference pairs, unknown shapes and wrong types", () => {
    const err = (rec: unknown, opts = {}) => {
      try {
        convertRecord(rec, opts);
      } catch (e) {
        expect(e).toBeInstanceOf(RecordFormatError);
        return (e as RecordFormatError).message;
      }
      throw new Error("expected a RecordFormatError");
    };
    expect(err({ text: "plain text" })).toMatch(/language-modelling record .* is not a conversation/);
    expect(err({ prompt: "p", chosen: "a", rejected: "b" })).toMatch(/preference record/);
    expect(err({ foo: 1, bar: 2 })).toBe("unknown record shape (keys: foo, bar)");
    expect(err([1, 2])).toBe("record is not a JSON object (got list)");
    expect(err({ question: 4, answer: "4" })).toBe('field "question" must be a string (got number)');
    expect(err({ messages: [{ role: "robot", content: "x" }] })).toBe('unknown message role (messages[0].role: "robot")');
    expect(err({ messages: [{ role: "constructor", content: "x" }] })).toMatch(/unknown message role/);
    expect(err({ conversations: [{ from: "human", value: 3 }] })).toMatch(/ShareGPT turn value must be a string/);
    expect(err({ question: "q", answer: "a" }, { format: "alpaca" })).toMatch(/empty user turn/);
  });

  it("a forced format overrides detection", () => {
    const rec = { instruction: "ignored by classification", output: "o", text: "t", label: "l" };
    expect(convertRecord(rec).format).toBe("alpaca");
    expect(convertRecord(rec, { format: "classification" })).toMatchObject({ format: "classification", conversations: [{ messages: [{ role: "user" }, A("l")] }] });
  });
});

describe("convertToJsonl", () => {
  it("converts a mixed file, reports each bad record with file:line, and accounts for every record", async () => {
    const dir = tmp();
    const f = join(dir, "mixed.jsonl");
    writeFileSync(
      f,
      jsonl([
        { question: "q1", answer: "a1" }, // 1
        "{not json", // 2
        { foo: 1 }, // 3
        { messages: [S("s"), U("only a question")] }, // 4: no assistant turn (removed)
        { question: 5, answer: "a" }, // 5: wrong type
        { instruction: "i", output: ["o1", "", "o3"] }, // 6: 3 candidates, the 2nd empty
        { text: "lm text" }, // 7
        { messages: [U("q"), A("  ")] }, // 8: empty final assistant turn
        { text: "t", label: "x" }, // 9
      ]),
    );
    const skipped: SkippedRecord[] = [];
    const out = join(dir, "out", "sft.jsonl");
    const r = await convertToJsonl([f], out, { onSkip: (s) => skipped.push(s) });
    const convs = readOut(out);
    expect(convs.map((c) => [c.meta?.format, c.meta?.line])).toEqual([
      ["qa", 1],
      ["alpaca", 6],
      ["alpaca", 6],
      ["classification", 9],
    ]);
    expect(convs[0]).toEqual({ messages: [U("q1"), A("a1")], meta: { format: "qa", file: f, line: 1 } });
    expect(convs[2].messages).toEqual([U("i"), A("o3")]);
    expect(skipped.map((s) => [s.line, s.removed, s.reason.split(" (")[0]])).toEqual([
      [2, false, "malformed JSON line"],
      [3, false, "unknown record shape"],
      [4, true, "no_assistant_turn"],
      [5, false, 'field "question" must be a string'],
      [6, false, "empty final assistant turn"],
      [7, false, 'language-modelling record {"text"} is not a conversation; use it for pretraining'.split(" (")[0]],
      [8, false, "empty final assistant turn"],
    ]);
    const s = r.stats.toJSON();
    expect(s.extra.records).toBe(8); // 9 lines, one not JSON
    expect(s.extra["format.qa"]).toBe(1);
    expect(s.extra["format.alpaca"]).toBe(2);
    expect(s.extra["format.classification"]).toBe(1);
    expect(s.docsIn).toBe(11); // 8 records + 2 extra list outputs + 1 malformed line
    expect(s.docsOut).toBe(4);
    expect(r.stats.removedCount()).toBe(1);
    expect(r.stats.rejectedCount()).toBe(6);
    expect(s.accounted).toBe(true);
    expect(s.removed.no_assistant_turn.examples[0]).toBe(`${f}:4: system: s | user: only a question`);
    expect(s.rejected["empty final assistant turn"].examples).toEqual([`${f}:6 (output 1)`, `${f}:8`]);
    expect(s.rejected["unknown record shape"].examples).toEqual([`${f}:3 (keys: foo)`]);
    expect(JSON.parse(readFileSync(r.statsJsonPath, "utf8"))).toMatchObject({ format: "llmforge-data-stats", step: "convert", docsOut: 4 });
    expect(r.statsJsonPath).toBe(join(dir, "out", "sft.stats.json"));
    expect(readFileSync(r.statsMarkdownPath, "utf8")).toMatch(/Every input accounted for: \*\*yes\*\*/);
  });

  it("reads JSON array files with each element's line, and a malformed array file as one rejection", async () => {
    const dir = tmp();
    const arr = join(dir, "data.json");
    writeFileSync(arr, `[\n  {"q": "a[1]", "a": "x,\\"y\\""},\n  {\n    "bad": "{"\n  },\n  {"q": "b", "a": "c"}\n]\n`);
    const skipped: SkippedRecord[] = [];
    const got: Conversation[] = [];
    for await (const c of convertToConversations([arr], { onSkip: (s) => skipped.push(s) })) got.push(c);
    expect(got.map((c) => [c.messages[1].content, c.meta?.line])).toEqual([
      ['x,"y"', 2],
      ["c", 6],
    ]);
    expect(skipped).toEqual([{ file: arr, line: 3, reason: "unknown record shape (keys: bad)", removed: false }]);
    const broken = join(dir, "broken.json");
    writeFileSync(broken, '[\n{"q": "a", "a": "b"},\n{"q": \n]');
    const s2: SkippedRecord[] = [];
    const kept: unknown[] = [];
    for await (const c of convertToConversations([broken], { onSkip: (s) => s2.push(s) })) kept.push(c.meta?.line);
    expect(kept).toEqual([2]); // the good element before the bad one still converts
    expect(s2).toHaveLength(1);
    expect(s2[0]).toMatchObject({ line: 3, reason: expect.stringMatching(/^malformed JSON array element/) });
    // a .json file holding JSONL is read line by line
    const lines = join(dir, "lines.json");
    writeFileSync(lines, jsonl([{ q: "1", a: "2" }, { q: "3", a: "4" }]));
    const l: unknown[] = [];
    for await (const c of convertToConversations([lines])) l.push(c.meta?.line);
    expect(l).toEqual([1, 2]);
  });

  it('onError "fail" throws a DataInputError naming file:line and leaves no output', async () => {
    const dir = tmp();
    const f = join(dir, "in.jsonl");
    writeFileSync(f, jsonl([{ q: "a", a: "b" }, { messages: [U("no answer")] }, { q: "a", a: 1 }]));
    const out = join(dir, "out.jsonl");
    const p = convertToJsonl([f], out, { onError: "fail" });
    await expect(p).rejects.toBeInstanceOf(DataInputError);
    await expect(convertToJsonl([f], out, { onError: "fail" })).rejects.toThrow(`${f}:3: field "a" must be a string (got number)`);
    expect(existsSync(out)).toBe(false);
  });

  it("converts a LLaMA-Factory folder: formatting, columns, tags, JSON and JSONL files, dataset selection", async () => {
    const dir = tmp();
    writeFileSync(
      join(dir, "dataset_info.json"),
      JSON.stringify({
        my_alpaca: { file_name: "alpaca.json", columns: { prompt: "instr", query: "inp", response: "out", system: "sys", history: "hist" } },
        my_chat: {
          file_name: "chat.jsonl",
          formatting: "sharegpt",
          columns: { messages: "msgs", system: "system_prompt", tools: "fns" },
          tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant" },
        },
        folder_ds: { file_name: "parts", formatting: "sharegpt" },
        hub_ds: { hf_hub_url: "someone/data" },
        prefs: { file_name: "alpaca.json", ranking: true },
      }),
    );
    writeFileSync(join(dir, "alpaca.json"), JSON.stringify([{ instr: "Add", inp: "1 2", out: "3", sys: "math", hist: [["hi", "hey"]] }, { instr: "x", inp: "", out: ["y", "z"] }], null, 2));
    writeFileSync(
      join(dir, "chat.jsonl"),
      jsonl([
        { msgs: [U("q"), A("a")], system_prompt: "be kind", fns: "[]" },
        { msgs: [{ role: "human", content: "q" }] },
      ]),
    );
    mkdirSync(join(dir, "parts"));
    writeFileSync(join(dir, "parts", "b.jsonl"), jsonl([{ conversations: [{ from: "human", value: "2" }, { from: "gpt", value: "two" }] }]));
    writeFileSync(join(dir, "parts", "a.json"), JSON.stringify([{ conversations: [{ from: "human", value: "1" }, { from: "gpt", value: "one" }] }]));
    const skipped: SkippedRecord[] = [];
    const out = join(dir, "out.jsonl");
    const r = await convertToJsonl([dir], out, { onSkip: (s) => skipped.push(s) });
    const convs = readOut(out);
    expect(convs.map((c) => [c.meta?.dataset, c.messages])).toEqual([
      ["my_alpaca", [S("math"), U("hi"), A("hey"), U("Add\n1 2"), A("3")]],
      ["my_alpaca", [U("x"), A("y")]],
      ["my_alpaca", [U("x"), A("z")]],
      ["my_chat", [S("be kind"), U("q"), A("a")]],
      ["folder_ds", [U("1"), A("one")]],
      ["folder_ds", [U("2"), A("two")]],
    ]);
    expect(convs[0].meta).toEqual({ format: "alpaca", dataset: "my_alpaca", file: join(dir, "alpaca.json"), line: 2 });
    expect(convs[3].meta?.tools).toBe("[]");
    expect(skipped).toEqual([{ file: join(dir, "chat.jsonl"), line: 2, reason: 'unknown ShareGPT role (msgs[0].role: "human")', removed: false }]);
    expect(r.stats.extra["skipped_dataset.hub_ds"]).toMatch(/hub and script datasets are not fetched/);
    expect(r.stats.extra["skipped_dataset.prefs"]).toMatch(/preference/);
    expect(r.stats.accounted()).toBe(true);

    const only: Conversation[] = [];
    for await (const c of convertToConversations([join(dir, "dataset_info.json")], { datasets: ["folder_ds"] })) only.push(c);
    expect(only.map((c) => c.meta?.dataset)).toEqual(["folder_ds", "folder_ds"]);
    await expect(convertToJsonl([dir], out, { datasets: ["nope"] })).rejects.toThrow(/no dataset "nope" \(it has: my_alpaca, my_chat/);
    await expect(convertToJsonl([dir], out, { datasets: ["hub_ds"] })).rejects.toThrow(/dataset "hub_ds" cannot be converted/);
  });
});

describe("llmforge data convert", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), "data", "convert", ...args], { cwd: root, encoding: "utf8" });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it("writes the conversations and stats, and exits 1 with file:line on bad input under --on-error fail", () => {
    const dir = tmp();
    const good = join(dir, "good.jsonl");
    writeFileSync(good, jsonl([{ question: "q", answer: "a" }, { text: "t", label: 1 }, { nope: true }]));
    const out = join(dir, "sft.jsonl");
    const ok = cli(["--to", "messages", good, "-o", out, "--labels", "neg,pos", "--json"]);
    expect(ok.code).toBe(0);
    expect(readOut(out).map((c) => c.messages)).toEqual([
      [U("q"), A("a")],
      [U("Classify the following text. Answer with one of these labels: neg, pos.\n\nText: t"), A("pos")],
    ]);
    expect(JSON.parse(ok.out)).toMatchObject({ step: "convert", docsIn: 3, docsOut: 2, accounted: true });
    expect(ok.err).toContain(`skipped ${good}:3: unknown record shape (keys: nope)`);
    expect(existsSync(join(dir, "sft.stats.md"))).toBe(true);

    const bad = cli([good, "-o", join(dir, "bad.jsonl"), "--on-error", "fail"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(`llmforge: ${good}:3: unknown record shape (keys: nope)`);
    expect(bad.err).not.toMatch(/\n\s+at /); // no stack trace for a user mistake
    expect(existsSync(join(dir, "bad.jsonl"))).toBe(false);

    const lm = join(dir, "lm.jsonl");
    writeFileSync(lm, jsonl([{ text: "just text" }]));
    const none = cli([lm, "-o", join(dir, "none.jsonl")]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/language-modelling record .* is not a conversation/);
    expect(none.err).toMatch(/no conversation could be converted/);

    expect(cli([good, "-o", out, "--format", "csv"]).err).toMatch(/--format must be auto or one of messages, sharegpt/);
  });
});
