// bf16 mixed precision for matrix products: close to f32 (bf16 rounding of operands, f32
// accumulation), used forward and backward, and off on the reference backend.
import { describe, expect, it } from "vitest";
import { nativeKernels } from "../../src/tensor/backend/index.js";
import { bf16MatmulAvailable, setMatmulPrecision } from "../../src/tensor/ops/matmul.js";
import * as ops from "../../src/tensor/ops/index.js";
import { Rng } from "../../src/tensor/rng.js";
import { Tensor, tidy } from "../../src/tensor/tensor.js";

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

describe.skipIf(!nativeKernels || !bf16MatmulAvailable())("bf16 matmul precision", () => {
  it("linear forward and backward stay within bf16 error of f32, and differ from it", () => {
    const rng = new Rng(4);
    const x = Tensor.randn([64, 96], { rng, requiresGrad: true, backend: "native" });
    const w = Tensor.randn([80, 96], { rng, requiresGrad: true, backend: "native" });
    const run = (p: "f32" | "bf16") => {
      const prev = setMatmulPrecision(p);
      try {
        x.grad = null;
        w.grad = null;
        const y = tidy(() => {
          const out = ops.linear(x, w);
          ops.sum(ops.mul(out, out)).backward();
          return out.toTypedArray();
        });
        return { y, gx: x.grad!.toTypedArray(), gw: w.grad!.toTypedArray() };
      } finally {
        setMatmulPrecision(prev);
      }
    };
    const f = run("f32");
    const b = run("bf16");
    for (const k of ["y", "gx", "gw"] as const) {
      const e = relErr(b[k], f[k]);
      expect(e, k).toBeLessThan(2e-2);
      expect(e, k).toBeGreaterThan(1e-5);
    }
  });
});

describe("bf16 precision on the reference backend", () => {
  it("is ignored (exact f32 products)", () => {
    const a = Tensor.from([[1.001, 2.003]], undefined, { backend: "ref" });
    const b = Tensor.from([[3.007], [4.011]], undefined, { backend: "ref" });
    const prev = setMatmulPrecision("bf16");
    const y = ops.matmul(a, b).item();
    setMatmulPrecision(prev);
    expect(y).toBeCloseTo(1.001 * 3.007 + 2.003 * 4.011, 5);
  });
});
