// The feed-forward layers of a transformer block: the dense MLP of either flavour (gpt2: GELU(tanh),
// llama: SwiGLU with [gate; up] fused in c_fc) and a sparse mixture of experts (router, top-k,
// dropless or capacity-limited routing, optional shared expert, load-balancing and z auxiliary losses).
import * as ops from "../tensor/ops/index.js";
import type { Rng } from "../tensor/rng.js";
import { shapeStr, Tensor, TensorError } from "../tensor/tensor.js";
import { Dropout, Linear } from "./layers.js";
import { type Init, Module, ModuleList, type ParamOptions } from "./module.js";

/** The shape and init of one feed-forward network. */
export interface FeedForwardOptions {
  /** gpt2: c_fc -> GELU(tanh) -> c_proj. llama: c_fc = [gate; up] -> silu(gate)·up -> c_proj. */
  flavour: "gpt2" | "llama";
  nEmbd: number;
  /** Hidden width M (llama: width of gate and of up each). */
  hidden: number;
  bias: boolean;
  /** Init of c_fc and of c_proj (GPT-2 scales residual projections down). */
  fcInit: Init;
  projInit: Init;
  dropout: number;
  dropoutRng: Rng;
}

/** gpt2: c_fc -> GELU(tanh) -> c_proj. llama: c_fc holds [gate; up] -> silu(gate)·up -> c_proj. */
export class FeedForward extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  readonly drop: Dropout;

  constructor(private readonly o: FeedForwardOptions, po: ParamOptions) {
    super();
    const fcOut = o.flavour === "gpt2" ? o.hidden : 2 * o.hidden;
    this.c_fc = this.child("c_fc", new Linear(o.nEmbd, fcOut, { ...po, bias: o.bias, init: o.fcInit }));
    this.c_proj = this.child("c_proj", new Linear(o.hidden, o.nEmbd, { ...po, bias: o.bias, init: o.projInit }));
    this.drop = this.child("drop", new Dropout(o.dropout, o.dropoutRng));
  }

  /** x (..., C) -> (..., C). */
  forward(x: Tensor): Tensor {
    const h = this.c_fc.forward(x); // (..., M) or (..., 2M)
    const M = this.o.hidden;
    const a = this.o.flavour === "gpt2" ? ops.gelu(h) : ops.mul(ops.silu(ops.slice(h, -1, 0, M)), ops.slice(h, -1, M, 2 * M));
    return this.drop.forward(this.c_proj.forward(a));
  }
}

/** Routing and auxiliary losses of a mixture-of-experts layer. */
export interface MoEOptions extends FeedForwardOptions {
  /** Experts E (each a FeedForward of width `hidden`). */
  experts: number;
  /** Experts per token k (1 <= k <= E). */
  topK: number;
  /** An always-on expert added to every token's output (weight 1). */
  shared: boolean;
  /** Divide the k selected router probabilities by their sum (Mixtral); false keeps the raw softmax values. */
  normalizeTopK: boolean;
  /**
   * 0: dropless (every token reaches its k experts). > 0: in training, an expert takes at most
   * ceil(factor · N · k / E) of a batch's N tokens, first choices first (then by token order); the
   * rest pass through the residual only (their gate is 0; they are still computed, so this changes
   * the maths, not yet the cost). Evaluation is always dropless.
   */
  capacityFactor: number;
  /** Weight of the load-balancing loss E · Σ_e f_e · P_e. */
  loadBalanceCoef: number;
  /** Weight of the router z-loss mean(logsumexp(router logits)²). */
  zLossCoef: number;
  /** Init of the router weight (E, C). */
  routerInit: Init;
}

/** What one forward of a {@link MoE} layer routed, for logging and the auxiliary loss. */
export interface MoEStep {
  /** Tokens N the layer saw. */
  tokens: number;
  /** load[e]: the share of tokens that chose expert e among their top k (sums to k; k/E each when balanced). */
  load: Float64Array;
  /** Token-expert assignments dropped by the capacity limit. */
  dropped: number;
  /** Load-balancing loss E · Σ_e load[e] · mean_n p[n, e] (k when balanced; Mixtral's definition). */
  loadBalanceLoss: number;
  /** Router z-loss: mean over tokens of logsumexp(router logits)². */
  zLoss: number;
  /**
   * loadBalanceCoef · lb + zLossCoef · z as a scalar tensor (differentiable unless under noGrad);
   * null in eval mode or when both coefficients are 0.
   */
  aux: Tensor | null;
}

