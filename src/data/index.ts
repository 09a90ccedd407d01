// Public API of the data pipeline (re-exported from the package root). Generic names carry a `data`
// prefix so they do not collide with the tokenizer's exports.
export { DataConfigError, DataInputError, dataDocProblem, type DataDoc, type OnErrorPolicy } from "./types.js";
export { DataStats, dataStatsMarkdown, type DataStatsJson, type ReasonEntry } from "./stats.js";
export { TextView, splitWords } from "./textView.js";
export { cleanText, cleanDocument, fixMojibake, stripMarkup, removeControlChars, collapseWhitespace, parseCleanConfig, cleanConfigSchema, type CleanConfig, type CleanConfigInput } from "./clean.js";
export {
  buildFilterRules,
  filterDocument,
  parseFilterConfig,
  filterConfigSchema,
  FILTER_RULE_NAMES,
  C4Rule,
  FinewebRule,
  GopherQualityRule,
  GopherRepetitionRule,
  LanguageRule,
  QualityClassifierRule,
  ToxicityRule,
  type FilterConfig,
  type FilterConfigInput,
  type QualityRule,
  type RuleOutcome,
  type RuleScope,
} from "./filters/index.js";
export { identifyLanguage, type LanguageGuess } from "./filters/language.js";
export { ToxicWordList, readWordListFile } from "./filters/toxicity.js";
export { DEFAULT_TOXIC_WORDS } from "./filters/toxicityWords.js";
export {
  trainQualityClassifier,
  qualityScore,
  qualityFeatures,
  saveQualityModel,
  loadQualityModel,
  type QualityModel,
  type QualityMetrics,
  type TrainQualityOptions,
} from "./filters/qualityClassifier.js";
export { findPii, scrubPii, scrubDocument, luhnValid, cnResidentIdValid, parsePiiConfig, PII_TYPES, DEFAULT_PII_PLACEHOLDERS, type PiiType, type PiiMatch, type PiiConfig } from "./pii.js";
export { ingest as dataIngest, detectFormat as detectDataFormat, parseIngestConfig, INGEST_FORMATS, type IngestConfig, type IngestConfigInput, type IngestFormat } from "./ingest.js";
export { htmlToText } from "./readers/html.js";
export { cleanEmailBody, splitMbox } from "./readers/email.js";
export { runMapStep as runDataMapStep, processShard as processDataShard, makeDocFn as makeDataDocFn, type MapStepName, type MapStepConfig, type MapStepRunOptions } from "./mapSteps.js";
export { runDedup as runDataDedup, parseDedupConfig, MinRootUnionFind, type DedupConfig, type DedupConfigInput } from "./dedup/index.js";
export { minhashSignature, estimateJaccard, exactJaccard, shingleHashes, lshThreshold, lshCandidateProbability, bandKey, type MinHashParams } from "./dedup/minhash.js";
export { runMix as runDataMix, planMix, parseMixConfig, type MixConfig, type MixConfigInput, type MixResult } from "./mix.js";
export { runTrainQuality } from "./trainQuality.js";
export { runCorpusStats as runDataStats } from "./corpusStats.js";
export { runRecipe as runDataRecipe, loadRecipe as loadDataRecipe, parseRecipe as parseDataRecipe, RECIPE_STEPS, type Recipe as DataRecipe, type RecipeInput as DataRecipeInput, type RecipeResult as DataRecipeResult } from "./recipe.js";
export { runDefaultRecipe, defaultRecipe, DEFAULT_EPOCHS, PROSE_SOURCES, type DefaultRecipeOptions } from "./defaultRecipe.js";
export {
  brownDocuments,
  emailDocuments,
  GUTENBERG_PROSE,
  gutenbergDocuments,
  nlpCorpusDocuments,
  sotuDocuments,
  spamAssassinDirs,
  splitBook,
  wordnetDocuments,
  writeEmbeddedRaw,
  type EmbeddedRawSummary,
} from "./embedded.js";
export type { StepResult as DataStepResult } from "./shards.js";
export { type Conversation, type Message as ConversationMessage, type Role as ConversationRole, ROLES as CONVERSATION_ROLES, conversationProblem, RecordFormatError, convertRecord as convertSftRecord, detectFormat as detectSftFormat, FORMAT_NAMES as SFT_FORMAT_NAMES, type FormatName as SftFormatName, convertToConversations, convertToJsonl as convertSftToJsonl, type ConvertOptions as SftConvertOptions, type SkippedRecord as SftSkippedRecord } from "./formats/index.js";
