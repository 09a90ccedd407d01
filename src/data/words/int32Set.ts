// A fixed set of int32 values for hot look-ups (word hashes): open addressing, with a 64K bitmap of the values'
// low 16 bits that ends most misses before the table is touched. Faster than a Set<number> on the screening paths.

/** A fixed set of int32 values. */
export class Int32Set {
  private readonly keys: Int32Array;
  private readonly used: Uint8Array;
  private readonly mask: number;
  private readonly low = new Uint8Array(65536);
  constructor(values: Iterable<number>) {
    const vs = [...new Set(values)];
    let cap = 16;
    while (cap < vs.length * 4) cap <<= 1;
    this.keys = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    for (const v of vs) {
      this.low[v & 0xffff] = 1;
      let at = this.slot(v);
      while (this.used[at]) at = (at + 1) & this.mask;
      this.keys[at] = v;
      this.used[at] = 1;
    }
  }
  private slot(v: number): number {
    const x = Math.imul(v ^ (v >>> 16), 0x45d9f3b);
    return (x ^ (x >>> 16)) & this.mask;
  }
  has(v: number): boolean {
    if (this.low[v & 0xffff] === 0) return false;
    for (let at = this.slot(v); this.used[at]; at = (at + 1) & this.mask) if (this.keys[at] === v) return true;
    return false;
  }
}
