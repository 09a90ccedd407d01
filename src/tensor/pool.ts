// A buffer pool keyed by dtype and length, so a training step after warm-up reuses
// storage instead of allocating: tensors return their storage here when disposed.
import type { Storage } from "./backend/kernels.js";
import type { DType } from "./dtype.js";

class BufferPool {
  private free = new Map<string, Storage[]>();
  /** Bytes currently parked in the pool. */
  pooledBytes = 0;
  /** Bytes ever allocated fresh (not served from the pool). */
  allocatedBytes = 0;
  hits = 0;
  misses = 0;
  enabled = true;

  acquire(dtype: DType, n: number): Storage {
    const key = `${dtype}:${n}`;
    const list = this.free.get(key);
    if (this.enabled && list && list.length > 0) {
      const buf = list.pop() as Storage;
      this.pooledBytes -= buf.byteLength;
      this.hits++;
      return buf;
    }
    this.misses++;
    const buf = dtype === "f64" ? new Float64Array(n) : new Float32Array(n);
    this.allocatedBytes += buf.byteLength;
    return buf;
  }

  release(buf: Storage): void {
    if (!this.enabled || buf.length === 0) return;
    const key = `${buf instanceof Float64Array ? "f64" : "f32"}:${buf.length}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    list.push(buf);
    this.pooledBytes += buf.byteLength;
  }

  /** Drops every pooled buffer (lets the GC take them). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }
}

/** The process-wide storage pool. */
export const bufferPool = new BufferPool();
