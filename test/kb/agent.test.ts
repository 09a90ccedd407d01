// The agent loop with scripted models: a call -> result -> answer round trip (transcript in OpenAI's shape, rendered by
// the chat template), malformed calls and tool failures reported back to the model as tool errors, a model that never
// stops calling stopped by the step limit, a full context, and a real (tiny, untrained) model that must not crash it.
import { describe, expect, it } from "vitest";
import { AgentContextError, type AgentModel, chatModel, runAgent } from "../../src/kb/agent.js";
import { calculatorTool, dateTool, type Tool } from "../../src/kb/tools.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { CHATML_TEMPLATE, type ChatMessage, renderChat } from "../../src/tokenizer/chatTemplate.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { z } from "zod";

/** A model that replies from a script, recording what it was shown. */
function scripted(replies: readonly string[]): AgentModel & { seen: ChatMessage[][] } {
  const seen: ChatMessage[][] = [];
  let i = 0;
  return {
    seen,
    complete(messages) {
      seen.push(messages.map((m) => ({ ...m })));
      return replies[Math.min(i++, replies.length - 1)];
    },
  };
}

const call = (name: string, args: unknown) => `<tool_call>\n${JSON.stringify({ name, arguments: args })}\n</tool_call>`;
const user: ChatMessage[] = [{ role: "user", content: "What is 123456789 * 987654321?" }];

describe("runAgent", () => {
  it("calls the calculator, hands the result back and returns the answer with the transcript", async () => {
    const m = scripted([call("calculator", { expression: "123456789 * 987654321" }), "121932631112635269"]);
    const r = await runAgent(m, user, { tools: [calculatorTool] });
    expect(r).toMatchObject({ stopped: "answer", answer: "121932631112635269", steps: 2 });
    expect(r.messages).toEqual([
      user[0],
      { role: "assistant", content: "", tool_calls: [{ id: "call_0", type: "function", function: { name: "calculator", arguments: '{"expression":"123456789 * 987654321"}' } }] },
      { role: "tool", content: "121932631112635269", name: "calculator", tool_call_id: "call_0" },
      { role: "assistant", content: "121932631112635269" },
    ]);
    // the second reply saw the tool result, and the transcript renders with the template
    expect(m.seen[1].at(-1)).toMatchObject({ role: "tool", content: "121932631112635269" });
    expect(renderChat(CHATML_TEMPLATE, r.messages)).toContain('<|im_start|>assistant\n<tool_call>\n{"name": "calculator", "arguments": {"expression":"123456789 * 987654321"}}\n</tool_call><|im_end|>\n<|im_start|>tool\n121932631112635269<|im_end|>');
  });

  it("reports malformed calls, unknown tools, bad arguments, throws and timeouts to the model as tool errors", async () => {
    const boom: Tool = { name: "boom", description: "", parameters: z.object({}), run: () => { throw new Error("disk on fire"); } };
    const slow: Tool = { name: "slow", description: "", parameters: z.object({}), run: () => new Promise((res) => setTimeout(res, 5000)), timeoutMs: 30 };
    const m = scripted([
      `${call("calculator", { expression: "1/0" })}\n<tool_call>{"name": "calculator", "arguments": {"expression": 2}}</tool_call>`,
      `<tool_call>{not json</tool_call>${call("rm", {})}`,
      `${call("boom", {})}${call("slow", {})}`,
      "I could not compute it.",
    ]);
    const r = await runAgent(m, user, { tools: [calculatorTool, boom, slow] });
    expect(r).toMatchObject({ stopped: "answer", answer: "I could not compute it.", steps: 4 });
    const errors = r.messages.filter((x) => x.role === "tool").map((x) => x.content);
    expect(errors).toHaveLength(6);
    expect(errors[0]).toMatch(/^error: calculator failed: division by zero/);
    expect(errors[1]).toMatch(/^error: the arguments of calculator do not fit its parameters: expression/);
    expect(errors[2]).toMatch(/^error: the tool call is not valid JSON/);
    expect(errors[3]).toMatch(/^error: there is no tool named "rm"; the tools are: calculator, boom, slow/);
    expect(errors[4]).toBe("error: boom failed: disk on fire");
    expect(errors[5]).toBe("error: slow failed: timed out after 30 ms");
    expect(r.malformed.map((e) => e.kind)).toEqual(["arguments", "json", "unknown_tool"]);
    // a reply with a malformed call is kept as written, so the model sees its own mistake
    expect(r.messages[4]).toEqual({ role: "assistant", content: `<tool_call>{not json</tool_call>${call("rm", {})}` });
  });

  it("stops a model that never stops calling tools at the step limit, with the reason", async () => {
    const m = scripted([call("date", {})]);
    const r = await runAgent(m, user, { tools: [dateTool(() => new Date(0))], maxSteps: 3 });
    expect(r).toMatchObject({ stopped: "step_limit", answer: "", steps: 3 });
    expect(r.reason).toMatch(/after 3 replies \(the step limit\)/);
    expect(r.toolRuns).toHaveLength(3);
    expect(m.seen).toHaveLength(3);
    await expect(runAgent(m, user, { tools: [], maxSteps: 0 })).rejects.toThrow(/maxSteps/);
  });

  it("ends with 'context' when the conversation outgrows the model, and survives a real model's garbage", async () => {
    const full: AgentModel = { complete: () => { throw new AgentContextError("the conversation has 130 tokens; the model's context holds 128"); } };
    expect(await runAgent(full, user, { tools: [calculatorTool] })).toMatchObject({ stopped: "context", steps: 0 });
    const tok = Tokenizer.trainFromTexts(["what is one plus two? <tool_call> {\"name\": \"calculator\"} ".repeat(30)], { vocabSize: 300 });
    const model = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 1024, vocabSize: tok.vocabSize }), { seed: 3 });
    const r = await runAgent(chatModel(model, tok, { template: CHATML_TEMPLATE, maxTokens: 24 }), user, { tools: [calculatorTool], maxSteps: 2 });
    expect(["answer", "step_limit", "context"]).toContain(r.stopped);
    expect(r.steps).toBeGreaterThanOrEqual(1);
  });
});
