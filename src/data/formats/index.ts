// Public API of the supervised fine-tuning data formats: the Conversation type, per-record converters
// with format detection, and the file/folder converter behind `llmforge data convert`.
export { type Conversation, type Message, type Role, ROLES, conversationProblem } from "./conversation.js";
export {
  FORMAT_NAMES,
  type FormatName,
  RecordFormatError,
  type RecordOptions,
  convertRecord,
  detectFormat,
  openaiMessages,
  sharegptMessages,
  alpacaLists,
  classificationPrompt,
  knowledgePrompt,
  QA_FIELDS,
  SHAREGPT_TAGS,
  ALPACA_COLUMNS,
  type ShareGptTags,
  type AlpacaColumns,
} from "./records.js";
export { convertToConversations, convertToJsonl, type ConvertOptions, type SkippedRecord } from "./convert.js";
