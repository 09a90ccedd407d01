// GGUF v3 writer/reader: metadata of every type, tensor infos and alignment read back; f16 rounding and
// the Q8_0 / Q4_0 block layouts against hand-computed blocks (ggml's reference quantisers); bad files.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  decodeTensor, dequantizeQ4_0, dequantizeQ8_0, encodeTensor, f16BitsToF32, f32ToF16Bits, GgmlType, gguf, GgufError, ggufTensorData,
  type GgufValue, GgufType, quantizeQ4_0, quantizeQ8_0, readGguf, writeGguf,
} from "../../src/io/gguf.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-gguf-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("f16", () => {
  it("rounds to nearest even, with subnormals, overflow and NaN", () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [1 / 3, 0x3555], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
      [2 ** -24, 0x0001], [2 ** -26, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [0, 0], [-0, 0x8000],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [Number.NEGATIVE_INFINITY, 0xfc00],
    ];
    for (const [x, bits] of cases) expect([x, f32ToF16Bits(x)]).toEqual([x, bits]);
    expect(f32ToF16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NaN) & 0x3ff).not.toBe(0);
    for (const bits of [0x0001, 0x03ff, 0x0400, 0x3555, 0x7bff, 0xc000, 0x2e66]) expect(f32ToF16Bits(f16BitsToF32(bits))).toBe(bits);
  });
});

describe("Q8_0 and Q4_0 blocks", () => {
  it("Q8_0: d = amax/127 as f16, q rounded half away from zero, 34 bytes", () => {
    const x = new Float32Array(32);
    x.set([127, -0.5, 0.5, 1.5, 2.5, -2.5, 3.4, -126.6]);
    const b = quantizeQ8_0(x);
    expect(b.length).toBe(34);
    // d = 1.0 (f16 0x3c00, little-endian), then int8 q.
    expect(hex(b.subarray(0, 10))).toBe(`003c${[127, -1, 1, 2, 3, -3, 3, -127].map((q) => (q & 0xff).toString(16).padStart(2, "0")).join("")}`);
    expect(Array.from(b.subarray(10))).toEqual(new Array(24).fill(0));
    expect(Array.from(dequantizeQ8_0(b, 32).subarray(0, 8))).toEqual([127, -1, 1, 2, 3, -3, 3, -127]);
    // An all-zero block has d = 0 and q = 0.
    expect(Array.from(quantizeQ8_0(new Float32Array(32)))).toEqual(new Array(34).fill(0));
  });
  it("Q4_0: d = max/-8 (signed), q = min(15, trunc(x/d + 8.5)), value j in the low nibble of byte j, j+16 in the high nibble", () => {
    const x = new Float32Array(32);
    x[0] = -8; // the largest magnitude, negative: d = 1
    x[16] = 7.9; // 16.4 -> clamped to 15
    x[1] = 0.5; // 9
    x[17] = -3.2; // 5.3 -> 5
    x[2] = 0.49; // 8.99 -> 8
    x[18] = -0.5; // 8.0 -> 8
    x[3] = 7; // 15.5 -> 15
    x[19] = -7.6; // 0.9 -> 0
    const b = quantizeQ4_0(x);
    expect(b.length).toBe(18);
    expect(hex(b.subarray(0, 6))).toBe("003c" + "f0" + "59" + "88" + "0f");
    expect(hex(b.subarray(6))).toBe("88".repeat(12));
    const back = dequantizeQ4_0(b, 32);
    expect([back[0], back[16], back[1], back[17], back[2], back[18], back[3], back[19], back[4]]).toEqual([-8, 7, 1, -3, 0, 0, 7, -8, 0]);
    // A positive extreme gives a negative d: x = 8 -> q = 0 -> (0 - 8) * -1 = 8.
    const y = new Float32Array(32);
    y[0] = 8;
    y[1] = -7;
    const by = quantizeQ4_0(y);
    expect(f16BitsToF32(by[0] | (by[1] << 8))).toBe(-1);
    expect(Array.from(dequantizeQ4_0(by, 32).subarray(0, 3), (v) => v + 0)).toEqual([8, -7, 0]);
  });
  it("errors stay within half a step (plus the f16 rounding of d), or one step where Q4_0 clamps at 15", () => {
    const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 32) / 8));
    for (const [type, steps, bound] of [[GgmlType.Q8_0, 127, 0.5 + 127 * 2 ** -11], [GgmlType.Q4_0, 8, 1 + 8 * 2 ** -11]] as const) {
      const back = decodeTensor(type, encodeTensor(type, x), x.length);
      for (let b = 0; b < 8; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
        for (let j = 0; j < 32; j++) expect(Math.abs(back[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual((amax / steps) * bound + 1e-6);
      }
    }
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/multiple of the block size 32/);
  });
});

