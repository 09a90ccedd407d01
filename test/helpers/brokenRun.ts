// A copy of a run folder whose weights cannot be read: for tests that bad data is reported before the model is loaded.
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Copies the run folder `src` to `dst`, makes its `model/model.safetensors` unreadable, and returns `dst`. */
export function brokenWeightsCopy(src: string, dst: string): string {
  cpSync(src, dst, { recursive: true });
  writeFileSync(join(dst, "model", "model.safetensors"), "not safetensors");
  return dst;
}
