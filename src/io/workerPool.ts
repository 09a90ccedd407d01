// Worker threads for every layer: start a worker from a module beside its caller (the compiled .js, or the .ts
// source through tsx when running from source), a pool of them with one request/reply queue per worker, and
// runTasks, which spreads a task list over this thread and such a pool (serveTasks is its worker side).
import { availableParallelism } from "node:os";
import { parentPort, Worker } from "node:worker_threads";

/** Default worker count: the machine's cores. */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

/**
 * URL of module `name` (no extension) beside the caller whose `import.meta.url` is `callerUrl`: the `.ts` source
 * when the caller runs from source (tests, benches), else the compiled `.js`.
 */
export function siblingModule(callerUrl: string, name: string): URL {
  return new URL(`./${name}${callerUrl.endsWith(".ts") ? ".ts" : ".js"}`, callerUrl);
}

/** Starts a worker thread running `module`: a `.js` file directly, a `.ts` file through tsx's ESM loader. */
export function startWorker(module: URL): Worker {
  // A worker inherits the process's options, and Node refuses to start one with --input-type, an option valid only
  // with -e (as in `node --input-type=module -e "await import('llmforge') ..."`), so it is left out.
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--input-type"));
  if (!module.pathname.endsWith(".ts")) return new Worker(module, { execArgv });
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(module.href)}); });`;
  return new Worker(boot, { eval: true, execArgv });
}

interface Pending<Rep> {
  resolve: (reply: Rep) => void;
  reject: (err: Error) => void;
}

/**
 * Worker threads that each answer their requests in order, one reply per request. A worker's error (or its
 * exit before `close`) rejects the requests pending on that worker.
 */
export class WorkerPool<Req, Rep> {
  private readonly workers: Worker[] = [];
  private readonly queues: Pending<Rep>[][] = [];
  private next = 0;
  private closing = false;

  /** Starts `count` workers on `module`; `replyError` turns a reply that reports a failure into its request's error. */
  constructor(module: URL, count: number, replyError?: (reply: Rep) => Error | undefined) {
    for (let i = 0; i < count; i++) {
      const w = startWorker(module);
      const queue: Pending<Rep>[] = [];
      const fail = (e: Error) => {
        for (const p of queue.splice(0)) p.reject(e);
      };
      w.on("message", (reply: Rep) => {
        const p = queue.shift();
        const err = replyError?.(reply);
        if (err) p?.reject(err);
        else p?.resolve(reply);
      });
      w.on("error", (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
      w.on("exit", (code) => {
        if (!this.closing) fail(new Error(`worker thread ${module.pathname} exited (code ${code}) before answering`));
      });
      this.workers.push(w);
      this.queues.push(queue);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends a message that gets no reply to every worker. */
  broadcast(msg: Req): void {
    for (const w of this.workers) w.postMessage(msg);
  }

  /** Sends a request to worker `i` and resolves with its reply. */
  request(i: number, msg: Req): Promise<Rep> {
    return new Promise((resolve, reject) => {
      this.queues[i].push({ resolve, reject });
      this.workers[i].postMessage(msg);
    });
  }

  /** Index of the worker with the fewest requests in flight (round robin on ties). */
  leastBusy(): number {
    let best = this.next;
    for (let k = 0; k < this.workers.length; k++) {
      const i = (this.next + k) % this.workers.length;
      if (this.queues[i].length < this.queues[best].length) best = i;
    }
    this.next = (best + 1) % this.workers.length;
    return best;
  }

  /** Requests in flight on worker `i`. */
  inFlight(i: number): number {
    return this.queues[i].length;
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** What a thread started on a {@link serveTasks} module answers. */
export type TaskReply = { ok: true; result: unknown } | { ok: false; error: string; name: string };
/** A pool of threads that run tasks of type T with {@link serveTasks}. */
export type TaskPool<T> = WorkerPool<T, TaskReply>;

/** Starts `threads` threads on `module` (which calls {@link serveTasks}); a failed task rejects with its message and class name. */
export function startTaskPool<T>(module: URL, threads: number): TaskPool<T> {
  return new WorkerPool<T, TaskReply>(module, threads, (m) => (m.ok ? undefined : Object.assign(new Error(m.error), { name: m.name })));
}

/**
 * Runs `tasks` on `workers` lanes: this thread (with `runHere`) and `workers - 1` threads started on `module`
 * (which calls {@link serveTasks}); results come back in task order, `onDone` is called as each finishes. This
 * thread takes a lane of its own because it is otherwise idle while the threads work: two lanes then cost one
 * thread start (and one module graph to load) instead of two, and the first task starts at once. The tasks' own
 * work yields to the event loop (file reads), so the replies of the other lanes are not held up. The first failure
 * rejects with the task's error (from a thread: its message and class name) once this thread's task in flight has
 * stopped, and stops the threads.
 */
export async function runTasks<T, R>(
  tasks: readonly T[],
  workers: number,
  module: URL,
  runHere: (task: T) => Promise<R>,
  onDone?: (i: number, result: R) => void,
): Promise<R[]> {
  const threads = Math.max(0, Math.min(workers, tasks.length) - 1);
  const pool = threads > 0 ? startTaskPool<T>(module, threads) : null;
  try {
    return await runOnPool(pool, tasks, runHere, onDone);
  } finally {
    await pool?.close();
  }
}

/**
 * Runs `tasks` on this thread and every thread of `pool` (this thread alone without one), each lane taking the next
 * task as it finishes one; results in task order. For a caller that runs several passes on one pool (threads start
 * once). The first failure rejects once this thread's task in flight has stopped; the pool stays open.
 */
export async function runOnPool<T, R>(
  pool: TaskPool<T> | null,
  tasks: readonly T[],
  runHere: (task: T) => Promise<R>,
  onDone?: (i: number, result: R) => void,
): Promise<R[]> {
  const results: R[] = new Array(tasks.length);
  let next = 0;
  let stopped = false;
  const lane = async (run: (task: T) => Promise<R>) => {
    while (!stopped && next < tasks.length) {
      const i = next++;
      results[i] = await run(tasks[i]);
      onDone?.(i, results[i]);
    }
  };
  // the threads' lanes first, so that their first tasks are posted before this thread starts on its own
  const lanes = pool ? Array.from({ length: pool.size }, (_, w) => lane(async (t) => ((await pool.request(w, t)) as { result: R }).result)) : [];
  const here = lane(runHere);
  try {
    await Promise.all([...lanes, here]);
  } finally {
    stopped = true;
    // a failure elsewhere: let this thread's task in flight end (its error, if any, is not the first) before returning
    await here.catch(() => undefined);
  }
  return results;
}

/** The worker side of {@link runTasks}: answers each task with its result, or its error's message and class name. */
export function serveTasks<T>(run: (task: T) => Promise<unknown>): void {
  const port = parentPort;
  if (!port) throw new Error("serveTasks: this module must be started as a worker thread");
  port.on("message", (task: T) => {
    run(task).then(
      (result) => port.postMessage({ ok: true, result } satisfies TaskReply),
      (err: unknown) =>
        port.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : "Error" } satisfies TaskReply),
    );
  });
}
