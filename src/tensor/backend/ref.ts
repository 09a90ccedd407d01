// The reference backend: every kernel in plain TypeScript, written for clarity.
// It runs f32 and f64 and is the definition of correct that the native backend is tested against.
import {
  type AdamWArgs, type AttentionArgs, type AttentionBackwardArgs, type BinaryOp, DECODE_KEY_BLOCK, type DecodeAttentionArgs, type GemmArgs,
  type Kernels, type KvAppendArgs, type PackedWeight, PackedWeightError, type Storage, type UnaryOp,
} from "./kernels.js";

const GELU_C = Math.sqrt(2 / Math.PI);

function binaryFn(op: BinaryOp): (x: number, y: number) => number {
  switch (op) {
    case "add": return (x, y) => x + y;
    case "sub": return (x, y) => x - y;
    case "mul": return (x, y) => x * y;
    case "div": return (x, y) => x / y;
    case "pow": return (x, y) => x ** y;
    // biome-ignore lint/complexity/useMathMinMax: ties and NaN follow the native kernel's compare-and-select
    case "max": return (x, y) => (x >= y ? x : y);
    // biome-ignore lint/complexity/useMathMinMax: as above
    case "min": return (x, y) => (x <= y ? x : y);
  }
}

export function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case "neg": return (x) => -x;
    case "exp": return Math.exp;
    case "log": return Math.log;
    case "sqrt": return Math.sqrt;
    case "rsqrt": return (x) => 1 / Math.sqrt(x);
    case "abs": return Math.abs;
    case "tanh": return Math.tanh;
    case "sigmoid": return (x) => 1 / (1 + Math.exp(-x));
    // biome-ignore lint/complexity/useMathMinMax: relu(NaN) is 0 in the native kernel too
    case "relu": return (x) => (x > 0 ? x : 0);
    case "gelu": return (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
    case "silu": return (x) => x / (1 + Math.exp(-x));
    case "square": return (x) => x * x;
    case "recip": return (x) => 1 / x;
  }
}

/** f'(x) for each unary op. */
function unaryDerivative(op: UnaryOp): (x: number) => number {
  switch (op) {
    case "neg": return () => -1;
    case "exp": return Math.exp;
    case "log": return (x) => 1 / x;
    case "sqrt": return (x) => 0.5 / Math.sqrt(x);
    case "rsqrt": return (x) => -0.5 / (x * Math.sqrt(x));
    case "abs": return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case "tanh": return (x) => 1 - Math.tanh(x) ** 2;
    case "sigmoid": return (x) => {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 - s);
    };
    case "relu": return (x) => (x > 0 ? 1 : 0);
    case "gelu": return (x) => {
      const u = GELU_C * (x + 0.044715 * x * x * x);
      const t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
    };
    case "silu": return (x) => {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    };
    case "square": return (x) => 2 * x;
    case "recip": return (x) => -1 / (x * x);
  }
}

/** Calls fn(outIndex, offsetA, offsetB) over the contiguous index space of shape. */
function forEachStrided(
  shape: readonly number[], aOff: number, aStrides: readonly number[], bOff: number, bStrides: readonly number[],
  fn: (i: number, ia: number, ib: number) => void,
): void {
  const nd = shape.length;
  let total = 1;
  for (const s of shape) total *= s;
  if (total === 0) return;
  const idx = new Array<number>(nd).fill(0);
  let ia = aOff;
  let ib = bOff;
  for (let i = 0; i < total; i++) {
    fn(i, ia, ib);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      ia += aStrides[d];
      ib += bStrides[d];
      if (idx[d] < shape[d]) break;
      ia -= aStrides[d] * shape[d];
      ib -= bStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

function gemm(p: GemmArgs): void {
  const { M, N, K, alpha, a, b, c, lda, ldb, ldc, transA, transB } = p;
  for (let bi = 0; bi < p.batch; bi++) {
    const ao = p.aOff + bi * p.strideA;
    const bo = p.bOff + bi * p.strideB;
    const co = p.cOff + bi * p.strideC;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[ao + k * lda + m] : a[ao + m * lda + k];
          const bv = transB ? b[bo + n * ldb + k] : b[bo + k * ldb + n];
          acc += av * bv;
        }
        const ci = co + m * ldc + n;
        c[ci] = p.beta === 0 ? alpha * acc : c[ci] + alpha * acc;
      }
    }
  }
}

function softmaxRows(x: Storage, out: Storage, rows: number, cols: number, log: boolean): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mx = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < cols; j++) mx = Math.max(mx, x[o + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[o + j] - mx);
    const lse = mx + Math.log(sum);
    for (let j = 0; j < cols; j++) out[o + j] = log ? x[o + j] - lse : Math.exp(x[o + j] - lse);
  }
}

