// Loader for the native addon (being written): until it lands, the native backend reports as absent.
import type { Kernels } from "./kernels.js";

export const nativeKernels: Kernels | null = null;
export const nativeLoadError: string | null = "the native backend is not wired yet";
export function nativeInfo(): { simd: "avx512" | "avx2" | "scalar"; threads: number; bf16: boolean } {
  return { simd: "scalar", threads: 1, bf16: false };
}
export function setNativeThreads(_n: number): void {}
