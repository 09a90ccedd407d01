// Neural-network ops with fused kernels and their VJPs: softmax/log-softmax, layer and RMS
// norm, embedding (gather / scatter-add), cross-entropy with ignore index, dropout,
// causal attention (flash-style, no T×T buffer) and rotary position embedding.
import { record } from "../../autograd/tape.js";
import { globalRng, type Rng } from "../rng.js";
import type { Storage } from "../backend/kernels.js";
import { contiguousStrides, shapeStr, Tensor, TensorError } from "../tensor.js";
import { checkSameKind, contiguousRaw, emptyLike, zerosLike } from "./checks.js";

function rowsCols(x: Tensor): [number, number] {
  const cols = x.shape[x.ndim - 1] ?? 1;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

function softmaxImpl(x: Tensor, log: boolean): Tensor {
  if (x.ndim === 0) throw new TensorError(`${log ? "logSoftmax" : "softmax"}: needs at least one axis`);
  const c = contiguousRaw(x);
  const [rows, cols] = rowsCols(c);
  const out = emptyLike(x);
  c.kernels().softmax(c.contiguousData(), out.data, rows, cols, log);
  return record(out, log ? "logSoftmax" : "softmax", [x], (g) => {
    const gx = emptyLike(x);
    x.kernels().softmaxBackward(out.data, contiguousRaw(g).contiguousData(), gx.data, rows, cols, log);
    return [gx];
  });
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  return softmaxImpl(x, false);
}

/** Log-softmax over the last axis. */
export function logSoftmax(x: Tensor): Tensor {
  return softmaxImpl(x, true);
}

function checkNormParam(op: string, p: Tensor | null | undefined, cols: number, x: Tensor): void {
  if (p && (p.ndim !== 1 || p.shape[0] !== cols)) {
    throw new TensorError(`${op}: parameter ${shapeStr(p.shape)} does not match last dim of input ${shapeStr(x.shape)}`);
  }
}

/** LayerNorm over the last axis with optional affine weight and bias. */
export function layerNorm(x: Tensor, w?: Tensor | null, b?: Tensor | null, eps = 1e-5): Tensor {
  const params = [w, b].filter((t): t is Tensor => !!t);
  checkSameKind("layerNorm", x, ...params);
  const c = contiguousRaw(x);
  const [rows, cols] = rowsCols(c);
  checkNormParam("layerNorm", w, cols, x);
  checkNormParam("layerNorm", b, cols, x);
  const out = emptyLike(x);
  const meanT = emptyLike(x, [rows]);
  const rstdT = emptyLike(x, [rows]);
  const wd = w ? w.contiguousData() : null;
  const bd = b ? b.contiguousData() : null;
  const xd = c.contiguousData();
  c.kernels().layerNorm(xd, wd, bd, out.data, meanT.data, rstdT.data, rows, cols, eps);
  return record(out, "layerNorm", [x, ...params], (g) => {
    const gx = emptyLike(x);
    const gw = w?.requiresGrad ? zerosLike(w) : null;
    const gb = b?.requiresGrad ? zerosLike(b) : null;
    x.kernels().layerNormBackward(
      xd, wd, meanT.data, rstdT.data, contiguousRaw(g).contiguousData(), gx.data, gw?.data ?? null, gb?.data ?? null, rows, cols,
    );
    const res: (Tensor | null)[] = [gx];
    if (w) res.push(gw);
    if (b) res.push(gb);
    return res;
  });
}

/** RMSNorm over the last axis with optional weight. */
export function rmsNorm(x: Tensor, w?: Tensor | null, eps = 1e-6): Tensor {
  checkSameKind("rmsNorm", x, ...(w ? [w] : []));
  const c = contiguousRaw(x);
  const [rows, cols] = rowsCols(c);
  checkNormParam("rmsNorm", w, cols, x);
  const out = emptyLike(x);
  const rstdT = emptyLike(x, [rows]);
  const wd = w ? w.contiguousData() : null;
  const xd = c.contiguousData();
  c.kernels().rmsNorm(xd, wd, out.data, rstdT.data, rows, cols, eps);
  return record(out, "rmsNorm", w ? [x, w] : [x], (g) => {
    const gx = emptyLike(x);
    const gw = w?.requiresGrad ? zerosLike(w) : null;
    x.kernels().rmsNormBackward(xd, wd, rstdT.data, contiguousRaw(g).contiguousData(), gx.data, gw?.data ?? null, rows, cols);
    return w ? [gx, gw] : [gx];
  });
}

/** Integer ids with a shape, for embedding lookups and targets. */
export interface IdsLike {
  data: Int32Array;
  shape: readonly number[];
}

export function ids(data: ArrayLike<number>, shape: readonly number[] = [data.length]): IdsLike {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new TensorError(`ids: ${data.length} ids for shape ${shapeStr(shape)}`);
  return { data: data instanceof Int32Array ? data : Int32Array.from(data), shape };
}

/** Rows of weight (V, C) picked by ids: (...ids.shape, C). The backward scatter-adds. */
export function embedding(weight: Tensor, idx: IdsLike): Tensor {
  if (weight.ndim !== 2) throw new TensorError(`embedding: weight must be (vocab, dim), got ${shapeStr(weight.shape)}`);
  const [V, C] = weight.shape;
  const n = idx.data.length;
  for (let i = 0; i < n; i++) {
    const id = idx.data[i];
    if (!(id >= 0 && id < V)) throw new TensorError(`embedding: id ${id} at position ${i} out of range [0, ${V})`);
  }
  const out = emptyLike(weight, [...idx.shape, C]);
  const w = contiguousRaw(weight);
  weight.kernels().embedding(w.contiguousData(), idx.data, out.data, n, C);
  return record(out, "embedding", [weight], (g) => {
    const gw = zerosLike(weight);
    weight.kernels().embeddingBackward(contiguousRaw(g).contiguousData(), idx.data, gw.data, n, C);
    return [gw];
  });
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (loss 0, not counted in the mean). Default -100. */
  ignoreIndex?: number;
  /** "mean" over counted rows (default), "sum", or "none" (per-row losses). */
  reduction?: "mean" | "sum" | "none";
}

/**
 * Cross-entropy of logits (..., V) against integer targets (one per row), computed in one
 * pass over the vocabulary (log-sum-exp saved for the backward; softmax never stored).
 */
export function crossEntropy(logits: Tensor, targets: IdsLike | Int32Array, opts: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? "mean";
  const t = targets instanceof Int32Array ? targets : targets.data;
  const c = contiguousRaw(logits);
  const [rows, V] = rowsCols(c);
  if (t.length !== rows) {
    throw new TensorError(`crossEntropy: logits ${shapeStr(logits.shape)} have ${rows} rows but ${t.length} targets were given`);
  }
  let counted = 0;
  for (let i = 0; i < rows; i++) {
    if (t[i] === ignoreIndex) continue;
    if (!(t[i] >= 0 && t[i] < V)) throw new TensorError(`crossEntropy: target ${t[i]} at row ${i} out of range [0, ${V})`);
    counted++;
  }
  const losses = emptyLike(logits, [rows]);
  const lse = emptyLike(logits, [rows]);
  const ld = c.contiguousData();
  c.kernels().crossEntropy(ld, t, losses.data, lse.data, rows, V, ignoreIndex);
  let out: Tensor;
  let scale: number;
  if (reduction === "none") {
    out = losses.viewAs(logits.shape.slice(0, -1), contiguousStrides(logits.shape.slice(0, -1)));
    scale = 1;
  } else {
    let s = 0;
    for (let i = 0; i < rows; i++) s += losses.data[i];
    scale = reduction === "mean" ? 1 / Math.max(counted, 1) : 1;
    out = Tensor.scalar(s * scale, { dtype: logits.dtype, backend: logits.backend });
  }
  return record(out, "crossEntropy", [logits], (g) => {
    const gl = emptyLike(logits, [rows]);
    const gd = g.contiguousData();
    for (let i = 0; i < rows; i++) gl.data[i] = (reduction === "none" ? gd[i] : gd[0]) * scale;
    const glogits = emptyLike(logits);
    logits.kernels().crossEntropyBackward(ld, t, lse.data, gl.data, glogits.data, rows, V, ignoreIndex);
    return [glogits];
  });
}


/** Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1-p). Seeded. */
export function dropout(x: Tensor, p: number, training = true, rng: Rng = globalRng): Tensor {
  if (!(p >= 0 && p < 1)) throw new TensorError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const mask = emptyLike(x);
  const md = mask.data;
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < md.length; i++) md[i] = rng.uniform() < p ? 0 : keepScale;
  const out = emptyLike(x);
  x.kernels().binary("mul", x.data, x.offset, x.strides, md, 0, mask.strides, out.data, x.shape);
  return record(out, "dropout", [x], (g) => {
    const gx = emptyLike(x);
    x.kernels().binary("mul", g.data, g.offset, g.strides, md, 0, mask.strides, gx.data, x.shape);
    return [gx];
  });
}

