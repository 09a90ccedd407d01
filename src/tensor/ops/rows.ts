// The row ops of a mixture-of-experts layer, with their VJPs: row gather and row scatter-add (each
// the other's backward; on the embedding kernels, native on the native backend) and a grouped linear
// (one weight per block of rows, every block multiplied by the GEMM kernel in place, so a step's
// buffers keep the same sizes whatever the routing and the buffer pool serves them again).
import { record } from "../../autograd/tape.js";
import type { GemmArgs, Kernels } from "../backend/kernels.js";
import { gemmBf16 } from "../backend/native.js";
import { shapeStr, type Tensor, TensorError } from "../tensor.js";
import { checkSameKind, contiguousRaw, emptyLike, zerosLike } from "./checks.js";
import { bf16MatmulAvailable, getMatmulPrecision } from "./matmul.js";

function checkRows(op: string, rows: Int32Array, numRows: number): void {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(r >= 0 && r < numRows)) throw new TensorError(`${op}: row index ${r} at position ${i} is outside [0, ${numRows})`);
  }
}

/**
 * Picks rows of x (N, C): out (n, C) with out[i] = x[rows[i]] (repeats allowed). The backward
 * scatter-adds the output gradient into a zero (N, C) gradient.
 */
export function indexRows(x: Tensor, rows: Int32Array): Tensor {
  if (x.ndim !== 2) throw new TensorError(`indexRows: x must be (rows, cols), got ${shapeStr(x.shape)}`);
  const [N, C] = x.shape;
  checkRows("indexRows", rows, N);
  const n = rows.length;
  const out = emptyLike(x, [n, C]);
  if (n > 0 && C > 0) x.kernels().embedding(contiguousRaw(x).contiguousData(), rows, out.data, n, C);
  return record(out, "indexRows", [x], (g) => {
    const gx = zerosLike(x);
    if (n > 0 && C > 0) x.kernels().embeddingBackward(contiguousRaw(g).contiguousData(), rows, gx.data, n, C);
    return [gx];
  });
}

/**
 * Adds the rows of src (n, C) into a zero (numRows, C) tensor: out[rows[i]] += src[i], in order
 * of i. The backward gathers: d src[i] = d out[rows[i]].
 */
export function scatterAddRows(src: Tensor, rows: Int32Array, numRows: number): Tensor {
  if (src.ndim !== 2) throw new TensorError(`scatterAddRows: src must be (rows, cols), got ${shapeStr(src.shape)}`);
  const [n, C] = src.shape;
  if (rows.length !== n) throw new TensorError(`scatterAddRows: ${rows.length} row indices for ${n} rows of src ${shapeStr(src.shape)}`);
  if (!Number.isInteger(numRows) || numRows < 0) throw new TensorError(`scatterAddRows: numRows must be a whole number >= 0, got ${numRows}`);
  checkRows("scatterAddRows", rows, numRows);
  const out = zerosLike(src, [numRows, C]);
  if (n > 0 && C > 0) src.kernels().embeddingBackward(contiguousRaw(src).contiguousData(), rows, out.data, n, C);
  return record(out, "scatterAddRows", [src], (g) => {
    const gs = emptyLike(src, [n, C]);
    if (n > 0 && C > 0) src.kernels().embedding(contiguousRaw(g).contiguousData(), rows, gs.data, n, C);
    return [gs];
  });
}

/** A GEMM honouring the matmul precision (bf16 products on the native backend when set), as matmul does. */
function gemm(k: Kernels, p: Omit<GemmArgs, "alpha" | "batch" | "strideA" | "strideB" | "strideC">): void {
  const args: GemmArgs = { ...p, alpha: 1, batch: 1, strideA: 0, strideB: 0, strideC: 0 };
  if (getMatmulPrecision() === "bf16" && k.name === "native" && args.c instanceof Float32Array && bf16MatmulAvailable()) gemmBf16(args);
  else k.gemm(args);
}

/**
 * One linear layer per block of rows: x (A, in) with blocks [offsets[g], offsets[g + 1]) for
 * g < G (offsets (G + 1,), from 0 to A); block g is multiplied by weights[g] (out, in) and
 * biases[g] (out,) added -> (A, out). Gradients flow to x, every weight and bias (null for a
 * weight whose block is empty). A mixture of experts runs all its experts' c_fc (or c_proj) at once this way.
 */
