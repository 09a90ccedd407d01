// The tokenizer's worker threads (worker.ts: pre-token counting and batch encoding) on the generic pool of
// io/workerPool.ts; a worker's "error" reply rejects its request with a TokenizerError.
import { siblingModule, WorkerPool } from "../io/workerPool.js";
import { TokenizerError } from "./errors.js";
import type { WorkerReply, WorkerRequest } from "./worker.js";

export { defaultWorkerCount } from "../io/workerPool.js";

/** A pool of tokenizer workers with per-worker request queues. */
export class TokenizerWorkerPool extends WorkerPool<WorkerRequest, WorkerReply> {
  constructor(count: number) {
    super(siblingModule(import.meta.url, "worker"), count, (r) => (r.kind === "error" ? new TokenizerError(`tokenizer worker: ${r.message}`) : undefined));
  }
}