/**
 * The k largest of probs (N, E) per row: expert ids (N·k, rank-major within a row). Ties go to the
 * lower expert index, so routing is a pure function of the probabilities.
 */
export function topKExperts(probs: ArrayLike<number>, N: number, E: number, k: number): Int32Array {
  const sel = new Int32Array(N * k);
  const taken = new Uint8Array(E);
  for (let n = 0; n < N; n++) {
    taken.fill(0);
    const o = n * E;
    for (let s = 0; s < k; s++) {
      let best = -1;
      for (let e = 0; e < E; e++) if (!taken[e] && (best < 0 || probs[o + e] > probs[o + best])) best = e;
      taken[best] = 1;
      sel[n * k + s] = best;
    }
  }
  return sel;
}

/**
 * A sparse mixture-of-experts MLP: router Linear(C, E) without bias, softmax over experts, top-k per
 * token, gates (renormalised over the k when asked), each expert run on its own rows only (rows
 * gathered grouped by expert, the experts' layers applied block by block with groupedLinear, the
 * results scatter-added back weighted by the gate), plus an optional shared expert.
 * `last` holds what the latest forward routed (see {@link MoEStep}).
 */
export class MoE extends Module {
  readonly router: Linear;
  readonly experts: ModuleList<FeedForward>;
  readonly shared: FeedForward | null;
  /** Dropout on the experts' outputs (the experts run grouped, not through their own forward). */
  readonly drop: Dropout;
  /** The latest forward's routing and auxiliary loss (overwritten by every forward). */
  last: MoEStep | null = null;

  constructor(readonly o: MoEOptions, po: ParamOptions) {
    super();
    if (!(Number.isInteger(o.experts) && o.experts >= 1)) throw new TensorError(`MoE: experts must be a whole number >= 1, got ${o.experts}`);
    if (!(Number.isInteger(o.topK) && o.topK >= 1 && o.topK <= o.experts)) {
      throw new TensorError(`MoE: topK ${o.topK} must be a whole number in [1, experts = ${o.experts}]`);
    }
    this.router = this.child("router", new Linear(o.nEmbd, o.experts, { ...po, bias: false, init: o.routerInit }));
    this.experts = this.child("experts", new ModuleList(Array.from({ length: o.experts }, () => new FeedForward(o, po))));
    this.shared = o.shared ? this.child("shared", new FeedForward(o, po)) : null;
    this.drop = this.child("drop", new Dropout(o.dropout, o.dropoutRng));
  }

  /** x (..., C) -> (..., C); records {@link MoE.last}. */
  forward(x: Tensor): Tensor {
    const { experts: E, topK: k } = this.o;
    const C = x.shape[x.ndim - 1];
    if (x.ndim < 2 || C !== this.o.nEmbd) throw new TensorError(`MoE: input ${shapeStr(x.shape)} must be (..., ${this.o.nEmbd})`);
    const N = x.size / C;
    const xf = ops.reshape(x, [N, C]); // (N, C)
    const logits = this.router.forward(xf); // (N, E)
    const probs = ops.softmax(logits); // (N, E)
    const pd = probs.contiguousData();
    const sel = topKExperts(pd, N, E, k); // (N·k)

    // Gates: the selected probabilities, (N·k, 1), renormalised over each token's k when asked.
    const flat = new Int32Array(N * k);
    for (let a = 0; a < N * k; a++) flat[a] = Math.floor(a / k) * E + sel[a];
    let gates = ops.indexRows(ops.reshape(probs, [N * E, 1]), flat); // (N·k, 1)
    if (this.o.normalizeTopK && k > 1) {
      const g = ops.reshape(gates, [N, k]);
      gates = ops.reshape(ops.div(g, ops.sum(g, 1, true)), [N * k, 1]);
    }

    // Assignments grouped by expert: within one, first choices first, then token order. Over-capacity
    // assignments keep their rows (so every buffer has the same size each step) but get weight 0.
    const A = N * k;
    const offsets = new Int32Array(E + 1);
    for (let a = 0; a < A; a++) offsets[sel[a] + 1]++;
    for (let e = 0; e < E; e++) offsets[e + 1] += offsets[e];
    const cap = this.training && this.o.capacityFactor > 0 ? Math.max(1, Math.ceil((this.o.capacityFactor * N * k) / E)) : Number.POSITIVE_INFINITY;
    const next = offsets.slice(0, E);
    const order = new Int32Array(A); // assignment at each position of the grouped rows
    const keep = new Float64Array(A);
    let dropped = 0;
    for (let s = 0; s < k; s++) {
      for (let n = 0; n < N; n++) {
        const a = n * k + s;
        const e = sel[a];
        const pos = next[e]++;
        order[pos] = a;
        keep[pos] = pos - offsets[e] < cap ? 1 : 0;
        if (keep[pos] === 0) dropped++;
      }
    }
    const tokens = Int32Array.from(order, (a) => Math.floor(a / k));
    const ys = this.runExperts(ops.indexRows(xf, tokens), offsets); // (A, C)
    let g = ops.indexRows(gates, order); // (A, 1)
    if (dropped > 0) g = ops.mul(g, Tensor.from(keep, [A, 1], { dtype: x.dtype, backend: x.backend }));
    let y = ops.scatterAddRows(ops.mul(ys, g), tokens, N); // (N, C)
    if (this.shared) y = ops.add(y, this.shared.forward(xf));

    const counts = new Int32Array(E);
    for (let e = 0; e < E; e++) counts[e] = offsets[e + 1] - offsets[e];
    this.last = this.auxiliary(logits, probs, pd, counts, N, dropped);
    return ops.reshape(y, x.shape);
  }

