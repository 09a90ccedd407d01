// PPO and GRPO losses as pure functions: KL estimators, reward shaping, GAE, whitening, the clipped
// policy and value losses, entropy, KL controllers and GRPO's group-relative advantages and loss
// aggregations. Token tensors are (B, T) with right padding; masks are plain (B·T) arrays of 1 / 0.
import { add, div, exp, logSoftmax, maximum, minimum, mul, neg, softmax, square, sub, sum } from "../tensor/ops/index.js";
import { Tensor } from "../tensor/tensor.js";

/** KL estimator of KL(policy || ref) per token from logp = log π(a) and ref = log π_ref(a). */
export type KlEstimator = "k1" | "k2" | "k3";

/** A loss input that cannot work (mismatched shapes, bad options). */
export class RlLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RlLossError";
  }
}

function constant(values: ArrayLike<number>, shape: readonly number[], like: Tensor): Tensor {
  return Tensor.from(Float64Array.from(values), shape, { dtype: like.dtype, backend: like.kernels() });
}

function checkLen(name: string, xs: ArrayLike<number>, n: number): void {
  if (xs.length !== n) throw new RlLossError(`${name} has ${xs.length} values, expected ${n}`);
}

function maskCount(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

/** One token's KL estimate (plain numbers): k1 = logp - ref, k2 = ½(logp - ref)², k3 = e^(ref-logp) - (ref-logp) - 1 (Schulman; ≥ 0). */
export function klEstimate(logp: number, ref: number, kind: KlEstimator = "k3"): number {
  const d = logp - ref;
  if (kind === "k1") return d;
  if (kind === "k2") return 0.5 * d * d;
  return Math.expm1(-d) + d;
}

/** The KL estimator per token as a differentiable tensor (same shape as logp); padding (mask 0) gives 0. */
export function klTensor(logp: Tensor, ref: Tensor, mask: ArrayLike<number>, kind: KlEstimator = "k3"): Tensor {
  checkLen("mask", mask, logp.size);
  const m = constant(mask, logp.shape, logp);
  const d = mul(sub(logp, ref), m); // (B, T) logp - ref, 0 on padding
  if (kind === "k1") return d;
  if (kind === "k2") return mul(square(d), 0.5);
  return add(sub(exp(neg(d)), 1), d);
}

/** Options of PPO's per-token reward shaping. */
export interface RewardShapingOptions {
  klCoef: number;
  /** Clip each sequence score to [-clip, clip] before adding it (default: no clipping). */
  scoreClip?: number;
}

/**
 * PPO rewards per token (B·T): r_t = -klCoef·KL_t on real tokens, plus the sequence score at its last
 * real token; 0 on padding. `kl` is (B·T) per-token KL, `scores` (B,).
 */
export function shapeRewards(kl: ArrayLike<number>, scores: ArrayLike<number>, mask: ArrayLike<number>, B: number, T: number, o: RewardShapingOptions): Float64Array {
  checkLen("kl", kl, B * T);
  checkLen("mask", mask, B * T);
  checkLen("scores", scores, B);
  const r = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let last = -1;
    for (let t = 0; t < T; t++) {
      if (mask[b * T + t] === 0) continue;
      r[b * T + t] = -o.klCoef * kl[b * T + t];
      last = t;
    }
    const c = o.scoreClip;
    const s = c === undefined ? scores[b] : Math.min(c, Math.max(-c, scores[b]));
    if (last >= 0) r[b * T + last] += s;
  }
  return r;
}

/**
 * Generalized advantage estimation over right-padded (B, T) rows: δ_t = r_t + γ·V_{t+1} - V_t with
 * V = 0 after the last real token, A_t = δ_t + γλ·A_{t+1}; returns = advantages + values. Padding gets 0.
 */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, mask: ArrayLike<number>, B: number, T: number, gamma: number, lambda: number): { advantages: Float64Array; returns: Float64Array } {
  for (const [n, x] of [["rewards", rewards], ["values", values], ["mask", mask]] as const) checkLen(n, x, B * T);
  const advantages = new Float64Array(B * T);
  const returns = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let nextV = 0;
    let nextA = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      if (mask[i] === 0) continue;
      const delta = rewards[i] + gamma * nextV - values[i];
      nextA = delta + gamma * lambda * nextA;
      advantages[i] = nextA;
      returns[i] = nextA + values[i];
      nextV = values[i];
    }
  }
  return { advantages, returns };
}

