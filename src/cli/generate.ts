// `llmforge generate --model RUN --prompt "..."`: loads a run's model and tokenizer and streams
// sampled text to stdout (tokens/s on stderr). A thin shell over infer/generate.ts.
import type { Command } from "commander";
import { readFileChecked } from "../io/fsErrors.js";
import { generateStream, type GenerateOptions, type GenerationResult } from "../infer/generate.js";
import { loadRun, runChatTemplate } from "../model/runFolder.js";
import { generateT5Text, isT5Run, loadT5Run } from "../infer/t5Generate.js";
import { describeCitations, NOTHING_FOUND, type RagPrompt, retrieveForPrompt } from "../kb/rag.js";
import { CHATML_TEMPLATE, renderChat, requireChatTokens } from "../tokenizer/chatTemplate.js";
import { addSamplingOptions, intOption, oneOf, positiveNumberOption } from "./options.js";
import type { BackendName } from "../tensor/backend/index.js";

/** The special token documents start with in llmforge shards; generation starts from it too. */
const DOC_TOKEN = "<|endoftext|>";
/** The token that ends an assistant turn in the ChatML template. */
const CHAT_EOS = "<|im_end|>";

/** Interprets \n, \t and \\ in a stop string typed on the command line. */
function unescapeStop(s: string): string {
  return s.replace(/\\(n|t|r|\\)/g, (_, c: string) => ({ n: "\n", t: "\t", r: "\r", "\\": "\\" })[c] ?? c);
}


interface GenerateFlags {
  model: string;
  prompt?: string;
  promptFile?: string;
  tokenizer?: string;
  chat?: boolean;
  system?: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  stop: string[];
  seed: number;
  bos: boolean;
  eos: boolean;
  cache: boolean;
  backend?: string;
  json?: boolean;
  kb?: string;
}

