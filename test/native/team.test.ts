// The native thread team (native/team.h): each JS thread that runs kernels has a team of its own, so the main thread
// and a worker thread running 2-thread products at the same time both get the one-thread result bit for bit (the
// cooperative GEMM path, with its barrier, and the row-task path); a worker thread whose team has started ends when
// terminated, and the next one starts its own.
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { startWorker } from "../../src/io/workerPool.js";
import type { GemmArgs } from "../../src/tensor/backend/kernels.js";
import { nativeInfo, setNativeThreads } from "../../src/tensor/backend/native.js";
import { native, randn, skipNative } from "./helpers.js";

function product(M: number, N: number, K: number, seed: number): GemmArgs {
  return {
    transA: false, transB: true, M, N, K, alpha: 1, a: randn(M * K, seed), aOff: 0, lda: K, b: randn(N * K, seed + 1), bOff: 0, ldb: K,
    beta: 0, c: new Float32Array(M * N), cOff: 0, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0,
  };
}

function run(p: GemmArgs): Float32Array {
  const c = new Float32Array(p.c.length);
  native!.gemm({ ...p, c });
  return c;
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => x === b[i]);

describe.skipIf(skipNative)("native thread team", () => {
  it("the main thread and a worker thread run 2-thread products at once, each equal to one thread bit for bit", async () => {
    const before = nativeInfo().threads;
    const jobs = [product(256, 256, 256, 1), product(1100, 200, 300, 7)]; // cooperative path; row tasks
    const repeats = 6;
    const worker = startWorker(new URL("./teamWorker.ts", import.meta.url));
    try {
      setNativeThreads(1);
      const want = jobs.map(run);
      const state = new Int32Array(new SharedArrayBuffer(4));
      const reply = once(worker, "message");
      worker.postMessage({ jobs, repeats, state });
      setNativeThreads(2);
      // products on this thread from before the worker starts its own until after it is done
      let overlapped = 0;
      for (let i = 0; Atomics.load(state, 0) !== 2 && i < 20_000; i++) {
        const k = i % jobs.length;
        const running = Atomics.load(state, 0) === 1;
        expect(same(run(jobs[k]), want[k]), `main result ${i}`).toBe(true);
        if (running) overlapped++;
      }
      const [theirs] = (await reply) as [Float32Array[]];
      expect(overlapped).toBeGreaterThan(0);
      expect(theirs).toHaveLength(jobs.length * repeats);
      theirs.forEach((c, i) => {
        expect(same(c, want[Math.floor(i / repeats)]), `worker result ${i}`).toBe(true);
      });
    } finally {
      setNativeThreads(before);
      await worker.terminate();
    }
    // a second worker after the first one's team was torn down
    const again = startWorker(new URL("./teamWorker.ts", import.meta.url));
    try {
      const reply = once(again, "message");
      again.postMessage({ jobs: [jobs[0]], repeats: 2, state: new Int32Array(new SharedArrayBuffer(4)) });
      const [theirs] = (await reply) as [Float32Array[]];
      setNativeThreads(1);
      const want = run(jobs[0]);
      expect(theirs.every((c) => same(c, want))).toBe(true);
    } finally {
      setNativeThreads(before);
      await again.terminate();
    }
  }, 60_000);
});
