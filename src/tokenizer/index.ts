// Public API of the tokenizer (re-exported from the package root): byte-level BPE training,
// encoding/decoding, Hugging Face and tiktoken formats, and llm.c token shards.
export { Tokenizer, type BpeSpec, type EncodeOptions, type SpecialToken } from "./tokenizer.js";
export { DEFAULT_SPECIAL_TOKENS, type TokenizerTrainOptions } from "./trainOptions.js";
export { trainTokenizer, formatTrainReport, type TrainTokenizerOptions, type TrainTokenizerResult, type TokenizerTrainReport } from "./train.js";
export { pretokenizerPattern, type PretokenizerOptions, type PretokenizerStyle } from "./pretokenize.js";
export { readCorpus as readTokenizerCorpus, type CorpusDocument as TokenizerCorpusDocument } from "./corpus.js";
export type { JsTiktokenRanks } from "./tiktokenFormat.js";
export { ParallelEncoder } from "./parallelEncoder.js";
export {
  CHATML_TEMPLATE,
  renderChat,
  chatTemplateSpecialTokens,
  requireChatTokens,
  writeTokenizerConfig,
  readTokenizerConfig,
  ChatTemplateError,
  MissingChatTokensError,
  type ChatMessage,
  type RenderChatOptions,
  type TokenizerConfig,
  type TokenizerConfigOptions,
} from "./chatTemplate.js";
export {
  readTokenShard,
  readTokenShardHeader,
  writeTokenShard,
  writeTokenShards,
  verifyShardSet,
  tokenizerSha256,
  shardVersionFor,
  TOKEN_SHARD_MAGIC,
  TOKEN_SHARD_MAGIC_U32,
  TOKEN_SHARD_VERSION_U16,
  TOKEN_SHARD_VERSION_U32,
  type TokenShard,
  type ShardVersion,
  type TokenShardHeader,
  type WriteTokenShardsOptions,
  type WriteTokenShardsResult,
  type ShardManifest,
} from "./shards.js";
export {
  TokenizerError,
  TokenizerConfigError,
  TokenizerFileError,
  EmptyCorpusError,
  UnknownTokenIdError,
  DisallowedSpecialTokenError,
  TokenShardError,
} from "./errors.js";
