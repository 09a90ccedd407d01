// safetensors read/write (the Hugging Face weight format): 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}} padded with spaces
// to 8-byte alignment, then the raw little-endian tensor bytes. Writes are atomic (temp + rename).
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";
import { AtomicFileWriter } from "./atomicWrite.js";

export type SafetensorsDType = "F32" | "F64" | "BF16" | "F16" | "I32" | "I64" | "U8";
/** What the writer can store (floats as float32 or bfloat16). */
export type SafetensorsWriteDType = "F32" | "BF16";

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, BF16: 2, F16: 2, I32: 4, I64: 8, U8: 1 };

/**
 * A tensor read from a file: floats come back as Float32Array (F32/BF16/F16) or Float64Array (F64).
 * F32/F64/I32/I64 data may be views into the file's buffer: copy before keeping a small one long.
 */
export interface SafetensorsTensor {
  /** The dtype stored in the file. */
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
}

/** A tensor to write: float data (or a function producing it, called once when written), stored as `dtype` (default F32). */
export interface WritableTensor {
  shape: readonly number[];
  data: Float32Array | Float64Array | (() => Float32Array | Float64Array);
  dtype?: SafetensorsWriteDType;
}

function dataOf(t: WritableTensor): Float32Array | Float64Array {
  return typeof t.data === "function" ? t.data() : t.data;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** A malformed, truncated or unsupported safetensors file; the message names the file and the fault. */
export class SafetensorsError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = "SafetensorsError";
  }
}

/** Header length above this is treated as corruption (real headers are kilobytes). */
const MAX_HEADER = 100 * 2 ** 20;

function assertLittleEndian(): void {
  if (endianness() !== "LE") throw new Error("safetensors: big-endian hosts are not supported");
}

/** Reads a whole safetensors file. */
export function readSafetensors(path: string): SafetensorsFile {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new SafetensorsError(path, `file is ${size} bytes, shorter than the 8-byte header length: truncated or not a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER || 8 + headerLen > size) {
      throw new SafetensorsError(path, `header length ${headerLen} does not fit in a ${size}-byte file: truncated or not a safetensors file`);
    }
    const bytes = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, bytes, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return parseSafetensors(bytes.subarray(0, off), path);
  } finally {
    closeSync(fd);
  }
}

interface HeaderEntry {
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses safetensors bytes; `source` names the file in errors. */
export function parseSafetensors(bytes: Uint8Array, source = "safetensors data"): SafetensorsFile {
  assertLittleEndian();
  if (bytes.length < 8) throw new SafetensorsError(source, `only ${bytes.length} bytes: truncated (need at least 8 for the header length)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new SafetensorsError(source, `header length ${headerLen} does not fit in ${bytes.length} bytes: truncated or not a safetensors file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw new SafetensorsError(source, `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new SafetensorsError(source, "header is not a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: [string, HeaderEntry][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new SafetensorsError(source, "__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") throw new SafetensorsError(source, `__metadata__.${k} is ${typeof v}, expected a string`);
        metadata[k] = v;
      }
      continue;
    }
    entries.push([name, checkEntry(source, name, raw, dataLen)]);
  }
  // The spec forbids holes and overlaps: sorted by begin, the byte ranges tile the data.
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin);
  let pos = 0;
  for (const [name, e] of sorted) {
    if (e.begin !== pos) {
      throw new SafetensorsError(source, `tensor "${name}" starts at data byte ${e.begin}, expected ${pos} (${e.begin < pos ? "overlap" : "hole"} in the data)`);
    }
    pos = e.end;
  }
  if (pos !== dataLen) throw new SafetensorsError(source, `tensors cover ${pos} data bytes but the file has ${dataLen} after the header`);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, e] of entries) {
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: decode(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end)) });
  }
  return { tensors, metadata };
}

