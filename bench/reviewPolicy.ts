// Held-out evaluation of a review-writing chat policy for the RLHF bench: many answers sampled per prompt (the policy
// PPO optimises samples; greedy answers of two prompts would say little), scored by the reward model it was trained
// against, by its KL to the reference per answer token, and by an independent check the policy never saw during PPO:
// the AFINN-165 lexicon score of the answer, signed by the polarity the prompt asks for.
import type { Message } from "../src/data/formats/conversation.js";
import { sampleGroups } from "../src/infer/sampleGroups.js";
import { loadRun, runChatTemplate } from "../src/model/runFolder.js";
import { afinnScore } from "../src/reward/preferenceMix.js";
import { loadRewardRun } from "../src/reward/score.js";
import { encodePrompts } from "../src/rl/prompts.js";
import { completionLogps, type PromptCompletion, rowInputs } from "../src/rl/rollout.js";
import { ids } from "../src/tensor/ops/index.js";
import { Rng } from "../src/tensor/rng.js";
import { noGrad, tidy } from "../src/tensor/tensor.js";
import { CHATML_TEMPLATE } from "../src/tokenizer/chatTemplate.js";

export interface ReviewPrompt {
  messages: Message[];
  polarity: "positive" | "negative";
}

export interface ReviewPolicyEval {
  answers: number;
  /** Mean reward-model score and its standard error. */
  reward: number;
  rewardSe: number;
  /** Σ (log π − log π_ref) over the sampled answer tokens / their count: the per-token KL estimate (k1, unbiased on-policy). */
  klPerToken: number;
  /** Mean AFINN score × (+1 asked positive, −1 asked negative), its standard error, and the shares of answers on the asked / other side of 0. */
  afinnSigned: number;
  afinnSe: number;
  afinnRight: number;
  afinnWrong: number;
  length: number;
  ended: number;
  /** The first answers of each prompt, as text. */
  examples: Array<{ prompt: string; answer: string; reward: number; afinn: number }>;
}

const meanSe = (xs: number[]) => {
  const n = xs.length;
  const m = xs.reduce((a, b) => a + b, 0) / n;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, n - 1);
  return { m, se: Math.sqrt(v / n) };
};

/** Samples `samples` answers per prompt from the chat model `policyRun` and scores them (see the file comment). */
export function evaluateReviewPolicy(
  policyRun: string, refRun: string, rmRun: string, prompts: readonly ReviewPrompt[],
  o: { samples: number; maxTokens: number; temperature: number; seed: number; examplesPerPrompt?: number },
): ReviewPolicyEval {
  const run = loadRun(policyRun);
  const policy = run.model;
  const tok = run.tokenizer;
  policy.eval();
  const ref = loadRun(refRun).model;
  ref.eval();
  const rm = loadRewardRun(rmRun).model;
  rm.eval();
  const template = runChatTemplate(run) ?? CHATML_TEMPLATE;
  const eos = tok.specialId("<|im_end|>");
  const padId = tok.specialTokens.get("<|pad|>") ?? eos;
  const encoded = encodePrompts(tok, template, prompts.map((p) => ({ messages: p.messages, accept: [], task: p.polarity })), policy.config.blockSize, o.maxTokens);
  if (encoded.tooLong > 0) throw new Error(`${encoded.tooLong} review prompts leave no room for ${o.maxTokens} answer tokens`);
  const promptIds = encoded.prompts.map((p) => p.ids);
  const s = sampleGroups(policy, promptIds, {
    temperature: o.temperature, maxTokens: o.maxTokens, stopTokens: [eos], vocabLimit: tok.vocabSize, group: o.samples, rng: new Rng(o.seed),
  });
  const rows: PromptCompletion[] = [];
  const meta: Array<{ p: number; text: string; ended: boolean }> = [];
  s.completions.forEach((group, p) => {
    for (const c of group) {
      rows.push({ prompt: promptIds[p], completion: c.tokens });
      const body = c.tokens[c.tokens.length - 1] === eos ? c.tokens.slice(0, -1) : c.tokens;
      meta.push({ p, text: tok.decode(body, { skipSpecial: true }), ended: c.finish === "stop_token" });
    }
  });
  const rewards: number[] = [];
  let klSum = 0;
  let tokens = 0;
  for (let i = 0; i < rows.length; i += 32) {
    const chunk = rows.slice(i, i + 32);
    tidy(() => noGrad(() => {
      const x = rowInputs(chunk, padId, { full: true });
      rewards.push(...Array.from(rm.rewards(ids(x.input, [x.B, x.T]), x.lengths).toTypedArray()));
      const a = completionLogps(policy, chunk, padId);
      const b = completionLogps(ref, chunk, padId).logp.toTypedArray();
      const la = a.logp.toTypedArray();
      for (let k = 0; k < la.length; k++) {
        if (!a.mask[k]) continue;
        klSum += la[k] - b[k];
        tokens++;
      }
    }));
  }
  const signed = meta.map((m) => (prompts[m.p].polarity === "positive" ? 1 : -1) * afinnScore(m.text));
  const r = meanSe(rewards);
  const a = meanSe(signed);
  const per = o.examplesPerPrompt ?? 3;
  const examples = meta.flatMap((m, i) => (i % o.samples < per ? [{ prompt: prompts[m.p].messages.at(-1)?.content ?? "", answer: m.text, reward: rewards[i], afinn: signed[i] }] : []));
  return {
    answers: rows.length, reward: r.m, rewardSe: r.se, klPerToken: klSum / Math.max(1, tokens), afinnSigned: a.m, afinnSe: a.se,
    afinnRight: signed.filter((x) => x > 0).length / rows.length, afinnWrong: signed.filter((x) => x < 0).length / rows.length,
    length: rows.reduce((n, x) => n + x.completion.length, 0) / rows.length, ended: meta.filter((m) => m.ended).length / rows.length, examples,
  };
}
