// Key/value cache for incremental decoding: one (B, Tmax, Hkv, D) buffer per layer for keys
// (after RoPE) and values, plus the attention of new queries over everything cached so far.
// Inference only: nothing here records autograd history.
import { contiguous } from "../tensor/ops/index.js";
import type { BackendName } from "../tensor/backend/index.js";
import type { DType } from "../tensor/dtype.js";
import { shapeStr, Tensor, TensorError, untracked } from "../tensor/tensor.js";
import { headDim, type GPTConfig } from "./config.js";

export interface KVCacheOptions {
  /** Sequences decoded together (the B of the forward). */
  batch: number;
  /** Most positions the cache holds (default and upper bound: the config's blockSize). */
  maxLen?: number;
  dtype?: DType;
  backend?: BackendName;
}

/** Per-layer key/value buffers and how many positions are filled. */
export class KVCache {
  readonly k: Tensor[];
  readonly v: Tensor[];
  readonly batch: number;
  readonly maxLen: number;
  readonly nKvHead: number;
  readonly headDim: number;
  /** Positions already cached (the position of the next token). */
  length = 0;

  constructor(config: GPTConfig, opts: KVCacheOptions) {
    const maxLen = opts.maxLen ?? config.blockSize;
    if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new TensorError(`KVCache: batch must be a positive integer, got ${opts.batch}`);
    if (!Number.isInteger(maxLen) || maxLen < 1 || maxLen > config.blockSize) {
      throw new TensorError(`KVCache: maxLen ${maxLen} must be in [1, blockSize ${config.blockSize}]`);
    }
    this.batch = opts.batch;
    this.maxLen = maxLen;
    this.nKvHead = config.nKvHead;
    this.headDim = headDim(config);
    const shape = [opts.batch, maxLen, config.nKvHead, this.headDim];
    const create = { dtype: opts.dtype, backend: opts.backend };
    // Outside any tidy scope: the cache lives across forward calls until dispose().
    const alloc = () => Array.from({ length: config.nLayer }, () => Tensor.zeros(shape, create));
    this.k = untracked(alloc);
    this.v = untracked(alloc);
  }

  /** Forgets the cached positions (buffers are kept for reuse). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
  }

  /** Copies k, v (B, T, Hkv, D) of one layer into positions [pos0, pos0 + T). */
  write(layer: number, pos0: number, k: Tensor, v: Tensor): void {
    const [B, T, Hkv, D] = k.shape;
    if (B !== this.batch || Hkv !== this.nKvHead || D !== this.headDim || pos0 + T > this.maxLen) {
      throw new TensorError(`KVCache.write: k ${shapeStr(k.shape)} at position ${pos0} does not fit a cache of (${this.batch}, ${this.maxLen}, ${this.nKvHead}, ${this.headDim})`);
    }
    const row = Hkv * D;
    for (const [src, dst] of [[k, this.k[layer]], [v, this.v[layer]]] as const) {
      const s = contiguous(src).contiguousData();
      const d = dst.data;
      for (let b = 0; b < B; b++) {
        d.set(s.subarray(b * T * row, (b + 1) * T * row), (b * this.maxLen + pos0) * row);
      }
    }
  }

  /**
   * Causal attention of q (B, T, H, D) at positions [pos0, pos0 + T) over cached keys and
   * values [0, pos0 + T) of one layer (which must already hold the new positions).
   * Returns (B, T, H, D) contiguous. Scores and softmax are accumulated in float64.
   */
  attend(layer: number, q: Tensor, pos0: number): Tensor {
    const [B, T, H, D] = q.shape;
    const Hkv = this.nKvHead;
    const group = H / Hkv;
    const qd = contiguous(q).contiguousData();
    const kd = this.k[layer].data;
    const vd = this.v[layer].data;
    const out = Tensor.empty([B, T, H, D], { dtype: q.dtype, backend: q.backend });
    const od = out.data;
    const scale = 1 / Math.sqrt(D);
    const s = new Float64Array(pos0 + T);
    const acc = new Float64Array(D);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const last = pos0 + t;
        for (let h = 0; h < H; h++) {
          const hk = Math.floor(h / group);
          const qo = ((b * T + t) * H + h) * D;
          let mx = Number.NEGATIVE_INFINITY;
          for (let j = 0; j <= last; j++) {
            const ko = ((b * this.maxLen + j) * Hkv + hk) * D;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += qd[qo + d] * kd[ko + d];
            s[j] = dot * scale;
            if (s[j] > mx) mx = s[j];
          }
          let sum = 0;
          for (let j = 0; j <= last; j++) {
            s[j] = Math.exp(s[j] - mx);
            sum += s[j];
          }
          acc.fill(0);
          for (let j = 0; j <= last; j++) {
            const p = s[j] / sum;
            const vo = ((b * this.maxLen + j) * Hkv + hk) * D;
            for (let d = 0; d < D; d++) acc[d] += p * vd[vo + d];
          }
          for (let d = 0; d < D; d++) od[qo + d] = acc[d];
        }
      }
    }
    return out;
  }
}
