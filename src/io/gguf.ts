// GGUF v3 (llama.cpp's model file) writer and reader: header, typed metadata key/values (arrays
// included), tensor infos with dims listed innermost first (ne0), data aligned to general.alignment,
// and the ggml tensor types F32, F16, Q8_0 and Q4_0 with their exact block layouts and a TypeScript quantiser.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { AtomicFileWriter } from "./atomicWrite.js";

/** A malformed, truncated or unsupported GGUF file, or a tensor that cannot be written; the message names the file. */
export class GgufError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = "GgufError";
  }
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export const GgufType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<(typeof GgufType)[keyof typeof GgufType], 9>;

/** One metadata value: a scalar of `type`, or an array of `itemType` values. 64-bit integers are bigints. */
export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: 9; itemType: GgufScalarType; value: (number | bigint | boolean | string)[] };

/** Builders for metadata values, named by GGUF type. */
export const gguf = {
  u32: (v: number): GgufValue => ({ type: GgufType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufType.INT32, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufType.FLOAT32, value: v }),
  u64: (v: number | bigint): GgufValue => ({ type: GgufType.UINT64, value: BigInt(v) }),
  bool: (v: boolean): GgufValue => ({ type: GgufType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufType.STRING, value: v }),
  strs: (v: string[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.STRING, value: v }),
  i32s: (v: ArrayLike<number>): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.INT32, value: Array.from(v) }),
  f32s: (v: ArrayLike<number>): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.FLOAT32, value: Array.from(v) }),
};

/** ggml tensor types this module reads and writes (ggml_type values). */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];
export type GgmlTypeName = keyof typeof GgmlType;

/** Values per block and bytes per block of each type. */
const BLOCK: Record<GgmlTypeId, { values: number; bytes: number; name: GgmlTypeName }> = {
  0: { values: 1, bytes: 4, name: "F32" },
  1: { values: 1, bytes: 2, name: "F16" },
  2: { values: 32, bytes: 18, name: "Q4_0" },
  8: { values: 32, bytes: 34, name: "Q8_0" },
};
/** Values per Q8_0 / Q4_0 block. */
export const QK = 32;

/** Bytes a tensor of `n` values takes in `type` (n a multiple of the block size). */
export function ggmlBytes(type: GgmlTypeId, n: number): number {
  const b = BLOCK[type];
  return (n / b.values) * b.bytes;
}

/** The name of a ggml type id ("F32", "Q8_0", ...), or "type N" for types this module does not handle. */
export function ggmlTypeName(type: number): string {
  return (BLOCK as Record<number, { name: string } | undefined>)[type]?.name ?? `type ${type}`;
}

// ---------------------------------------------------------------------------------------------
// Half precision and the quantised blocks (ggml-quants.c reference: quantize_row_q8_0_ref, q4_0_ref)

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/** IEEE half bits of a float32 value, rounded to nearest even (subnormals, ±inf and NaN kept), as GGML_FP32_TO_FP16. */
export function f32ToF16Bits(x: number): number {
  f32Buf[0] = x;
  const bits = u32Buf[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is correct (rounds up to the next power of 2 or inf)
  return sign | h;
}

/** The float value of IEEE half bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const fr = Math.fround;

function assertBlocks(x: ArrayLike<number>, what: string): number {
  if (x.length % QK !== 0) throw new RangeError(`${what}: ${x.length} values is not a multiple of the block size ${QK}`);
  return x.length / QK;
}

/**
 * Q8_0: per block of 32 values, d = amax / 127 stored as f16, then 32 int8 q = round(x / d) (half away from zero);
 * 34 bytes a block. Arithmetic in float32, as ggml's reference quantiser.
 */
export function quantizeQ8_0(x: ArrayLike<number>): Uint8Array {
  const nb = assertBlocks(x, "quantizeQ8_0");
  const out = new Uint8Array(nb * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(fr(x[b * QK + j])));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    view.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let j = 0; j < QK; j++) {
      const v = fr(fr(x[b * QK + j]) * id);
      view.setInt8(b * 34 + 2 + j, Math.sign(v) * Math.round(Math.abs(v)));
    }
  }
  return out;
}

/** Inverse of {@link quantizeQ8_0}: x = q · d. */
export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const d = f16BitsToF32(view.getUint16(b * 34, true));
    for (let j = 0; j < QK; j++) out[b * QK + j] = view.getInt8(b * 34 + 2 + j) * d;
  }
  return out;
}