export function registerGenerateCommand(program: Command): void {
  const cmd = program
    .command("generate")
    .description("sample text from a trained model, streaming tokens to stdout (tokens/s on stderr)")
    .requiredOption("--model <run>", "run folder (model in RUN/model, tokenizer in RUN/tokenizer/tokenizer.json) or a model folder")
    .option("--prompt <text>", "text to continue")
    .option("--prompt-file <file>", "read the prompt from a file")
    .option("--tokenizer <file>", "tokenizer.json to use instead of the run's")
    .option("--chat", "treat the prompt as a user message: render it with the model's chat template, stop at the end of the assistant turn")
    .option("--system <text>", "with --chat: a system message first")
    .option("--kb <file>", "with --chat: answer from a knowledge base (`llmforge kb add`): retrieved passages go in the message as numbered sources");
  addSamplingOptions(cmd, { maxTokens: 200, temperature: 0.8, topK: 200, topP: 1 })
    .option("--repetition-penalty <r>", "> 1 discourages repeating tokens; 1 = off", positiveNumberOption, 1)
    .option("--stop <text>", "stop when this text appears (repeatable; \\n for newline)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--seed <n>", "sampling seed", intOption, 0)
    .option("--no-bos", `do not start the context with ${DOC_TOKEN}`)
    .option("--no-eos", `keep going past ${DOC_TOKEN} instead of stopping`)
    .option("--no-cache", "recompute the whole context every token (slow; for checking the KV cache)")
    .option("--backend <name>", "ref or native (default: native when built)", oneOf(["ref", "native"]))
    .option("--json", "print one JSON result instead of streaming text")
    .action(async (flags: GenerateFlags) => {
      if ((flags.prompt === undefined) === (flags.promptFile === undefined)) throw new Error("give exactly one of --prompt or --prompt-file");
      const prompt = flags.prompt ?? readFileChecked(flags.promptFile as string, "a text file holding the prompt").toString("utf8");
      if (isT5Run(flags.model)) {
        // An encoder-decoder answers the prompt given as its encoder input (library: infer/t5Generate.ts).
        if (flags.chat || flags.kb !== undefined || flags.stop.length > 0) throw new Error("--chat, --kb and --stop are for decoder-only models; a T5 answers the prompt given as its encoder input");
        const t5 = loadT5Run(flags.model, { tokenizer: flags.tokenizer, backend: flags.backend as BackendName | undefined });
        const r = generateT5Text(t5.model, t5.tokenizer, prompt, {
          maxTokens: flags.maxTokens, temperature: flags.temperature, topK: flags.topK, topP: flags.topP, repetitionPenalty: flags.repetitionPenalty, seed: flags.seed,
        });
        process.stdout.write(flags.json ? `${JSON.stringify({ text: r.text, tokens: r.tokens, finishReason: r.finishReason, promptTokens: r.promptTokens })}\n` : `${r.text}\n`);
        process.stderr.write(`[${r.tokens.length} tokens in ${(r.ms / 1000).toFixed(2)}s; encoder input ${r.promptTokens} tokens; stopped: ${r.finishReason}]\n`);
        return;
      }
      const loaded = loadRun(flags.model, { tokenizer: flags.tokenizer, backend: flags.backend as BackendName | undefined });
      const { model, tokenizer } = loaded;
      const docId = tokenizer.specialTokens.get(DOC_TOKEN);
      let promptIds: number[];
      let stopTokens = flags.eos && docId !== undefined ? [docId] : [];
      let rag: RagPrompt | null = null;
      if (flags.kb !== undefined) {
        if (!flags.chat) throw new Error("--kb needs --chat (the passages go in the user message)");
        rag = retrieveForPrompt(flags.kb, prompt, { contextTokens: model.config.blockSize, answerTokens: flags.maxTokens, count: (t) => tokenizer.encode(t).length });
        if (rag.nothingFound) {
          process.stdout.write(`${NOTHING_FOUND}\n`);
          return;
        }
      }
      if (flags.chat) {
        const template = runChatTemplate(loaded) ?? CHATML_TEMPLATE;
        requireChatTokens(tokenizer, template, [CHAT_EOS]);
        const messages = [...(flags.system !== undefined ? [{ role: "system" as const, content: flags.system }] : []), { role: "user" as const, content: rag?.prompt ?? prompt }];
        promptIds = tokenizer.encode(renderChat(template, messages, { addGenerationPrompt: true }), { allowedSpecial: "all" });
        stopTokens = [tokenizer.specialId(CHAT_EOS)];
      } else {
        promptIds = [...(flags.bos && docId !== undefined ? [docId] : []), ...tokenizer.encode(prompt)];
      }
      const opts: GenerateOptions = {
        maxTokens: flags.maxTokens, temperature: flags.temperature, topK: flags.topK, topP: flags.topP,
        repetitionPenalty: flags.repetitionPenalty, seed: flags.seed,
        stop: flags.stop.map(unescapeStop),
        stopTokens,
        decode: (ids) => tokenizer.decode(ids),
        vocabLimit: tokenizer.vocabSize,
        useCache: flags.cache ? undefined : false,
      };
      const out = process.stdout;
      let result: GenerationResult | undefined;
      let last = "";
      const it = generateStream(model, promptIds, opts);
      for (;;) {
        const r = await it.next();
        if (r.done) {
          result = r.value;
          break;
        }
        if (!flags.json && r.value.text) {
          out.write(r.value.text);
          last = r.value.text;
        }
      }
      if (flags.json) {
        const { text, tokens, finishReason, promptTokens, promptTruncated, prefillMs, decodeMs, tokensPerSecond } = result;
        out.write(`${JSON.stringify({ text, tokens, finishReason, promptTokens, promptTruncated, prefillMs, decodeMs, tokensPerSecond })}\n`);
      } else if (!last.endsWith("\n")) {
        out.write("\n");
      }
      if (rag) process.stderr.write(`sources:\n${describeCitations(rag.citations)}\n`);
      process.stderr.write(
        `[${result.tokens.length} tokens in ${(result.decodeMs / 1000).toFixed(2)}s: ${result.tokensPerSecond.toFixed(1)} tokens/s; ` +
          `prompt ${result.promptTokens} tokens in ${result.prefillMs.toFixed(0)} ms; stopped: ${result.finishReason}]\n`,
      );
    });
}
