// Scoring new records with a trained reward model (what `llmforge reward score` runs): each record's
// answers rendered after its prompt exactly as in training, one reward per answer, written as JSONL;
// pair accuracy where the records carry pairs. Records that cannot be read are counted with file:line.
import { dirname } from "node:path";
import { convertPreferenceRecord } from "../data/formats/preferenceRecords.js";
import { dataFiles, readRecords } from "../data/formats/recordFiles.js";
import { RecordFormatError } from "../data/formats/records.js";
import { JsonlWriter } from "../io/jsonl.js";
import { loadRewardModel, type RewardModel } from "../model/heads.js";
import { resolveRunPaths } from "../model/runFolder.js";
import type { BackendName } from "../tensor/backend/index.js";
import { noGrad, tidy } from "../tensor/tensor.js";
import { CHATML_TEMPLATE, readTokenizerConfig } from "../tokenizer/chatTemplate.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import { answerSequence, makeRewardBatch, type RewardExample } from "./data.js";
import { pairStats } from "./losses.js";
import { batchRewards, rewardPadId } from "./train.js";

/** A reward model run (OUT of `llmforge reward`, or its model folder) with its tokenizer and chat template. */
export interface LoadedRewardModel {
  model: RewardModel;
  tokenizer: Tokenizer;
  template: string;
  config: Record<string, unknown>;
}

/** Loads a reward model run or folder; a language model folder is refused with a message saying so. */
export function loadRewardRun(run: string, opts: { backend?: BackendName } = {}): LoadedRewardModel {
  const paths = resolveRunPaths(run);
  const { model, config } = loadRewardModel(paths.modelDir, opts);
  const tokenizer = Tokenizer.fromFile(paths.tokenizerFile);
  const template = readTokenizerConfig(dirname(paths.tokenizerFile))?.chatTemplate ?? CHATML_TEMPLATE;
  return { model, tokenizer, template, config };
}

export interface ScoreOptions {
  /** Reward model run (OUT of `llmforge reward`) or model folder. */
  model: string;
  /** Records: files or folders; any preference format, or just `{prompt, responses}` (pairs optional). */
  data: string[];
  /** JSONL output: each record with `rewards` (one per answer; null for an answer longer than the block). */
  out: string;
  /** Prompts per forward pass (default 8). */
  batchSize?: number;
  backend?: BackendName;
}

export interface ScoreSummary {
  records: number;
  answers: number;
  /** Answers longer than the model's block size (reward null). */
  tooLong: number;
  /** Records that could not be read, with file:line and why (the first 20). */
  rejected: { count: number; samples: string[] };
  /** Over the records that carry pairs; null when none do. */
  pairAccuracy: number | null;
  pairs: number;
}

/** Scores every answer of every record and writes `{...record, rewards}` per line to `out`. */
export async function scoreRecords(o: ScoreOptions): Promise<ScoreSummary> {
  const { model, tokenizer: tok, template } = loadRewardRun(o.model, { backend: o.backend });
  model.eval();
  const padId = rewardPadId(tok) ?? tok.specialId("<|im_end|>");
  const T = model.config.blockSize;
  const s: ScoreSummary = { records: 0, answers: 0, tooLong: 0, rejected: { count: 0, samples: [] }, pairAccuracy: null, pairs: 0 };
  let correct = 0;
  const w = new JsonlWriter(o.out);
  type Pending = { rec: Record<string, unknown>; ex: RewardExample; K: number };
  let pending: Pending[] = [];
  const flush = (): void => {
    const b = makeRewardBatch(pending.map((p) => p.ex), padId, T);
    const r = b.N > 0 ? tidy(() => noGrad(() => batchRewards(model, b).toTypedArray().slice())) : new Float32Array(0);
    const st = pairStats(r, b.groups);
    s.pairs += st.pairs;
    correct += st.correct;
    pending.forEach((p, i) => {
      const rewards: (number | null)[] = new Array(p.K).fill(null);
      p.ex.responses.forEach((k, j) => {
        rewards[k] = r[b.groups[i].start + j];
      });
      w.write({ ...p.rec, rewards });
    });
    pending = [];
  };
  try {
    for (const file of o.data.flatMap(dataFiles)) {
      for await (const item of readRecords(file)) {
        const reject = (why: string): void => {
          s.rejected.count++;
          if (s.rejected.samples.length < 20) s.rejected.samples.push(`${file}:${item.line}: ${why}`);
        };
        if ("reason" in item) {
          reject(`${item.reason} (${item.detail})`);
          continue;
        }
        const v = item.value as Record<string, unknown>;
        // Answers to score need no judgement: `{prompt, responses}` reads as a record with no pairs.
        const raw = v && typeof v === "object" && Array.isArray(v.responses) && v.pairs === undefined ? { ...v, pairs: [] } : v;
        let rec: ReturnType<typeof convertPreferenceRecord>["record"];
        try {
          rec = convertPreferenceRecord(raw).record;
        } catch (err) {
          if (!(err instanceof RecordFormatError)) throw err;
          reject(err.message);
          continue;
        }
        const seqs: Int32Array[] = [];
        const kept: number[] = [];
        rec.responses.forEach((a, k) => {
          const seq = answerSequence(tok, rec.prompt, a, { template });
          if (seq.length > T) s.tooLong++;
          else {
            seqs.push(seq);
            kept.push(k);
          }
        });
        const local = new Map(kept.map((k, j) => [k, j]));
        const pairs = rec.pairs.filter((p) => local.has(p.better) && local.has(p.worse)).map((p) => ({ better: local.get(p.better) as number, worse: local.get(p.worse) as number, margin: 0 }));
        s.records++;
        s.answers += rec.responses.length;
        pending.push({ rec: { prompt: rec.prompt, responses: rec.responses, pairs: rec.pairs, ...(rec.meta ? { meta: rec.meta } : {}) }, ex: { seqs, pairs, targets: null, responses: kept }, K: rec.responses.length });
        if (pending.length >= (o.batchSize ?? 8)) flush();
      }
    }
    if (pending.length > 0) flush();
    w.close();
  } catch (err) {
    w.abort();
    throw err;
  }
  s.pairAccuracy = s.pairs > 0 ? correct / s.pairs : null;
  return s;
}
