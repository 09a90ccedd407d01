// Worker-thread entry of the dedup step: runs its pass-1 (signatures) and pass-3 (write) shard tasks. Apart from
// shardWorker.ts so that a dedup worker loads only the shard-task code (quicker start, no filter rules).
import { serveTasks } from "../../io/workerPool.js";
import { runDedupTask } from "./shardTasks.js";

serveTasks(runDedupTask);