function checkEntry(source: string, name: string, raw: unknown, dataLen: number): HeaderEntry {
  const fail = (what: string): never => {
    throw new SafetensorsError(source, `tensor "${name}": ${what}`);
  };
  if (!raw || typeof raw !== "object") fail("header entry is not an object");
  const r = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof r.dtype !== "string" || !(r.dtype in BYTES)) {
    fail(`unsupported dtype ${JSON.stringify(r.dtype)} (supported: ${Object.keys(BYTES).join(", ")})`);
  }
  const dtype = r.dtype as SafetensorsDType;
  if (!Array.isArray(r.shape) || !r.shape.every((s) => Number.isInteger(s) && s >= 0)) fail(`shape ${JSON.stringify(r.shape)} is not a list of non-negative integers`);
  const shape = r.shape as number[];
  const off = r.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1]) {
    fail(`data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = off as [number, number];
  const numel = shape.reduce((a, b) => a * b, 1);
  if (end - begin !== numel * BYTES[dtype]) {
    fail(`shape ${JSON.stringify(shape)} of ${dtype} needs ${numel * BYTES[dtype]} bytes but data_offsets span ${end - begin}`);
  }
  if (end > dataLen) fail(`needs data bytes [${begin}, ${end}) but the file has only ${dataLen} after the header: truncated`);
  return { dtype, shape, begin, end };
}

function decode(dtype: SafetensorsDType, b: Uint8Array): SafetensorsTensor["data"] {
  // A zero-copy view when the bytes are aligned to the element size, else an aligned copy.
  const size = BYTES[dtype];
  const aligned = b.byteOffset % size === 0;
  const buf = aligned ? b.buffer : Uint8Array.from(b).buffer;
  const off = aligned ? b.byteOffset : 0;
  const n = b.length / size;
  switch (dtype) {
    case "F32": return new Float32Array(buf, off, n);
    case "F64": return new Float64Array(buf, off, n);
    case "I32": return new Int32Array(buf, off, n);
    case "I64": return new BigInt64Array(buf, off, n);
    case "U8": return b.slice();
    case "BF16": {
      const src = new Uint16Array(buf, off, n);
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return out;
    }
    case "F16": {
      const src = new Uint16Array(buf, off, n);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
      return out;
    }
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 bits -> bfloat16 bits with round-to-nearest-even (NaN kept a quiet NaN). */
export function floatToBf16Bits(f32Bits: number): number {
  if ((f32Bits & 0x7fffffff) > 0x7f800000) return ((f32Bits >>> 16) | 0x40) & 0xffff;
  const rounding = 0x7fff + ((f32Bits >>> 16) & 1);
  return ((f32Bits + rounding) >>> 16) & 0xffff;
}

/** A float tensor as a Float32Array (F32, BF16, F16 or F64 in the file), or an error naming it. */
export function floatData(t: SafetensorsTensor, name: string, source = "safetensors"): Float32Array | Float64Array {
  if (t.data instanceof Float32Array || t.data instanceof Float64Array) return t.data;
  throw new SafetensorsError(source, `tensor "${name}" has dtype ${t.dtype}, expected a float type`);
}

/** An integer tensor as Int32Array (I32, U8, or I64 within int32 range). */
export function int32Data(t: SafetensorsTensor, name: string, source = "safetensors"): Int32Array {
  const d = t.data;
  if (d instanceof Int32Array) return d;
  if (d instanceof Uint8Array) return Int32Array.from(d);
  if (d instanceof BigInt64Array) {
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      if (d[i] > 2147483647n || d[i] < -2147483648n) throw new SafetensorsError(source, `tensor "${name}": I64 value ${d[i]} at ${i} does not fit in int32`);
      out[i] = Number(d[i]);
    }
    return out;
  }
  throw new SafetensorsError(source, `tensor "${name}" has dtype ${t.dtype}, expected an integer type`);
}

/** The header (with 8-byte alignment padding) and per-tensor byte sizes, in write order. */
function buildHeader(tensors: ReadonlyMap<string, WritableTensor>, metadata: Record<string, string>): { header: Buffer; order: [string, WritableTensor, SafetensorsWriteDType][] } {
  const h: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) h.__metadata__ = metadata;
  const order: [string, WritableTensor, SafetensorsWriteDType][] = [];
  let pos = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") throw new Error('safetensors: "__metadata__" is reserved and cannot name a tensor');
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (typeof t.data !== "function" && numel !== t.data.length) {
      throw new Error(`safetensors: tensor "${name}" has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    }
    const dtype = t.dtype ?? "F32";
    const n = numel * BYTES[dtype];
    h[name] = { dtype, shape: [...t.shape], data_offsets: [pos, pos + n] };
    order.push([name, t, dtype]);
    pos += n;
  }
  let json = JSON.stringify(h);
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += " ".repeat(pad);
  const body = Buffer.from(json, "utf8");
  const header = Buffer.alloc(8 + body.length);
  header.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(header, 8);
  return { header, order };
}

function encode(name: string, t: WritableTensor, dtype: SafetensorsWriteDType): Uint8Array {
  const d = dataOf(t);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (d.length !== numel) throw new Error(`safetensors: tensor "${name}" has ${d.length} values for shape ${JSON.stringify(t.shape)}`);
  if (dtype === "F32") {
    const f = d instanceof Float32Array ? d : Float32Array.from(d);
    return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  }
  const f = d instanceof Float32Array ? d : Float32Array.from(d);
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = floatToBf16Bits(bits[i]);
  return new Uint8Array(out.buffer);
}

/** The bytes of a safetensors file holding `tensors` (in map order) and string metadata. */
export function serializeSafetensors(tensors: ReadonlyMap<string, WritableTensor>, metadata: Record<string, string> = {}): Uint8Array {
  assertLittleEndian();
  const { header, order } = buildHeader(tensors, metadata);
  const parts: Uint8Array[] = [header, ...order.map(([name, t, dt]) => encode(name, t, dt))];
  return Buffer.concat(parts);
}

/**
 * Writes tensors to `path` atomically (temp file + fsync + rename), streaming one tensor at a
 * time so a large model is never held twice in memory.
 */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, WritableTensor>, metadata: Record<string, string> = {}): void {
  assertLittleEndian();
  const { header, order } = buildHeader(tensors, metadata);
  const w = new AtomicFileWriter(path);
  try {
    w.write(header);
    for (const [name, t, dt] of order) w.write(encode(name, t, dt));
    w.commit();
  } catch (err) {
    w.abort();
    throw err;
  }
}
