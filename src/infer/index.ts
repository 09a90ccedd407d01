// Public API of generation (re-exported from the package root): KV-cached decoding with
// sampling, stop strings and streaming.
export {
  generate, generateStream, generateSteps, generateText,
  type FinishReason, type GeneratedToken, type GenerateOptions, type GenerationResult, type TextCodec,
} from "./generate.js";
export { applyRepetitionPenalty, argmaxRow, checkSamplingOptions, sampleToken, SamplingOptionError, type SamplingOptions } from "./sampling.js";
export { BatchDecoder, BatchDecoderError, batchDecoderUnsupported, type DecodeEntry } from "./batchDecoder.js";
export { sampleGroups, type Completion, type SampleGroupsOptions, type SampledGroups } from "./sampleGroups.js";
