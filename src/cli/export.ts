// `llmforge export gguf|onnx|hf --model RUN --out PATH`: a run's model in the formats other tools run
// (GGUF for llama.cpp, ONNX for onnxruntime, a Hugging Face folder for transformers/PEFT). One thin sub-command per format
// over io/export*.ts; a new format is one more `exp.command(...)` block.
import type { Command } from "commander";
import { exportGguf, GGUF_EXPORT_TYPES } from "../model/exportGguf.js";
import { exportHf } from "../model/exportHf.js";
import { exportOnnx } from "../model/exportOnnx.js";
import { oneOf } from "./options.js";

/** The options every export shares: the run to read and where to write. */
function addRunOptions(cmd: Command, out: string): Command {
  return cmd
    .requiredOption("--model <run>", "run folder (model in RUN/model, tokenizer in RUN/tokenizer) or a model folder")
    .requiredOption("--out <path>", out)
    .option("--tokenizer <file>", "tokenizer.json to use instead of the run's");
}

export function registerExportCommands(program: Command): void {
  const exp = program.command("export").description("write a run's model for other runtimes: GGUF (llama.cpp), ONNX (onnxruntime), Hugging Face folder (transformers, PEFT)");

  addRunOptions(exp.command("gguf").description("write one GGUF file with the tokenizer embedded, for llama.cpp and tools built on it"), "the .gguf file to write")
    .option("--type <type>", `weight type: ${GGUF_EXPORT_TYPES.join(", ")} (1-D tensors stay f32)`, oneOf(GGUF_EXPORT_TYPES), "f16")
    .option("--name <name>", "general.name in the file (default: the run folder's name)")
    .action((flags: { model: string; out: string; tokenizer?: string; type: string; name?: string }) => {
      const r = exportGguf(flags);
      process.stderr.write(`wrote ${r.out}: ${r.architecture} architecture, ${r.tensors} tensors (${r.typedTensors} in ${r.type}, the rest f32), tokenizer pre "${r.pretokenizer}"\n`);
    });

  addRunOptions(exp.command("onnx").description("write an ONNX graph (opset 17): input_ids -> logits, optionally with key/value cache inputs and outputs"), "the .onnx file to write")
    .option("--kv-cache", "add past_key_values.N.key/value inputs and present.N.key/value outputs for decoding")
    .action((flags: { model: string; out: string; tokenizer?: string; kvCache?: boolean }) => {
      const r = exportOnnx(flags.model, flags.out, { kvCache: flags.kvCache ?? false, tokenizer: flags.tokenizer });
      process.stderr.write(`wrote ${r.outFile}: ${r.params} parameters, ${r.nodes} nodes, inputs ${r.inputs.join(", ")}; ${(r.bytes / 2 ** 20).toFixed(1)} MiB in ${r.seconds.toFixed(1)} s\n`);
    });

  addRunOptions(exp.command("hf").description("write a Hugging Face folder: model.safetensors, config.json, generation_config.json, tokenizer files"), "the folder to write")
    .option("--peft", "for a LoRA run: write its adapter as a PEFT folder instead of the merged weights")
    .action((flags: { model: string; out: string; tokenizer?: string; peft?: boolean }) => {
      const r = exportHf(flags);
      const note = r.zeroBiases ? " (gpt2 without biases: written with zero biases, which is exact)" : "";
      process.stderr.write(`wrote ${r.out}: ${r.kind === "adapter" ? "PEFT LoRA adapter" : "model"} with ${r.files.join(", ")}${note}\n`);
    });
}
