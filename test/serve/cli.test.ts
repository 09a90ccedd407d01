// `llmforge serve` as a process: it prints its address, streams a completion, and on SIGTERM lets the running
// stream end with [DONE], refuses new connections, and exits 0.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { CLI } from "../helpers/tinyShards.js";

let dir: string;
let child: ChildProcess | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-serve-cli-"));
  const tok = Tokenizer.trainFromTexts(["the cat sat on the mat. a dog ran. ".repeat(20)], { vocabSize: 280 });
  mkdirSync(join(dir, "run", "tokenizer"), { recursive: true });
  writeFileSync(join(dir, "run", "tokenizer", "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(dir, "run", "model"), new GPT(makeConfig({ nLayer: 2, nHead: 4, nEmbd: 128, blockSize: 512, vocabSize: tok.vocabSize }), { seed: 1 }));
});

afterAll(() => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("llmforge serve (process)", () => {
  it("serves, and on SIGTERM finishes the running stream and exits 0", async () => {
    const proc = spawn(process.execPath, [...CLI, "serve", "--model", join(dir, "run"), "--port", "0", "--log-level", "warn"], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    let stderr = "";
    const address = await new Promise<string>((resolve, reject) => {
      proc.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stderr);
        if (m) resolve(m[1]);
      });
      proc.once("exit", (code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const res = await fetch(`${address}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "run", prompt: "the cat", max_tokens: 300, temperature: 1, seed: 1, stream: true, ignore_eos: true }),
    });
    const reader = res.body?.getReader();
    let body = new TextDecoder().decode((await reader?.read())?.value);
    proc.kill("SIGTERM");
    for (;;) {
      const r = await reader?.read();
      if (!r || r.done) break;
      body += new TextDecoder().decode(r.value);
    }
    expect(body.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(body).toMatch(/"finish_reason":"length"/);
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: finishing running requests/);
    await expect(fetch(`${address}/health`)).rejects.toThrow();
  });
});
