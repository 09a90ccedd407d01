// Backend selection: native when the addon loaded, reference otherwise, or as forced by
// LLMFORGE_BACKEND=ref|native. Tensors carry their backend; ops refuse to mix two.
import type { Kernels } from "./kernels.js";
import { backendWarning, nativeKernels, nativeLoadError } from "./native.js";
import { refKernels } from "./ref.js";

export type BackendName = "ref" | "native";

export class BackendUnavailableError extends Error {
  constructor(reason: string) {
    super(`native backend unavailable: ${reason}`);
    this.name = "BackendUnavailableError";
  }
}

function initialBackend(): { kernels: Kernels; reason: string } {
  const forced = process.env.LLMFORGE_BACKEND;
  if (forced === "ref") return { kernels: refKernels, reason: "forced by LLMFORGE_BACKEND=ref" };
  if (nativeKernels) return { kernels: nativeKernels, reason: "native addon loaded" };
  const reason = `native addon not available (${nativeLoadError ?? "unknown reason"})`;
  if (forced === "native") throw new BackendUnavailableError(reason);
  backendWarning(`using the reference backend (slow): ${reason}`);
  return { kernels: refKernels, reason };
}

let current = initialBackend();

/** The kernels a backend name refers to; throws a clear error when native is asked for but absent. */
export function getBackend(name?: BackendName): Kernels {
  if (name === undefined) return current.kernels;
  if (name === "ref") return refKernels;
  if (!nativeKernels) throw new BackendUnavailableError(nativeLoadError ?? "unknown reason");
  return nativeKernels;
}

/** Sets the backend new tensors are created on. */
export function setDefaultBackend(name: BackendName): void {
  current = { kernels: getBackend(name), reason: `set by setDefaultBackend("${name}")` };
}

/** Which backend is in use by default, and why. */
export function backendStatus(): { name: BackendName; reason: string; nativeAvailable: boolean } {
  return { name: current.kernels.name, reason: current.reason, nativeAvailable: nativeKernels !== null };
}

export { refKernels, nativeKernels };
export type { Kernels };
