// Public API of alignment: DPO, GRPO and PPO (each one call, as `llmforge dpo|grpo|ppo` runs it), their pure loss
// functions, the prompts and rewards of RL runs, and the per-token log-probs of completions.
export { dpo, tokenizeDpoPairs, pairLogps, referenceLogps, DpoBatches, DpoError, type DpoOptions, type DpoPair, type DpoSummary, type DpoEval } from "./dpo.js";
export { dpoLoss, dpoLossOptions, dpoStats, dpoMetrics, DpoLossError, type DpoLossKind, type DpoLossOptions, type DpoLogps, type DpoStats } from "./dpoLoss.js";
export { grpo, completedGrpo, type GrpoOptions, type GrpoSummary, type GrpoEval } from "./grpo.js";
export { ppo, type PpoOptions, type PpoSummary, type PpoEval } from "./ppo.js";
export * from "./losses.js";
export { readTaskPrompts, taskPromptOf, encodePrompts, PromptOrder, type TaskPrompt, type EncodedPrompt } from "./prompts.js";
export { loadReward, exactMatchReward, safeReward, NAMED_REWARDS, RlDataError, type RewardFn } from "./rewards.js";
export { completionLogps, rowInputs, type CompletionLogps, type PromptCompletion } from "./rollout.js";