/** Index of the kv head that query head h reads under grouped-query attention. */
function kvHead(h: number, H: number, Hkv: number): number {
  return Math.floor(h / (H / Hkv));
}

function attention(p: AttentionArgs): void {
  const { B, T, H, Hkv, D, scale, q, k, v, out, lse } = p;
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = kvHead(h, H, Hkv);
      for (let t = 0; t < T; t++) {
        const qo = p.qOff + (b * T + t) * p.qRowStride + h * D;
        let mx = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= t; j++) {
          const ko = p.kOff + (b * T + j) * p.kvRowStride + hk * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          s[j] = dot * scale;
          if (s[j] > mx) mx = s[j];
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += Math.exp(s[j] - mx);
        const l = mx + Math.log(sum);
        lse[(b * H + h) * T + t] = l;
        const oo = ((b * T + t) * H + h) * D;
        for (let d = 0; d < D; d++) out[oo + d] = 0;
        for (let j = 0; j <= t; j++) {
          const pj = Math.exp(s[j] - l);
          const vo = p.vOff + (b * T + j) * p.kvRowStride + hk * D;
          for (let d = 0; d < D; d++) out[oo + d] += pj * v[vo + d];
        }
      }
    }
  }
}

function attentionBackward(p: AttentionBackwardArgs): void {
  const { B, T, H, Hkv, D, scale, q, k, v, out, lse, gout, gq, gk, gv } = p;
  gq.fill(0, 0, B * T * H * D);
  gk.fill(0, 0, B * T * Hkv * D);
  gv.fill(0, 0, B * T * Hkv * D);
  const pr = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = kvHead(h, H, Hkv);
      for (let t = 0; t < T; t++) {
        const qo = p.qOff + (b * T + t) * p.qRowStride + h * D;
        const oo = ((b * T + t) * H + h) * D;
        const l = lse[(b * H + h) * T + t];
        // delta = sum_d gout * out: the softmax-backward row term.
        let delta = 0;
        for (let d = 0; d < D; d++) delta += gout[oo + d] * out[oo + d];
        for (let j = 0; j <= t; j++) {
          const ko = p.kOff + (b * T + j) * p.kvRowStride + hk * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          pr[j] = Math.exp(dot * scale - l);
        }
        for (let j = 0; j <= t; j++) {
          const vo = p.vOff + (b * T + j) * p.kvRowStride + hk * D;
          const ko = p.kOff + (b * T + j) * p.kvRowStride + hk * D;
          const go = ((b * T + j) * Hkv + hk) * D;
          let dp = 0;
          for (let d = 0; d < D; d++) {
            dp += gout[oo + d] * v[vo + d];
            gv[go + d] += pr[j] * gout[oo + d];
          }
          const ds = pr[j] * (dp - delta) * scale;
          const gqo = ((b * T + t) * H + h) * D;
          for (let d = 0; d < D; d++) {
            gq[gqo + d] += ds * k[ko + d];
            gk[go + d] += ds * q[qo + d];
          }
        }
      }
    }
  }
}

/** Kernels.rope; kvAppend rotates with it too. */
function rope(x: Storage, out: Storage, B: number, T: number, H: number, D: number, base: number, pos0: number, inverse: boolean): void {
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const pos = pos0 + t;
      for (let h = 0; h < H; h++) {
        const o = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const theta = pos * base ** (-(2 * i) / D);
          const c = Math.cos(theta);
          const s = inverse ? -Math.sin(theta) : Math.sin(theta);
          const x1 = x[o + i];
          const x2 = x[o + i + half];
          out[o + i] = x1 * c - x2 * s;
          out[o + i + half] = x1 * s + x2 * c;
        }
      }
    }
  }
}

/** Index of key element e (= hk * D + d) of position j in the slot at `base` (see KvCaches: blocks of 16 positions). */
function keyAt(base: number, j: number, e: number, kvw: number): number {
  const B = DECODE_KEY_BLOCK;
  return base + Math.floor(j / B) * kvw * B + e * B + (j % B);
}

/** As the native addon: a slot holds whole key blocks. */
function checkSlotStride(slotStride: number, kvw: number): void {
  const B = DECODE_KEY_BLOCK;
  if (slotStride % (B * kvw) !== 0) throw new RangeError(`slotStride ${slotStride} must be a multiple of ${B} * Hkv * D = ${B * kvw} (keys are stored in blocks of ${B} positions)`);
}

