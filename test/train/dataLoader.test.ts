import { describe, expect, it } from "vitest";
import { TokenDataLoader } from "../../src/train/dataLoader.js";

const shard = Uint16Array.from({ length: 4 * 10 + 1 }, (_, i) => i); // 10 windows of T=4
const read = () => shard;

describe("token data loader", () => {
  it("reads in order: targets are inputs shifted by one, wrapping to the next epoch", () => {
    const l = new TokenDataLoader(["a"], 2, 4, read);
    const b = l.next();
    expect(Array.from(b.inputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(b.targets)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (let i = 0; i < 4; i++) l.next();
    expect(l.getCursor()).toEqual({ epoch: 0, shard: 0, pos: 40 });
    l.next();
    expect(l.getCursor().epoch).toBe(1);
  });
  it("shuffled: every window once per epoch, seeded, reproducible from the cursor", () => {
    const l = new TokenDataLoader(["a"], 2, 4, read, 7);
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const b = l.next();
      starts.push(b.inputs[0], b.inputs[4]);
      for (let r = 0; r < 2; r++) for (let t = 0; t < 4; t++) expect(b.targets[r * 4 + t]).toBe(b.inputs[r * 4 + t] + 1);
    }
    expect([...starts].sort((a, b) => a - b)).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    expect(starts).not.toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    const again = new TokenDataLoader(["a"], 2, 4, read, 7);
    again.next();
    const cur = again.getCursor();
    const x = again.next();
    const resumed = new TokenDataLoader(["a"], 2, 4, read, 7);
    resumed.setCursor(cur);
    expect(Array.from(resumed.next().inputs)).toEqual(Array.from(x.inputs));
    const other = new TokenDataLoader(["a"], 2, 4, read, 8);
    const o: number[] = [];
    for (let i = 0; i < 5; i++) o.push(other.next().inputs[0]);
    expect(o).not.toEqual(starts.filter((_, i) => i % 2 === 0));
  });
  it("says when a shard is too small for one batch", () => {
    expect(() => new TokenDataLoader(["tiny.bin"], 4, 16, () => new Uint16Array(10)).next()).toThrow(/tiny\.bin: 10 tokens, but one batch/);
  });
});
