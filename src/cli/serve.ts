// `llmforge serve --model RUN`: serves a run's model over OpenAI's HTTP API (chat, completions, embeddings, SSE
// streaming) with continuous batching in a worker thread. A thin shell over serve/server.ts; SIGTERM / Ctrl-C
// stop taking requests and let running streams end before the process exits.
import type { Command } from "commander";
import { startServer } from "../serve/server.js";
import type { BackendName } from "../tensor/backend/index.js";
import { oneOf, positiveIntOption, positiveNumberOption } from "./options.js";

interface ServeFlags {
  model: string;
  tokenizer?: string;
  port: number;
  host: string;
  apiKey?: string;
  auth: boolean;
  maxBatch: number;
  maxTokens: number;
  maxRequests: number;
  bodyLimit: number;
  modelName?: string;
  grace: number;
  backend?: BackendName;
  logLevel: string;
  kb?: string;
  threads?: number;
}

const portOption = (v: string): number => {
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= 0 && n <= 65535)) throw new Error(`--port: expected a port 0..65535, got "${v}"`);
  return n;
};

/** Hosts that only this machine reaches. */
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve a model over the OpenAI API (chat, completions, embeddings; streaming; continuous batching)")
    .requiredOption("--model <run>", "run folder (model in RUN/model, tokenizer in RUN/tokenizer/tokenizer.json) or a model folder")
    .option("--tokenizer <file>", "tokenizer.json to use instead of the run's")
    .option("--port <n>", "TCP port (0: any free one)", portOption, 8080)
    .option("--host <addr>", "address to listen on (127.0.0.1: this machine only)", "127.0.0.1")
    .option("--api-key <key>", "require 'Authorization: Bearer KEY' on /v1 requests (default: $LLMFORGE_API_KEY)")
    .option("--no-auth", "allow listening beyond this machine without an API key")
    .option("--max-batch <n>", "sequences decoded together (continuous batching)", positiveIntOption, 8)
    .option("--max-tokens <n>", "new tokens of a request that names no max_tokens", positiveIntOption, 512)
    .option("--max-requests <n>", "generation requests running or queued at once (429 above)", positiveIntOption, 256)
    .option("--body-limit <bytes>", "largest request body (413 above it)", positiveIntOption, 1 << 20)
    .option("--model-name <id>", "the model id clients send (default: the run folder's name)")
    .option("--grace <seconds>", "on SIGTERM, how long running requests may finish before they are stopped", positiveNumberOption, 30)
    .option("--backend <name>", "ref or native (default: native when built)", oneOf(["ref", "native"]))
    .option("--threads <n>", "threads that generate (default: $LLMFORGE_THREADS, else all cores but one, which answers HTTP and JSON)", positiveIntOption)
    .option("--kb <file>", "a knowledge base (`llmforge kb add`) for chat requests with \"kb\": true or {\"k\": N}: answers from retrieved passages, with citations")
    .option("--log-level <level>", "fatal, error, warn, info, debug or silent", oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info")
    .action(async (flags: ServeFlags) => {
      const apiKey = flags.apiKey ?? process.env.LLMFORGE_API_KEY;
      if (!LOOPBACK.has(flags.host) && apiKey === undefined && flags.auth) {
        throw new Error(`--host ${flags.host} makes the server reachable from other machines: give --api-key KEY (or $LLMFORGE_API_KEY), or --no-auth to serve without one`);
      }
      const server = await startServer({
        run: flags.model, tokenizer: flags.tokenizer, backend: flags.backend, maxBatch: flags.maxBatch, maxTokens: flags.maxTokens,
        maxRequests: flags.maxRequests, apiKey, bodyLimit: flags.bodyLimit, modelName: flags.modelName, logger: { level: flags.logLevel }, kb: flags.kb,
        threads: flags.threads,
      });
      let address: string;
      try {
        address = await server.app.listen({ port: flags.port, host: flags.host });
      } catch (err) {
        await server.shutdown(0); // the worker thread would keep the process alive
        throw err;
      }
      const { contextLength, backend } = server.engine.info;
      process.stderr.write(`llmforge serve: model '${server.modelName}' (context ${contextLength}, ${backend} backend, batch ${flags.maxBatch}) at ${address}/v1\n`);
      const stop = (signal: NodeJS.Signals) => {
        process.stderr.write(`llmforge serve: ${signal}: finishing running requests (up to ${flags.grace}s; a second signal quits at once)\n`);
        for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => process.exit(1));
        server.shutdown(flags.grace * 1000).then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`llmforge serve: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
