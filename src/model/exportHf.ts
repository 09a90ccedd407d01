// A run as a self-contained Hugging Face folder: model.safetensors + config.json (with bos/eos ids) +
// generation_config.json + tokenizer.json + tokenizer_config.json (chat template, bos/eos/pad) +
// special_tokens_map.json; LoRA runs as merged weights, or with `peft` as the PEFT adapter folder.
// Built in a temp folder beside the target and renamed into place, so a failure leaves nothing half-written.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, readAdapterConfig } from "./peftFormat.js";
import { resolveRunPaths } from "./runFolder.js";
import { CONFIG_FILE, saveModel } from "./serialize.js";
import { readTokenizerConfig, type TokenizerConfig, writeTokenizerConfig } from "../tokenizer/chatTemplate.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { VERSION } from "../version.js";
import { removeOrphanedTemps, writeFileAtomicSync } from "../io/atomicWrite.js";
import { assertOutsideModel, ExportError, loadExportModel } from "./exportGguf.js";

export interface ExportHfOptions {
  /** Run folder (model in RUN/model, tokenizer in RUN/tokenizer) or model folder. */
  model: string;
  /** The folder to write (created; an earlier export there is replaced). */
  out: string;
  /** tokenizer.json to use instead of the run's. */
  tokenizer?: string;
  /** Write the run's LoRA adapter (RUN/adapter) as a PEFT adapter folder instead of merged weights. */
  peft?: boolean;
}

export interface ExportHfResult {
  out: string;
  /** "model" (full weights) or "adapter" (PEFT LoRA folder). */
  kind: "model" | "adapter";
  files: string[];
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** True when a gpt2-flavour model without biases was written with zero biases (exact: GPT-2 always has them). */
  zeroBiases: boolean;
}

/** The special tokens an exported folder names: eos/bos/pad from the run's tokenizer_config.json, else llmforge's conventions. */
function specialTokens(tok: Tokenizer, tcfg: TokenizerConfig | null): { eos?: string; bos?: string; pad?: string } {
  const has = (t: string | undefined): string | undefined => (t !== undefined && tok.specialTokens.has(t) ? t : undefined);
  const doc = has("<|endoftext|>");
  const eos = has(tcfg?.eosToken) ?? (tcfg?.chatTemplate !== undefined ? has("<|im_end|>") : undefined) ?? doc;
  return { eos, bos: has(tcfg?.bosToken) ?? doc, pad: has(tcfg?.padToken) ?? has("<|pad|>") ?? eos };
}

/** Replaces `out` by the finished folder `tmp`; refuses to replace a non-empty folder that is not an export. */
function moveIntoPlace(tmp: string, out: string): void {
  if (existsSync(out)) {
    const names = readdirSync(out);
    if (names.length > 0 && !names.includes(CONFIG_FILE) && !names.includes(ADAPTER_CONFIG_FILE)) {
      throw new ExportError(`--out ${out} is a folder with other files in it (${names.slice(0, 3).join(", ")}...): give a new or empty folder`);
    }
    const old = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-old`);
    renameSync(out, old);
    renameSync(tmp, out);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, out);
  }
}

/** Writes the run as a Hugging Face folder; see {@link ExportHfOptions}. */
export function exportHf(o: ExportHfOptions): ExportHfResult {
  const paths = resolveRunPaths(o.model, o.tokenizer);
  assertOutsideModel(o.out, paths.modelDir, o.model);
  const tok = Tokenizer.fromFile(paths.tokenizerFile);
  const tcfg = readTokenizerConfig(dirname(paths.tokenizerFile)) ?? readTokenizerConfig(paths.modelDir);
  const sp = specialTokens(tok, tcfg);
  const adapterDir = join(o.model, "adapter");
  if (o.peft && !existsSync(join(adapterDir, ADAPTER_CONFIG_FILE))) {
    throw new ExportError(`--peft: ${o.model} has no LoRA adapter (looked for ${join(adapterDir, ADAPTER_CONFIG_FILE)}, written by \`llmforge sft --peft lora\`)`);
  }
  const out = resolve(o.out);
  mkdirSync(dirname(out), { recursive: true });
  removeOrphanedTemps(dirname(out));
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    let zeroBiases = false;
    let vocab: number;
    if (o.peft) {
      const json = readAdapterConfig(adapterDir);
      if (json.peft_type !== "LORA") throw new ExportError(`--peft: ${adapterDir} holds a ${String(json.peft_type)} adapter; only LoRA adapters load in Hugging Face PEFT`);
      copyFileSync(join(adapterDir, ADAPTER_WEIGHTS_FILE), join(tmp, ADAPTER_WEIGHTS_FILE));
      copyFileSync(join(adapterDir, ADAPTER_CONFIG_FILE), join(tmp, ADAPTER_CONFIG_FILE));
      vocab = tok.vocabSize;
    } else {
      const loaded = loadExportModel(paths.modelDir);
      const model = loaded.model;
      zeroBiases = loaded.zeroBiases;
      if (tok.vocabSize > model.config.vocabSize) {
        throw new ExportError(`tokenizer ${paths.tokenizerFile} has ${tok.vocabSize} tokens but the model in ${paths.modelDir} has a vocabulary of ${model.config.vocabSize}: they do not belong together`);
      }
      saveModel(tmp, model, { metadata: { llmforge_export: resolve(paths.modelDir) } });
      vocab = model.config.vocabSize;
    }
    const id = (t: string | undefined): number | null => (t === undefined ? null : tok.specialId(t));
    const [bos, eos, pad] = [id(sp.bos), id(sp.eos), id(sp.pad)];
    if (!o.peft) {
      const cfgPath = join(tmp, CONFIG_FILE);
      const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>;
      Object.assign(cfg, { bos_token_id: bos, eos_token_id: eos, pad_token_id: pad });
      writeFileAtomicSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
      // generate() stops at any of these: the end of an assistant turn and the end of a document.
      const doc = tok.specialTokens.get("<|endoftext|>");
      const stops = [...new Set([eos, doc].filter((x): x is number => x !== null && x !== undefined))];
      const gen = { _from_model_config: true, bos_token_id: bos, eos_token_id: stops.length === 1 ? stops[0] : stops, pad_token_id: pad, llmforge_version: VERSION };
      writeFileAtomicSync(join(tmp, "generation_config.json"), `${JSON.stringify(gen, null, 2)}\n`);
    }
    copyFileSync(paths.tokenizerFile, join(tmp, "tokenizer.json"));
    writeTokenizerConfig(tmp, tok, {
      chatTemplate: tcfg?.chatTemplate, eosToken: sp.eos, padToken: sp.pad, bosToken: sp.bos ?? null,
      modelMaxLength: tcfg?.modelMaxLength,
    });
    if (vocab < tok.vocabSize) throw new ExportError(`internal: vocabulary ${vocab} below the tokenizer's ${tok.vocabSize}`);
    const files = readdirSync(tmp).sort();
    moveIntoPlace(tmp, out);
    return { out: o.out, kind: o.peft ? "adapter" : "model", files, bosTokenId: bos, eosTokenId: eos, zeroBiases };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
