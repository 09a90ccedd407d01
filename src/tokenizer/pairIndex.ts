// An open-addressing hash table from a pair of token ids (a, b) to an int32 value.
// Used for merge ranks when encoding and for pair slots when training: no allocation per lookup.

const EMPTY = -1;

function hashPair(a: number, b: number): number {
  return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
}

/** Maps (a, b) id pairs (each in [0, 2^31)) to int32 values; grows as needed. */
export class PairIndex {
  private left: Int32Array;
  private right: Int32Array;
  private value: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.left = new Int32Array(cap).fill(EMPTY);
    this.right = new Int32Array(cap);
    this.value = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** The value stored for (a, b), or -1 when absent. */
  get(a: number, b: number): number {
    const mask = this.mask;
    let i = hashPair(a, b) & mask;
    const left = this.left;
    for (;;) {
      const l = left[i];
      if (l === EMPTY) return -1;
      if (l === a && this.right[i] === b) return this.value[i];
      i = (i + 1) & mask;
    }
  }

  /** Sets (a, b) -> v (v must be >= 0). */
  set(a: number, b: number, v: number): void {
    if ((this.size + 1) * 2 > this.left.length) this.grow();
    const mask = this.mask;
    let i = hashPair(a, b) & mask;
    for (;;) {
      const l = this.left[i];
      if (l === EMPTY) {
        this.left[i] = a;
        this.right[i] = b;
        this.value[i] = v;
        this.size++;
        return;
      }
      if (l === a && this.right[i] === b) {
        this.value[i] = v;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const { left, right, value } = this;
    const cap = left.length * 2;
    this.left = new Int32Array(cap).fill(EMPTY);
    this.right = new Int32Array(cap);
    this.value = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < left.length; i++) if (left[i] !== EMPTY) this.set(left[i], right[i], value[i]);
  }
}
