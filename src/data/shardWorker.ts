// Worker-thread entry: receives a task (a map-step shard or a dedup signature shard), runs it, posts back
// its result (or the error's message and class name, so the main thread can report it).
import { parentPort } from "node:worker_threads";
import { runTaskHere, type WorkerTask } from "./mapSteps.js";

if (!parentPort) throw new Error("shardWorker.ts must be started as a worker thread");
const port = parentPort;
port.on("message", (task: WorkerTask) => {
  runTaskHere(task).then(
    (result) => port.postMessage({ ok: true, result }),
    (err: unknown) => port.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : "Error" }),
  );
});
