// Run folders: where a run keeps its model (RUN/model or RUN itself) and tokenizer, and loading
// both with a check that they belong together (and any adapter stored beside the weights applied).
// Every command that takes --model RUN uses this.
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadQuantizedModel, readQuantizationConfig } from "./quantized.js";
import { loadGgufRun } from "./importGguf.js";
import type { BackendName } from "../tensor/backend/index.js";
import { readTokenizerConfig, Tokenizer } from "../tokenizer/index.js";
import type { GPT } from "./gpt.js";
import { ADAPTER_CONFIG_FILE, loadAdapter } from "./peftFormat.js";
import { loadModel } from "./serialize.js";

/** A run folder that lacks what a command needs; the message lists where it looked. */
export class RunFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunFolderError";
  }
}

export interface RunPaths {
  modelDir: string;
  tokenizerFile: string;
}

/**
 * Where a run keeps its model (RUN/model, or RUN itself when it holds config.json) and its
 * tokenizer (RUN/tokenizer/tokenizer.json, or RUN/tokenizer.json); `tokenizer` overrides.
 */
export function resolveRunPaths(run: string, tokenizer?: string): RunPaths {
  const modelCandidates = [join(run, "model"), run];
  const modelDir = modelCandidates.find((d) => existsSync(join(d, "config.json")));
  if (!modelDir) {
    throw new RunFolderError(`no model in ${run}: looked for ${modelCandidates.map((d) => join(d, "config.json")).join(" and ")} (a run folder from \`llmforge train\`, or a folder written by saveModel)`);
  }
  const tokCandidates = tokenizer ? [tokenizer] : [join(run, "tokenizer", "tokenizer.json"), join(run, "tokenizer.json"), join(modelDir, "tokenizer.json")];
  const tokenizerFile = tokCandidates.find((p) => existsSync(p));
  if (!tokenizerFile) throw new RunFolderError(`no tokenizer for ${run}: looked for ${tokCandidates.join(", ")} (pass --tokenizer FILE)`);
  return { modelDir, tokenizerFile };
}

/** True for a path naming a .gguf file (llama.cpp's format) rather than a run or model folder. */
export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith(".gguf") && !(existsSync(path) && statSync(path).isDirectory());
}

/**
 * Loads the model of a model folder whatever it holds: plain weights, a folder written by `llmforge quantize`
 * (quantization_config in config.json: its layers load quantised), or base weights with an adapter beside them
 * (bottleneck adapters, prefix tuning: applied on load).
 */
export function loadModelFolder(modelDir: string, opts: { backend?: BackendName } = {}): GPT {
  const model = readQuantizationConfig(modelDir) ? loadQuantizedModel(modelDir, { backend: opts.backend }) : loadModel(modelDir, { backend: opts.backend });
  if (existsSync(join(modelDir, ADAPTER_CONFIG_FILE))) loadAdapter(model, modelDir);
  return model;
}

/**
 * Loads a run's model and tokenizer and checks that they belong together. `run` may also be a .gguf file
 * (llama.cpp's format): its tokenizer and chat template come from the file (paths then both name it).
 */
export function loadRun(run: string, opts: { tokenizer?: string; backend?: BackendName } = {}): { model: GPT; tokenizer: Tokenizer; paths: RunPaths; chatTemplate?: string | null } {
  if (isGgufPath(run)) {
    const g = loadGgufRun(run, { backend: opts.backend });
    const tokenizer = opts.tokenizer ? Tokenizer.fromFile(opts.tokenizer) : g.tokenizer;
    return { model: g.model, tokenizer, paths: { modelDir: run, tokenizerFile: opts.tokenizer ?? run }, chatTemplate: g.chatTemplate };
  }
  const paths = resolveRunPaths(run, opts.tokenizer);
  const tokenizer = Tokenizer.fromFile(paths.tokenizerFile);
  const model = loadModelFolder(paths.modelDir, opts);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new RunFolderError(
      `tokenizer ${paths.tokenizerFile} has ${tokenizer.vocabSize} tokens but the model in ${paths.modelDir} has a vocabulary of ${model.config.vocabSize}: they do not belong together`,
    );
  }
  return { model, tokenizer, paths };
}

/**
 * The chat template of a loaded run: the one embedded in a .gguf file, else tokenizer_config.json's (or
 * chat_template.jinja's) beside the tokenizer; null when there is none (callers fall back to ChatML).
 */
export function runChatTemplate(loaded: Pick<ReturnType<typeof loadRun>, "paths" | "chatTemplate">): string | null {
  if (loaded.chatTemplate !== undefined) return loaded.chatTemplate;
  if (loaded.paths.tokenizerFile.toLowerCase().endsWith(".gguf")) return null;
  return readTokenizerConfig(dirname(loaded.paths.tokenizerFile))?.chatTemplate ?? null;
}

