// Reward-model losses as pure functions of a batch's rewards (N,) and how its sequences group into
// prompts: Bradley-Terry with optional margins, reward centering, MSE on normalised scores, and their
// sum. One batch element per prompt: each prompt's terms are averaged over its own pairs (InstructGPT).
import { add, linear, logSigmoid, mul, neg, reshape, square, sub, sum } from "../tensor/ops/index.js";
import { Tensor } from "../tensor/tensor.js";

/** A pair inside one prompt's group: local response indices and the margin (0 when none). */
export interface GroupPair {
  better: number;
  worse: number;
  margin: number;
}

/**
 * One prompt's sequences in a batch: rewards[start .. start + count) are its responses; `targets`
 * (one per response, null = no score) are regression targets in [-1, 1].
 */
export interface PromptGroup {
  start: number;
  count: number;
  pairs: readonly GroupPair[];
  targets?: readonly (number | null)[];
}

/** Which terms make the loss. */
export type RewardLossKind = "bt" | "mse" | "bt+mse";

export interface RewardLossOptions {
  kind?: RewardLossKind;
  /** Multiplies each pair's margin (default 1; 0 ignores margins). */
  marginScale?: number;
  /** Reward centering: + coef·(r_better + r_worse)² per pair (default 0 = off). */
  centerCoef?: number;
  /** Weight of the MSE term in "bt+mse" (default 1). */
  mseCoef?: number;
}

/** A loss configuration that cannot work. */
export class RewardLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RewardLossError";
  }
}

function constant(values: Float64Array, shape: number[], like: Tensor): Tensor {
  return Tensor.from(values, shape, { dtype: like.dtype, backend: like.kernels() });
}

function pairCount(groups: readonly PromptGroup[]): number {
  return groups.reduce((s, g) => s + g.pairs.length, 0);
}

/**
 * The pairs as matrices over the batch's N rewards: `sign` has +1 at better and `signWorse` at worse
 * (-1 for differences, +1 for sums), `margin` per pair, `weight` = 1 / (pairs of its prompt · prompts).
 */
function pairMatrix(rewards: Tensor, groups: readonly PromptGroup[], signWorse: 1 | -1, marginScale: number) {
  const N = rewards.shape[0];
  const M = pairCount(groups);
  const m = new Float64Array(M * N);
  const margin = new Float64Array(M);
  const weight = new Float64Array(M);
  let k = 0;
  for (const g of groups) {
    for (const p of g.pairs) {
      if (p.better < 0 || p.better >= g.count || p.worse < 0 || p.worse >= g.count || p.better === p.worse) {
        throw new RewardLossError(`pair ${p.better} > ${p.worse} does not name two different responses of a prompt with ${g.count}`);
      }
      m[k * N + g.start + p.better] += 1;
      m[k * N + g.start + p.worse] += signWorse;
      margin[k] = p.margin * marginScale;
      weight[k] = 1 / (g.pairs.length * groups.length);
      k++;
    }
  }
  return { M, N, m, margin, weight };
}

function checkRewards(rewards: Tensor, groups: readonly PromptGroup[]): void {
  if (rewards.ndim !== 1) throw new RewardLossError(`rewards must be (N,), got shape (${rewards.shape.join(",")})`);
  for (const g of groups) {
    if (g.start < 0 || g.count < 1 || g.start + g.count > rewards.shape[0]) throw new RewardLossError(`group [${g.start}, ${g.start + g.count}) is outside the ${rewards.shape[0]} rewards`);
  }
}

/**
 * Bradley-Terry: mean over prompts of the mean over the prompt's pairs of
 * -log sigmoid(r_better - r_worse - marginScale·margin). Scalar; 0 when there is no pair.
 */
