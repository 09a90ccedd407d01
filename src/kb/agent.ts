// The agent loop: generate a reply, read its tool calls, run the tools, append their results as `tool` messages and
// generate again, until the model answers without calling a tool or a step limit is reached (a model that calls tools
// forever stops with a stated reason). Returns the whole transcript in OpenAI's message shape.
import { generate } from "../infer/generate.js";
import type { GPT } from "../model/gpt.js";
import { type ChatMessage, renderChat } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { parseToolCalls, toOpenAiToolCall, type ToolCallError } from "./toolCalls.js";
import { type OpenAiTool, runTool, type Tool, toOpenAiTools, toolSchemas } from "./tools.js";

/** What the loop asks of a model: the raw assistant text that follows `messages` (tools are on offer as `tools`). */
export interface AgentModel {
  complete(messages: readonly ChatMessage[], tools: readonly OpenAiTool[]): string | Promise<string>;
}

/** The conversation no longer fits the model's context. */
export class AgentContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AgentContextError";
  }
}

/** Options of {@link chatModel}. */
export interface ChatModelOptions {
  /** The run's chat template. */
  template: string;
  /** Most new tokens per reply (default 64). */
  maxTokens?: number;
  /** 0 = greedy (default). */
  temperature?: number;
  seed?: number;
  /** Render the tools block in the system turn (default true); false for models trained without it (small contexts). */
  describeTools?: boolean;
  /** The token that ends an assistant turn (default "<|im_end|>"). */
  eosToken?: string;
}

/** An llmforge model as an {@link AgentModel}: renders the chat with the template, generates until the end of the turn. */
export function chatModel(model: GPT, tok: Tokenizer, o: ChatModelOptions): AgentModel {
  const eos = tok.specialId(o.eosToken ?? "<|im_end|>");
  const stops = [eos, ...(tok.specialTokens.has("<|endoftext|>") ? [tok.specialId("<|endoftext|>")] : [])];
  return {
    complete(messages, tools) {
      const text = renderChat(o.template, messages, { addGenerationPrompt: true, variables: o.describeTools === false || tools.length === 0 ? {} : { tools } });
      const ids = tok.encode(text, { allowedSpecial: "all" });
      const room = model.config.blockSize - ids.length;
      if (room < 1) throw new AgentContextError(`the conversation has ${ids.length} tokens; the model's context holds ${model.config.blockSize}`);
      const r = generate(model, ids, {
        maxTokens: Math.min(o.maxTokens ?? 64, room), temperature: o.temperature ?? 0, seed: o.seed ?? 0, stopTokens: stops,
        decode: (t) => tok.decode(t), vocabLimit: tok.vocabSize,
      });
      return r.text;
    },
  };
}

/** Why the loop ended: an answer without tool calls, the step limit, or the context filled up. */
export type AgentStop = "answer" | "step_limit" | "context";

/** One tool run of the loop. */
export interface AgentToolRun {
  step: number;
  name: string;
  arguments: Record<string, unknown> | null;
  ok: boolean;
  content: string;
}

/** What {@link runAgent} returns. */
export interface AgentResult {
  /** The input messages followed by every assistant and tool message of the loop. */
  messages: ChatMessage[];
  /** The final assistant text (without tool calls); "" when the loop stopped otherwise. */
  answer: string;
  stopped: AgentStop;
  /** Why, in words (for "step_limit" and "context"). */
  reason: string;
  /** Model replies generated. */
  steps: number;
  toolRuns: AgentToolRun[];
  /** Malformed calls the model wrote (each reported back to it). */
  malformed: ToolCallError[];
}

/** Options of {@link runAgent}. */
export interface AgentOptions {
  tools: readonly Tool[];
  /** Most model replies (default 6); a model still calling tools after that stops with "step_limit". */
  maxSteps?: number;
  /** Timeout of each tool run (default: the tool's own). */
  toolTimeoutMs?: number;
}

/**
 * Runs the loop from `messages` (the last usually a user turn). Tool errors (malformed calls, unknown tools, bad
 * arguments, throws, timeouts) go back to the model as `tool` messages starting "error:"; nothing here throws on
 * model output. An {@link AgentContextError} from the model ends the loop with "context".
 */
export async function runAgent(model: AgentModel, messages: readonly ChatMessage[], o: AgentOptions): Promise<AgentResult> {
  const maxSteps = o.maxSteps ?? 6;
  if (!(Number.isInteger(maxSteps) && maxSteps >= 1)) throw new RangeError(`maxSteps must be a whole number >= 1, got ${maxSteps}`);
  const byName = new Map(o.tools.map((t) => [t.name, t]));
  const schemas = toolSchemas(o.tools);
  const defs = toOpenAiTools(o.tools);
  const out: ChatMessage[] = [...messages];
  const toolRuns: AgentToolRun[] = [];
  const malformed: ToolCallError[] = [];
  let callNo = 0;
  for (let step = 1; step <= maxSteps; step++) {
    let text: string;
    try {
      text = await model.complete(out, defs);
    } catch (err) {
      if (!(err instanceof AgentContextError)) throw err;
      return { messages: out, answer: "", stopped: "context", reason: err.message, steps: step - 1, toolRuns, malformed };
    }
    const parsed = parseToolCalls(text, schemas, { idFor: (i) => `call_${callNo + i}` });
    callNo += parsed.calls.length;
    if (parsed.calls.length === 0 && parsed.errors.length === 0) {
      out.push({ role: "assistant", content: text.trim() });
      return { messages: out, answer: text.trim(), stopped: "answer", reason: "the model answered without calling a tool", steps: step, toolRuns, malformed };
    }
    // with a malformed call the reply is kept as written (so the model sees what it wrote); otherwise as OpenAI tool_calls
    const results: ChatMessage[] = [];
    if (parsed.errors.length === 0) out.push({ role: "assistant", content: parsed.content, tool_calls: parsed.calls.map(toOpenAiToolCall) });
    else out.push({ role: "assistant", content: text.trim() });
    const events = [...parsed.calls.map((c) => ({ at: c.start, call: c })), ...parsed.errors.map((e) => ({ at: e.start, error: e }))].sort((a, b) => a.at - b.at);
    for (const ev of events) {
      if ("error" in ev && ev.error) {
        malformed.push(ev.error);
        toolRuns.push({ step, name: ev.error.name ?? "", arguments: null, ok: false, content: `error: ${ev.error.message}` });
        results.push({ role: "tool", content: `error: ${ev.error.message}`, ...(ev.error.name ? { name: ev.error.name } : {}) });
        continue;
      }
      if (!("call" in ev) || !ev.call) continue;
      const c = ev.call;
      const tool = byName.get(c.name) as Tool; // parseToolCalls checked the name
      const r = await runTool(tool, c.arguments, { timeoutMs: o.toolTimeoutMs });
      toolRuns.push({ step, name: c.name, arguments: c.arguments, ok: r.ok, content: r.content });
      results.push({ role: "tool", content: r.content, name: c.name, ...(parsed.errors.length === 0 ? { tool_call_id: c.id } : {}) });
    }
    out.push(...results);
  }
  return {
    messages: out, answer: "", stopped: "step_limit", steps: maxSteps, toolRuns, malformed,
    reason: `the model was still calling tools after ${maxSteps} replies (the step limit); its last calls were run but it gave no answer`,
  };
}
