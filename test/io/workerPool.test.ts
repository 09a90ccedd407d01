// The generic worker pool: tasks on threads (started from TypeScript source through tsx) give the same results
// in the same order as in this thread; a task's error and a worker's exit reject with what happened.
import { describe, expect, it } from "vitest";
import { runTasks, siblingModule, WorkerPool } from "../../src/io/workerPool.js";

const worker = siblingModule(import.meta.url, "squareWorker");
/** This thread's lane: what squareWorker.ts does (it cannot be imported here: it serves tasks when loaded). */
const runHere = async (t: { n: number }) => {
  if (t.n < 0) throw new RangeError(`negative: ${t.n}`);
  return t.n * t.n;
};

describe("io/workerPool", () => {
  it("runs tasks on threads in task order, like in this thread", async () => {
    const tasks = Array.from({ length: 9 }, (_, n) => ({ n }));
    const done: number[] = [];
    const threads = await runTasks(tasks, 3, worker, runHere, (i) => done.push(i));
    expect(threads).toEqual(await runTasks(tasks, 1, worker, runHere));
    expect(threads).toEqual(tasks.map((t) => t.n * t.n));
    expect(done.sort((a, b) => a - b)).toEqual(tasks.map((_, i) => i));
  });

  it("rejects with the task's error message and class name, from a thread or from this thread", async () => {
    // the thread's lane takes the first task, this thread's lane the second
    for (const tasks of [[{ n: -1 }, { n: 2 }], [{ n: 2 }, { n: -1 }]]) {
      const err = await runTasks(tasks, 2, worker, runHere).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe("RangeError");
      expect((err as Error).message).toBe("negative: -1");
    }
  });

  it("rejects a worker's pending requests when it exits, spreads work by load", async () => {
    const pool = new WorkerPool<{ n: number; exit?: boolean }, { ok: boolean; result?: number }>(worker, 2);
    try {
      expect(pool.leastBusy()).toBe(0);
      const a = pool.request(0, { n: 3 });
      expect(pool.inFlight(0)).toBe(1);
      expect(pool.leastBusy()).toBe(1);
      expect((await a).result).toBe(9);
      await expect(pool.request(1, { n: 0, exit: true })).rejects.toThrow(/squareWorker\.ts exited \(code 3\)/);
    } finally {
      await pool.close();
    }
  });
});