export function bradleyTerryLoss(rewards: Tensor, groups: readonly PromptGroup[], marginScale = 1): Tensor {
  checkRewards(rewards, groups);
  const { M, N, m, margin, weight } = pairMatrix(rewards, groups, -1, marginScale);
  if (M === 0) return mul(sum(rewards), 0);
  const diff = reshape(linear(reshape(rewards, [1, N]), constant(m, [M, N], rewards)), [M]); // (M,) r_b - r_w
  const nll = neg(logSigmoid(sub(diff, constant(margin, [M], rewards))));
  return sum(mul(nll, constant(weight, [M], rewards)));
}

/** Reward centering (Eisenstein et al. 2023): mean over prompts of the mean over pairs of (r_better + r_worse)². */
export function centeringLoss(rewards: Tensor, groups: readonly PromptGroup[]): Tensor {
  checkRewards(rewards, groups);
  const { M, N, m, weight } = pairMatrix(rewards, groups, 1, 0);
  if (M === 0) return mul(sum(rewards), 0);
  const s = reshape(linear(reshape(rewards, [1, N]), constant(m, [M, N], rewards)), [M]); // (M,) r_b + r_w
  return sum(mul(square(s), constant(weight, [M], rewards)));
}

/** MSE: mean over prompts of the mean over the prompt's scored responses of (r - target)². */
export function scoreMseLoss(rewards: Tensor, groups: readonly PromptGroup[]): Tensor {
  checkRewards(rewards, groups);
  const N = rewards.shape[0];
  const target = new Float64Array(N);
  const weight = new Float64Array(N);
  for (const g of groups) {
    const t = g.targets ?? [];
    const n = t.filter((x) => x !== null).length;
    for (let i = 0; i < t.length && i < g.count; i++) {
      const x = t[i];
      if (x === null) continue;
      target[g.start + i] = x;
      weight[g.start + i] = 1 / (n * groups.length);
    }
  }
  return sum(mul(square(sub(rewards, constant(target, [N], rewards))), constant(weight, [N], rewards)));
}

/** The training loss of one batch: BT (+ centering) and/or MSE, as `kind` says. Scalar, a mean over prompts. */
export function rewardLoss(rewards: Tensor, groups: readonly PromptGroup[], o: RewardLossOptions = {}): Tensor {
  const kind = o.kind ?? "bt";
  if (kind !== "bt" && kind !== "mse" && kind !== "bt+mse") throw new RewardLossError(`loss must be "bt", "mse" or "bt+mse", got ${JSON.stringify(kind)}`);
  const terms: Tensor[] = [];
  if (kind !== "mse") {
    terms.push(bradleyTerryLoss(rewards, groups, o.marginScale ?? 1));
    if ((o.centerCoef ?? 0) !== 0) terms.push(mul(centeringLoss(rewards, groups), o.centerCoef as number));
  }
  if (kind !== "bt") terms.push(kind === "mse" ? scoreMseLoss(rewards, groups) : mul(scoreMseLoss(rewards, groups), o.mseCoef ?? 1));
  return terms.reduce((a, b) => add(a, b));
}

/** Pair accuracy, mean margin and score MSE of given rewards (plain numbers, for logs and evaluation). */
export interface PairStats {
  pairs: number;
  /** Pairs with r_better > r_worse (a tie counts half). */
  correct: number;
  /** Sum of r_better - r_worse over pairs. */
  marginSum: number;
  scored: number;
  /** Sum of (r - target)² over scored responses. */
  squaredError: number;
}

/** Counts {@link PairStats} over the groups of one batch. */
export function pairStats(rewards: ArrayLike<number>, groups: readonly PromptGroup[]): PairStats {
  const s: PairStats = { pairs: 0, correct: 0, marginSum: 0, scored: 0, squaredError: 0 };
  for (const g of groups) {
    for (const p of g.pairs) {
      const d = rewards[g.start + p.better] - rewards[g.start + p.worse];
      s.pairs++;
      s.correct += d > 0 ? 1 : d === 0 ? 0.5 : 0;
      s.marginSum += d;
    }
    (g.targets ?? []).forEach((t, i) => {
      if (t === null) return;
      s.scored++;
      s.squaredError += (rewards[g.start + i] - t) ** 2;
    });
  }
  return s;
}
