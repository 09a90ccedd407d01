// DPO training as one library call (what `llmforge dpo` runs): preference pairs rendered with the chat
// template (as for the reward model), reference log-probs computed once without gradients and stored in
// the run (a resumed run reads them back), the policy trained through the generic step loop, implicit-reward
// accuracy and margins logged per step and on held-out pairs before/after; written as a chat model folder.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PreferenceRecord } from "../data/formats/preference.js";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { withFolderLock } from "../io/runLock.js";
import { isRewardModelConfig } from "../model/heads.js";
import type { GPT } from "../model/gpt.js";
import { loadRun, resolveRunPaths, runChatTemplate } from "../model/runFolder.js";
import { applyPeft, type PeftConfigInput } from "../nn/peft.js";
import { answerSequence, pairLabelledRecords, makeRewardBatch, type RewardExample } from "../reward/data.js";
import { readPreferences, splitByPrompt } from "../reward/train.js";
import { finishChatRun } from "../sft/train.js";
import { crossEntropy, ids, linear, neg, reshape } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, Tensor, tidy } from "../tensor/tensor.js";
import { CHATML_TEMPLATE, renderChat, requireChatTokens } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { runStepLoop, type StageRunOptions, type StepLoopSummary } from "../train/loop.js";
import { planResume, writeRunRecord } from "../train/resume.js";
import { VERSION } from "../version.js";
import { type DpoLossKind, dpoLoss, dpoLossOptions, dpoMetrics, dpoStats, type DpoStats } from "./dpoLoss.js";

/** Bad input for DPO; the message says what was expected. */
export class DpoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DpoError";
  }
}

export interface DpoOptions extends StageRunOptions {
  /** The policy to start from (and the reference): an SFT run folder or a chat model folder. */
  model: string;
  /** Preference records, any format `llmforge data convert --to preferences` reads. */
  data: string[];
  valData?: string[];
  /** Held-out share of the prompts when no valData (default 0.05). */
  valFraction?: number;
  out: string;
  beta?: number;
  loss?: DpoLossKind;
  labelSmoothing?: number;
  sftCoef?: number;
  /** Full fine-tuning (default) or LoRA; the reference is the model before training (LoRA starts as the identity). */
  peft?: PeftConfigInput;
  accumulation?: number;
}

/** One preference pair: chosen and rejected sequences (prompt + answer + <|im_end|>) and their answer lengths in tokens. */
export interface DpoPair {
  chosen: Int32Array;
  rejected: Int32Array;
  chosenLen: number;
  rejectedLen: number;
  /** The record's `meta.task`, when it has one: held-out accuracy is also reported per task. */
  task?: string;
}

export interface DpoDataReport {
  records: number;
  pairs: number;
  /** Pairs left out because a sequence is longer than the block size. */
  tooLong: number;
  /** Pairs whose chosen and rejected answers are the same text. */
  identical: number;
}

/** Held-out implicit-reward figures (means over pairs) and the DPO loss. */
export type DpoEval = Record<string, number> & { pairs: number; loss: number };

export interface DpoSummary {
  out: string;
  modelDir: string | null;
  train: DpoDataReport;
  heldout: DpoDataReport;
  training: StepLoopSummary;
  before: DpoEval | null;
  after: DpoEval | null;
}

/**
 * Preference records -> chosen/rejected pairs, each answer rendered after its prompt with the chat
 * template (as the reward model reads them); the answer length counts the tokens after the prompt's
 * generation header (answer text and <|im_end|>), the ones whose log-probs DPO sums.
 */
