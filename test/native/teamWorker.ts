// Worker side of team.test.ts: runs the products it is sent on 2 native threads (this thread's own team), `repeats`
// times each, and posts every result back; state[0] is 1 while it runs them and 2 once done.
import { parentPort } from "node:worker_threads";
import type { GemmArgs } from "../../src/tensor/backend/kernels.js";
import { nativeKernels, setNativeThreads } from "../../src/tensor/backend/native.js";

if (!parentPort || !nativeKernels) throw new Error("teamWorker.ts runs as a worker thread with the native addon");
const port = parentPort;
const kernels = nativeKernels;
port.on("message", (m: { jobs: GemmArgs[]; repeats: number; state: Int32Array }) => {
  setNativeThreads(2);
  Atomics.store(m.state, 0, 1);
  const out: Float32Array[] = [];
  for (const p of m.jobs) {
    for (let r = 0; r < m.repeats; r++) {
      const c = Float32Array.from(p.c);
      kernels.gemm({ ...p, c });
      out.push(c);
    }
  }
  Atomics.store(m.state, 0, 2);
  port.postMessage(out);
});
