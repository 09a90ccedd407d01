// Reverse-mode autograd over the graph that ops record (each output keeps its GradFn).
// backward() walks the graph in reverse topological order and accumulates into leaf .grad.
import type { Storage } from "../tensor/backend/kernels.js";
import { isGradEnabled, noGrad, shapeStr, Tensor, TensorError, untracked, type GradFn } from "../tensor/tensor.js";

/** Whether an op with these inputs must record a graph node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of inputs) if (t?.requiresGrad) return true;
  return false;
}

/** Records `out` as produced by op `name` from `inputs`; `backward` maps d(out) to d(inputs). */
export function record(
  out: Tensor, name: string, inputs: readonly Tensor[], backward: (g: Tensor) => (Tensor | null)[],
): Tensor {
  if (!needsGrad(...inputs)) return out;
  const fn: GradFn = { name, inputs, backward };
  out.gradFn = fn;
  out.requiresGrad = true;
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS (deep graphs must not overflow the JS stack).
  const stack: { t: Tensor; i: number }[] = [{ t: root, i: 0 }];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top.t.gradFn?.inputs ?? [];
    if (top.i < inputs.length) {
      const next = inputs[top.i++];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push({ t: next, i: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

function addInto(dst: Storage, src: Storage, n: number): void {
  for (let i = 0; i < n; i++) dst[i] += src[i];
}

/** Adds g into leaf.grad (allocating it outside any scope the first time). */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const src = g.contiguousData();
  if (leaf.grad === null || leaf.grad.isDisposed) {
    leaf.grad = untracked(() => Tensor.empty(leaf.shape, { dtype: leaf.dtype, backend: leaf.backend }));
    leaf.grad.data.set(src);
    return;
  }
  const k = leaf.grad.kernels();
  const dst = leaf.grad.data;
  if (k.name === "ref") addInto(dst, src, dst.length);
  else k.binary("add", dst, 0, leaf.grad.strides, src, 0, leaf.grad.strides, dst, leaf.shape);
}

/**
 * Computes gradients of `root` with respect to every leaf that requires grad, adding them
 * into `.grad` (so calls accumulate, as in PyTorch). A non-scalar root needs `grad`.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) {
    throw new TensorError("backward: the tensor does not require grad (no input had requiresGrad, or it was made under noGrad)");
  }
  if (grad === undefined && root.size !== 1) {
    throw new TensorError(`backward: output has shape ${shapeStr(root.shape)}; pass a gradient of the same shape`);
  }
  if (grad !== undefined && grad.shape.join(",") !== root.shape.join(",")) {
    throw new TensorError(`backward: gradient shape ${shapeStr(grad.shape)} differs from output shape ${shapeStr(root.shape)}`);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, grad ?? Tensor.ones(root.shape, { dtype: root.dtype, backend: root.backend }));
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      if (!g) continue;
      if (!t.gradFn) {
        accumulateLeaf(t, g);
        continue;
      }
      const inputGrads = t.gradFn.backward(g);
      const inputs = t.gradFn.inputs;
      for (let j = 0; j < inputs.length; j++) {
        const x = inputs[j];
        const gx = inputGrads[j];
        if (!gx || !x.requiresGrad) continue;
        if (gx.shape.join(",") !== x.shape.join(",")) {
          throw new TensorError(
            `backward of ${t.gradFn.name}: gradient shape ${shapeStr(gx.shape)} for input of shape ${shapeStr(x.shape)}`,
          );
        }
        const prev = grads.get(x);
        grads.set(x, prev ? sumGrads(prev, gx) : gx);
      }
    }
  });
}

function sumGrads(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, { dtype: a.dtype, backend: a.backend });
  a.kernels().binary("add", a.data, a.offset, a.strides, b.data, b.offset, b.strides, out.data, a.shape);
  return out;
}