describe("GGUF file", () => {
  const meta = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("gpt2")],
    ["general.name", gguf.str("naïve ✓")],
    ["x.u32", gguf.u32(4000000000)],
    ["x.i32", gguf.i32(-7)],
    ["x.f32", gguf.f32(0.25)],
    ["x.u64", gguf.u64(2n ** 40n + 3n)],
    ["x.bool", gguf.bool(true)],
    ["x.u8", { type: GgufType.UINT8, value: 200 }],
    ["x.i16", { type: GgufType.INT16, value: -300 }],
    ["x.f64", { type: GgufType.FLOAT64, value: Math.PI }],
    ["x.strs", gguf.strs(["a b", "", "Ġthe", "<|endoftext|>"])],
    ["x.ints", gguf.i32s([1, -2, 3])],
    ["x.floats", gguf.f32s([0.5, -1.5])],
  ]);
  const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.3);
  const tensors = [
    { name: "odd", shape: [3], type: GgmlType.F32, data: Float32Array.from([1, 2, 3]) },
    { name: "w16", shape: [2, 5], type: GgmlType.F16, data: rnd(10, 1) },
    { name: "q8", shape: [3, 64], type: GgmlType.Q8_0, data: () => rnd(192, 2) },
    { name: "q4", shape: [2, 32], type: GgmlType.Q4_0, data: rnd(64, 3) },
    { name: "big", shape: [4, 3, 2], type: GgmlType.F32, data: rnd(24, 4) },
  ];
  it("round-trips metadata of every type, tensor infos (dims reversed) and data, aligned to 32 bytes", () => {
    const p = join(tmp, "rt.gguf");
    writeGguf(p, meta, tensors);
    const f = readGguf(p);
    expect(f.version).toBe(3);
    expect(f.alignment).toBe(32);
    expect(f.metadata.get("general.alignment")).toEqual({ type: GgufType.UINT32, value: 32 });
    for (const [k, v] of meta) expect([k, f.metadata.get(k)?.value]).toEqual([k, v.type === GgufType.FLOAT32 ? Math.fround(v.value as number) : v.value]);
    expect(f.metadata.get("x.floats")).toEqual({ type: GgufType.ARRAY, itemType: GgufType.FLOAT32, value: [0.5, -1.5] });
    expect([...f.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const info = f.tensors.get(t.name);
      expect(info?.shape).toEqual(t.shape);
      expect(info?.type).toBe(t.type);
      expect((info?.offset ?? 1) % 32).toBe(0);
      const data = typeof t.data === "function" ? t.data() : t.data;
      expect(Array.from(ggufTensorData(f, t.name))).toEqual(Array.from(decodeTensor(t.type, encodeTensor(t.type, data), data.length)));
    }
    expect(Array.from(ggufTensorData(f, "odd"))).toEqual([1, 2, 3]);
    // Raw layout: "GGUF", version 3, 5 tensors, 14 keys; tensor "w16" lists ne0 = 5 first.
    const raw = readFileSync(p);
    expect(raw.subarray(0, 4).toString("latin1")).toBe("GGUF");
    expect([raw.readUInt32LE(4), Number(raw.readBigUInt64LE(8)), Number(raw.readBigUInt64LE(16))]).toEqual([3, 5, 14]);
    const at = raw.indexOf(Buffer.from("w16"));
    expect([raw.readUInt32LE(at + 3), Number(raw.readBigUInt64LE(at + 7)), Number(raw.readBigUInt64LE(at + 15)), raw.readUInt32LE(at + 23)]).toEqual([2, 5, 2, GgmlType.F16]);
  });
  it("reports truncation, a foreign file and unsupported types by file name", () => {
    const p = join(tmp, "rt2.gguf");
    writeGguf(p, meta, tensors);
    const raw = readFileSync(p);
    const cut = join(tmp, "cut.gguf");
    writeFileSync(cut, raw.subarray(0, raw.length - 10));
    expect(() => readGguf(cut)).toThrow(new RegExp(`${cut}: truncated: tensor "big"`));
    writeFileSync(cut, raw.subarray(0, 40));
    expect(() => readGguf(cut)).toThrow(/truncated: metadata/);
    writeFileSync(cut, "not a model at all");
    expect(() => readGguf(cut)).toThrow(GgufError);
    const t = Buffer.from(raw);
    const at = t.indexOf(Buffer.from("q4"));
    t.writeUInt32LE(12, at + 2 + 4 + 16); // ggml type 12 (Q4_K)
    writeFileSync(cut, t);
    expect(() => ggufTensorData(readGguf(cut), "q4")).toThrow(/ggml type 12; llmforge reads F32, F16, Q8_0 and Q4_0/);
  });
  it("refuses rows that do not divide into blocks, and leaves no file behind", () => {
    const dir = join(tmp, "bad");
    const p = join(dir, "bad.gguf");
    expect(() => writeGguf(p, meta, [{ name: "w", shape: [2, 48], type: GgmlType.Q8_0, data: new Float32Array(96) }])).toThrow(/rows of 48 values do not divide into Q8_0 blocks of 32/);
    expect(() => writeGguf(p, meta, [{ name: "w", shape: [2, 32], type: GgmlType.Q4_0, data: new Float32Array(63) }])).toThrow(/has 63 values, expected 64/);
    expect(existsSync(p)).toBe(false);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});
