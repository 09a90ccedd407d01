// Public API of the model layer (re-exported from the package root): config and presets,
// the GPT module with its KV cache, Hugging Face weight mapping, and model folders.
export {
  activeParamCount, assertTrainingFits, assertWeightsFit, configFromDepth, describeParamCount, estimateTrainingMemory, formatBytes, formatCount, headDim,
  isMoeLayer, makeConfig, ModelConfigError, MOE_DEFAULTS, moeLayerCount, nonEmbeddingParamCount, paramCount, presetConfig, PRESETS, swigluHidden,
  trainFlopsPerToken, validateConfig,
  type DepthOptions, type Flavour, type GPTConfig, type GPTConfigInput, type MemoryEstimate,
} from "./config.js";
export { GPT, type ForwardOptions, type GPTOptions, type MoELayerStats } from "./gpt.js";
export { KVCache, type KVCacheOptions } from "./kvCache.js";
export { T5, T5Cache, type T5Batch, type T5GenerateOptions, type T5Options } from "./t5.js";
export { Bert, type BertInput, type BertOptions, type BertPretrainingBatch } from "./bert.js";
export {
  assertHfExportable, fromHuggingFace, toHuggingFace, toHuggingFaceLazy, WeightMappingError, type HfTensor, type HfTensorInput, type LazyHfTensor,
} from "./hfWeights.js";
export { CONFIG_FILE, loadModel, loadModelConfig, ModelLoadError, saveModel, WEIGHTS_FILE, type SaveModelOptions } from "./serialize.js";
export { fromHfConfig, isMixtral, toHfConfig, type HfConfigJson } from "./hfConfig.js";
export {
  floatData, int32Data, parseSafetensors, readSafetensors, SafetensorsError, serializeSafetensors, writeSafetensors,
  type SafetensorsDType, type SafetensorsFile, type SafetensorsTensor, type SafetensorsWriteDType, type WritableTensor,
} from "../io/safetensors.js";
