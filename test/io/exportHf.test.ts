// Hugging Face folder export: the files transformers needs (bos/eos ids, generation_config.json, tokenizer
// files with the chat template), the loss of an independent PyTorch forward of the folder (when /usr/bin/python3
// has torch), gpt2 without biases as exact zero biases, LoRA runs merged or as a PEFT folder, the CLI, bad input.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerExportCommands } from "../../src/cli/export.js";
import { withZeroBiases } from "../../src/model/exportGguf.js";
import { exportHf } from "../../src/model/exportHf.js";
import { readSafetensors } from "../../src/io/safetensors.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveAdapter } from "../../src/model/peftFormat.js";
import { loadModel, saveModel } from "../../src/model/serialize.js";
import { applyPeft } from "../../src/nn/peft.js";
import { ids } from "../../src/tensor/ops/index.js";
import { noGrad, tidy } from "../../src/tensor/tensor.js";
import { CHATML_TEMPLATE, writeTokenizerConfig } from "../../src/tokenizer/chatTemplate.js";
import { randomizeLoraB } from "../peft/helpers.js";
import { makeTinyRun, type TinyRun } from "./exportFixture.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-hf-export-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hasTorch = existsSync("/usr/bin/python3") && spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;
const REFERENCE_DIR = join(import.meta.dirname, "..", "model"); // hf_reference.py

let r: TinyRun;
let seq: number[];
beforeAll(() => {
  r = makeTinyRun(join(tmp, "base"), { steps: 40 });
  seq = r.tok.encode(` ${r.heldout}`).slice(0, 49);
});

const json = (p: string) => JSON.parse(readFileSync(p, "utf8"));

/** Mean next-token cross-entropy of `seq` under llmforge's model. */
function ourLoss(model: GPT): number {
  return tidy(() => noGrad(() => model.loss(ids(seq.slice(0, -1), [1, seq.length - 1]), Int32Array.from(seq.slice(1))).item()));
}

/** The same loss from an independent PyTorch forward (test/model/hf_reference.py, float64) of each folder, in one python run. */
function torchLosses(dirs: string[]): number[] {
  const code = [
    "import json, sys, torch",
    `sys.path.insert(0, ${JSON.stringify(REFERENCE_DIR)})`,
    "import hf_reference as h",
    "dirs, idx = json.loads(sys.argv[1]), torch.tensor(json.loads(sys.argv[2]), dtype=torch.long)",
    "out = []",
    "for d in dirs:",
    "    cfg = json.load(open(d + '/config.json'))",
    "    with torch.no_grad():",
    "        logits = {'gpt2': h.gpt2, 'llama': h.llama}[cfg['model_type']](cfg, h.load_safetensors(d + '/model.safetensors'), idx[:, :-1])",
    "    out.append(torch.nn.functional.cross_entropy(logits[0], idx[0, 1:]).item())",
    "print(json.dumps(out))",
  ].join("\n");
  return JSON.parse(execFileSync("/usr/bin/python3", ["-c", code, JSON.stringify(dirs), JSON.stringify([seq])], { encoding: "utf8" })) as number[];
}

