// The calculator SFT data: each tool conversation's call parses, names the calculator and computes the recorded answer;
// train and held-out items follow the instruction mix's item split; plain records are mixed in; same seed, same data.
// And evaluatePrompting end to end on a tiny untrained model (scores are 0, the bookkeeping must hold).
import { describe, expect, it } from "vitest";
import { evaluatePrompting, instructionTask } from "../../src/kb/promptEval.js";
import { buildToolCallMix } from "../../src/kb/toolData.js";
import { parseToolCalls } from "../../src/kb/toolCalls.js";
import { calculate, calculatorTool, toolSchemas } from "../../src/kb/tools.js";
import { findPromptTemplate } from "../../src/infer/promptTemplates.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { isHeldoutItem } from "../../src/sft/instructionMix.js";
import { CHATML_TEMPLATE } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

describe("tool-call SFT data", () => {
  const mix = buildToolCallMix({ seed: 7, train: 300, heldout: 60, plainRate: 0.2 });

  it("writes calls that parse and compute the recorded answer, on the instruction mix's item split", () => {
    const tools = toolSchemas([calculatorTool]);
    const toolConvs = mix.train.filter((c) => c.meta?.tools);
    expect(toolConvs).toHaveLength(300);
    expect(mix.train.length - toolConvs.length).toBe(60);
    expect(mix.heldout).toHaveLength(60);
    for (const c of [...toolConvs, ...mix.heldout]) {
      expect(c.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant"]);
      const p = parseToolCalls(c.messages[1].content, tools);
      expect(p.errors).toEqual([]);
      expect(p.calls).toHaveLength(1);
      const result = calculate(String(p.calls[0].arguments.expression));
      expect(c.messages[2].content).toBe(result);
      expect(c.messages[3].content).toBe(result);
      expect(c.meta?.answer).toBe(result);
      expect(isHeldoutItem("arithmetic", String(c.meta?.item), 7)).toBe(c.meta?.split === "heldout");
    }
    const trainItems = new Set(toolConvs.map((c) => c.meta?.item));
    expect(mix.heldout.some((c) => trainItems.has(c.meta?.item))).toBe(false);
    expect(mix.heldout.some((c) => c.meta?.newTemplate)).toBe(true);
    expect(toolConvs.some((c) => c.meta?.newTemplate)).toBe(false);
    expect(buildToolCallMix({ seed: 7, train: 300, heldout: 60, plainRate: 0.2 })).toEqual(mix);
    expect(() => buildToolCallMix({ train: 0 })).toThrow(/train must be a positive integer/);
  });
});

describe("evaluatePrompting", () => {
  it("scores a task with and without tools, counting prompts that do not fit", async () => {
    const tok = Tokenizer.trainFromTexts(["What is 3 plus 4? 7. Add 2 and 5. <tool_call> calculator expression ".repeat(20)], { vocabSize: 300 });
    const model = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 96, vocabSize: tok.vocabSize }), { seed: 1 });
    const { heldout, pool } = instructionTask("arithmetic", { limit: 4 });
    const plain = await evaluatePrompting(model, tok, heldout, pool, { template: findPromptTemplate("direct"), chatTemplate: CHATML_TEMPLATE, maxTokens: 8 });
    expect(plain).toMatchObject({ items: 4, shots: 0, tools: [], tooLong: 0, exactMatchFitted: plain.exactMatch });
    expect(plain.samples.map((s) => s.reference)).toEqual(heldout.map((h) => h.accept[0]));
    const many = await evaluatePrompting(model, tok, heldout, pool, { template: findPromptTemplate("direct"), chatTemplate: CHATML_TEMPLATE, shots: 8, maxTokens: 8 });
    expect(many.tooLong).toBe(4); // 8 shots do not fit 96 positions
    expect(many.exactMatchFitted).toBeNull();
    const agent = await evaluatePrompting(model, tok, heldout, pool, {
      template: findPromptTemplate("direct"), chatTemplate: CHATML_TEMPLATE, maxTokens: 8, tools: [calculatorTool], describeTools: false, maxSteps: 2,
    });
    expect(agent.tools).toEqual(["calculator"]);
    expect(agent.calledTool).toBeGreaterThanOrEqual(0);
    await expect(evaluatePrompting(model, tok, heldout, pool, { template: findPromptTemplate("qa"), chatTemplate: CHATML_TEMPLATE, tools: [calculatorTool] })).rejects.toThrow(/chat-mode/);
  });
});
