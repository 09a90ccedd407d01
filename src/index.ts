// llmforge library API: everything a script needs, from the package root.
export { VERSION } from "./version.js";
export { writeFileAtomic, writeFileAtomicSync, AtomicFileWriter } from "./io/atomicWrite.js";
export { Progress } from "./io/progress.js";
export { OutputFolderError, STEP_MARKER } from "./io/stepOutput.js";
export * from "./io/jsonl.js";
export * from "./data/index.js";
export * from "./tokenizer/index.js";
export * from "./tensor/index.js";
export { backward, needsGrad, record } from "./autograd/tape.js";
export { gradcheck, type GradcheckOptions, type GradcheckResult } from "./autograd/gradcheck.js";
export { Module, createParameter, type Init, type ParamOptions } from "./nn/module.js";
export { Linear, Embedding, LayerNorm, RMSNorm, Dropout } from "./nn/layers.js";
export { LoRALinear, LoRAPart, type LoRAPartSpec } from "./nn/lora.js";
export { AdaptedLinear, BottleneckAdapter, type AdapterActivation } from "./nn/adapters.js";
export { PrefixTuning, prefixAttention, type PrefixTuningOptions } from "./nn/prefix.js";
export { FeedForward, MoE, topKExperts, type FeedForwardOptions, type MoEOptions, type MoEStep } from "./nn/moe.js";
export {
  applyPeft, attachLora, formatTrainable, freezeModules, loraSites, loraTargetNames, mergeAndUnloadLora, parsePeftConfig, parseTargets,
  PeftError, peftConfigSchema, setLoraMerged, type LoraSite, type PeftConfig, type PeftConfigInput, type PeftHandle, type PeftModel,
} from "./nn/peft.js";
export {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdapterError, baseFingerprint, loadAdapter, loraPeftTensors, mergeAdapterFolder,
  readAdapterConfig, saveAdapter, type BaseFingerprint, type MergeAdapterOptions, type MergeAdapterResult, type SaveAdapterOptions,
} from "./model/peftFormat.js";
export { AdamW, SGD, clipGradNorm, type ParamGroup, type AdamWOptions, type SGDOptions, type OptimizerState } from "./optim/optimizers.js";
export { learningRate, type ScheduleConfig } from "./optim/schedule.js";
export * from "./model/index.js";
export * from "./infer/index.js";
export { train, evaluate, NonFiniteLossError, type TrainOptions, type TrainSummary, type EvalResult, type TrainableModel } from "./train/trainer.js";
export { pretrain, findShards, PretrainSetupError, type PretrainOptions, type PretrainResult } from "./train/pretrain.js";
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, latestValidCheckpoint, verifyCheckpoint, listCheckpoints, CheckpointError, type CheckpointState } from "./train/checkpoint.js";
export { TokenDataLoader, type DataCursor, type TokenArray } from "./train/dataLoader.js";
export { runStepLoop, type BatchSource, type EvalMetrics, type StepLoopOptions, type StepLoopSummary } from "./train/loop.js";
export { ResumeError, planResume, readRunRecord, type ResumePlan, type RunRecord } from "./train/resume.js";
export { NonFiniteWeightsError, findNonFinite, assertFiniteWeights } from "./nn/finiteWeights.js";
export * from "./sft/index.js";
export { loadRun, resolveRunPaths, RunFolderError, type RunPaths } from "./model/runFolder.js";
export { TensorBoardWriter, readTensorBoardScalars } from "./train/tensorboard.js";
export { benchTrain, type BenchTrainOptions, type BenchTrainResult } from "./train/benchTrain.js";
export {
  quickstart, formatQuickstartSummary, parseQuickstartStages, QUICKSTART_STAGES, QuickstartFolderError, QuickstartInterrupted, QuickstartStagesError,
  type QuickstartOptions, type QuickstartStage, type QuickstartStageRow, type QuickstartSummary,
} from "./pipeline/quickstart.js";
export * from "./eval/metrics/textMetrics.js";
export * from "./eval/metrics/classification.js";
export { evaluateTask, evaluateTasks, scoreLoglikelihood, EvalRunError, type EvalOptions, type TaskResult, type LoglikelihoodRequest, type LoglikelihoodResult } from "./eval/harness.js";
export { BUILTIN_TASKS, builtinTask, loadTaskFile, resolveTask, validateTaskSpec, TaskSpecError, type LoadedTask, type TaskSpec, type EvalExample } from "./eval/tasks.js";
export { collectRunReport, writeRunReport, RunReportError, type RunReport } from "./report/runReport.js";
export { compareModels, readComparePrompts, bootstrapRates, CompareError, type ComparePrompt, type CompareStats, type CompareOptions } from "./eval/compare.js";
export * from "./reward/index.js";
export * from "./rl/index.js";
export { exportGguf, ExportError, GGUF_EXPORT_TYPES, type ExportGgufOptions, type ExportGgufResult, type GgufExportType } from "./model/exportGguf.js";
export { exportOnnx, OnnxExportError, type ExportOnnxResult } from "./model/exportOnnx.js";
export { exportHf, type ExportHfOptions, type ExportHfResult } from "./model/exportHf.js";
export { readGguf, writeGguf, GgufError, GgmlType, type GgufValue } from "./io/gguf.js";
export { startServer, ApiError, type ServeOptions, type RunningServer } from "./serve/server.js";
// model families: BERT (masked LM, next sentence, classification), T5 (span corruption, generation), scaling laws
export { makeBertConfig, validateBertConfig, bertParamCount, toHfBertConfig, fromHfBertConfig, type BertConfig, type BertConfigInput } from "./model/bertConfig.js";
export { makeT5Config, validateT5Config, t5ParamCount, toHfT5Config, fromHfT5Config, type T5Config, type T5ConfigInput } from "./model/t5Config.js";
export { saveBert, loadBert, loadBertConfig } from "./model/bertFolder.js";
export { saveT5, loadT5, loadT5Config } from "./model/t5Folder.js";
export { BERT_SPECIAL_TOKENS, bertTokenizer, maskTokens, MlmBatches, MlmDataError, mlmLossOf, evaluateMlm, type MaskingOptions, type MlmBatch, type BertTokenIds } from "./train/mlm.js";
export {
  corruptSpans, randomSpansNoiseMask, spanCorruptionLengths, SpanCorruptionBatches, SpanCorruptionError, spanLossOf, evaluateSpan, t5Tokenizer,
  sentinelToken, type SpanBatch, type SpanCorruptionOptions, type T5TokenIds,
} from "./train/spanCorruption.js";
export { pretrainBert, type BertPretrainOptions, type BertPretrainResult } from "./train/bertPretrain.js";
export { pretrainT5, type T5PretrainOptions, type T5PretrainResult } from "./train/t5Pretrain.js";
export {
  trainClassifier, predictClassifier, readClassifierLabels, ClassifyDataError, type ClassifyOptions, type ClassifyResult, type PredictOptions, type PredictResult,
  type ClassifierPrediction,
} from "./train/classify.js";
export { generateT5Text, loadT5Run, isT5Run, type T5TextOptions, type T5TextResult } from "./infer/t5Generate.js";
export {
  runScale, fitChinchilla, fitWithBootstrap, computeOptimal, chinchillaLoss, planGrid, ScaleError, type ScaleOptions, type ScaleResult, type ChinchillaParams,
  type LossObservation,
} from "./pipeline/scale.js";
