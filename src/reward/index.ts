// Public API of the reward-model stage: the offline preference mix and its lexicon baseline (data), then the
// reward model, its losses and training.
export {
  PREFERENCE_TASKS,
  type PreferenceTask,
  type PreferenceMixOptions,
  type PreferenceMixStats,
  type PreferenceTaskStats,
  type PreferenceMix,
  type WrittenPreferenceMix,
  PreferenceMixError,
  GRADES,
  GENERATION_BUDGET_CHARS,
  buildPreferenceMix,
  writePreferenceMix,
  gradeResponse,
  afinnScore,
  afinnPairAccuracy,
  dropWords,
  recommendedMix,
  RECOMMENDED_CURRICULUM_SHARE,
  type LexiconPairAccuracy,
} from "./preferenceMix.js";
export {
  bradleyTerryLoss, centeringLoss, scoreMseLoss, rewardLoss, pairStats, RewardLossError,
  type GroupPair, type PromptGroup, type RewardLossKind, type RewardLossOptions, type PairStats,
} from "./losses.js";
export {
  answerSequence, pairLabelledRecords, tokenizePreferences, makeRewardBatch, RewardBatches, RewardDataError,
  type RewardDataOptions, type RewardExample, type RewardDataReport, type RewardSkipReason, type RewardTruncation, type RewardBatch, type RewardCursor,
} from "./data.js";
export {
  reward, readPreferences, splitByPrompt, evaluateRewards, batchRewards, rewardPadId, describeEval,
  type RewardOptions, type RewardEval, type RewardSummary,
} from "./train.js";
export { scoreRecords, loadRewardRun, type ScoreOptions, type ScoreSummary, type LoadedRewardModel } from "./score.js";
export {
  RewardModel, RewardModelError, trunkOf, saveRewardModel, loadRewardModel, isRewardModelConfig, SCORE_WEIGHT, type SaveRewardModelOptions,
} from "../model/heads.js";
