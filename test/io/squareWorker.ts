// Worker fixture for workerPool.test.ts: squares a number; fails with a RangeError on a negative one and
// ends its thread (exit code 3) when asked to.
import { serveTasks } from "../../src/io/workerPool.js";

export interface SquareTask {
  n: number;
  exit?: boolean;
}

export async function square(t: SquareTask): Promise<number> {
  if (t.exit) process.exit(3);
  if (t.n < 0) throw new RangeError(`negative: ${t.n}`);
  return t.n * t.n;
}

serveTasks(square);