/** Checks a (B, T, H, D) view has unit stride on D, stride D on H, and returns its row stride. */
function attentionLayout(name: string, t: Tensor, B: number, T: number, D: number): { t: Tensor; rowStride: number } {
  if (t.ndim !== 4 || t.shape[0] !== B || t.shape[1] !== T || t.shape[3] !== D) {
    throw new TensorError(`causalAttention: ${name} has shape ${shapeStr(t.shape)}, expected (${B}, ${T}, heads, ${D})`);
  }
  const [sB, sT, sH, sD] = t.strides;
  const ok = (sD === 1 || D === 1) && (sH === D || t.shape[2] === 1) && (sT * T === sB || B === 1);
  if (ok) return { t, rowStride: T === 1 && B === 1 ? t.shape[2] * D : sT };
  const c = contiguousRaw(t);
  return { t: c, rowStride: c.shape[2] * D };
}

/** Documents of each row from docStart (B·T): [row, start, end) triples, in order. */
function docSegments(docStart: Int32Array, B: number, T: number): [number, number, number][] {
  const segs: [number, number, number][] = [];
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let t = 1; t <= T; t++) {
      if (t === T || docStart[b * T + t] === t) {
        segs.push([b, s, t]);
        s = t;
      }
    }
  }
  return segs;
}

