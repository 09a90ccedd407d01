import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  floatToBf16Bits, int32Data, parseSafetensors, readSafetensors, SafetensorsError, serializeSafetensors, writeSafetensors,
} from "../../src/io/safetensors.js";

const tmp = mkdtempSync(join(tmpdir(), "llmforge-st-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Builds a file by hand: the spec's layout, independent of the writer. */
function handMade(entries: [string, string, number[], Uint8Array][], meta?: Record<string, string>, pad = true): Uint8Array {
  const header: Record<string, unknown> = meta ? { __metadata__: meta } : {};
  let pos = 0;
  for (const [name, dtype, shape, bytes] of entries) {
    header[name] = { dtype, shape, data_offsets: [pos, pos + bytes.length] };
    pos += bytes.length;
  }
  let json = JSON.stringify(header);
  if (pad) json += " ".repeat((8 - ((json.length + 8) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...entries.map((e) => e[3])]);
}

const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe("safetensors reader", () => {
  it("reads every supported dtype from a hand-made file", () => {
    const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00]); // 1, -2, ~0.333, 2^-24, inf
    const bf16 = Uint16Array.from([0x3f80, 0xc040]); // 1, -3
    const bytes = handMade([
      ["f32", "F32", [2], u8(Float32Array.from([0.5, -1.25]))],
      ["f64", "F64", [1], u8(Float64Array.from([Math.PI]))],
      ["bf16", "BF16", [2], u8(bf16)],
      ["f16", "F16", [5], u8(f16)],
      ["i32", "I32", [2], u8(Int32Array.from([-7, 1 << 30]))],
      ["i64", "I64", [2], u8(BigInt64Array.from([5n, -9n]))],
      ["u8", "U8", [3], Uint8Array.from([0, 200, 255])],
      ["empty", "F32", [0, 4], new Uint8Array(0)],
    ], { format: "pt", note: "hi" });
    const { tensors: raw, metadata } = parseSafetensors(bytes, "hand.safetensors");
    const tensors = { get: (n: string) => raw.get(n) ?? { dtype: "U8", shape: [], data: new Uint8Array(0) } };
    expect(metadata).toEqual({ format: "pt", note: "hi" });
    expect(Array.from(tensors.get("f32").data as Float32Array)).toEqual([0.5, -1.25]);
    expect((tensors.get("f64").data as Float64Array)[0]).toBe(Math.PI);
    expect(Array.from(tensors.get("bf16").data as Float32Array)).toEqual([1, -3]);
    const h = tensors.get("f16").data as Float32Array;
    expect([h[0], h[1], h[3], h[4]]).toEqual([1, -2, 2 ** -24, Number.POSITIVE_INFINITY]);
    expect(h[2]).toBeCloseTo(1 / 3, 3);
    expect(Array.from(tensors.get("i32").data as Int32Array)).toEqual([-7, 1 << 30]);
    const i64 = tensors.get("i64");
    if (!i64) throw new Error("missing i64");
    expect(Array.from(int32Data(i64, "i64"))).toEqual([5, -9]);
    expect(Array.from(tensors.get("u8").data as Uint8Array)).toEqual([0, 200, 255]);
    expect(tensors.get("empty").shape).toEqual([0, 4]);
  });
  it("accepts an unpadded header (alignment is a writer duty)", () => {
    const bytes = handMade([["a", "F32", [1], u8(Float32Array.from([2]))]], undefined, false);
    expect(parseSafetensors(bytes).tensors.get("a")?.data).toEqual(Float32Array.from([2]));
  });
  const good = handMade([["w", "F32", [2, 2], u8(Float32Array.from([1, 2, 3, 4]))], ["b", "F32", [2], u8(Float32Array.from([5, 6]))]]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", good.subarray(0, 5), /only 5 bytes: truncated/],
    ["truncated data", good.subarray(0, good.length - 4), /tensor "b": needs data bytes \[16, 24\) but the file has only 20 after the header: truncated/],
    ["header length past the end", (() => { const c = Uint8Array.from(good); new DataView(c.buffer).setBigUint64(0, 10_000n, true); return c; })(), /header length 10000 does not fit/],
    ["bad JSON", Buffer.concat([Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{x}")]), /header is not valid UTF-8 JSON/],
    ["unknown dtype", handMade([["q", "Q4", [1], new Uint8Array(1)]]), /tensor "q": unsupported dtype "Q4"/],
    ["size mismatch", handMade([["w", "F32", [3], new Uint8Array(8)]]), /shape \[3\] of F32 needs 12 bytes but data_offsets span 8/],
    ["trailing bytes", Buffer.concat([good, Buffer.from([1, 2, 3, 4])]), /tensors cover 24 data bytes but the file has 28/],
    ["metadata not strings", handMade([], { n: 1 } as unknown as Record<string, string>), /__metadata__\.n is number/],
  ];
  for (const [name, bytes, re] of cases) {
    it(`clear error: ${name}`, () => {
      expect(() => parseSafetensors(bytes, "model.safetensors")).toThrow(SafetensorsError);
      expect(() => parseSafetensors(bytes, "model.safetensors")).toThrow(re);
      expect(() => parseSafetensors(bytes, "model.safetensors")).toThrow(/^model\.safetensors: /);
    });
  }
  it("reports a hole between tensors", () => {
    const header = JSON.stringify({ a: { dtype: "U8", shape: [1], data_offsets: [0, 1] }, b: { dtype: "U8", shape: [1], data_offsets: [2, 3] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    expect(() => parseSafetensors(Buffer.concat([len, Buffer.from(header), Buffer.from([1, 2, 3])]), "h")).toThrow(/tensor "b" starts at data byte 2, expected 1 \(hole/);
  });
  it("readSafetensors names the file", () => {
    const p = join(tmp, "short.safetensors");
    writeFileSync(p, Buffer.from([1, 2, 3]));
    expect(() => readSafetensors(p)).toThrow(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: file is 3 bytes`));
  });
});

describe("safetensors writer", () => {
  it("aligns the header to 8 bytes with spaces and round-trips F32 and metadata", () => {
    const tensors = new Map([
      ["x", { shape: [3], data: Float32Array.from([1, 2, 3]) }],
      ["y", { shape: [1, 2], data: Float64Array.from([0.1, -4]) }],
    ]);
    const bytes = serializeSafetensors(tensors, { format: "pt" });
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = Buffer.from(bytes.subarray(8, 8 + n)).toString();
    expect(header).toMatch(/^\{"__metadata__":\{"format":"pt"\}.*\} *$/);
    const back = parseSafetensors(bytes);
    expect(back.tensors.get("y")?.data).toEqual(Float32Array.from([0.1, -4]));
    expect(back.tensors.get("y")?.shape).toEqual([1, 2]);
  });
  it("BF16 rounds to nearest even", () => {
    const bits = (f: number) => new Uint32Array(Float32Array.from([f]).buffer)[0];
    expect(floatToBf16Bits(bits(1))).toBe(0x3f80);
    expect(floatToBf16Bits(bits(1 + 2 ** -8))).toBe(0x3f80); // exactly half-way: to even
    expect(floatToBf16Bits(bits(1 + 3 * 2 ** -8))).toBe(0x3f82); // half-way: up to even
    expect(floatToBf16Bits(bits(1 + 2 ** -8 + 2 ** -12))).toBe(0x3f81);
    expect(floatToBf16Bits(bits(Number.NaN)) & 0x7fc0).toBe(0x7fc0);
    const p = join(tmp, "bf.safetensors");
    writeSafetensors(p, new Map([["v", { shape: [2], data: Float32Array.from([3.140625, -0.5]), dtype: "BF16" as const }]]));
    const t = readSafetensors(p).tensors.get("v");
    expect(t?.dtype).toBe("BF16");
    expect(Array.from(t?.data as Float32Array)).toEqual([3.140625, -0.5]);
  });
  it("writes atomically: no temp files left, an existing file replaced whole", () => {
    const dir = join(tmp, "atomic");
    const p = join(dir, "m.safetensors");
    writeSafetensors(p, new Map([["a", { shape: [1], data: Float32Array.from([1]) }]]));
    const before = readFileSync(p);
    expect(() => writeSafetensors(p, new Map([["a", { shape: [2], data: Float32Array.from([1]) }]]))).toThrow(/1 values for shape \[2\]/);
    expect(readFileSync(p)).toEqual(before);
    writeSafetensors(p, new Map([["b", { shape: [1], data: Float32Array.from([2]) }]]));
    expect([...readSafetensors(p).tensors.keys()]).toEqual(["b"]);
    expect(readdirSync(dir)).toEqual(["m.safetensors"]);
    expect(existsSync(p)).toBe(true);
  });
});
