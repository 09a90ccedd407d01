// Public API of the tensor engine: tensors, scopes, ops (as a namespace), backends, RNG.
export { Tensor, TensorError, tidy, keep, untracked, noGrad, isGradEnabled, shapeStr, type GradFn, type CreateOptions, type NestedArray } from "./tensor.js";
export * as ops from "./ops/index.js";
export { ids, type IdsLike } from "./ops/nnops.js";
export { getBackend, setDefaultBackend, backendStatus, BackendUnavailableError, type BackendName } from "./backend/index.js";
export type { Kernels, Storage, GemmArgs } from "./backend/kernels.js";
export { refKernels } from "./backend/ref.js";
export { nativeInfo, setNativeThreads } from "./backend/native.js";
export { Rng, globalRng, manualSeed } from "./rng.js";
export { bufferPool } from "./pool.js";
export type { DType } from "./dtype.js";