export interface AttentionOptions {
  /** Scores scale (default 1/sqrt(D)). */
  scale?: number;
  /**
   * Packed rows: docStart[b·T + t] is where the document of position t starts in row b; position t
   * attends to keys [docStart, t] only. Each document runs as its own sequence through the same
   * kernel, so a packed row gives exactly what the documents give in rows of their own.
   */
  docStart?: Int32Array;
}

/**
 * Causal scaled-dot-product attention. q (B, T, H, D); k, v (B, T, Hkv, D) with H a multiple
 * of Hkv (grouped-query). Returns (B, T, H, D). q/k/v may be strided views of a fused qkv
 * projection: they are read in place. Memory is O(B·H·T) beyond the inputs (no T×T scores).
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions | number = {}): Tensor {
  const o = typeof opts === "number" ? { scale: opts } : opts;
  checkSameKind("causalAttention", q, k, v);
  const [B, T, H, D] = q.shape;
  const Hkv = k.shape[2];
  if (q.ndim !== 4) throw new TensorError(`causalAttention: q has shape ${shapeStr(q.shape)}, expected (B, T, H, D)`);
  if (v.shape[2] !== Hkv || H % Hkv !== 0) {
    throw new TensorError(`causalAttention: q heads ${H} must be a multiple of k/v heads ${Hkv} (v has ${v.shape[2]})`);
  }
  const Q = attentionLayout("q", q, B, T, D);
  let K = attentionLayout("k", k, B, T, D);
  let Vv = attentionLayout("v", v, B, T, D);
  if (K.rowStride !== Vv.rowStride) {
    K = { t: contiguousRaw(K.t), rowStride: Hkv * D };
    Vv = { t: contiguousRaw(Vv.t), rowStride: Hkv * D };
  }
  if (o.docStart && o.docStart.length !== B * T) throw new TensorError(`causalAttention: docStart has ${o.docStart.length} entries for (B, T) = (${B}, ${T})`);
  const whole: [number, number, number][] = [[-1, 0, T]];
  const segs = o.docStart ? docSegments(o.docStart, B, T) : whole;
  const out = emptyLike(q, [B, T, H, D]);
  const lses = segs.map(([b, s, e]) => emptyLike(q, b < 0 ? [B, H, T] : [1, H, e - s]));
  // One kernel call per document: B = 1, T = its length, views offset to its first row.
  const argsOf = (i: number) => {
    const [b, s, e] = segs[i];
    const rows = b < 0 ? 0 : b * T + s;
    const qRows = rows * Q.rowStride;
    const kvRows = rows * K.rowStride;
    return {
      B: b < 0 ? B : 1, T: e - s, H, Hkv, D, scale: o.scale ?? 1 / Math.sqrt(D),
      q: Q.t.data, qOff: Q.t.offset + qRows, qRowStride: Q.rowStride,
      k: K.t.data, kOff: K.t.offset + kvRows, v: Vv.t.data, vOff: Vv.t.offset + kvRows, kvRowStride: K.rowStride,
      out: out.data.subarray(rows * H * D, (rows + (b < 0 ? B * T : e - s)) * H * D), lse: lses[i].data,
      rows,
    };
  };
  for (let i = 0; i < segs.length; i++) q.kernels().attention(argsOf(i));
  return record(out, "causalAttention", [q, k, v], (g) => {
    const gq = emptyLike(q, [B, T, H, D]);
    const gk = emptyLike(k, [B, T, Hkv, D]);
    const gv = emptyLike(v, [B, T, Hkv, D]);
    const gout = contiguousRaw(g).contiguousData();
    for (let i = 0; i < segs.length; i++) {
      const a = argsOf(i);
      const n = a.B * a.T;
      q.kernels().attentionBackward({
        ...a, gout: gout.subarray(a.rows * H * D, (a.rows + n) * H * D), gq: gq.data.subarray(a.rows * H * D, (a.rows + n) * H * D),
        gk: gk.data.subarray(a.rows * Hkv * D, (a.rows + n) * Hkv * D), gv: gv.data.subarray(a.rows * Hkv * D, (a.rows + n) * Hkv * D),
      });
    }
    return [gq, gk, gv];
  });
}

/**
 * Rotary position embedding on x (B, T, H, D), rotating pairs (i, i + D/2) by angle
 * pos · base^(-2i/D) with pos = pos0 + t (Llama / Hugging Face layout), or pos = t - docStart
 * for packed rows.
 */
