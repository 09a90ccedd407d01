// Gradient checking by central finite differences in float64, independent of any backward:
// d/dx sum(w * f(x)) for a fixed random w, compared element by element with autograd.
import { mul, sum } from "../tensor/ops/index.js";
import { Rng } from "../tensor/rng.js";
import { noGrad, shapeStr, Tensor, tidy } from "../tensor/tensor.js";

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| / (atol + rtol * |numeric|) over all checked elements (≤ 1 passes). */
  worst: number;
  /** A description of the worst element. */
  where: string;
}

/**
 * Checks autograd gradients of fn at `inputs` (f64 tensors with requiresGrad) against
 * central differences. Inputs are perturbed in place and restored.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-4;
  for (const x of inputs) {
    if (x.dtype !== "f64") throw new Error(`gradcheck: inputs must be f64, got ${x.dtype} ${shapeStr(x.shape)}`);
    if (!x.isContiguous()) throw new Error("gradcheck: inputs must be contiguous");
  }
  const probe = noGrad(() => fn(...inputs));
  const rng = new Rng(opts.seed ?? 1234);
  const w = Tensor.randn(probe.shape, { dtype: "f64", backend: probe.backend, rng });
  const objective = (): number => tidy(() => sum(mul(fn(...inputs), w)).item());
  for (const x of inputs) x.grad = null;
  tidy(() => {
    sum(mul(fn(...inputs), w)).backward();
  });
  let worst = 0;
  let where = "";
  inputs.forEach((x, xi) => {
    if (!x.requiresGrad) return;
    const d = x.data;
    const analytic = x.grad ? x.grad.contiguousData() : new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const i0 = x.offset + i;
      const orig = d[i0];
      d[i0] = orig + eps;
      const fp = noGrad(objective);
      d[i0] = orig - eps;
      const fm = noGrad(objective);
      d[i0] = orig;
      const numeric = (fp - fm) / (2 * eps);
      const err = Math.abs(analytic[i] - numeric) / (atol + rtol * Math.abs(numeric));
      if (err > worst || Number.isNaN(err)) {
        worst = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
        where = `input ${xi} ${shapeStr(x.shape)} element ${i}: autograd ${analytic[i]}, finite differences ${numeric}`;
      }
    }
  });
  return { ok: worst <= 1, worst, where };
}
