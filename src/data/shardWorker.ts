// Worker-thread entry: receives a task (a map-step shard or a dedup signature shard), runs it, posts back
// its result (or the error's message and class name, so the main thread can report it).
import { serveTasks } from "../io/workerPool.js";
import { runTaskHere } from "./mapSteps.js";

serveTasks(runTaskHere);
