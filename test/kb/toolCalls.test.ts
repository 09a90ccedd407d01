// Tool calls in the chat template (plain ChatML byte for byte without tools; a tools block, <tool_call> blocks and tool
// turns with them) and the parser of model output: valid calls, every kind of malformed call, and hostile strings
// (fast-check) that must never throw.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseToolCalls, textWithout, toolCallHoldFrom, toolCallsText } from "../../src/kb/toolCalls.js";
import { CHATML_TEMPLATE, type ChatMessage, formatToolCall, pythonJson, renderChat, TOOLS_POSTAMBLE, TOOLS_PREAMBLE } from "../../src/tokenizer/chatTemplate.js";

/** The template before tool support, as SFT runs and quickstart stored it. */
const PLAIN_CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const calcTool = { type: "function", function: { name: "calculator", description: "exact arithmetic", parameters: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] } } };
const schemas = new Map<string, z.ZodType | null>([
  ["calculator", z.object({ expression: z.string() })],
  ["date", z.object({ timezone: z.string().optional() })],
]);

describe("chat template with tools", () => {
  it("renders every conversation without tools exactly as plain ChatML did", () => {
    const role = fc.constantFrom("system", "user", "assistant", "tool");
    const msg = fc.record({ role, content: fc.string({ maxLength: 40 }) });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 6 }), fc.boolean(), (messages, gen) => {
        expect(renderChat(CHATML_TEMPLATE, messages, { addGenerationPrompt: gen })).toBe(renderChat(PLAIN_CHATML, messages, { addGenerationPrompt: gen }));
      }),
      { numRuns: 200 },
    );
    // the SFT data of the instruction mix, as quickstart renders it
    const conv = [{ role: "system", content: "Answer with just the answer." }, { role: "user", content: "12 + 7 =" }, { role: "assistant", content: "19" }];
    expect(renderChat(CHATML_TEMPLATE, conv)).toBe("<|im_start|>system\nAnswer with just the answer.<|im_end|>\n<|im_start|>user\n12 + 7 =<|im_end|>\n<|im_start|>assistant\n19<|im_end|>\n");
  });

  it("puts a tools block in the system turn and writes tool calls and tool turns the Hermes way", () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "Be exact." },
      { role: "user", content: "What is 6 times 7?" },
      { role: "assistant", content: "", tool_calls: [{ id: "call_0", type: "function", function: { name: "calculator", arguments: '{"expression": "6 * 7"}' } }] },
      { role: "tool", content: "42", tool_call_id: "call_0" },
    ];
    const text = renderChat(CHATML_TEMPLATE, messages, { addGenerationPrompt: true, variables: { tools: [calcTool] } });
    expect(text).toBe(
      `<|im_start|>system\nBe exact.\n\n${TOOLS_PREAMBLE}\n${pythonJson(calcTool)}${TOOLS_POSTAMBLE}<|im_end|>\n` +
        "<|im_start|>user\nWhat is 6 times 7?<|im_end|>\n" +
        '<|im_start|>assistant\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "6 * 7"}}\n</tool_call><|im_end|>\n' +
        "<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n",
    );
    // no system message: the tools block is the system turn; content before calls, and two calls, one per block
    const two = renderChat(CHATML_TEMPLATE, [{ role: "assistant", content: "Let me check.", tool_calls: [{ function: { name: "a", arguments: { x: [1, "é"] } } }, { function: { name: "b", arguments: {} } }] }], {
      variables: { tools: [calcTool] },
    });
    expect(two.startsWith(`<|im_start|>system\n${TOOLS_PREAMBLE}`)).toBe(true);
    expect(two.endsWith('<|im_start|>assistant\nLet me check.\n<tool_call>\n{"name": "a", "arguments": {"x": [1, "é"]}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call><|im_end|>\n')).toBe(true);
  });

  it("formats a call as the template does (the text the tool SFT data and the parser use)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), (args) => {
        const viaTemplate = renderChat(CHATML_TEMPLATE, [{ role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: args as Record<string, unknown> } }] }]);
        expect(viaTemplate).toBe(`<|im_start|>assistant\n${formatToolCall({ name: "f", arguments: args as Record<string, unknown> })}<|im_end|>\n`);
        const back = parseToolCalls(formatToolCall({ name: "f", arguments: args as Record<string, unknown> }));
        expect(back.errors).toEqual([]);
        expect(back.calls[0].arguments).toEqual(JSON.parse(JSON.stringify(args)));
      }),
      { numRuns: 100 },
    );
  });

  it("writes tool calls into the content for a template that knows nothing of them", () => {
    const m: ChatMessage[] = [{ role: "assistant", content: "", tool_calls: [{ function: { name: "calculator", arguments: { expression: "1+2" } } }] }];
    expect(renderChat(PLAIN_CHATML, m)).toBe(renderChat(CHATML_TEMPLATE, m));
  });
});

