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

/**
 * How the quantised matmuls take their activations. "q8" (default, as llama.cpp): each row of x is cut into blocks of
 * 32 values stored as int8 with one f32 scale (d = max|x| / 127, q = x / d rounded half to even) and the dot products
 * run on integers; rows whose length does not divide into blocks stay f32. "f32": x as it is, weights converted to
 * f32 (slower; the accuracy reference).
 */
export type QuantActivations = "q8" | "f32";
export const QUANT_ACTIVATIONS = ["q8", "f32"] as const;
let activationsMode: QuantActivations = "q8";

/** Sets how every quantised matmul takes its activations (see {@link QuantActivations}); returns the previous mode. */
export function setQuantActivations(mode: QuantActivations): QuantActivations {
  if (!QUANT_ACTIVATIONS.includes(mode)) throw new RangeError(`quantised activations must be ${QUANT_ACTIVATIONS.join(" or ")}, got ${String(mode)}`);
  const prev = activationsMode;
  activationsMode = mode;
  return prev;
}

export function getQuantActivations(): QuantActivations {
  return activationsMode;
}

/** Values per q8 activation block. */
const Q8_BLOCK = 32;

const roundHalfEven = (v: number): number => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : r;
};

/**
 * One row of K activations (K a multiple of 32) as q8 blocks: int8 values and one scale per block, computed in float32
 * as the native kernels do. A block holding a non-finite value gets scale NaN and zero values (its products are NaN).
 */
export function quantizeActivationsQ8(x: Float32Array, K: number): { q: Int8Array; d: Float32Array } {
  const nb = K / Q8_BLOCK;
  const q = new Int8Array(K);
  const d = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    let finite = true;
    for (let j = 0; j < Q8_BLOCK; j++) {
      const v = x[b * Q8_BLOCK + j];
      if (!Number.isFinite(v)) finite = false;
      else amax = Math.max(amax, Math.abs(v));
    }
    if (!finite) {
      d[b] = Number.NaN;
      continue;
    }
    const db = Math.fround(amax / 127);
    const id = db !== 0 ? Math.fround(1 / db) : 0;
    d[b] = db;
    for (let j = 0; j < Q8_BLOCK; j++) q[b * Q8_BLOCK + j] = roundHalfEven(Math.fround(x[b * Q8_BLOCK + j] * id));
  }
  return { q, d };
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
 * or per block (q - 8) · d). With "q8" activations (and inp a multiple of 32) x is quantised by
 * {@link quantizeActivationsQ8} and each block's dot product is an exact integer; sums in float64, rounded to
 * float32 once. Native kernels agree within float32 rounding.
 */
export function quantMatmulRef(x: Float32Array, rows: number, w: QuantWeight, bias: Float32Array | null, y: Float32Array, activations = activationsMode): void {
  const { out, inp } = w;
  if (x.length < rows * inp || y.length < rows * out) throw new RangeError(`quantMatmulRef: x needs ${rows * inp} values and y ${rows * out}`);
  const q8 = activations === "q8" && inp % Q8_BLOCK === 0;
  const nb = inp / QK;
  const q = w.format === "int8" ? new Int8Array(w.data.buffer, w.data.byteOffset, w.data.length) : null;
  const d = new Float64Array(w.format === "q4_0" ? out * nb : 0);
  const view = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  for (let b = 0; b < d.length; b++) d[b] = f16BitsToF32(view.getUint16(b * Q4_0_BLOCK_BYTES, true));
  // the weight (o, k) as an integer, and the scale of its block (int8: one block per row)
  const wq = (o: number, k: number): number => {
    if (q) return q[o * inp + k];
    const j = k % QK;
    const byte = w.data[(o * nb + Math.floor(k / QK)) * Q4_0_BLOCK_BYTES + 2 + (j % (QK / 2))];
    return (j < QK / 2 ? byte & 0xf : byte >> 4) - 8;
  };
  const blockScale = (o: number, k: number): number => (q ? 1 : d[o * nb + Math.floor(k / QK)]);
  const rowScale = (o: number): number => (q ? (w.scales as Float32Array)[o] : 1);
  for (let r = 0; r < rows; r++) {
    const xr = x.subarray(r * inp, (r + 1) * inp);
    const xa = q8 ? quantizeActivationsQ8(xr, inp) : null;
    const block = xa ? Q8_BLOCK : QK;
    for (let o = 0; o < out; o++) {
      let acc = 0;
      for (let k0 = 0; k0 < inp; k0 += block) {
        let s = 0;
        for (let k = k0; k < Math.min(inp, k0 + block); k++) s += (xa ? xa.q[k] : xr[k]) * wq(o, k);
        acc += s * (xa ? xa.d[k0 / Q8_BLOCK] : 1) * blockScale(o, k0);
      }
      y[r * out + o] = acc * rowScale(o) + (bias ? bias[o] : 0);
    }
  }
}