export function tokenizeDpoPairs(tok: Tokenizer, records: readonly PreferenceRecord[], o: { template: string; maxLen: number }): { pairs: DpoPair[]; report: DpoDataReport } {
  const report: DpoDataReport = { records: 0, pairs: 0, tooLong: 0, identical: 0 };
  const pairs: DpoPair[] = [];
  for (const r of pairLabelledRecords(records)) {
    report.records++;
    const head = tok.encode(renderChat(o.template, r.prompt, { addGenerationPrompt: true }), { allowedSpecial: "all" });
    const seqs = new Map<number, { ids: Int32Array; len: number }>();
    const seqOf = (i: number) => {
      let s = seqs.get(i);
      if (!s) {
        const idsI = answerSequence(tok, r.prompt, r.responses[i], { template: o.template });
        let p = 0;
        while (p < head.length && p < idsI.length - 1 && head[p] === idsI[p]) p++;
        s = { ids: idsI, len: idsI.length - p };
        seqs.set(i, s);
      }
      return s;
    };
    for (const p of r.pairs) {
      if (r.responses[p.better] === r.responses[p.worse]) {
        report.identical++;
        continue;
      }
      const c = seqOf(p.better);
      const w = seqOf(p.worse);
      if (c.ids.length > o.maxLen || w.ids.length > o.maxLen) {
        report.tooLong++;
        continue;
      }
      const task = typeof r.meta?.task === "string" ? r.meta.task : undefined;
      pairs.push({ chosen: c.ids, rejected: w.ids, chosenLen: c.len, rejectedLen: w.len, ...(task ? { task } : {}) });
      report.pairs++;
    }
  }
  return { pairs, report };
}

/** A batch of pairs: indices into the pair list (the key of the stored reference log-probs). */
export interface DpoBatch {
  index: number[];
}

/** Seeded batches of pair indices, a new order each epoch; the cursor makes a resumed run see the same batches. */
export class DpoBatches {
  private epoch = 0;
  private pos = 0;
  private order: Int32Array | null = null;

  constructor(private readonly n: number, private readonly batchSize: number, private readonly seed: number) {
    if (n === 0) throw new DpoError("no training pairs: every record was left out or the input is empty");
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new DpoError(`--batch must be a positive whole number, got ${batchSize}`);
  }

  private epochOrder(): Int32Array {
    this.order ??= new Rng((this.seed * 1_000_003 + this.epoch) >>> 0).permutation(this.n);
    return this.order;
  }

  next(): DpoBatch {
    const index: number[] = [];
    for (let b = 0; b < this.batchSize; b++) {
      index.push(this.epochOrder()[this.pos]);
      if (++this.pos === this.n) {
        this.epoch++;
        this.pos = 0;
        this.order = null;
      }
    }
    return { index };
  }

  getCursor(): { format: "llmforge.dpo-batches"; version: 1; epoch: number; pos: number; n: number } {
    return { format: "llmforge.dpo-batches", version: 1, epoch: this.epoch, pos: this.pos, n: this.n };
  }

  setCursor(cursor: unknown): void {
    const c = cursor as { format?: string; version?: number; epoch?: number; pos?: number; n?: number } | null;
    if (c?.format !== "llmforge.dpo-batches" || c.version !== 1) throw new DpoError(`not a DPO batch cursor: ${JSON.stringify(cursor)?.slice(0, 120)}`);
    if (c.n !== this.n) throw new DpoError(`the checkpoint was saved for ${c.n} training pairs, the data now gives ${this.n}; resume with the same data`);
    this.epoch = c.epoch ?? 0;
    this.pos = c.pos ?? 0;
    this.order = null;
  }
}

/**
 * Sums of answer-token log-probs (P,) of chosen and rejected under `model`, for the pairs given:
 * both answers of every pair packed into rows of the block size (no attention across sequences).
 */
export function pairLogps(model: GPT, pairs: readonly DpoPair[], padId: number): { chosen: Tensor; rejected: Tensor } {
  const P = pairs.length;
  const examples: RewardExample[] = pairs.map((p) => ({ seqs: [p.chosen, p.rejected], pairs: [], targets: null, responses: [0, 1] }));
  const b = makeRewardBatch(examples, padId, model.config.blockSize);
  const R = b.rows * b.T;
  const targets = new Int32Array(R).fill(-100);
  const sel = [new Float64Array(P * R), new Float64Array(P * R)]; // (P, R) chosen, rejected: 1 where a position predicts an answer token
  pairs.forEach((p, k) => {
    [p.chosenLen, p.rejectedLen].forEach((len, side) => {
      const end = b.ends[2 * k + side]; // flat index of the sequence's last token
      for (let at = end - len; at < end; at++) {
        targets[at] = b.ids[at + 1];
        sel[side][k * R + at] = 1;
      }
    });
  });
  const nll = reshape(crossEntropy(model.forward(ids(b.ids, [b.rows, b.T]), { docStart: b.docStart ?? undefined }), targets, { reduction: "none" }), [1, R]);
  const pick = (m: Float64Array) => reshape(neg(linear(nll, Tensor.from(m, [P, R], { dtype: nll.dtype, backend: nll.backend }))), [P]);
  return { chosen: pick(sel[0]), rejected: pick(sel[1]) };
}