/** RoPE'd queries and keys (in place), then each row's key and value into its slot at its position. */
function kvAppend(p: KvAppendArgs): void {
  const { n, H, Hkv, D, qkv, qkvRowStride, slot, pos, ropeBase, kCache, vCache, slotStride } = p;
  const kvw = Hkv * D;
  if (n > 0) checkSlotStride(slotStride, kvw);
  for (let r = 0; r < n; r++) {
    const o = p.qkvOff + r * qkvRowStride;
    if (ropeBase > 0) {
      const qk = qkv.subarray(o, o + (H + Hkv) * D); // the query heads, then the key heads
      rope(qk, qk, 1, 1, H + Hkv, D, ropeBase, pos[r], false);
    }
    const at = slot[r] * slotStride + pos[r] * kvw;
    for (let e = 0; e < kvw; e++) kCache[keyAt(slot[r] * slotStride, pos[r], e, kvw)] = qkv[o + H * D + e];
    vCache.set(qkv.subarray(o + H * D + kvw, o + H * D + 2 * kvw), at);
  }
}

/** Each listed row's heads against its slot's first len keys: scores, max-subtracted softmax, weighted values, in double. */
function decodeAttention(p: DecodeAttentionArgs): void {
  const { n, H, Hkv, D, scale, q, qRowStride, row, slot, len, kCache, vCache, slotStride, out } = p;
  const kvw = Hkv * D;
  if (n > 0) checkSlotStride(slotStride, kvw);
  const acc = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    const L = len[i];
    const s = new Float64Array(L);
    const base = slot[i] * slotStride;
    for (let h = 0; h < H; h++) {
      const qo = p.qOff + row[i] * qRowStride + h * D;
      const kv = base + kvHead(h, H, Hkv) * D;
      const e0 = kvHead(h, H, Hkv) * D;
      let mx = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < L; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * kCache[keyAt(base, j, e0 + d, kvw)];
        s[j] = dot * scale;
        if (s[j] > mx) mx = s[j];
      }
      let sum = 0;
      acc.fill(0);
      for (let j = 0; j < L; j++) {
        const e = Math.exp(s[j] - mx);
        sum += e;
        for (let d = 0; d < D; d++) acc[d] += e * vCache[kv + j * kvw + d];
      }
      const oo = (row[i] * H + h) * D;
      for (let d = 0; d < D; d++) out[oo + d] = acc[d] / sum;
    }
  }
}

/** The reference "packing" is a plain copy of W (N, K): later changes to W are not seen, as natively. */
function packWeight(w: Storage, wOff: number, N: number, K: number): PackedWeight {
  return { N, K, layout: "ref", data: w.slice(wOff, wOff + N * K) };
}

/** y[m, n] = sum_k x[m, k] * W[n, k] (+ bias[n]), summed in k order in double precision: the same for every M. */
function gemmPacked(x: Storage, M: number, w: PackedWeight, bias: Storage | null, y: Storage): void {
  if (w.layout !== "ref") throw new PackedWeightError(`gemmPacked: the weight was packed by the native ${w.layout} kernels, not the reference backend: pack it again`);
  const { N, K, data } = w;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * data[n * K + k];
      y[m * N + n] = bias ? acc + bias[n] : acc;
    }
  }
}