describe("parseToolCalls", () => {
  it("reads valid calls, the text around them, and OpenAI's nested shape and string arguments", () => {
    const text = `Sure.\n${toolCallsText([{ name: "calculator", arguments: { expression: "2^10" } }])}\n<tool_call>{"type": "function", "function": {"name": "date", "arguments": "{\\"timezone\\": \\"UTC\\"}"}}</tool_call>`;
    const r = parseToolCalls(text, schemas);
    expect(r.errors).toEqual([]);
    expect(r.content).toBe("Sure.");
    expect(r.calls.map((c) => [c.id, c.name, c.arguments])).toEqual([
      ["call_0", "calculator", { expression: "2^10" }],
      ["call_1", "date", { timezone: "UTC" }],
    ]);
    expect(textWithout(text, r.calls)).toBe("Sure.");
    expect(parseToolCalls("no calls here", schemas)).toEqual({ content: "no calls here", calls: [], errors: [] });
    // a whole reply that is one bare call object naming a known tool
    expect(parseToolCalls(' {"name": "date", "arguments": {}} ', schemas).calls.map((c) => c.name)).toEqual(["date"]);
    expect(parseToolCalls('{"name": "nope", "arguments": {}}', schemas).calls).toEqual([]);
  });

  it("reports each kind of malformed call with a message the model can act on", () => {
    const kinds = (text: string) => parseToolCalls(text, schemas).errors.map((e) => e.kind);
    expect(kinds('<tool_call>{"name": "calculator", "arguments": {"expression": 1+2}}</tool_call>')).toEqual(["json"]);
    expect(kinds("<tool_call>[1, 2]</tool_call>")).toEqual(["shape"]);
    expect(kinds('<tool_call>{"arguments": {}}</tool_call>')).toEqual(["shape"]);
    expect(kinds('<tool_call>{"name": "calculator", "arguments": [1]}</tool_call>')).toEqual(["shape"]);
    expect(kinds('<tool_call>{"name": "calculator", "arguments": "not json"}</tool_call>')).toEqual(["json"]);
    expect(kinds('<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>')).toEqual(["unknown_tool"]);
    expect(kinds('<tool_call>{"name": "calculator", "arguments": {"expr": "1"}}</tool_call>')).toEqual(["arguments"]);
    expect(kinds('<tool_call>{"name": "calculator", "arguments": {"expression": "1"}}')).toEqual(["unclosed"]);
    expect(kinds("<tool_call>")).toEqual(["unclosed"]);
    expect(kinds('<tool_call>{"name": "date"}<tool_call>{"name": "date"}</tool_call>')).toEqual(["unclosed"]);
    expect(parseToolCalls('<tool_call>{"name": "date"}<tool_call>{"name": "date"}</tool_call>', schemas).calls).toHaveLength(1);
    const bad = parseToolCalls('<tool_call>{"name": "calculator", "arguments": {"expr": "1"}}</tool_call>', schemas).errors[0];
    expect(bad.message).toMatch(/calculator.*expression/);
    expect(bad.name).toBe("calculator");
    const many = parseToolCalls('<tool_call>{"name": "date"}</tool_call>'.repeat(20), schemas, { maxCalls: 3 });
    expect(many.calls).toHaveLength(3);
    expect(many.errors.map((e) => e.kind)).toEqual(Array(17).fill("too_many"));
  });

  it("never throws on hostile text and accounts for every opening tag", () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom("<tool_call>", "</tool_call>", "<tool", "{", "}", '"name"', ":", '"calculator"', '"arguments"', "\\", "\u0000", "\ud800", "[", "]", ","),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        const text = parts.join("");
        const r = parseToolCalls(text, schemas);
        const opens = text.split("<tool_call>").length - 1;
        expect(r.calls.length + r.errors.length).toBeLessThanOrEqual(Math.max(opens, 1));
        if (opens > 0) expect(r.calls.length + r.errors.length).toBe(opens);
        expect(r.content.includes("<tool_call>")).toBe(false);
        for (const c of r.calls) expect(schemas.has(c.name)).toBe(true);
      }),
      { numRuns: 500 },
    );
    expect(() => parseToolCalls(`<tool_call>${"[".repeat(100_000)}</tool_call>`, schemas)).not.toThrow();
  });

  it("finds where streamed text may be growing into a call", () => {
    expect(toolCallHoldFrom("hello")).toBe(-1);
    expect(toolCallHoldFrom("hello <tool")).toBe(6);
    expect(toolCallHoldFrom("a<")).toBe(1);
    expect(toolCallHoldFrom('x <tool_call>{"name"')).toBe(2);
    expect(toolCallHoldFrom("<tool_cal")).toBe(0);
  });
});
