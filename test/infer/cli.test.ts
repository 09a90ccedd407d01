import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerGenerateCommand } from "../../src/cli/generate.js";
import { loadRun, RunFolderError } from "../../src/model/runFolder.js";
import { generate } from "../../src/infer/generate.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

let dir: string;
let tokenizer: Tokenizer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-gen-"));
  const text = "the cat sat on the mat. the dog sat on the log. a cat and a dog. ".repeat(20);
  tokenizer = Tokenizer.trainFromTexts([text], { vocabSize: 300 });
  mkdirSync(join(dir, "run", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "run", "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
  const model = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: tokenizer.vocabSize, initStd: 0.2 }), { seed: 3 });
  saveModel(join(dir, "run", "model"), model);
  const small = new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: 100 }), { seed: 3 });
  saveModel(join(dir, "mismatch", "model"), small);
  mkdirSync(join(dir, "mismatch", "tokenizer"));
  writeFileSync(join(dir, "mismatch", "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runCli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  });
  try {
    const program = new Command().exitOverride();
    registerGenerateCommand(program);
    await program.parseAsync(["node", "llmforge", "generate", ...args]);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  return { stdout, stderr };
}

describe("llmforge generate", () => {
  it("streams the same text the library generates and reports tokens/s", async () => {
    const run = join(dir, "run");
    const { stdout, stderr } = await runCli(["--model", run, "--prompt", "the cat", "--max-tokens", "12", "--temperature", "0"]);
    const { model } = loadRun(run);
    const eot = tokenizer.specialId("<|endoftext|>");
    const want = generate(model, [eot, ...tokenizer.encode("the cat")], { temperature: 0, maxTokens: 12, stopTokens: [eot], decode: (t) => tokenizer.decode(t) });
    expect(stdout.replace(/\n$/, "")).toBe(want.text.replace(/\n$/, ""));
    expect(stderr).toMatch(/tokens\/s/);
  });
  it("--json prints one result object", async () => {
    const { stdout } = await runCli(["--model", join(dir, "run"), "--prompt", "a dog", "--max-tokens", "5", "--seed", "4", "--json"]);
    const r = JSON.parse(stdout);
    expect(r.tokens.length).toBeLessThanOrEqual(5);
    expect(typeof r.tokensPerSecond).toBe("number");
  });
  it("refuses a tokenizer whose vocabulary does not fit the model", async () => {
    expect(() => loadRun(join(dir, "mismatch"))).toThrow(/do not belong together/);
  });
  it("names the paths it looked at when the run has no model", async () => {
    expect(() => loadRun(join(dir, "nowhere"))).toThrow(RunFolderError);
    await expect(runCli(["--model", join(dir, "nowhere"), "--prompt", "x"])).rejects.toThrow(/no model in/);
  });
  it("rejects bad flags", async () => {
    await expect(runCli(["--model", join(dir, "run"), "--prompt", "x", "--temperature", "hot"])).rejects.toThrow(/--temperature <t>.* expected a number/);
    await expect(runCli(["--model", join(dir, "run")])).rejects.toThrow(/exactly one of --prompt or --prompt-file/);
  });
});