/**
 * Q4_0: per block of 32 values, d = m / -8 where m is the value of largest magnitude (with its sign), stored
 * as f16, then q = min(15, trunc(x / d + 8.5)) as nibbles: byte j holds value j (low nibble) and value j + 16
 * (high nibble); 18 bytes a block.
 */
export function quantizeQ4_0(x: ArrayLike<number>): Uint8Array {
  const nb = assertBlocks(x, "quantizeQ4_0");
  const out = new Uint8Array(nb * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = fr(x[b * QK + j]);
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    view.setUint16(b * 18, f32ToF16Bits(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fr(fr(x[b * QK + j]) * id);
      const x1 = fr(fr(x[b * QK + QK / 2 + j]) * id);
      const q0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** Inverse of {@link quantizeQ4_0}: x = (q - 8) · d. */
export function dequantizeQ4_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const d = f16BitsToF32(view.getUint16(b * 18, true));
    for (let j = 0; j < QK / 2; j++) {
      const q = bytes[b * 18 + 2 + j];
      out[b * QK + j] = ((q & 0xf) - 8) * d;
      out[b * QK + QK / 2 + j] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

/** `x` encoded as ggml type `type` (little-endian bytes). */
export function encodeTensor(type: GgmlTypeId, x: ArrayLike<number>): Uint8Array {
  if (type === GgmlType.F32) {
    const f = x instanceof Float32Array ? x : Float32Array.from(x);
    return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  }
  if (type === GgmlType.F16) {
    const h = new Uint16Array(x.length);
    for (let i = 0; i < x.length; i++) h[i] = f32ToF16Bits(x[i]);
    return new Uint8Array(h.buffer);
  }
  if (type === GgmlType.Q8_0) return quantizeQ8_0(x);
  return quantizeQ4_0(x);
}

/** Float values of `n` elements stored as ggml type `type`. */
export function decodeTensor(type: GgmlTypeId, bytes: Uint8Array, n: number): Float32Array {
  if (type === GgmlType.F32) return new Float32Array(bytes.slice(0, n * 4).buffer);
  if (type === GgmlType.F16) {
    const out = new Float32Array(n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = f16BitsToF32(view.getUint16(2 * i, true));
    return out;
  }
  if (type === GgmlType.Q8_0) return dequantizeQ8_0(bytes, n);
  return dequantizeQ4_0(bytes, n);
}

// ---------------------------------------------------------------------------------------------
// Writer

/** A tensor to write. `shape` is row-major (PyTorch order, outermost first); the file lists it reversed. */
export interface GgufTensorInput {
  name: string;
  shape: readonly number[];
  type: GgmlTypeId;
  /** The float values (or a function producing them, called once while writing). */
  data: ArrayLike<number> | (() => ArrayLike<number>);
}

/** A little-endian byte builder for the header. */
class Bytes {
  private chunks: Uint8Array[] = [];
  length = 0;
  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  private num(n: number, write: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    write(new DataView(b.buffer));
    this.push(b);
  }
  u8 = (v: number) => this.num(1, (d) => d.setUint8(0, v));
  i8 = (v: number) => this.num(1, (d) => d.setInt8(0, v));
  u16 = (v: number) => this.num(2, (d) => d.setUint16(0, v, true));
  i16 = (v: number) => this.num(2, (d) => d.setInt16(0, v, true));
  u32 = (v: number) => this.num(4, (d) => d.setUint32(0, v, true));
  i32 = (v: number) => this.num(4, (d) => d.setInt32(0, v, true));
  f32 = (v: number) => this.num(4, (d) => d.setFloat32(0, v, true));
  f64 = (v: number) => this.num(8, (d) => d.setFloat64(0, v, true));
  u64 = (v: number | bigint) => this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  i64 = (v: number | bigint) => this.num(8, (d) => d.setBigInt64(0, BigInt(v), true));
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
  }
  zeros(n: number): void {
    if (n > 0) this.push(new Uint8Array(n));
  }
  concat(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

function writeScalar(out: Bytes, type: GgufScalarType, v: number | bigint | boolean | string, key: string): void {
  if (type === GgufType.STRING) {
    if (typeof v !== "string") throw new TypeError(`GGUF metadata "${key}": expected a string, got ${typeof v}`);
    out.str(v);
  } else if (type === GgufType.BOOL) {
    out.u8(v ? 1 : 0);
  } else if (type === GgufType.UINT64 || type === GgufType.INT64) {
    if (typeof v !== "number" && typeof v !== "bigint") throw new TypeError(`GGUF metadata "${key}": expected an integer, got ${typeof v}`);
    (type === GgufType.UINT64 ? out.u64 : out.i64)(v);
  } else {
    if (typeof v !== "number") throw new TypeError(`GGUF metadata "${key}": expected a number, got ${typeof v}`);
    const write = { 0: out.u8, 1: out.i8, 2: out.u16, 3: out.i16, 4: out.u32, 5: out.i32, 6: out.f32, 12: out.f64 }[type];
    write(v);
  }
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Writes a GGUF v3 file atomically (temp file + rename: an error midway leaves nothing under `path`).
 * `general.alignment` is taken from the metadata when present (u32), else 32 and written.
 */
export function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorInput[]): void {
  const meta = new Map(metadata);
  const al = meta.get("general.alignment");
  const alignment = al && al.type === GgufType.UINT32 ? Number(al.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!al) meta.set("general.alignment", gguf.u32(alignment));
  const head = new Bytes();
  head.u32(MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(meta.size);
  for (const [key, v] of meta) {
    head.str(key);
    head.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      head.u32(v.itemType);
      head.u64(v.value.length);
      for (const item of v.value) writeScalar(head, v.itemType, item, key);
    } else {
      writeScalar(head, v.type, v.value, key);
    }
  }
  const names = new Set<string>();
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(path, `tensor "${t.name}" given twice`);
    names.add(t.name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    const block = BLOCK[t.type];
    if (!block) throw new GgufError(path, `tensor "${t.name}": ggml type ${t.type} is not supported (F32, F16, Q8_0, Q4_0)`);
    const rowLen = t.shape[t.shape.length - 1] ?? 1;
    if (rowLen % block.values !== 0) {
      throw new GgufError(path, `tensor "${t.name}" [${t.shape}]: rows of ${rowLen} values do not divide into ${block.name} blocks of ${block.values}`);
    }
    head.str(t.name);
    head.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) head.u64(t.shape[d]); // ne0 = innermost
    head.u32(t.type);
    offset = alignUp(offset, alignment);
    offsets.push(offset);
    head.u64(offset);
    offset += ggmlBytes(t.type, n);
  }
  head.zeros(alignUp(head.length, alignment) - head.length);
  const w = new AtomicFileWriter(path);
  try {
    w.write(head.concat());
    let pos = 0;
    tensors.forEach((t, i) => {
      const pad = offsets[i] - pos;
      if (pad > 0) w.write(new Uint8Array(pad));
      const data = typeof t.data === "function" ? t.data() : t.data;
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new GgufError(path, `tensor "${t.name}" [${t.shape}] has ${data.length} values, expected ${n}`);
      const bytes = encodeTensor(t.type, data);
      w.write(bytes);
      pos = offsets[i] + bytes.length;
    });
    w.commit();
  } catch (err) {
    w.abort();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

/** A tensor as listed in a GGUF file. */
export interface GgufTensorInfo {
  name: string;
  /** Row-major shape (the file's dims reversed: outermost first). */
  shape: number[];
  type: number;
  /** Absolute byte position of the data in the file. */
  offset: number;
  bytes: number;
}

export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** The whole file. */
  buffer: Uint8Array;
}

/** Reads a GGUF file (v2 or v3) whole and checks that every tensor lies inside it. */
export function readGguf(path: string): GgufFile {
  const fd = openSync(path, "r");
  let buffer: Uint8Array;
  try {
    const size = fstatSync(fd).size;
    buffer = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buffer, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return parseGguf(buffer, path);
}

/** Parses GGUF bytes; `path` names the source in errors. */
export function parseGguf(buffer: Uint8Array, path = "GGUF data"): GgufFile {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let p = 0;
  const need = (n: number, what: string): void => {
    if (p + n > buffer.length) throw new GgufError(path, `truncated: ${what} at byte ${p} runs past the end of the ${buffer.length}-byte file`);
  };
  const u32 = (what: string): number => {
    need(4, what);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8, what);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(path, `${what} is ${v}: corrupt`);
    return Number(v);
  };
  const str = (what: string): string => {
    const n = u64(`${what} length`);
    need(n, what);
    const s = Buffer.from(buffer.buffer, buffer.byteOffset + p, n).toString("utf8");
    p += n;
    return s;
  };
  const scalar = (type: number, key: string): number | bigint | boolean | string => {
    const size = ({ 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 } as Record<number, number>)[type];
    if (type === GgufType.STRING) return str(`metadata "${key}"`);
    if (size === undefined) throw new GgufError(path, `metadata "${key}" has unknown value type ${type}`);
    need(size, `metadata "${key}"`);
    const at = p;
    p += size;
    switch (type) {
      case 0: return view.getUint8(at);
      case 1: return view.getInt8(at);
      case 2: return view.getUint16(at, true);
      case 3: return view.getInt16(at, true);
      case 4: return view.getUint32(at, true);
      case 5: return view.getInt32(at, true);
      case 6: return view.getFloat32(at, true);
      case 7: return view.getUint8(at) !== 0;
      case 10: return view.getBigUint64(at, true);
      case 11: return view.getBigInt64(at, true);
      default: return view.getFloat64(at, true);
    }
  };
  if (buffer.length < 4 || view.getUint32(0, true) !== MAGIC) throw new GgufError(path, 'not a GGUF file (it does not start with "GGUF")');
  p = 4;
  const version = u32("version");
  if (version !== 2 && version !== 3) throw new GgufError(path, `GGUF version ${version} is not supported (2 or 3)`);
  const nTensors = u64("tensor count");
  const nKv = u64("metadata count");
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = str("metadata key");
    const type = u32(`metadata "${key}" type`);
    if (type === GgufType.ARRAY) {
      const itemType = u32(`metadata "${key}" item type`) as GgufScalarType;
      const n = u64(`metadata "${key}" length`);
      if ((itemType as number) === GgufType.ARRAY) throw new GgufError(path, `metadata "${key}": nested arrays are not supported`);
      const value: (number | bigint | boolean | string)[] = new Array(n);
      for (let k = 0; k < n; k++) value[k] = scalar(itemType, key);
      metadata.set(key, { type: GgufType.ARRAY, itemType, value });
    } else {
      metadata.set(key, { type: type as GgufScalarType, value: scalar(type, key) });
    }
  }
  const al = metadata.get("general.alignment");
  const alignment = al ? Number(al.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) throw new GgufError(path, `general.alignment ${String(al?.value)} is not a positive multiple of 8`);
  const infos: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str("tensor name");
    const nd = u32(`tensor "${name}" dims`);
    if (nd > 4) throw new GgufError(path, `tensor "${name}" has ${nd} dims (at most 4)`);
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(u64(`tensor "${name}" dim`));
    const type = u32(`tensor "${name}" type`);
    const offset = u64(`tensor "${name}" offset`);
    const n = ne.reduce((a, b) => a * b, 1);
    const block = (BLOCK as Record<number, (typeof BLOCK)[GgmlTypeId] | undefined>)[type];
    const bytes = block ? (n / block.values) * block.bytes : 0;
    infos.push({ name, shape: ne.reverse(), type, offset, bytes });
  }
  const dataStart = alignUp(p, alignment);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) {
    t.offset += dataStart;
    if (t.offset + t.bytes > buffer.length) {
      throw new GgufError(path, `truncated: tensor "${t.name}" [${t.shape}] needs bytes ${t.offset}..${t.offset + t.bytes} but the file has ${buffer.length}`);
    }
    tensors.set(t.name, t);
  }
  return { path, version, alignment, metadata, tensors, buffer };
}

/** The float values of tensor `name` (dequantised); throws for a missing tensor or a type this module does not decode. */
export function ggufTensorData(file: GgufFile, name: string): Float32Array {
  const t = file.tensors.get(name);
  if (!t) throw new GgufError(file.path, `no tensor "${name}"`);
  if (!(t.type in BLOCK)) throw new GgufError(file.path, `tensor "${name}" has ggml ${ggmlTypeName(t.type)}; llmforge reads F32, F16, Q8_0 and Q4_0`);
  const n = t.shape.reduce((a, b) => a * b, 1);
  return decodeTensor(t.type as GgmlTypeId, file.buffer.subarray(t.offset, t.offset + t.bytes), n);
}

/** A metadata value as a plain JS value (arrays as arrays), or undefined. */
export function ggufMeta(file: GgufFile, key: string): number | bigint | boolean | string | (number | bigint | boolean | string)[] | undefined {
  return file.metadata.get(key)?.value;
}
