// BERT sequence classification scored as the evaluation harness scores classification tasks: the train and
// predict calls of train/classify.ts with accuracy and macro-F1 (scikit-learn's definitions, eval/metrics/)
// on the held-out or labelled records. What `llmforge classify train|predict` runs.
import { accuracy, precisionRecallF1 } from "./metrics/classification.js";
import { type ClassifyOptions, type ClassifyResult, type PredictOptions, type PredictResult, predictClassifier, trainClassifier } from "../train/classify.js";

/** Accuracy and macro-F1 (the unweighted mean of per-class F1 over the classes present, as scikit-learn's f1_score) of class indices. */
export function classificationScores(gold: readonly number[], pred: readonly number[]): { acc: number; macro_f1: number } {
  return { acc: accuracy(gold, pred), macro_f1: precisionRecallF1(gold, pred, { average: "macro" }).f1 };
}

/** {@link trainClassifier} with held-out macro-F1 logged (val_macro_f1) beside accuracy at every evaluation. */
export function classifyTrain(o: ClassifyOptions): Promise<ClassifyResult> {
  return trainClassifier({ ...o, scoreHeldout: classificationScores });
}

/** {@link predictClassifier} with accuracy and macro-F1 over the records that carry a label. */
export function classifyPredict(o: PredictOptions): Promise<PredictResult> {
  return predictClassifier({ ...o, score: classificationScores });
}
