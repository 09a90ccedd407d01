// LoRA (Hu et al. 2021) as Hugging Face PEFT computes it: y = base(x) + scale · B(A(dropout(x))),
// A Kaiming-uniform, B zero (so a fresh adapter leaves the model exactly as it was). A part may
// cover a row slice of a fused Linear (q/k/v of c_attn, gate/up of c_fc), each with its own A and B.
import { add, addInto, concat, linear, matmul, mulScalar, neg, slice } from "../tensor/ops/index.js";
import { globalRng, type Rng } from "../tensor/rng.js";
import { noGrad, Tensor, TensorError, tidy, untracked } from "../tensor/tensor.js";
import { Dropout, type Linear } from "./layers.js";
import { Module } from "./module.js";

/** One low-rank update: output rows [start, end) of the base layer, rank r, scale alpha/r (alpha/sqrt(r) with rsLoRA). */
export interface LoRAPartSpec {
  /** Child name of the part ("all", "q", "v", "gate", ...): its parameters are `<label>.lora_A` / `<label>.lora_B`. */
  label: string;
  start: number;
  end: number;
  r: number;
  alpha: number;
  rslora?: boolean;
}

/** The parameters of one part: A (r, in), B (end - start, r). */
export class LoRAPart extends Module {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly scale: number;

  constructor(readonly spec: LoRAPartSpec, inFeatures: number, like: Tensor, rng: Rng) {
    super();
    const { r, alpha, start, end } = spec;
    if (!(Number.isInteger(r) && r >= 1)) throw new TensorError(`LoRA: rank must be a whole number >= 1, got ${r}`);
    this.scale = spec.rslora ? alpha / Math.sqrt(r) : alpha / r;
    // PEFT: kaiming_uniform_(A, a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); B = 0.
    const bound = 1 / Math.sqrt(inFeatures);
    const opts = { dtype: like.dtype, backend: like.backend, requiresGrad: true };
    this.A = this.param("lora_A", untracked(() => Tensor.rand([r, inFeatures], { ...opts, low: -bound, high: bound, rng })));
    this.B = this.param("lora_B", untracked(() => Tensor.zeros([end - start, r], opts)));
  }

  /** scale · B @ A: (end - start, in), the change this part makes to the base weight rows. */
  delta(): Tensor {
    return mulScalar(matmul(this.B, this.A), this.scale);
  }
}

/**
 * A Linear with LoRA parts on disjoint row ranges of its output. The base layer is frozen.
 * `merge()` adds every scale·B·A into the base weight (the LoRA path is then skipped);
 * `unmerge()` subtracts it again.
 */
export class LoRALinear extends Module {
  readonly base: Linear;
  readonly dropout: Dropout;
  /** Sorted by start row. */
  readonly parts: LoRAPart[];
  merged = false;

  constructor(base: Linear, parts: readonly LoRAPartSpec[], opts: { dropout?: number; rng?: Rng } = {}) {
    super();
    const [outF, inF] = base.weight.shape;
    const sorted = [...parts].sort((a, b) => a.start - b.start);
    sorted.forEach((p, i) => {
      if (!(Number.isInteger(p.start) && Number.isInteger(p.end) && p.start >= 0 && p.end <= outF && p.start < p.end)) {
        throw new TensorError(`LoRALinear: part "${p.label}" rows [${p.start}, ${p.end}) outside the layer's ${outF} outputs`);
      }
      if (p.label === "base" || p.label === "dropout" || sorted.some((o, j) => j < i && o.label === p.label)) {
        throw new TensorError(`LoRALinear: part label "${p.label}" is reserved or used twice`);
      }
      const prev = sorted[i - 1];
      if (prev && prev.end > p.start) throw new TensorError(`LoRALinear: parts "${prev.label}" and "${p.label}" overlap (rows ${p.start}..${prev.end - 1})`);
    });
    this.base = this.child("base", base);
    base.requiresGrad(false);
    const rng = opts.rng ?? globalRng;
    this.dropout = this.child("dropout", new Dropout(opts.dropout ?? 0, rng));
    this.parts = sorted.map((p) => this.child(p.label, new LoRAPart(p, inF, base.weight, rng)));
  }

  /** x (..., in) -> (..., out). */
  forward(x: Tensor): Tensor {
    const y = this.base.forward(x);
    if (this.merged || this.parts.length === 0) return y;
    const h = this.dropout.forward(x);
    const lead = x.shape.slice(0, -1);
    const zeros = (n: number): Tensor => Tensor.zeros([...lead, n], { dtype: x.dtype, backend: x.backend });
    const pieces: Tensor[] = [];
    let pos = 0;
    for (const p of this.parts) {
      if (p.spec.start > pos) pieces.push(zeros(p.spec.start - pos));
      pieces.push(mulScalar(linear(linear(h, p.A), p.B), p.scale)); // (..., end - start)
      pos = p.spec.end;
    }
    const outF = this.base.weight.shape[0];
    if (pos < outF) pieces.push(zeros(outF - pos));
    return add(y, pieces.length === 1 ? pieces[0] : concat(pieces, -1));
  }

  /** W[rows] += scale · B @ A for every part (in place). No effect when already merged. */
  merge(): void {
    if (!this.merged) this.apply(1);
    this.merged = true;
  }

  /** Undoes {@link merge} (W[rows] -= scale · B @ A), up to float rounding. */
  unmerge(): void {
    if (this.merged) this.apply(-1);
    this.merged = false;
  }

  private apply(sign: 1 | -1): void {
    noGrad(() => tidy(() => {
      for (const p of this.parts) {
        const d = p.delta();
        addInto(slice(this.base.weight.detach(), 0, p.spec.start, p.spec.end), sign > 0 ? d : neg(d));
      }
    }));
  }

  /** Merges and returns the base Linear (to put back in place of this module). */
  mergeAndUnload(): Linear {
    this.merge();
    return this.base;
  }
}
