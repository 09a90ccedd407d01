// `llmforge prompt`: a question answered with a named prompt template (few-shot, chain of thought) or through the agent
// loop with tools, or a whole held-out task scored by exact match. A thin shell over infer/promptTemplates.ts and
// kb/promptEval.ts.
import type { Command } from "commander";
import { runAgent, chatModel } from "../kb/agent.js";
import { evaluatePrompting, instructionTask, pickShots, promptIds } from "../kb/promptEval.js";
import { builtinTools, loadToolModule, type Tool } from "../kb/tools.js";
import { generate } from "../infer/generate.js";
import { buildPrompt, extractAnswer, findPromptTemplate, loadPromptTemplates, PROMPT_TEMPLATES, type PromptTemplate } from "../infer/promptTemplates.js";
import { loadRun, runChatTemplate } from "../model/runFolder.js";
import type { BackendName } from "../tensor/backend/index.js";
import { CHATML_TEMPLATE } from "../tokenizer/chatTemplate.js";
import { intOption, nonNegativeIntOption, oneOf, positiveIntOption } from "./options.js";

interface PromptFlags {
  model: string;
  template: string;
  templates?: string;
  shots: number;
  prompt?: string;
  task?: string;
  limit: number;
  seed: number;
  tools?: string;
  toolModule?: string[];
  kb?: string;
  maxSteps: number;
  describeTools: boolean;
  maxTokens: number;
  backend?: string;
  json?: boolean;
  list?: boolean;
}

/** The tools named by --tools (built-ins) and --tool-module (user modules). */
async function chosenTools(f: PromptFlags): Promise<Tool[]> {
  const builtins = await builtinTools({ kb: f.kb });
  const names = (f.tools ?? "").split(",").map((s) => s.trim()).filter((s) => s);
  const out = names.map((n) => {
    const t = builtins.find((b) => b.name === n);
    if (!t) throw new Error(`--tools: no built-in tool "${n}"; built-ins: ${builtins.map((b) => b.name).join(", ")}${f.kb ? "" : " (kb_search needs --kb)"}`);
    return t;
  });
  for (const file of f.toolModule ?? []) out.push(...(await loadToolModule(file)));
  return out;
}

