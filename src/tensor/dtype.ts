// Element types. f32 is the default everywhere; f64 serves the reference backend and gradchecks.
import type { Storage } from "./backend/kernels.js";

export type DType = "f32" | "f64";

export function dtypeOf(s: Storage): DType {
  return s instanceof Float64Array ? "f64" : "f32";
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "f64" ? 8 : 4;
}
