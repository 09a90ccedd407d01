// `llmforge chat --model RUN [--kb KB] [-k N]`: a conversation with a chat model, one user message per line (a
// readline prompt on a terminal; piped stdin works the same), answered from a knowledge base with citations when
// --kb is given. A thin shell over kb/chatSession.ts.
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { AgentContextError } from "../kb/agent.js";
import { ChatSession } from "../kb/chatSession.js";
import { describeCitations, type KbRetriever, openKbRetriever } from "../kb/rag.js";
import { loadRun, runChatTemplate } from "../model/runFolder.js";
import type { BackendName } from "../tensor/backend/index.js";
import { CHATML_TEMPLATE } from "../tokenizer/chatTemplate.js";
import { intOption, nonNegativeNumberOption, oneOf, positiveIntOption } from "./options.js";

interface ChatFlags {
  model: string;
  tokenizer?: string;
  kb?: string;
  embedder?: string;
  k: number;
  system?: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  backend?: BackendName;
  json?: boolean;
}

export function registerChatCommand(program: Command): void {
  program
    .command("chat")
    .description("chat with a model, one message per line (terminal or piped stdin); with --kb, answers cite passages of a knowledge base. /reset forgets the conversation, /quit ends it")
    .requiredOption("--model <run>", "run folder or model folder (its chat template renders the conversation)")
    .option("--tokenizer <file>", "tokenizer.json to use instead of the run's")
    .option("--kb <file>", "answer from this knowledge base (`llmforge kb add`): passages retrieved per message go in the prompt as numbered sources")
    .option("--embedder <run>", "with --kb: the embedder for hybrid search (default: the one the knowledge base recorded; BM25 when it is gone)")
    .option("-k, --k <n>", "with --kb: passages retrieved per message", positiveIntOption, 5)
    .option("--system <text>", "a system message before the conversation")
    .option("--max-tokens <n>", "most new tokens per answer", positiveIntOption, 128)
    .option("--temperature <t>", "sampling temperature; 0 = greedy", nonNegativeNumberOption, 0.7)
    .option("--seed <n>", "sampling seed (turn i uses seed + i)", intOption, 0)
    .option("--backend <name>", "ref or native (default: native when built)", oneOf(["ref", "native"]))
    .option("--json", "one JSON object per answer ({answer, citations, nothingFound}) instead of text")
    .action(async (flags: ChatFlags) => {
      const loaded = loadRun(flags.model, { tokenizer: flags.tokenizer, backend: flags.backend });
      const retriever: KbRetriever | null = flags.kb !== undefined ? openKbRetriever(flags.kb, { embedder: flags.embedder }) : null;
      try {
        const session = new ChatSession({
          model: loaded.model, tokenizer: loaded.tokenizer, template: runChatTemplate(loaded) ?? CHATML_TEMPLATE, system: flags.system, maxTokens: flags.maxTokens,
          temperature: flags.temperature, seed: flags.seed, retriever, k: flags.k,
        });
        const tty = process.stdin.isTTY === true;
        const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
        if (tty) {
          process.stderr.write(`chatting with ${flags.model}${retriever ? ` over ${flags.kb} (${retriever.mode})` : ""}; /reset forgets the conversation, /quit or Ctrl-D ends it\n`);
          rl.setPrompt("> ");
          rl.prompt();
        }
        // lines are answered one at a time, in order, even when piped input arrives all at once
        for await (const line of rl) {
          const text = line.trim();
          if (text === "/quit" || text === "/exit") break;
          if (text === "/reset") session.reset();
          else if (text !== "") {
            try {
              const turn = await session.send(text);
              if (flags.json) process.stdout.write(`${JSON.stringify(turn)}\n`);
              else {
                process.stdout.write(`${turn.answer}\n`);
                if (turn.citations.length > 0) process.stdout.write(`sources:\n${describeCitations(turn.citations)}\n`);
                if (turn.dropped > 0) process.stderr.write(`(${turn.dropped} earlier messages dropped to fit the context)\n`);
              }
            } catch (err) {
              // a message that does not fit the context fails its turn, not the conversation
              if (!(err instanceof RangeError || err instanceof AgentContextError)) throw err;
              process.stderr.write(`llmforge chat: ${err.message}\n`);
              if (flags.json) process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
              process.exitCode = 1;
            }
          }
          if (tty) rl.prompt();
        }
        rl.close();
      } finally {
        retriever?.close();
      }
    });
}