/** Masked mean and (population) variance over real tokens. */
export function maskedMoments(x: ArrayLike<number>, mask: ArrayLike<number>): { mean: number; variance: number } {
  checkLen("mask", mask, x.length);
  const n = maskCount(mask);
  if (n === 0) return { mean: 0, variance: 0 };
  let s = 0;
  for (let i = 0; i < x.length; i++) s += mask[i] * x[i];
  const mean = s / n;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += mask[i] * (x[i] - mean) ** 2;
  return { mean, variance: v / n };
}

/**
 * Whitens x over real tokens: (x - mean)/sqrt(var + 1e-8) with the Bessel-corrected variance (as TRL's
 * masked_whiten), adding the mean back when keepMean; padding stays 0.
 */
export function whiten(x: ArrayLike<number>, mask: ArrayLike<number>, keepMean = false): Float64Array {
  const { mean, variance } = maskedMoments(x, mask);
  const n = maskCount(mask);
  const inv = 1 / Math.sqrt((n > 1 ? (variance * n) / (n - 1) : variance) + 1e-8);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) if (mask[i] !== 0) out[i] = (x[i] - mean) * inv + (keepMean ? mean : 0);
  return out;
}

/** Explained variance 1 - Var(returns - values)/Var(returns) over real tokens (NaN when returns are constant). */
export function explainedVariance(values: ArrayLike<number>, returns: ArrayLike<number>, mask: ArrayLike<number>): number {
  const resid = Float64Array.from(returns, (r, i) => r - values[i]);
  const vr = maskedMoments(returns, mask).variance;
  return vr === 0 ? Number.NaN : 1 - maskedMoments(resid, mask).variance / vr;
}

/** Ratio clipping: r is clipped to [1 - epsilon, 1 + (epsilonHigh ?? epsilon)]. */
export interface ClipOptions {
  epsilon?: number;
  epsilonHigh?: number;
}

/** A differentiable per-token policy objective and its plain-number diagnostics. */
export interface PolicyTerms {
  /** (B, T) per-token loss -min(r·A, clip(r)·A), 0 on padding. */
  perToken: Tensor;
  /** Fraction of real tokens whose ratio was clipped in the direction that removes its gradient. */
  clipFraction: number;
  /** Mean over real tokens of (r - 1) - log r (k3 of the ratio; ≥ 0). */
  approxKl: number;
}

/**
 * The clipped surrogate per token: ratio = exp(logp - oldLogp), loss = -min(r·A, clip(r, 1-ε, 1+ε_high)·A).
 * logp (B, T) carries the gradient; oldLogp and advantages are (B·T) plain numbers (A may be per token).
 */
export function clippedPolicyTerms(logp: Tensor, oldLogp: ArrayLike<number>, advantages: ArrayLike<number>, mask: ArrayLike<number>, o: ClipOptions = {}): PolicyTerms {
  const n = logp.size;
  for (const [name, x] of [["oldLogp", oldLogp], ["advantages", advantages], ["mask", mask]] as const) checkLen(name, x, n);
  const eps = o.epsilon ?? 0.2;
  const epsHigh = o.epsilonHigh ?? eps;
  if (!(eps >= 0 && epsHigh >= 0)) throw new RlLossError(`clip epsilons must be ≥ 0, got ${eps}, ${epsHigh}`);
  const m = constant(mask, logp.shape, logp);
  const A = constant(advantages, logp.shape, logp);
  const ratio = exp(mul(sub(logp, constant(oldLogp, logp.shape, logp)), m)); // (B, T), 1 on padding
  const clipped = minimum(maximum(ratio, 1 - eps), 1 + epsHigh);
  const perToken = mul(neg(minimum(mul(ratio, A), mul(clipped, A))), m);
  const rd = ratio.contiguousData();
  let clippedCount = 0;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    if (mask[i] === 0) continue;
    const r = rd[i];
    if ((advantages[i] > 0 && r > 1 + epsHigh) || (advantages[i] < 0 && r < 1 - eps)) clippedCount++;
    kl += r - 1 - Math.log(r);
  }
  const tokens = maskCount(mask);
  return { perToken, clipFraction: tokens ? clippedCount / tokens : 0, approxKl: tokens ? kl / tokens : 0 };
}