/**
 * A quantised weight in the layout of the native q8-activation kernels (native/gemm_quant_q8.h), the same on every
 * ISA: rows in groups of 8 (the last padded with zero rows) and, per group and block of 32 columns, the 8 rows' values
 * contiguous. int8: 256 bytes per group and block, `scales` the row scales (padded); q4_0: the blocks' 16 nibble bytes
 * (128 per group and block), `scales` each block's d as f32 at [(group · blocks + block) · 8 + row].
 */
export interface PackedQuantWeight {
  data: Uint8Array;
  scales: Float32Array;
}

/** Packs a quantised weight (inp a multiple of 32) for the native q8-activation kernels; see {@link PackedQuantWeight}. */
export function packQuantWeight(w: QuantWeight, alloc: (bytes: number) => Uint8Array = (n) => new Uint8Array(n)): PackedQuantWeight {
  const { out, inp } = w;
  if (inp % Q8_BLOCK !== 0) throw new RangeError(`packQuantWeight: rows of ${inp} values do not divide into blocks of ${Q8_BLOCK}`);
  const groups = Math.ceil(out / 8);
  const nb = inp / Q8_BLOCK;
  if (w.format === "int8") {
    const data = alloc(groups * nb * 256);
    const scales = new Float32Array(groups * 8);
    scales.set(w.scales as Float32Array);
    for (let n = 0; n < out; n++) {
      const g = n >> 3;
      const r = n & 7;
      for (let b = 0; b < nb; b++) data.set(w.data.subarray(n * inp + b * 32, n * inp + b * 32 + 32), (g * nb + b) * 256 + r * 32);
    }
    return { data, scales };
  }
  const data = alloc(groups * nb * 128);
  const scales = new Float32Array(groups * nb * 8);
  const view = new DataView(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  for (let n = 0; n < out; n++) {
    const g = n >> 3;
    const r = n & 7;
    for (let b = 0; b < nb; b++) {
      const at = (n * nb + b) * Q4_0_BLOCK_BYTES;
      scales[(g * nb + b) * 8 + r] = f16BitsToF32(view.getUint16(at, true));
      data.set(w.data.subarray(at + 2, at + Q4_0_BLOCK_BYTES), (g * nb + b) * 128 + r * 16);
    }
  }
  return { data, scales };
}

/** The addon's entry points (native/gemm_quant.h and gemm_quant_q8.h through native/addon.cc). */
type QuantAddon = {
  quantMatmul?: (x: Float32Array, M: number, format: QuantFormat, data: Uint8Array, scales: Float32Array | null, N: number, K: number, bias: Float32Array | null, y: Float32Array) => void;
  quantMatmulQ8?: (x: Float32Array, M: number, format: QuantFormat, data: Uint8Array, scales: Float32Array, N: number, K: number, bias: Float32Array | null, y: Float32Array) => void;
  allocWeights?: (bytes: number) => ArrayBuffer;
};
const addon = loadAddon<QuantAddon>("llmforge_native").addon;
const nativeFn = addon?.quantMatmul;
const nativeQ8 = addon?.quantMatmulQ8;
const allocWeights = addon?.allocWeights;
/** Packed copies, made on a weight's first q8 matmul and kept as long as the weight (in huge pages where the OS has them). */
const packedCache = new WeakMap<QuantWeight, PackedQuantWeight>();

function packedFor(w: QuantWeight): PackedQuantWeight {
  let p = packedCache.get(w);
  if (!p) {
    p = packQuantWeight(w, allocWeights ? (n) => new Uint8Array(allocWeights(n)) : undefined);
    packedCache.set(w, p);
  }
  return p;
}

/** The native kernels with quantMatmulRef's signature, running at the addon's SIMD level; null when the addon is not built. */
export const quantMatmulNative: typeof quantMatmulRef | null =
  nativeFn && nativeQ8
    ? (x, rows, w, bias, y, activations = activationsMode) => {
        if (activations === "q8" && w.inp % Q8_BLOCK === 0) {
          const p = packedFor(w);
          nativeQ8(x, rows, w.format, p.data, p.scales, w.out, w.inp, bias, y);
        } else nativeFn(x, rows, w.format, w.data, w.scales, w.out, w.inp, bias, y);
      }
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
