// Starts tokenizer worker threads: the compiled worker.js in a build, or worker.ts through
// tsx when running from source (tests, benchmarks). Requests carry a sequence number; replies are awaited per request.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { TokenizerError } from "./errors.js";
import type { WorkerReply, WorkerRequest } from "./worker.js";

/** Default worker count: all cores (the machine this was built for has 2). */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const script = fileURLToPath(new URL("./worker.ts", here));
    const tsxApi = import.meta.resolve("tsx/esm/api");
    const boot = `import(${JSON.stringify(tsxApi)}).then((api) => api.tsImport(${JSON.stringify(script)}, ${JSON.stringify(here)}))`;
    return new Worker(boot, { eval: true });
  }
  return new Worker(new URL("./worker.js", here));
}

/** A small pool of tokenizer workers with per-worker request queues. */
export class TokenizerWorkerPool {
  private readonly workers: Worker[];
  private readonly waiting: Array<Array<{ resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>>;
  private next = 0;

  constructor(count: number) {
    this.workers = [];
    this.waiting = [];
    for (let i = 0; i < count; i++) {
      const w = startWorker();
      const queue: Array<{ resolve: (r: WorkerReply) => void; reject: (e: Error) => void }> = [];
      w.on("message", (reply: WorkerReply) => {
        const p = queue.shift();
        if (!p) return;
        if (reply.kind === "error") p.reject(new TokenizerError(`tokenizer worker: ${reply.message}`));
        else p.resolve(reply);
      });
      w.on("error", (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const p of queue.splice(0)) p.reject(e);
      });
      this.workers.push(w);
      this.waiting.push(queue);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends a message that gets no reply to every worker. */
  broadcast(msg: WorkerRequest): void {
    for (const w of this.workers) w.postMessage(msg);
  }

  /** Sends a request to worker `i` and resolves with its reply (replies come back in order per worker). */
  request(i: number, msg: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.waiting[i].push({ resolve, reject });
      this.workers[i].postMessage(msg);
    });
  }

  /** Index of the worker with the fewest requests in flight (round robin on ties). */
  leastBusy(): number {
    let best = this.next;
    for (let k = 0; k < this.workers.length; k++) {
      const i = (this.next + k) % this.workers.length;
      if (this.waiting[i].length < this.waiting[best].length) best = i;
    }
    this.next = (best + 1) % this.workers.length;
    return best;
  }

  /** Requests in flight on worker i. */
  inFlight(i: number): number {
    return this.waiting[i].length;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