describe("export hf", () => {
  it("writes a self-contained folder with bos/eos ids, generation_config.json and the tokenizer files", () => {
    const out = join(tmp, "hf-base");
    const res = exportHf({ model: r.run, out });
    expect(res.files).toEqual(["config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    expect(readdirSync(out).sort()).toEqual(res.files);
    const eot = r.tok.specialId("<|endoftext|>");
    const pad = r.tok.specialId("<|pad|>");
    expect(json(join(out, "config.json"))).toMatchObject({ model_type: "gpt2", bos_token_id: eot, eos_token_id: eot, pad_token_id: pad, vocab_size: r.model.config.vocabSize });
    expect(json(join(out, "generation_config.json"))).toMatchObject({ bos_token_id: eot, eos_token_id: eot, pad_token_id: pad });
    expect(json(join(out, "tokenizer_config.json"))).toMatchObject({ eos_token: "<|endoftext|>", bos_token: "<|endoftext|>", pad_token: "<|pad|>", tokenizer_class: "PreTrainedTokenizerFast" });
    expect(readFileSync(join(out, "tokenizer.json"), "utf8")).toBe(readFileSync(join(r.run, "tokenizer", "tokenizer.json"), "utf8"));
    // Reads back in llmforge as the same model, and the folder is a run on its own (tokenizer inside).
    expect(ourLoss(loadModel(out))).toBe(ourLoss(r.model));
    expect(existsSync(join(tmpdir(), "nothing"))).toBe(false);
    // A second export over the first replaces it.
    expect(exportHf({ model: r.run, out }).files.length).toBe(6);
    expect(readdirSync(tmp).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("a chat run: the template in tokenizer_config.json, eos <|im_end|>, generate() stops at either end token", () => {
    const dir = join(tmp, "chat");
    const run = join(dir, "run");
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    saveModel(join(run, "model"), r.model);
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), r.tok.toHuggingFaceJson());
    writeTokenizerConfig(join(run, "tokenizer"), r.tok, { chatTemplate: CHATML_TEMPLATE, modelMaxLength: 128 });
    const out = join(dir, "hf");
    exportHf({ model: run, out });
    const [imEnd, eot] = [r.tok.specialId("<|im_end|>"), r.tok.specialId("<|endoftext|>")];
    expect(json(join(out, "tokenizer_config.json"))).toMatchObject({ chat_template: CHATML_TEMPLATE, eos_token: "<|im_end|>", model_max_length: 128 });
    expect(json(join(out, "config.json")).eos_token_id).toBe(imEnd);
    expect(json(join(out, "generation_config.json")).eos_token_id).toEqual([imEnd, eot]);
  });

  it.skipIf(!hasTorch)("an independent PyTorch forward of the folder gives llmforge's loss within 1e-4 (gpt2, gpt2 without biases, llama)", () => {
    // A gpt2 model without biases is written with zero biases: the same function, now expressible as GPT-2.
    const nb = new GPT(makeConfig({ ...r.model.config, bias: false, initStd: 0.1 }), { seed: 4 });
    const zb = withZeroBiases(nb);
    expect(zb.config.bias).toBe(true);
    expect(ourLoss(zb)).toBe(ourLoss(nb));
    saveModel(join(tmp, "nobias", "run", "model"), zb);
    exportHf({ model: join(tmp, "nobias", "run"), out: join(tmp, "hf-nobias"), tokenizer: join(r.run, "tokenizer", "tokenizer.json") });
    expect(readSafetensors(join(tmp, "hf-nobias", "model.safetensors")).tensors.get("h.0.attn.c_attn.bias")?.data.every((v) => v === 0)).toBe(true);
    const ll = makeTinyRun(join(tmp, "llama"), { flavour: "llama", steps: 20, config: { nHead: 4, nKvHead: 2 } });
    exportHf({ model: ll.run, out: join(tmp, "hf-llama") });
    const want = [ourLoss(r.model), ourLoss(nb), ourLoss(ll.model)];
    const got = torchLosses([join(tmp, "hf-base"), join(tmp, "hf-nobias"), join(tmp, "hf-llama")]);
    console.log(`hf export: torch loss - llmforge loss: ${got.map((g, i) => (g - want[i]).toExponential(2)).join(", ")} (gpt2, gpt2 zero biases, llama)`);
    for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);
  });

  it("a LoRA run: merged weights by default, the PEFT adapter folder with --peft", () => {
    const dir = join(tmp, "lora");
    const run = join(dir, "run");
    const model = loadModel(join(r.run, "model"));
    const h = applyPeft(model, { method: "lora", r: 2, alpha: 4, targets: "q,v,c_fc" });
    randomizeLoraB(model, 3, 0.2);
    saveAdapter(join(run, "adapter"), model, h, { baseModel: r.run });
    h.mergeInto?.();
    const merged = loadModel(join(r.run, "model"));
    for (const [n, p] of merged.namedParameters()) p.data.set((model.namedParameters().find(([m]) => m === n)?.[1] ?? p).contiguousData(), p.offset);
    saveModel(join(run, "model"), merged);
    mkdirSync(join(run, "tokenizer"));
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), r.tok.toHuggingFaceJson());
    exportHf({ model: run, out: join(dir, "merged") });
    expect(ourLoss(loadModel(join(dir, "merged")))).toBe(ourLoss(merged));
    expect(ourLoss(merged)).not.toBe(ourLoss(r.model));
    const res = exportHf({ model: run, out: join(dir, "adapter"), peft: true });
    expect(res.kind).toBe("adapter");
    expect(res.files).toEqual(["adapter_config.json", "adapter_model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    expect(json(join(dir, "adapter", "adapter_config.json"))).toMatchObject({ peft_type: "LORA", r: 2, lora_alpha: 4 });
    expect(readFileSync(join(dir, "adapter", "adapter_model.safetensors"))).toEqual(readFileSync(join(run, "adapter", "adapter_model.safetensors")));
    expect(() => exportHf({ model: r.run, out: join(dir, "x"), peft: true })).toThrow(/--peft: .* has no LoRA adapter/);
  });

  it("refuses an output inside the model folder or over a folder of other files, leaving both untouched", () => {
    expect(() => exportHf({ model: r.run, out: join(r.run, "model") })).toThrow(/inside the model folder/);
    expect(() => exportHf({ model: r.run, out: join(r.run, "model", "hf") })).toThrow(/inside the model folder/);
    expect(existsSync(join(r.run, "model", "hf"))).toBe(false);
    const other = join(tmp, "other");
    mkdirSync(other);
    writeFileSync(join(other, "notes.txt"), "mine");
    expect(() => exportHf({ model: r.run, out: other })).toThrow(/folder with other files in it/);
    expect(readdirSync(other)).toEqual(["notes.txt"]);
    expect(readdirSync(tmp).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });
});

async function cli(args: string[]): Promise<string> {
  let stderr = "";
  const e = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  });
  try {
    const program = new Command().exitOverride();
    program.configureOutput({ writeErr: (s) => { stderr += s; } });
    registerExportCommands(program);
    await program.parseAsync(["node", "llmforge", "export", ...args]);
  } finally {
    e.mockRestore();
  }
  return stderr;
}

describe("llmforge export", () => {
  it("gguf and hf sub-commands write their outputs and say what they wrote", async () => {
    const gguf = join(tmp, "cli", "m.gguf");
    expect(await cli(["gguf", "--model", r.run, "--out", gguf, "--type", "q8_0"])).toMatch(/wrote .*m\.gguf: gpt2 architecture, 28 tensors \(10 in q8_0, the rest f32\), tokenizer pre "dbrx"/);
    expect(readFileSync(gguf).subarray(0, 4).toString()).toBe("GGUF");
    expect(await cli(["hf", "--model", r.run, "--out", join(tmp, "cli", "hf")])).toMatch(/wrote .*hf: model with config\.json, generation_config\.json/);
    await expect(cli(["gguf", "--model", r.run, "--out", gguf, "--type", "q5_k"])).rejects.toThrow(/expected one of f32, f16, q8_0, q4_0, got "q5_k"/);
  });
});
