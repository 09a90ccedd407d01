// Public API of the data formats: the Conversation (SFT) and PreferenceRecord (reward model) types, per-record
// converters with format detection, and the file/folder converters behind `llmforge data convert`.
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
export type { PreferencePair, PreferenceRecord } from "./preference.js";
export {
  PREFERENCE_FORMAT_NAMES,
  type PreferenceFormatName,
  type PreferenceRecordOptions,
  type ConvertedPreference,
  ANSWER_LIST_FIELDS,
  DEFAULT_SCORE_RANGE,
  convertPreferenceRecord,
  detectPreferenceFormat,
  parseDialogue,
  parseRanking,
  pairsFromValues,
} from "./preferenceRecords.js";
export { convertToPreferences, convertPreferencesToJsonl, type PreferenceConvertOptions } from "./convertPreferences.js";