export function groupedLinear(x: Tensor, weights: readonly Tensor[], biases: readonly (Tensor | null)[] | null, offsets: Int32Array): Tensor {
  const G = weights.length;
  const bs = biases ?? weights.map(() => null);
  if (x.ndim !== 2) throw new TensorError(`groupedLinear: x must be (rows, in), got ${shapeStr(x.shape)}`);
  const [A, inF] = x.shape;
  if (G === 0 || bs.length !== G || offsets.length !== G + 1 || offsets[0] !== 0 || offsets[G] !== A) {
    throw new TensorError(`groupedLinear: ${G} weights, ${bs.length} biases and ${offsets.length} offsets (from ${offsets[0]} to ${offsets[G]}) for ${A} rows: expected G >= 1 weights and biases, G + 1 offsets from 0 to ${A}`);
  }
  const outF = weights[0].shape[0];
  for (let g = 0; g < G; g++) {
    const w = weights[g];
    const b = bs[g];
    if (w.ndim !== 2 || w.shape[0] !== outF || w.shape[1] !== inF) throw new TensorError(`groupedLinear: weight ${g} is ${shapeStr(w.shape)}, expected (${outF}, ${inF})`);
    if (b && (b.ndim !== 1 || b.shape[0] !== outF)) throw new TensorError(`groupedLinear: bias ${g} is ${shapeStr(b.shape)}, expected (${outF},)`);
    if (offsets[g + 1] < offsets[g]) throw new TensorError(`groupedLinear: offsets must not decrease (offsets[${g + 1}] = ${offsets[g + 1]} < ${offsets[g]})`);
    checkSameKind("groupedLinear", x, w, ...(b ? [b] : []));
  }
  const xc = contiguousRaw(x);
  const ws = weights.map((w) => contiguousRaw(w));
  const k = x.kernels();
  const out = emptyLike(x, [A, outF]);
  for (let g = 0; g < G; g++) {
    const [r0, n] = [offsets[g], offsets[g + 1] - offsets[g]];
    if (n === 0) continue;
    const b = bs[g];
    if (b) k.copyStrided(b.data, b.offset, [0, b.strides[0]], out.data.subarray(r0 * outF, (r0 + n) * outF), [n, outF]);
    // rows (n, in) @ W_g^T (in, out), W_g read transposed in place
    gemm(k, {
      transA: false, transB: true, M: n, N: outF, K: inF, a: xc.data, aOff: xc.offset + r0 * inF, lda: inF,
      b: ws[g].data, bOff: ws[g].offset, ldb: inF, beta: b ? 1 : 0, c: out.data, cOff: r0 * outF, ldc: outF,
    });
  }
  const inputs = [x, ...weights, ...bs.filter((b): b is Tensor => b !== null)];
  return record(out, "groupedLinear", inputs, (gOut) => {
    const gc = contiguousRaw(gOut);
    const gx = x.requiresGrad ? emptyLike(x, [A, inF]) : null;
    const gws: (Tensor | null)[] = [];
    const gbs: (Tensor | null)[] = [];
    for (let g = 0; g < G; g++) {
      const [r0, n] = [offsets[g], offsets[g + 1] - offsets[g]];
      const w = weights[g];
      const b = bs[g];
      if (gx && n > 0) {
        // d rows (n, in) = d out rows (n, out) @ W_g (out, in)
        gemm(k, {
          transA: false, transB: false, M: n, N: inF, K: outF, a: gc.data, aOff: gc.offset + r0 * outF, lda: outF,
          b: ws[g].data, bOff: ws[g].offset, ldb: inF, beta: 0, c: gx.data, cOff: r0 * inF, ldc: inF,
        });
      }
      let gw: Tensor | null = null;
      if (w.requiresGrad && n > 0) {
        // d W_g (out, in) = (d out rows)^T (out, n) @ rows (n, in)
        gw = emptyLike(w, [outF, inF]);
        gemm(k, {
          transA: true, transB: false, M: outF, N: inF, K: n, a: gc.data, aOff: gc.offset + r0 * outF, lda: outF,
          b: xc.data, bOff: xc.offset + r0 * inF, ldb: inF, beta: 0, c: gw.data, cOff: 0, ldc: inF,
        });
      }
      gws.push(gw);
      if (b) {
        let gb: Tensor | null = null;
        if (b.requiresGrad && n > 0) {
          gb = emptyLike(b, [outF]);
          k.sumAxis(gc.contiguousData().subarray(r0 * outF, (r0 + n) * outF), gb.data, 1, n, outF);
        }
        gbs.push(gb);
      }
    }
    return [gx, ...gws, ...gbs];
  });
}