export function rope(x: Tensor, base = 10000, pos0 = 0, docStart?: Int32Array): Tensor {
  if (x.ndim !== 4 || x.shape[3] % 2 !== 0) throw new TensorError(`rope: expected (B, T, H, D) with even D, got ${shapeStr(x.shape)}`);
  const [B, T, H, D] = x.shape;
  const segs: [number, number, number][] = docStart ? docSegments(docStart, B, T) : [[-1, 0, T]];
  const c = contiguousRaw(x);
  const out = emptyLike(x);
  const run = (src: Storage, dst: Storage, inverse: boolean): void => {
    for (const [b, s, e] of segs) {
      const lo = b < 0 ? 0 : (b * T + s) * H * D;
      const hi = b < 0 ? src.length : (b * T + e) * H * D;
      x.kernels().rope(src.subarray(lo, hi), dst.subarray(lo, hi), b < 0 ? B : 1, e - s, H, D, base, b < 0 ? pos0 : 0, inverse);
    }
  };
  run(c.contiguousData(), out.data, false);
  return record(out, "rope", [x], (g) => {
    const gx = emptyLike(x);
    run(contiguousRaw(g).contiguousData(), gx.data, true);
    return [gx];
  });
}

/**
 * Picks one element per row along the last axis: x (..., V), index (one id per row) ->
 * (...): out[r] = x[r, index[r]]. The backward scatters into a zero gradient. Used for the
 * log-probability of given tokens (gather over log-softmax).
 */
export function gather(x: Tensor, index: IdsLike | Int32Array): Tensor {
  if (x.ndim === 0) throw new TensorError("gather: needs at least one axis");
  const idx = index instanceof Int32Array ? index : index.data;
  const c = contiguousRaw(x);
  const [rows, V] = rowsCols(c);
  if (idx.length !== rows) throw new TensorError(`gather: ${shapeStr(x.shape)} has ${rows} rows but ${idx.length} indices were given`);
  for (let r = 0; r < rows; r++) {
    if (!(idx[r] >= 0 && idx[r] < V)) throw new TensorError(`gather: index ${idx[r]} at row ${r} out of range [0, ${V})`);
  }
  const out = emptyLike(x, x.shape.slice(0, -1));
  const xd = c.contiguousData();
  for (let r = 0; r < rows; r++) out.data[r] = xd[r * V + idx[r]];
  return record(out, "gather", [x], (g) => {
    const gx = zerosLike(x);
    const gd = contiguousRaw(g).contiguousData();
    for (let r = 0; r < rows; r++) gx.data[r * V + idx[r]] = gd[r];
    return [gx];
  });
}

/** log(sigmoid(x)) without overflow: min(x, 0) - log1p(exp(-|x|)). Its derivative is sigmoid(-x). */
export function logSigmoid(x: Tensor): Tensor {
  const c = contiguousRaw(x);
  const xd = c.contiguousData();
  const out = emptyLike(x);
  for (let i = 0; i < xd.length; i++) out.data[i] = Math.min(xd[i], 0) - Math.log1p(Math.exp(-Math.abs(xd[i])));
  return record(out, "logSigmoid", [x], (g) => {
    const gx = emptyLike(x);
    const gd = contiguousRaw(g).contiguousData();
    for (let i = 0; i < xd.length; i++) {
      const e = Math.exp(-Math.abs(xd[i])); // sigmoid(-x) from exp(-|x|), stable both ways
      gx.data[i] = gd[i] * (xd[i] >= 0 ? e / (1 + e) : 1 / (1 + e));
    }
    return [gx];
  });
}
