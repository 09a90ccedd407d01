// Reverse-mode autograd over the graph that ops record (each output keeps its GradFn).
// backward() walks the graph in reverse topological order and accumulates into leaf .grad.
import { collectCreated, isGradEnabled, noGrad, shapeStr, Tensor, TensorError, untracked, type GradFn } from "../tensor/tensor.js";

/** Whether an op with these inputs must record a graph node. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!isGradEnabled()) return false;
  for (const t of inputs) if (t?.requiresGrad) return true;
  return false;
}

/**
 * Records `out` as produced by op `name` from `inputs`; `backward` maps d(out) to d(inputs);
 * `backwardInto` (single-input ops only) adds d(input) into an existing gradient buffer.
 */
export function record(
  out: Tensor, name: string, inputs: readonly Tensor[], backward: (g: Tensor) => (Tensor | null)[],
  backwardInto?: (g: Tensor, dst: Tensor) => void,
): Tensor {
  if (!needsGrad(...inputs)) return out;
  const fn: GradFn = { name, inputs, backward, backwardInto };
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

/**
 * Gradient buffers of one backward pass, reference-counted by storage owner, so that an
 * intermediate gradient returns to the pool as soon as nothing needs it any more (peak memory
 * is then about one layer of gradients, not the whole graph). Only tensors created during this
 * pass are ever freed here.
 */
class GradBuffers {
  readonly created = new Set<Tensor>();
  private readonly refs = new Map<Tensor, number>();

  retain(t: Tensor): void {
    const o = t.owner();
    this.refs.set(o, (this.refs.get(o) ?? 0) + 1);
  }

  release(t: Tensor): void {
    const o = t.owner();
    const n = (this.refs.get(o) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(o, n);
      return;
    }
    this.refs.delete(o);
    if (this.created.has(o)) {
      this.created.delete(o);
      o.dispose();
    }
  }

  /** True when t is a whole buffer made in this pass that only one reference holds. */
  exclusive(t: Tensor): boolean {
    return t.owner() === t && this.created.has(t) && this.refs.get(t) === 1 && t.isContiguous() && t.offset === 0;
  }

  /** Hands t over to the caller (it leaves this pass and every scope). */
  adopt(t: Tensor): void {
    this.refs.delete(t);
    this.created.delete(t);
  }
}

/** Adds g into leaf.grad (taking g itself when it is an exclusive buffer, else copying once). */
function accumulateLeaf(leaf: Tensor, g: Tensor, bufs: GradBuffers): void {
  if (leaf.grad === null || leaf.grad.isDisposed) {
    if (bufs.exclusive(g) && g.backend === leaf.backend && g.dtype === leaf.dtype) {
      bufs.adopt(g);
      leaf.grad = g;
      return;
    }
    leaf.grad = untracked(() => Tensor.empty(leaf.shape, { dtype: leaf.dtype, backend: leaf.backend }));
    leaf.grad.data.set(g.contiguousData());
    bufs.release(g);
    return;
  }
  const dst = leaf.grad.data;
  leaf.grad.kernels().binary("add", dst, 0, leaf.grad.strides, g.data, g.offset, g.strides, dst, leaf.shape);
  bufs.release(g);
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
  const bufs = new GradBuffers();
  collectCreated(bufs.created, () =>
    noGrad(() => {
      const seed = grad ?? Tensor.ones(root.shape, { dtype: root.dtype, backend: root.backend });
      bufs.retain(seed);
      grads.set(root, seed);
      for (let i = order.length - 1; i >= 0; i--) {
        const t = order[i];
        const g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        if (!t.gradFn) {
          accumulateLeaf(t, g, bufs);
          continue;
        }
        const into = t.gradFn.backwardInto;
        if (into && t.gradFn.inputs.length === 1 && t.gradFn.inputs[0].requiresGrad) {
          // Accumulate straight into the input's gradient buffer (one buffer for all slices of a tensor).
          const x = t.gradFn.inputs[0];
          const prev = grads.get(x);
          if (prev && bufs.exclusive(prev)) {
            into(g, prev);
          } else {
            const buf = Tensor.zeros(x.shape, { dtype: x.dtype, backend: x.backend });
            bufs.retain(buf);
            into(g, buf);
            if (prev) {
              buf.kernels().binary("add", buf.data, 0, buf.strides, prev.data, prev.offset, prev.strides, buf.data, buf.shape);
              bufs.release(prev);
            }
            grads.set(x, buf);
          }
          bufs.release(g);
          continue;
        }
        const inputGrads = t.gradFn.backward(g);
        const inputs = t.gradFn.inputs;
        for (const gx of inputGrads) if (gx) bufs.retain(gx);
        for (let j = 0; j < inputs.length; j++) {
          const x = inputs[j];
          const gx = inputGrads[j];
          if (!gx) continue;
          if (!x.requiresGrad) {
            bufs.release(gx);
            continue;
          }
          if (gx.shape.join(",") !== x.shape.join(",")) {
            throw new TensorError(
              `backward of ${t.gradFn.name}: gradient shape ${shapeStr(gx.shape)} for input of shape ${shapeStr(x.shape)}`,
            );
          }
          const prev = grads.get(x);
          if (!prev) {
            grads.set(x, gx);
            continue;
          }
          // Sum in place when the earlier gradient is a buffer of this pass that nothing else holds.
          if (bufs.exclusive(prev)) {
            prev.kernels().binary("add", prev.data, 0, prev.strides, gx.data, gx.offset, gx.strides, prev.data, prev.shape);
            bufs.release(gx);
          } else {
            const sum = sumGrads(prev, gx);
            bufs.retain(sum);
            grads.set(x, sum);
            bufs.release(prev);
            bufs.release(gx);
          }
        }
        bufs.release(g);
      }
    }),
  );
}

function sumGrads(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, { dtype: a.dtype, backend: a.backend });
  a.kernels().binary("add", a.data, a.offset, a.strides, b.data, b.offset, b.strides, out.data, a.shape);
  return out;
}
