// Weight-only quantised Linear layers for inference: int8 with one scale per output channel, and q4_0 as ggml's
// blocks (32 values, an f16 scale and 16 bytes of nibbles). quantMatmulRef is the definition of their matmul
// (native kernels are held to it); QuantLinear is the module GPT.forward runs them through.
import { loadAddon } from "../io/addon.js";
import { f16BitsToF32, QK, quantizeQ4_0 } from "../io/gguf.js";
import { Module } from "./module.js";
import { Tensor, TensorError } from "../tensor/tensor.js";

/** Storage formats of quantised weights. */
export const QUANT_FORMATS = ["int8", "q4_0"] as const;
export type QuantFormat = (typeof QUANT_FORMATS)[number];

/** Bytes one q4_0 block of 32 values takes. */
export const Q4_0_BLOCK_BYTES = 18;

/**
 * A (out, inp) weight stored quantised. int8: `data` holds out·inp int8 values row-major and `scales` one float per
 * row (w = q · scale). q4_0: `data` holds each row's inp/32 ggml blocks (18 bytes each, rows contiguous), `scales` null.
 */
export interface QuantWeight {
  format: QuantFormat;
  out: number;
  inp: number;
  data: Uint8Array;
  scales: Float32Array | null;
}

/** Why `inp` columns cannot be stored as `format` (null when they can). */
export function quantUnsupported(format: QuantFormat, inp: number): string | null {
  return format === "q4_0" && inp % QK !== 0 ? `rows of ${inp} values do not divide into q4_0 blocks of ${QK}` : null;
}

/** Quantises a row-major (out, inp) float weight. int8: scale = max|w_row| / 127, q = round(w / scale) (half away from zero). */
export function quantizeWeight(w: ArrayLike<number>, out: number, inp: number, format: QuantFormat): QuantWeight {
  if (w.length !== out * inp) throw new RangeError(`quantizeWeight: ${w.length} values for a (${out}, ${inp}) weight`);
  const why = quantUnsupported(format, inp);
  if (why) throw new RangeError(`quantizeWeight: ${why}`);
  if (format === "q4_0") return { format, out, inp, data: quantizeQ4_0(w), scales: null };
  const q = new Int8Array(out * inp);
  const scales = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let amax = 0;
    for (let k = 0; k < inp; k++) amax = Math.max(amax, Math.abs(w[o * inp + k]));
    const s = Math.fround(amax / 127);
    scales[o] = s;
    if (s === 0) continue;
    for (let k = 0; k < inp; k++) {
      const v = w[o * inp + k] / s;
      q[o * inp + k] = Math.max(-127, Math.min(127, Math.sign(v) * Math.round(Math.abs(v))));
    }
  }
  return { format, out, inp, data: new Uint8Array(q.buffer), scales };
}

/** The float weight (out, inp) a quantised weight stands for. */
export function dequantizeWeight(w: QuantWeight): Float32Array {
  const { out, inp } = w;
  const res = new Float32Array(out * inp);
  if (w.format === "int8") {
    const q = new Int8Array(w.data.buffer, w.data.byteOffset, w.data.length);
    const s = w.scales as Float32Array;
    for (let o = 0; o < out; o++) for (let k = 0; k < inp; k++) res[o * inp + k] = q[o * inp + k] * s[o];
    return res;
  }
  const view = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  for (let b = 0; b < (out * inp) / QK; b++) {
    const at = b * Q4_0_BLOCK_BYTES;
    const d = f16BitsToF32(view.getUint16(at, true));
    for (let j = 0; j < QK / 2; j++) {
      const q = w.data[at + 2 + j];
      res[b * QK + j] = ((q & 0xf) - 8) * d;
      res[b * QK + QK / 2 + j] = ((q >> 4) - 8) * d;
    }
  }
  return res;
}

/**
 * The definition of the quantised matmul: y (rows, out) = x (rows, inp) · Wᵀ + bias, W as stored (int8 · row scale,
 * or per block (q - 8) · d), sums in float64 and rounded to float32 once. Native kernels agree within float32 rounding.
 */