/** Sum of a (B, T) per-token tensor over real tokens divided by `normaliser` (e.g. total tokens of a large batch). */
export function tokenSum(perToken: Tensor, mask: ArrayLike<number>, normaliser: number): Tensor {
  return div(sum(mul(perToken, constant(mask, perToken.shape, perToken))), normaliser);
}

/**
 * PPO policy loss: the clipped surrogate averaged over real tokens (or divided by `normaliser`, the total
 * real tokens of the whole batch when micro-batches are accumulated).
 */
export function ppoPolicyLoss(logp: Tensor, oldLogp: ArrayLike<number>, advantages: ArrayLike<number>, mask: ArrayLike<number>, o: ClipOptions & { normaliser?: number } = {}): PolicyTerms & { loss: Tensor } {
  const terms = clippedPolicyTerms(logp, oldLogp, advantages, mask, o);
  return { ...terms, loss: tokenSum(terms.perToken, mask, o.normaliser ?? Math.max(1, maskCount(mask))) };
}

/**
 * Clipped value loss: ½·max((V - R)², (clip(V, V_old ± c) - R)²) averaged over real tokens (or / normaliser).
 * values (B, T) carries the gradient; oldValues and returns are (B·T) plain numbers.
 */
export function clippedValueLoss(values: Tensor, oldValues: ArrayLike<number>, returns: ArrayLike<number>, mask: ArrayLike<number>, clip = 0.2, normaliser?: number): Tensor {
  const n = values.size;
  for (const [name, x] of [["oldValues", oldValues], ["returns", returns], ["mask", mask]] as const) checkLen(name, x, n);
  const vOld = constant(oldValues, values.shape, values);
  const R = constant(returns, values.shape, values);
  const vClipped = add(vOld, minimum(maximum(sub(values, vOld), -clip), clip));
  const perToken = mul(maximum(square(sub(values, R)), square(sub(vClipped, R))), 0.5);
  return tokenSum(perToken, mask, normaliser ?? Math.max(1, maskCount(mask)));
}

/** Entropy of the softmax of logits (..., V) → (...): -Σ p log p. */
export function entropyFromLogits(logits: Tensor): Tensor {
  return neg(sum(mul(softmax(logits), logSoftmax(logits)), -1));
}

/** A KL coefficient that may adapt to the measured KL after each rollout batch. */
export interface KlController {
  value: number;
  update(currentKl: number, steps: number): void;
}

/** A constant KL coefficient. */
export class FixedKlController implements KlController {
  constructor(public value: number) {}
  update(): void {}
}

/** Ziegler et al. 2019: β ← β·(1 + clip(KL/target - 1, ±0.2)·steps/horizon). */
export class AdaptiveKlController implements KlController {
  constructor(public value: number, readonly target: number, readonly horizon: number) {
    if (!(target > 0 && horizon > 0)) throw new RlLossError(`adaptive KL needs target > 0 and horizon > 0, got ${target}, ${horizon}`);
  }
  update(currentKl: number, steps: number): void {
    const error = Math.min(0.2, Math.max(-0.2, currentKl / this.target - 1));
    this.value *= 1 + (error * steps) / this.horizon;
  }
}

/** How GRPO scales centred rewards: by each group's std, by the whole batch's std, or not at all. */
export type GrpoScale = "group" | "batch" | "none";

/**
 * Group-relative advantages of rewards (N = groups·G, consecutive groups of G): r - mean(group), divided by
 * std + 1e-4 (Bessel-corrected std of the group, or of the whole batch) unless scale is "none".
 */
export function grpoAdvantages(rewards: ArrayLike<number>, G: number, scale: GrpoScale = "group"): Float64Array {
  const N = rewards.length;
  if (!(G >= 1 && N % G === 0)) throw new RlLossError(`${N} rewards do not split into groups of ${G}`);
  const std = (xs: ArrayLike<number>): number => {
    if (xs.length < 2) return 0;
    let m = 0;
    for (let i = 0; i < xs.length; i++) m += xs[i] / xs.length;
    let v = 0;
    for (let i = 0; i < xs.length; i++) v += (xs[i] - m) ** 2;
    return Math.sqrt(v / (xs.length - 1));
  };
  const batchStd = std(rewards);
  const out = new Float64Array(N);
  for (let g = 0; g < N / G; g++) {
    const rs = Array.from({ length: G }, (_, i) => rewards[g * G + i]);
    const mean = rs.reduce((a, b) => a + b, 0) / G;
    const denom = scale === "none" ? 1 : (scale === "group" ? std(rs) : batchStd) + 1e-4;
    for (let i = 0; i < G; i++) out[g * G + i] = (rs[i] - mean) / denom;
  }
  return out;
}

