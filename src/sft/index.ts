// Public API of supervised fine-tuning data: conversations -> ids + loss masks (same chat template
// as inference), and packed, shuffled, resumable (B, T) batches with per-position document starts.
export {
  tokenizeConversation,
  tokenizeConversations,
  countTargets,
  SftError,
  SftConfigError,
  SftSkipError,
  type ChatTokenizeOptions,
  type LossOn,
  type SkipReason,
  type TokenizedExample,
  type TokenizeReport,
} from "./tokenizeChat.js";
export {
  packExamples,
  planRows,
  SftBatches,
  IGNORE_INDEX,
  type PackingMode,
  type PackedRow,
  type PackingStats,
  type PackOptions,
  type SftBatch,
  type SftBatchOptions,
  type SftCursor,
} from "./packing.js";
export {
  buildInstructionMix, writeInstructionMix, exactMatch, normalizeAnswer, INSTRUCTION_TASKS, InstructionMixError,
  type InstructionMixOptions, type InstructionMix, type InstructionMixStats,
} from "./instructionMix.js";
export { sft, readConversations, saveChatModel, type SftOptions, type SftSummary } from "./train.js";
export { heldoutLoss, evaluateAnswers, type AnswerEval, type AnswerEvalOptions } from "./evaluate.js";
export { benchSft, type BenchSftOptions } from "./benchSft.js";
