// `llmforge peft merge --model RUN --adapter DIR --out DIR2`: merges a LoRA adapter into its base
// model and writes a plain model folder (plus tokenizer files). A thin shell over model/peftFormat.ts.
import type { Command } from "commander";
import { mergeAdapterFolder } from "../model/peftFormat.js";

export function registerPeftCommands(program: Command): void {
  const peft = program.command("peft").description("parameter-efficient fine-tuning adapters (LoRA in Hugging Face PEFT format, bottleneck adapters, prefixes)");
  peft
    .command("merge")
    .description("merge a LoRA adapter into its base model and write a plain model folder that `llmforge generate` and transformers load")
    .requiredOption("--model <run>", "base run folder (model in RUN/model) or model folder")
    .requiredOption("--adapter <dir>", "adapter folder (adapter_config.json + adapter_model.safetensors)")
    .requiredOption("--out <dir>", "folder to write the merged model into")
    .action((flags: { model: string; adapter: string; out: string }) => {
      const r = mergeAdapterFolder(flags);
      const tok = r.tokenizerFiles.length > 0 ? `, with ${r.tokenizerFiles.join(", ")}` : "; no tokenizer found (pass --tokenizer to generate)";
      process.stderr.write(`merged ${flags.adapter} (${r.summary}) into ${r.modelDir} -> ${flags.out}${tok}\n`);
    });
}