/** Reference log-probs of every pair: [chosen, rejected] sums, computed in eval mode without gradients. */
export function referenceLogps(model: GPT, pairs: readonly DpoPair[], padId: number, batchSize: number): Float64Array {
  const out = new Float64Array(2 * pairs.length);
  const was = model.training;
  model.eval();
  try {
    for (let i = 0; i < pairs.length; i += batchSize) {
      tidy(() => noGrad(() => {
        const lp = pairLogps(model, pairs.slice(i, i + batchSize), padId);
        const c = lp.chosen.toTypedArray();
        const r = lp.rejected.toTypedArray();
        for (let k = 0; k < c.length; k++) [out[2 * (i + k)], out[2 * (i + k) + 1]] = [c[k], r[k]];
      }));
    }
  } finally {
    model.train(was);
  }
  return out;
}

const REF_FILE = "reference_logps.json";

/** Trains a policy with DPO holding the lock of OUT; see {@link DpoOptions}. */
export async function dpo(o: DpoOptions): Promise<DpoSummary> {
  return withFolderLock(o.out, "llmforge dpo", () => dpoLocked(o));
}

async function dpoLocked(o: DpoOptions): Promise<DpoSummary> {
  const say = (s: string): void => {
    if (o.progress ?? true) process.stderr.write(`${s}\n`);
  };
  const seed = o.seed ?? 1337;
  const lossOpts = dpoLossOptions({ kind: o.loss, beta: o.beta, labelSmoothing: o.labelSmoothing, sftCoef: o.sftCoef });
  const paths = resolveRunPaths(o.model);
  const cfg = JSON.parse(readFileSync(join(paths.modelDir, "config.json"), "utf8")) as unknown;
  if (isRewardModelConfig(cfg)) throw new DpoError(`${paths.modelDir} is a reward model (a sequence classifier); --model needs the SFT policy (a language model), e.g. the run folder of \`llmforge sft\``);
  const recorded = {
    ...o, model: resolve(o.model), data: o.data.map((f) => resolve(f)), valData: o.valData?.map((f) => resolve(f)), seed, valFraction: o.valFraction ?? 0.05,
    loss: lossOpts.kind, beta: lossOpts.beta, labelSmoothing: lossOpts.labelSmoothing, sftCoef: lossOpts.sftCoef, peft: o.peft ?? { method: "none" },
    accumulation: o.accumulation ?? 1, weightDecay: o.weightDecay ?? 0, signal: undefined, resume: undefined, extend: undefined,
  };
  const plan = planResume({
    out: o.out, resume: o.resume, extend: o.extend, options: recorded, say,
    fixed: {
      model: "--model", data: "--data", valData: "--val-data", valFraction: "--val-fraction", loss: "--loss", beta: "--beta", labelSmoothing: "--label-smoothing",
      sftCoef: "--sft-coef", peft: "--peft", seed: "--seed", batchSize: "--batch", accumulation: "--accumulation",
    },
    kept: { lr: "--lr", minLr: "--min-lr", warmupSteps: "--warmup", weightDecay: "--weight-decay", gradClip: "--grad-clip", minutes: "--minutes" },
  });
  const e = plan.options;

  // the records first: a mistake in --data is reported before the model is loaded
  const data = await readPreferences(o.data, "--data");
  let trainRecs = data.records;
  let heldRecs: PreferenceRecord[];
  if (o.valData && o.valData.length > 0) heldRecs = (await readPreferences(o.valData, "--val-data")).records;
  else ({ train: trainRecs, heldout: heldRecs } = splitByPrompt(data.records, e.valFraction, seed));

  const run = loadRun(o.model, { backend: o.backend });
  const { model, tokenizer: tok } = run;
  const template = runChatTemplate(run) ?? CHATML_TEMPLATE;
  requireChatTokens(tok, template, ["<|im_end|>"]);
  const T = model.config.blockSize;
  const padId = tok.specialTokens.get("<|pad|>") ?? tok.specialId("<|im_end|>");
  const peft = applyPeft(model, o.peft ?? { method: "none" });
  if (peft.config.method !== "none" && peft.config.method !== "lora") throw new DpoError(`--peft ${peft.config.method} is not supported by dpo; use full fine-tuning or lora`);
  say(`dpo: ${peft.config.method === "none" ? "full fine-tuning" : peft.config.method}: ${peft.summary()}`);

  const train = tokenizeDpoPairs(tok, trainRecs, { template, maxLen: T });
  const held = tokenizeDpoPairs(tok, heldRecs, { template, maxLen: T });
  const left = (r: DpoDataReport) => (r.tooLong || r.identical ? ` (left out: ${r.tooLong} over ${T} tokens, ${r.identical} identical answers)` : "");
  say(`dpo: ${train.report.pairs} training pairs from ${train.report.records} prompts${left(train.report)}; ${held.report.pairs} held-out pairs${left(held.report)}`);
  const batches = new DpoBatches(train.pairs.length, o.batchSize, seed);
  mkdirSync(o.out, { recursive: true });
  if (!plan.checkpoint || plan.extendTo) {
    writeRunRecord(o.out, { ...plan.record, format: "llmforge-dpo-run", version: 1, writer: `llmforge ${VERSION}`, base: e.model, config: model.config, options: e, completed: undefined });
  }

  // Reference log-probs: computed once from the starting policy and kept in the run, so a resumed run uses the very same numbers.
  const refPath = join(o.out, REF_FILE);
  let ref: { train: Float64Array; heldout: Float64Array };
  if (plan.checkpoint && existsSync(refPath)) {
    const j = JSON.parse(readFileSync(refPath, "utf8")) as { format?: string; train?: number[]; heldout?: number[] };
    if (j.format !== "llmforge-dpo-reference" || j.train?.length !== 2 * train.pairs.length || j.heldout?.length !== 2 * held.pairs.length) {
      throw new DpoError(`${refPath} does not belong to this data (${train.pairs.length} training, ${held.pairs.length} held-out pairs); start a new run`);
    }
    ref = { train: Float64Array.from(j.train), heldout: Float64Array.from(j.heldout) };
  } else {
    if (plan.checkpoint) throw new DpoError(`${refPath} is missing: the reference log-probs of this run cannot be recomputed from a trained checkpoint; start a new run`);
    const t0 = Date.now();
    ref = { train: referenceLogps(model, train.pairs, padId, o.batchSize), heldout: referenceLogps(model, held.pairs, padId, o.batchSize) };
    say(`dpo: reference log-probs of ${train.pairs.length + held.pairs.length} pairs in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const header = { format: "llmforge-dpo-reference", version: 1, writer: `llmforge ${VERSION}`, order: "per pair: chosen, rejected (sum of answer-token log-probs)" };
    writeFileAtomicSync(refPath, `${JSON.stringify({ ...header, train: [...ref.train], heldout: [...ref.heldout] })}\n`);
  }

  const logpsOf = (pairs: readonly DpoPair[], refs: Float64Array, index: readonly number[]) => {
    const lp = pairLogps(model, index.map((i) => pairs[i]), padId);
    const like = { dtype: lp.chosen.dtype, backend: lp.chosen.backend };
    const refChosen = Tensor.from(Float64Array.from(index, (i) => refs[2 * i]), [index.length], like);
    const refRejected = Tensor.from(Float64Array.from(index, (i) => refs[2 * i + 1]), [index.length], like);
    return { policyChosen: lp.chosen, policyRejected: lp.rejected, refChosen, refRejected, chosenTokens: index.map((i) => pairs[i].chosenLen) };
  };
  const stats = (x: ReturnType<typeof logpsOf>): DpoStats =>
    dpoStats(x.policyChosen.toTypedArray(), x.policyRejected.toTypedArray(), x.refChosen.toTypedArray(), x.refRejected.toTypedArray(), lossOpts.beta);
  const evaluate = (): DpoEval => {
    const was = model.training;
    model.eval();
    const empty = (): DpoStats => ({ pairs: 0, correct: 0, chosenRewardSum: 0, rejectedRewardSum: 0, chosenLogpSum: 0, rejectedLogpSum: 0 });
    const add = (into: DpoStats, b: DpoStats) => {
      for (const k of Object.keys(into) as (keyof DpoStats)[]) into[k] += b[k];
    };
    const s = empty();
    const perTask = new Map<string, DpoStats>();
    let loss = 0;
    try {
      for (let i = 0; i < held.pairs.length; i += o.batchSize) {
        const index = Array.from({ length: Math.min(o.batchSize, held.pairs.length - i) }, (_, k) => i + k);
        tidy(() => noGrad(() => {
          const x = logpsOf(held.pairs, ref.heldout, index);
          loss += dpoLoss(x, lossOpts).item() * index.length;
          const [pc, pr, rc, rr] = [x.policyChosen, x.policyRejected, x.refChosen, x.refRejected].map((t) => t.toTypedArray());
          add(s, dpoStats(pc, pr, rc, rr, lossOpts.beta));
          index.forEach((pi, k) => {
            const task = held.pairs[pi].task;
            if (task === undefined) return;
            const t = perTask.get(task) ?? empty();
            add(t, dpoStats([pc[k]], [pr[k]], [rc[k]], [rr[k]], lossOpts.beta));
            perTask.set(task, t);
          });
        }));
      }
    } finally {
      model.train(was);
    }
    const tasks = perTask.size > 1 ? Object.fromEntries([...perTask].map(([k, t]) => [`reward_accuracy_${k}`, t.correct / t.pairs])) : {};
    return { ...dpoMetrics(s), ...tasks, pairs: s.pairs, loss: loss / Math.max(1, s.pairs) };
  };
  const byTask = (v: DpoEval) => {
    const ts = Object.keys(v).filter((k) => k.startsWith("reward_accuracy_")).map((k) => `${k.slice("reward_accuracy_".length)} ${(100 * v[k]).toFixed(1)}%`);
    return ts.length > 0 ? ` (${ts.join(", ")})` : "";
  };
  const show = (v: DpoEval) => `accuracy ${(100 * (v.reward_accuracy ?? 0)).toFixed(1)}%${byTask(v)} over ${v.pairs} pairs, margin ${v.reward_margin?.toFixed(4)}, chosen log-prob ${v.logp_chosen?.toFixed(2)}, rejected ${v.logp_rejected?.toFixed(2)}, loss ${v.loss.toFixed(4)}`;
  const hasHeld = held.pairs.length > 0;
  // The loop evaluates before the first step (kept in checkpoints, so a resumed run still knows it) and at the end.
  const asEval = (m: Record<string, number | null> | null): DpoEval | null => {
    if (!m || typeof m.loss !== "number") return null;
    const v = Object.fromEntries(Object.entries(m).filter((kv): kv is [string, number] => typeof kv[1] === "number"));
    return { ...v, pairs: held.pairs.length, loss: m.loss };
  };

  const training = await runStepLoop<DpoBatch>({
    outDir: o.out, model, batches, label: "dpo",
    lossOf: (b) => {
      const x = logpsOf(train.pairs, ref.train, b.index);
      return { loss: dpoLoss(x, lossOpts), metrics: dpoMetrics(stats(x)) };
    },
    weightOf: (b) => b.index.length,
    tokensOf: (b) => b.index.reduce((s, i) => s + train.pairs[i].chosen.length + train.pairs[i].rejected.length, 0),
    accumulation: o.accumulation, maxSteps: e.steps, maxMinutes: e.minutes, maxLr: e.lr, minLr: e.minLr, warmupSteps: e.warmupSteps,
    weightDecay: e.weightDecay, ema: e.ema, gradClip: e.gradClip, onNonFinite: o.onNonFinite, maxSkips: o.maxSkips,
    evaluate: hasHeld ? () => { const { pairs: _p, ...m } = evaluate(); return m; } : undefined,
    evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, keepCheckpoints: o.keepCheckpoints, seed, resume: plan.checkpoint !== null,
    extendTo: plan.extendTo, progress: o.progress, precision: o.precision, signal: o.signal, meta: { config: model.config, loss: lossOpts },
  });
  const before = asEval(training.initialVal);
  if (before) say(`dpo: before: held-out ${show(before)}`);
  const base = { out: o.out, train: train.report, heldout: held.report, training, before };
  if (training.stoppedBy === "interrupted") return { ...base, modelDir: null, after: null };

  const after = asEval(training.val);
  if (after) say(`dpo: after: held-out ${show(after)}`);
  if (peft.config.method === "lora") peft.mergeInto?.();
  return finishChatRun({ out: o.out, stage: "dpo", model, tok, tokenizerFile: run.paths.tokenizerFile, template, blockSize: T, steps: training.steps }, (modelDir): DpoSummary => ({
    ...base, modelDir, after,
  }));
}
