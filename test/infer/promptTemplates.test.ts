// Prompt templates as data: few-shot chat turns and text blocks, the reasoning prefix, answer extraction, user templates
// from JSON/YAML (bad ones refused naming file and field), shots drawn without the question, and arithmetic reasoning.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { arithmeticReasoning, instructionTask, pickShots } from "../../src/kb/promptEval.js";
import { buildPrompt, extractAnswer, findPromptTemplate, loadPromptTemplates, PromptTemplateError } from "../../src/infer/promptTemplates.js";
import { isHeldoutItem } from "../../src/sft/instructionMix.js";

const dir = mkdtempSync(join(tmpdir(), "llmforge-prompt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const shots = [{ question: "2 + 3 =", answer: "5", reasoning: "2 + 3 = 5. The answer is 5." }, { question: "What is 4 times 2?", answer: "8" }];

describe("prompt templates", () => {
  it("builds few-shot chat turns, and a reasoning prefix with worked shots for chain of thought", () => {
    expect(buildPrompt(findPromptTemplate("direct"), "7 - 1 =", shots)).toEqual({
      mode: "chat", prefix: "",
      messages: [
        { role: "user", content: "2 + 3 =" }, { role: "assistant", content: "5" }, { role: "user", content: "What is 4 times 2?" }, { role: "assistant", content: "8" },
        { role: "user", content: "7 - 1 =" },
      ],
    });
    const cot = buildPrompt(findPromptTemplate("cot"), "7 - 1 =", shots);
    expect(cot.prefix).toBe("Let's think step by step.");
    expect(cot.mode === "chat" && cot.messages[1].content).toBe("Let's think step by step. 2 + 3 = 5. The answer is 5.");
    expect(cot.mode === "chat" && cot.messages[3].content).toBe("8"); // no reasoning known: the plain answer
    expect(buildPrompt(findPromptTemplate("direct"), "q")).toEqual({ mode: "chat", prefix: "", messages: [{ role: "user", content: "q" }] });
  });

  it("builds plain-text question/answer blocks", () => {
    expect(buildPrompt(findPromptTemplate("qa"), "7 - 1 =", shots.slice(0, 1))).toEqual({ mode: "text", prefix: "", text: "Question: 2 + 3 =\nAnswer: 5\n\nQuestion: 7 - 1 =\nAnswer:" });
    const p = buildPrompt(findPromptTemplate("qa-cot"), "7 - 1 =", shots.slice(0, 1));
    expect(p).toEqual({ mode: "text", prefix: " Let's think step by step.", text: "Question: 2 + 3 =\nAnswer: Let's think step by step. 2 + 3 = 5. The answer is 5.\n\nQuestion: 7 - 1 =\nAnswer:" });
  });

  it("reads the answer back from a reply as the template says", () => {
    const cot = findPromptTemplate("cot");
    expect(extractAnswer(cot, " 7 - 1 = 6. The answer is 6.")).toBe("6");
    expect(extractAnswer(cot, "first 3, then 12")).toBe("12");
    expect(extractAnswer(cot, "no number")).toBe("no number");
    expect(extractAnswer(findPromptTemplate("direct"), " 42\nmore text")).toBe("42");
    expect(extractAnswer({ ...cot, extract: "whole" }, " a b ")).toBe("a b");
    expect(extractAnswer({ ...cot, extract: "=\\s*(\\d+)" }, "x = 17.")).toBe("17");
    expect(extractAnswer({ ...cot, extract: "=\\s*(\\d+)" }, "nothing")).toBe("");
  });

  it("adds user templates from JSON or YAML and refuses bad ones naming file and field", () => {
    const yml = join(dir, "t.yaml");
    writeFileSync(yml, "templates:\n  - name: terse\n    mode: chat\n    system: Answer with a number.\n    question: 'Q: {question}'\n    answer: '{answer}'\n  - name: direct\n    mode: text\n    question: '{question} ='\n    answer: ' {answer}'\n");
    const extra = loadPromptTemplates(yml);
    expect(extra.map((t) => t.name)).toEqual(["terse", "direct"]);
    const p = buildPrompt(findPromptTemplate("terse", extra), "1 + 1");
    expect(p.mode === "chat" && p.messages).toEqual([{ role: "system", content: "Answer with a number." }, { role: "user", content: "Q: 1 + 1" }]);
    expect(findPromptTemplate("direct", extra).mode).toBe("text"); // a user template overrides the built-in
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([{ name: "x", mode: "chat", question: "no placeholder", answer: "{answer}" }]));
    expect(() => loadPromptTemplates(bad)).toThrow(/bad\.json: template 1 field "question": must contain "\{question\}"/);
    writeFileSync(bad, JSON.stringify([{ name: "x", mode: "chat", question: "{question}", answer: "{answer}", extract: "(" }]));
    expect(() => loadPromptTemplates(bad)).toThrow(/bad\.json: template x: extract is not a valid regular expression/);
    writeFileSync(bad, "{oops");
    expect(() => loadPromptTemplates(bad)).toThrow(/not valid JSON/);
    expect(() => findPromptTemplate("nope")).toThrow(PromptTemplateError);
    expect(() => findPromptTemplate("nope")).toThrow(/known: direct, cot, qa, qa-cot/);
  });
});

describe("task items and shots", () => {
  it("takes the instruction mix's held-out arithmetic items and never shows a question as its own shot", () => {
    const t = instructionTask("arithmetic", { limit: 50 });
    expect(t.heldout).toHaveLength(50);
    const keyOf = (q: string) => q.match(/\d+/g)?.join("") ?? "";
    expect(new Set(t.heldout.map((x) => keyOf(x.question))).size).toBeGreaterThan(10);
    for (const x of t.heldout.slice(0, 20)) {
      const s = pickShots(t.pool, 4, 0, x.question, 1);
      expect(s).toHaveLength(4);
      expect(s.map((y) => y.question)).not.toContain(x.question);
    }
    expect(pickShots(t.pool, 3, 5, "q", 9)).toEqual(pickShots(t.pool, 3, 5, "q", 9));
    expect(() => pickShots(t.pool.slice(0, 2), 3, 0, "q", 1)).toThrow(/3 shots asked but the pool has 2/);
    expect(() => instructionTask("algebra")).toThrow(/unknown task/);
    // held out for the SFT mix of the same seed
    const sample = t.heldout.find((x) => x.kind === "arithmetic.add");
    expect(sample).toBeDefined();
  });

  it("writes arithmetic reasoning that ends in the right answer", () => {
    expect(arithmeticReasoning("arithmetic.add", { a: "37", b: "48" })).toBe("37 + 40 = 77, 77 + 8 = 85. The answer is 85.");
    expect(arithmeticReasoning("arithmetic.sub", { a: "52", b: "17" })).toBe("52 - 10 = 42, 42 - 7 = 35. The answer is 35.");
    expect(arithmeticReasoning("arithmetic.add", { a: "3", b: "40" })).toBe("3 + 40 = 43. The answer is 43.");
    expect(arithmeticReasoning("arithmetic.mul", { a: "7", b: "8" })).toBe("7 * 8 = 56. The answer is 56.");
    expect(arithmeticReasoning("capital.capital", { c: "France" })).toBeUndefined();
    expect(isHeldoutItem("arithmetic", "37+48", 1234)).toBe(isHeldoutItem("arithmetic", "37+48", 1234));
  });
});