  /**
   * Every expert on its block of rows at once: xs (A, C) grouped by expert (blocks from offsets)
   * -> (A, C), through one grouped c_fc, the activation over all rows, one grouped c_proj.
   */
  private runExperts(xs: Tensor, offsets: Int32Array): Tensor {
    const ex = this.experts.items;
    const M = this.o.hidden;
    const bias = (l: "c_fc" | "c_proj") => (this.o.bias ? ex.map((e) => e[l].bias) : null);
    const h = ops.groupedLinear(xs, ex.map((e) => e.c_fc.weight), bias("c_fc"), offsets); // (A, M) or (A, 2M)
    const act = this.o.flavour === "gpt2" ? ops.gelu(h) : ops.mul(ops.silu(ops.slice(h, -1, 0, M)), ops.slice(h, -1, M, 2 * M));
    return this.drop.forward(ops.groupedLinear(act, ex.map((e) => e.c_proj.weight), bias("c_proj"), offsets)); // (A, C)
  }

  /** Load, the auxiliary loss values and (in training) their weighted sum as a tensor. */
  private auxiliary(logits: Tensor, probs: Tensor, pd: ArrayLike<number>, counts: Int32Array, N: number, dropped: number): MoEStep {
    const E = this.o.experts;
    const load = new Float64Array(E);
    for (let e = 0; e < E; e++) load[e] = counts[e] / N;
    const meanP = new Float64Array(E);
    for (let n = 0; n < N; n++) for (let e = 0; e < E; e++) meanP[e] += pd[n * E + e] / N;
    let lb = 0;
    for (let e = 0; e < E; e++) lb += load[e] * meanP[e];
    lb *= E;
    const ld = logits.contiguousData();
    let z = 0;
    for (let n = 0; n < N; n++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let e = 0; e < E; e++) m = Math.max(m, ld[n * E + e]);
      let s = 0;
      for (let e = 0; e < E; e++) s += Math.exp(ld[n * E + e] - m);
      const lse = m + Math.log(s);
      z += (lse * lse) / N;
    }
    const { loadBalanceCoef: a, zLossCoef: b } = this.o;
    let aux: Tensor | null = null;
    if (this.training && (a > 0 || b > 0)) {
      const terms: Tensor[] = [];
      if (a > 0) {
        const f = Tensor.from(load, [E], { dtype: probs.dtype, backend: probs.backend }); // constant: top-k has no gradient
        terms.push(ops.mulScalar(ops.sum(ops.mul(ops.mean(probs, 0), f)), a * E));
      }
      if (b > 0) {
        // logsumexp(l) = l_0 - logSoftmax(l)_0, stable and differentiable with existing ops.
        const lse = ops.sub(ops.slice(logits, -1, 0, 1), ops.slice(ops.logSoftmax(logits), -1, 0, 1)); // (N, 1)
        terms.push(ops.mulScalar(ops.mean(ops.square(lse)), b));
      }
      aux = terms.length === 1 ? terms[0] : ops.add(terms[0], terms[1]);
    }
    return { tokens: N, load, dropped, loadBalanceLoss: lb, zLoss: z, aux };
  }
}