/** Fraction of groups whose G rewards are all equal (their advantages are 0: they teach nothing). */
export function zeroSpreadFraction(rewards: ArrayLike<number>, G: number): number {
  const groups = rewards.length / G;
  let zero = 0;
  for (let g = 0; g < groups; g++) if (zeroSpreadGroup(rewards, g * G, G)) zero++;
  return groups ? zero / groups : 0;
}

/** Whether the G rewards from `start` are all equal: every advantage of that group is 0 (it teaches nothing). */
export function zeroSpreadGroup(rewards: ArrayLike<number>, start = 0, G = rewards.length - start): boolean {
  for (let i = 1; i < G; i++) if (rewards[start + i] !== rewards[start]) return false;
  return true;
}

/** How GRPO turns per-token losses into one number. */
export type GrpoAggregation = "grpo" | "dapo" | "dr_grpo";

export interface GrpoLossOptions extends ClipOptions {
  loss?: GrpoAggregation;
  /** Weight of the k3 KL to the reference (default 0: no reference needed). */
  beta?: number;
  /** dr_grpo's constant: the maximum completion length (default T). */
  maxCompletionLength?: number;
  /** dapo: the total real tokens of the whole batch when micro-batches are accumulated (default this batch's). */
  normaliser?: number;
}

/**
 * GRPO loss of logp (B, T) with per-sequence advantages (B,): per token -min(r·A, clip(r)·A) + β·k3(logp, ref),
 * aggregated by "grpo" (mean over each sequence's tokens, then over sequences), "dapo" (sum / total tokens)
 * or "dr_grpo" (sum / (B · maxCompletionLength)). Reports clip fraction, approx-KL and mean k3 to the ref.
 */
export function grpoLoss(logp: Tensor, oldLogp: ArrayLike<number>, refLogp: ArrayLike<number> | null, advantages: ArrayLike<number>, mask: ArrayLike<number>, o: GrpoLossOptions = {}): PolicyTerms & { loss: Tensor; refKl: number } {
  if (logp.ndim !== 2) throw new RlLossError(`logp must be (B, T), got (${logp.shape.join(",")})`);
  const [B, T] = logp.shape;
  checkLen("advantages", advantages, B);
  const tokenAdv = new Float64Array(B * T);
  for (let i = 0; i < B * T; i++) tokenAdv[i] = advantages[Math.floor(i / T)];
  const terms = clippedPolicyTerms(logp, oldLogp, tokenAdv, mask, o);
  let perToken = terms.perToken;
  const beta = o.beta ?? 0;
  let refKl = 0;
  if (beta !== 0) {
    if (refLogp === null) throw new RlLossError("beta > 0 needs reference log-probs");
    checkLen("refLogp", refLogp, B * T);
    const kl = klTensor(logp, constant(refLogp, logp.shape, logp), mask, "k3");
    const kd = kl.contiguousData();
    for (let i = 0; i < B * T; i++) refKl += mask[i] * kd[i];
    refKl /= Math.max(1, maskCount(mask));
    perToken = add(perToken, mul(kl, beta));
  }
  const kind = o.loss ?? "dapo";
  const weights = new Float64Array(B * T); // (B·T) weight of each real token in the aggregate
  if (kind === "grpo") {
    for (let b = 0; b < B; b++) {
      let len = 0;
      for (let t = 0; t < T; t++) len += mask[b * T + t];
      for (let t = 0; t < T; t++) weights[b * T + t] = len ? mask[b * T + t] / (len * B) : 0;
    }
  } else if (kind === "dapo" || kind === "dr_grpo") {
    const denom = kind === "dapo" ? (o.normaliser ?? Math.max(1, maskCount(mask))) : B * (o.maxCompletionLength ?? T);
    for (let i = 0; i < B * T; i++) weights[i] = mask[i] / denom;
  } else {
    throw new RlLossError(`loss must be "grpo", "dapo" or "dr_grpo", got ${JSON.stringify(kind)}`);
  }
  return { ...terms, refKl, loss: sum(mul(perToken, constant(weights, logp.shape, logp))) };
}
