// Direct Preference Optimization losses as pure functions of per-pair sums of completion-token log-probs
// (policy and frozen reference, chosen and rejected): sigmoid with label smoothing (cDPO), IPO, hinge, and
// an optional SFT term on the chosen answers; plus the implicit-reward statistics logged every step.
import { add, logSigmoid, mul, neg, relu, square, sub, sum } from "../tensor/ops/index.js";
import { Tensor } from "../tensor/tensor.js";

/** Which preference loss: "sigmoid" (DPO, Rafailov et al.), "ipo" (Azar et al.), "hinge" (SLiC). */
export type DpoLossKind = "sigmoid" | "ipo" | "hinge";

export interface DpoLossOptions {
  kind?: DpoLossKind;
  /** Temperature of the implicit reward β·(log π − log π_ref) (default 0.1). */
  beta?: number;
  /** cDPO label smoothing ε in [0, 0.5): the share of pairs assumed flipped (sigmoid only; default 0). */
  labelSmoothing?: number;
  /** Weight of the SFT term: the chosen answers' NLL per token (default 0 = off). */
  sftCoef?: number;
}

/** Per-pair log-prob sums (P,) of the completions; `chosenTokens` (P,) counts the chosen completion tokens (for the SFT term). */
export interface DpoLogps {
  policyChosen: Tensor;
  policyRejected: Tensor;
  refChosen: Tensor;
  refRejected: Tensor;
  chosenTokens?: readonly number[];
}

/** A loss configuration or input that cannot work. */
export class DpoLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DpoLossError";
  }
}

/** Options with defaults filled in, checked once. */
export function dpoLossOptions(o: DpoLossOptions = {}): Required<DpoLossOptions> {
  const r = { kind: o.kind ?? "sigmoid", beta: o.beta ?? 0.1, labelSmoothing: o.labelSmoothing ?? 0, sftCoef: o.sftCoef ?? 0 };
  if (!["sigmoid", "ipo", "hinge"].includes(r.kind)) throw new DpoLossError(`--loss must be "sigmoid", "ipo" or "hinge", got "${r.kind}"`);
  if (!(r.beta > 0) || !Number.isFinite(r.beta)) throw new DpoLossError(`--beta must be a positive number, got ${r.beta}`);
  if (!(r.labelSmoothing >= 0 && r.labelSmoothing < 0.5)) throw new DpoLossError(`--label-smoothing must be in [0, 0.5), got ${r.labelSmoothing}`);
  if (r.labelSmoothing > 0 && r.kind !== "sigmoid") throw new DpoLossError(`--label-smoothing applies to --loss sigmoid only, not "${r.kind}"`);
  if (!(r.sftCoef >= 0) || !Number.isFinite(r.sftCoef)) throw new DpoLossError(`--sft-coef must be ≥ 0, got ${r.sftCoef}`);
  return r;
}

/**
 * The DPO loss, mean over the P pairs. With h = (πc − πr) − (refc − refr):
 * sigmoid −(1−ε)·log σ(βh) − ε·log σ(−βh); ipo (h − 1/(2β))²; hinge max(0, 1 − βh);
 * plus sftCoef · mean over pairs of (−πc / chosen tokens). Scalar; gradients flow to the policy terms.
 */
export function dpoLoss(x: DpoLogps, o: DpoLossOptions = {}): Tensor {
  const { kind, beta, labelSmoothing: eps, sftCoef } = dpoLossOptions(o);
  const P = x.policyChosen.shape[0];
  for (const [name, t] of Object.entries({ policyChosen: x.policyChosen, policyRejected: x.policyRejected, refChosen: x.refChosen, refRejected: x.refRejected })) {
    if (t.ndim !== 1 || t.shape[0] !== P) throw new DpoLossError(`${name} must be (${P},), got (${t.shape.join(",")})`);
  }
  if (P === 0) throw new DpoLossError("no preference pair in the batch");
  const h = sub(sub(x.policyChosen, x.policyRejected), sub(x.refChosen, x.refRejected)); // (P,)
  let per: Tensor;
  if (kind === "sigmoid") {
    per = mul(logSigmoid(mul(h, beta)), -(1 - eps));
    if (eps > 0) per = add(per, mul(logSigmoid(mul(h, -beta)), -eps));
  } else if (kind === "ipo") per = square(sub(h, 1 / (2 * beta)));
  else per = relu(add(mul(h, -beta), 1));
  let loss = mul(sum(per), 1 / P);
  if (sftCoef > 0) {
    const n = x.chosenTokens;
    if (!n || n.length !== P || n.some((k) => !(k > 0))) throw new DpoLossError("--sft-coef needs the chosen token count (> 0) of every pair");
    const inv = Tensor.from(Float64Array.from(n, (k) => 1 / (k * P)), [P], { dtype: x.policyChosen.dtype, backend: x.policyChosen.backend });
    loss = add(loss, mul(neg(sum(mul(x.policyChosen, inv))), sftCoef));
  }
  return loss;
}

/** Implicit-reward statistics of a batch: sums over pairs, so batches add up; see {@link dpoMetrics}. */
export interface DpoStats {
  pairs: number;
  /** Pairs with β(πc−refc) > β(πr−refr); ties count half. */
  correct: number;
  chosenRewardSum: number;
  rejectedRewardSum: number;
  chosenLogpSum: number;
  rejectedLogpSum: number;
}

/** Implicit rewards β·(π − ref) of chosen and rejected, their margins and the ranking accuracy (plain numbers). */
export function dpoStats(pc: ArrayLike<number>, pr: ArrayLike<number>, rc: ArrayLike<number>, rr: ArrayLike<number>, beta: number): DpoStats {
  const s: DpoStats = { pairs: pc.length, correct: 0, chosenRewardSum: 0, rejectedRewardSum: 0, chosenLogpSum: 0, rejectedLogpSum: 0 };
  for (let i = 0; i < pc.length; i++) {
    const a = beta * (pc[i] - rc[i]);
    const b = beta * (pr[i] - rr[i]);
    s.correct += a > b ? 1 : a === b ? 0.5 : 0;
    s.chosenRewardSum += a;
    s.rejectedRewardSum += b;
    s.chosenLogpSum += pc[i];
    s.rejectedLogpSum += pr[i];
  }
  return s;
}

/** Means of {@link DpoStats} under the names logged per step and per evaluation. */
export function dpoMetrics(s: DpoStats): Record<string, number> {
  if (s.pairs === 0) return {};
  const n = s.pairs;
  return {
    reward_accuracy: s.correct / n, reward_chosen: s.chosenRewardSum / n, reward_rejected: s.rejectedRewardSum / n,
    reward_margin: (s.chosenRewardSum - s.rejectedRewardSum) / n, logp_chosen: s.chosenLogpSum / n, logp_rejected: s.rejectedLogpSum / n,
  };
}