export function registerPromptCommand(program: Command): void {
  program
    .command("prompt")
    .description("answer with a prompt template (few-shot, chain of thought) or with tools through the agent loop; --task scores a held-out task by exact match")
    .requiredOption("--model <run>", "run folder or model folder")
    .option("--template <name>", `prompt template: ${PROMPT_TEMPLATES.map((t) => t.name).join(", ")} or one from --templates`, "direct")
    .option("--templates <file>", "JSON or YAML file of more templates ({name, mode, question, answer, system, reasoning, extract, ...})")
    .option("--shots <n>", "solved examples in front of the question (from the task's train split)", nonNegativeIntOption, 0)
    .option("--prompt <text>", "one question to answer")
    .option("--task <name>", "score the held-out questions of an instruction-mix task (e.g. arithmetic) by exact match")
    .option("--limit <n>", "with --task: questions scored", positiveIntOption, 200)
    .option("--seed <n>", "instruction mix seed (the same as the SFT run's) and shot draws", intOption, 1234)
    .option("--tools <names>", "answer through the agent loop with these built-in tools (calculator,date,kb_search)")
    .option("--tool-module <files...>", "JS modules exporting more tools ({name, description, parameters, run})")
    .option("--kb <file>", "knowledge base for the kb_search tool")
    .option("--max-steps <n>", "agent loop: most model replies", positiveIntOption, 3)
    .option("--no-describe-tools", "do not put the tools block in the system turn (for small models trained without it)")
    .option("--max-tokens <n>", "most new tokens per reply", positiveIntOption, 48)
    .option("--backend <name>", "ref or native (default: native when built)", oneOf(["ref", "native"]))
    .option("--json", "print the result as JSON")
    .option("--list", "list the templates and exit")
    .action(async (f: PromptFlags) => {
      const extra: PromptTemplate[] = f.templates ? loadPromptTemplates(f.templates) : [];
      if (f.list) {
        for (const t of [...extra, ...PROMPT_TEMPLATES.filter((b) => !extra.some((e) => e.name === b.name))]) console.log(`${t.name.padEnd(12)} ${t.mode.padEnd(5)} ${t.description}`);
        return;
      }
      if ((f.prompt === undefined) === (f.task === undefined)) throw new Error("give exactly one of --prompt or --task");
      const template = findPromptTemplate(f.template, extra);
      const tools = await chosenTools(f);
      const loaded = loadRun(f.model, { backend: f.backend as BackendName | undefined });
      const { model, tokenizer } = loaded;
      model.eval();
      const chatTemplate = runChatTemplate(loaded) ?? CHATML_TEMPLATE;
      const task = instructionTask(f.task ?? "arithmetic", { seed: f.seed, limit: f.limit });
      if (f.task !== undefined) {
        const r = await evaluatePrompting(model, tokenizer, task.heldout, task.pool, {
          template, chatTemplate, shots: f.shots, seed: f.seed, maxTokens: f.maxTokens, tools, maxSteps: f.maxSteps, describeTools: f.describeTools,
        });
        if (f.json) console.log(JSON.stringify(r, null, 2));
        else {
          const extraFigures = r.calledTool !== undefined ? `; called a tool on ${(r.calledTool * 100).toFixed(1)}%, malformed calls ${((r.malformedCalls ?? 0) * 100).toFixed(1)}%` : "";
          console.log(`${f.task}: template ${r.template}, ${r.shots} shots${r.tools.length ? `, tools ${r.tools.join(",")}` : ""}: exact match ${(r.exactMatch * 100).toFixed(1)}% of ${r.items}` +
            `${r.tooLong ? ` (${r.tooLong} did not fit the context; ${((r.exactMatchFitted ?? 0) * 100).toFixed(1)}% of the rest)` : ""}${extraFigures}`);
          for (const s of r.samples.slice(0, 5)) console.log(`  ${s.match ? "ok " : "bad"} ${JSON.stringify(s.question)} -> ${JSON.stringify(s.reply.slice(0, 80))} (want ${s.reference})`);
        }
        return;
      }
      const question = f.prompt as string;
      const built = buildPrompt(template, question, pickShots(task.pool, f.shots, 0, question, f.seed));
      if (tools.length > 0) {
        if (built.mode !== "chat") throw new Error(`tools need a chat-mode template; "${template.name}" is plain text`);
        const r = await runAgent(chatModel(model, tokenizer, { template: chatTemplate, maxTokens: f.maxTokens, describeTools: f.describeTools }), built.messages, { tools, maxSteps: f.maxSteps });
        if (f.json) console.log(JSON.stringify(r, null, 2));
        else {
          for (const m of r.messages.slice(built.messages.length)) console.log(`[${m.role}] ${m.content}${m.tool_calls ? ` ${JSON.stringify(m.tool_calls)}` : ""}`);
          if (r.stopped !== "answer") console.log(`(stopped: ${r.reason})`);
        }
        return;
      }
      const ids = promptIds(tokenizer, chatTemplate, built);
      if (ids.length >= model.config.blockSize) throw new Error(`the prompt has ${ids.length} tokens; the model's context holds ${model.config.blockSize} (use fewer --shots)`);
      const eos = [tokenizer.specialTokens.get("<|im_end|>"), tokenizer.specialTokens.get("<|endoftext|>")].filter((x): x is number => x !== undefined);
      const reply = generate(model, ids, {
        maxTokens: Math.min(f.maxTokens, model.config.blockSize - ids.length), temperature: 0, stopTokens: eos, stop: built.mode === "text" ? ["\n\n", "\nQuestion:"] : [],
        decode: (x) => tokenizer.decode(x), vocabLimit: tokenizer.vocabSize,
      }).text;
      if (f.json) console.log(JSON.stringify({ prompt: tokenizer.decode(ids), reply, answer: extractAnswer(template, reply) }));
      else console.log(`${built.prefix}${reply}\n(answer: ${extractAnswer(template, reply)})`);
    });
}