export const refKernels: Kernels = {
  name: "ref",
  supports: () => true,
  gemm,
  gemmPair: (p, q) => {
    gemm(p);
    gemm(q);
  },

  copyStrided(x, xOff, xStrides, out, shape) {
    const zeros = xStrides.map(() => 0);
    forEachStrided(shape, xOff, xStrides, 0, zeros, (i, ia) => {
      out[i] = x[ia];
    });
  },

  binary(op, a, aOff, aStrides, b, bOff, bStrides, out, shape) {
    const f = binaryFn(op);
    forEachStrided(shape, aOff, aStrides, bOff, bStrides, (i, ia, ib) => {
      out[i] = f(a[ia], b[ib]);
    });
  },

  unary(op, x, out, n) {
    const f = unaryFn(op);
    for (let i = 0; i < n; i++) out[i] = f(x[i]);
  },

  unaryBackward(op, x, gy, gx, n) {
    const df = unaryDerivative(op);
    for (let i = 0; i < n; i++) gx[i] = gy[i] * df(x[i]);
  },

  sumAxis(x, out, outer, dim, inner) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = 0;
        for (let d = 0; d < dim; d++) acc += x[(o * dim + d) * inner + i];
        out[o * inner + i] = acc;
      }
    }
  },

  maxAxis(x, out, arg, outer, dim, inner) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = Number.NEGATIVE_INFINITY;
        let bi = 0;
        for (let d = 0; d < dim; d++) {
          const val = x[(o * dim + d) * inner + i];
          if (val > best || Number.isNaN(val)) {
            best = val;
            bi = d;
            if (Number.isNaN(val)) break;
          }
        }
        out[o * inner + i] = best;
        arg[o * inner + i] = bi;
      }
    }
  },

  softmax: softmaxRows,

  softmaxBackward(y, gy, gx, rows, cols, log) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let acc = 0;
      if (log) {
        for (let j = 0; j < cols; j++) acc += gy[o + j];
        for (let j = 0; j < cols; j++) gx[o + j] = gy[o + j] - Math.exp(y[o + j]) * acc;
      } else {
        for (let j = 0; j < cols; j++) acc += gy[o + j] * y[o + j];
        for (let j = 0; j < cols; j++) gx[o + j] = y[o + j] * (gy[o + j] - acc);
      }
    }
  },

  layerNorm(x, w, b, out, mean, rstd, rows, cols, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let mu = 0;
      for (let j = 0; j < cols; j++) mu += x[o + j];
      mu /= cols;
      let varc = 0;
      for (let j = 0; j < cols; j++) varc += (x[o + j] - mu) ** 2;
      varc /= cols;
      const rs = 1 / Math.sqrt(varc + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) {
        const xhat = (x[o + j] - mu) * rs;
        out[o + j] = xhat * (w ? w[j] : 1) + (b ? b[j] : 0);
      }
    }
  },

  layerNormBackward(x, w, mean, rstd, gy, gx, gw, gb, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mu = mean[r];
      const rs = rstd[r];
      let sumG = 0;
      let sumGX = 0;
      for (let j = 0; j < cols; j++) {
        const xhat = (x[o + j] - mu) * rs;
        const g = gy[o + j] * (w ? w[j] : 1);
        sumG += g;
        sumGX += g * xhat;
        if (gw) gw[j] += gy[o + j] * xhat;
        if (gb) gb[j] += gy[o + j];
      }
      for (let j = 0; j < cols; j++) {
        const xhat = (x[o + j] - mu) * rs;
        const g = gy[o + j] * (w ? w[j] : 1);
        gx[o + j] = rs * (g - sumG / cols - (xhat * sumGX) / cols);
      }
    }
  },

  rmsNorm(x, w, out, rstd, rows, cols, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let ms = 0;
      for (let j = 0; j < cols; j++) ms += x[o + j] * x[o + j];
      const rs = 1 / Math.sqrt(ms / cols + eps);
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) out[o + j] = x[o + j] * rs * (w ? w[j] : 1);
    }
  },

  rmsNormBackward(x, w, rstd, gy, gx, gw, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const rs = rstd[r];
      let sumGX = 0;
      for (let j = 0; j < cols; j++) {
        const g = gy[o + j] * (w ? w[j] : 1);
        sumGX += g * x[o + j];
        if (gw) gw[j] += gy[o + j] * x[o + j] * rs;
      }
      for (let j = 0; j < cols; j++) {
        const g = gy[o + j] * (w ? w[j] : 1);
        gx[o + j] = rs * g - (rs * rs * rs * x[o + j] * sumGX) / cols;
      }
    }
  },

  embedding(weight, ids, out, n, dim) {
    for (let i = 0; i < n; i++) {
      const src = ids[i] * dim;
      for (let j = 0; j < dim; j++) out[i * dim + j] = weight[src + j];
    }
  },

  embeddingBackward(gy, ids, gw, n, dim) {
    for (let i = 0; i < n; i++) {
      const dst = ids[i] * dim;
      for (let j = 0; j < dim; j++) gw[dst + j] += gy[i * dim + j];
    }
  },

  crossEntropy(logits, targets, losses, lse, rows, vocab, ignoreIndex) {
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      let mx = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < vocab; j++) mx = Math.max(mx, logits[o + j]);
      let sum = 0;
      for (let j = 0; j < vocab; j++) sum += Math.exp(logits[o + j] - mx);
      const l = mx + Math.log(sum);
      lse[r] = l;
      const t = targets[r];
      losses[r] = t === ignoreIndex ? 0 : l - logits[o + t];
    }
  },

  crossEntropyBackward(logits, targets, lse, gloss, glogits, rows, vocab, ignoreIndex) {
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      const t = targets[r];
      if (t === ignoreIndex) {
        glogits.fill(0, o, o + vocab);
        continue;
      }
      const g = gloss[r];
      for (let j = 0; j < vocab; j++) glogits[o + j] = g * Math.exp(logits[o + j] - lse[r]);
      glogits[o + t] -= g;
    }
  },

  attention,
  attentionBackward,

  rope,
  kvAppend,
  decodeAttention,

  adamw(p: AdamWArgs) {
    const { param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2 } = p;
    for (let i = 0; i < n; i++) {
      const g = grad[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      const mhat = m[i] / bc1;
      const vhat = v[i] / bc2;
      param[i] -= lr * (mhat / (Math.sqrt(vhat) + eps) + weightDecay * param[i]);
    }
  },

  packWeight,
  gemmPacked,
};