export function quantMatmulRef(x: Float32Array, rows: number, w: QuantWeight, bias: Float32Array | null, y: Float32Array): void {
  const { out, inp } = w;
  if (x.length < rows * inp || y.length < rows * out) throw new RangeError(`quantMatmulRef: x needs ${rows * inp} values and y ${rows * out}`);
  if (w.format === "int8") {
    const q = new Int8Array(w.data.buffer, w.data.byteOffset, w.data.length);
    const s = w.scales as Float32Array;
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < out; o++) {
        let acc = 0;
        for (let k = 0; k < inp; k++) acc += x[r * inp + k] * q[o * inp + k];
        y[r * out + o] = acc * s[o] + (bias ? bias[o] : 0);
      }
    }
    return;
  }
  const nb = inp / QK;
  const d = new Float64Array(out * nb);
  const view = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  for (let b = 0; b < out * nb; b++) d[b] = f16BitsToF32(view.getUint16(b * Q4_0_BLOCK_BYTES, true));
  for (let r = 0; r < rows; r++) {
    const xo = r * inp;
    for (let o = 0; o < out; o++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const at = (o * nb + b) * Q4_0_BLOCK_BYTES + 2;
        const x0 = xo + b * QK;
        let s = 0;
        for (let j = 0; j < QK / 2; j++) {
          const q = w.data[at + j];
          s += x[x0 + j] * ((q & 0xf) - 8) + x[x0 + QK / 2 + j] * ((q >> 4) - 8);
        }
        acc += s * d[o * nb + b];
      }
      y[r * out + o] = acc + (bias ? bias[o] : 0);
    }
  }
}

/** The addon's entry point (native/gemm_quant.h through native/addon.cc). */
type QuantAddon = { quantMatmul?: (x: Float32Array, M: number, format: QuantFormat, data: Uint8Array, scales: Float32Array | null, N: number, K: number, bias: Float32Array | null, y: Float32Array) => void };
const addon = loadAddon<QuantAddon>("llmforge_native").addon;
const nativeFn = addon?.quantMatmul;

/** The native kernel with quantMatmulRef's signature, running at the addon's SIMD level; null when the addon is not built. */
export const quantMatmulNative: typeof quantMatmulRef | null = nativeFn
  ? (x, rows, w, bias, y) => nativeFn(x, rows, w.format, w.data, w.scales, w.out, w.inp, bias, y)
  : null;

/** y (rows, out) = x (rows, inp) · Wᵀ + bias on quantised weights: the native kernel when built and `native`, else the reference. */
export function quantMatmul(x: Float32Array, rows: number, w: QuantWeight, bias: Float32Array | null, y: Float32Array, native = true): void {
  (native && quantMatmulNative ? quantMatmulNative : quantMatmulRef)(x, rows, w, bias, y);
}

/**
 * A Linear layer whose weight is stored quantised (inference only: no gradient flows through it). Its bias stays a
 * float parameter named `bias`, as Linear's; the weight is not a parameter.
 */
export class QuantLinear extends Module {
  readonly bias: Tensor | null;

  constructor(readonly weight: QuantWeight, bias: Tensor | null) {
    super();
    this.bias = bias ? this.param("bias", bias) : null;
  }

  get inFeatures(): number {
    return this.weight.inp;
  }

  get outFeatures(): number {
    return this.weight.out;
  }

  /** x (..., inp) -> (..., out). */
  forward(x: Tensor): Tensor {
    const { inp, out } = this.weight;
    if (x.shape[x.ndim - 1] !== inp) throw new TensorError(`QuantLinear: input (..., ${x.shape[x.ndim - 1]}) does not match the weight's ${inp} columns`);
    if (x.requiresGrad) throw new TensorError("QuantLinear: quantised weights are for inference; gradients do not flow through them (run under noGrad, or train the float model)");
    if (x.dtype !== "f32") throw new TensorError(`QuantLinear: input must be f32, got ${x.dtype}`);
    const rows = x.size / inp;
    // the output from the buffer pool (a fresh array would be parked in the pool on dispose and never reused)
    const t = Tensor.empty([...x.shape.slice(0, -1), out], { backend: x.backend });
    const y = (t.data as Float32Array).subarray(0, rows * out);
    quantMatmul(x.contiguousData() as Float32Array, rows, this.weight, this.bias ? (this.bias.contiguousData() as Float32Array) : null, y, x.backend.name !== "ref");
    return t;
  }
}
