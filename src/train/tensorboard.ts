// TensorBoard event files written directly (TFRecord framing + the few protobuf fields of
// Event/Summary that scalars need), so `tensorboard --logdir RUN/tb` shows the curves.
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

// ---- CRC-32C (Castagnoli), as TFRecord requires ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

// ---- minimal protobuf encoding ----
function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function fieldBytes(field: number, payload: Uint8Array): number[] {
  return [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
}

function fieldDouble(field: number, v: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return [...varint((field << 3) | 1), ...b];
}

function fieldFloat(field: number, v: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v);
  return [...varint((field << 3) | 5), ...b];
}

function fieldVarint(field: number, v: number): number[] {
  return [...varint(field << 3), ...varint(v)];
}

/** Event{wall_time=1, step=2, file_version=3 | summary=5{value=1{tag=1, simple_value=2}}}. */
function encodeEvent(wallTime: number, step: number, body: { fileVersion?: string; scalars?: Record<string, number> }): Uint8Array {
  const parts: number[] = [...fieldDouble(1, wallTime), ...fieldVarint(2, step)];
  if (body.fileVersion) parts.push(...fieldBytes(3, Buffer.from(body.fileVersion)));
  if (body.scalars) {
    const values: number[] = [];
    for (const [tag, v] of Object.entries(body.scalars)) {
      const value = [...fieldBytes(1, Buffer.from(tag)), ...fieldFloat(2, v)];
      values.push(...fieldBytes(1, Uint8Array.from(value)));
    }
    parts.push(...fieldBytes(5, Uint8Array.from(values)));
  }
  return Uint8Array.from(parts);
}

function tfRecord(data: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(data.length), 0);
  header.writeUInt32LE(maskedCrc(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc(data), 0);
  return Buffer.concat([header, data, footer]);
}

/** Appends scalar summaries to one events file in `logDir` (one file per writer). */
export class TensorBoardWriter {
  readonly path: string;

  constructor(logDir: string) {
    mkdirSync(logDir, { recursive: true });
    const now = Date.now() / 1000;
    this.path = join(logDir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}`);
    appendFileSync(this.path, tfRecord(encodeEvent(now, 0, { fileVersion: "brain.Event:2" })));
  }

  /** Writes scalars (e.g. {"train/loss": 3.2, "train/lr": 6e-4}) at a step. */
  scalars(step: number, values: Record<string, number>): void {
    const finite = Object.fromEntries(Object.entries(values).filter(([, v]) => Number.isFinite(v)));
    appendFileSync(this.path, tfRecord(encodeEvent(Date.now() / 1000, step, { scalars: finite })));
  }
}

/** Reads back the scalars of an events file, checking every CRC (for tests and `llmforge` tooling). */
export function readTensorBoardScalars(path: string): { step: number; tag: string; value: number }[] {
  const buf = readFileSync(path);
  const out: { step: number; tag: string; value: number }[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = Number(buf.readBigUInt64LE(off));
    if (buf.readUInt32LE(off + 8) !== maskedCrc(buf.subarray(off, off + 8))) throw new Error(`${path}: bad length CRC at byte ${off}`);
    const data = buf.subarray(off + 12, off + 12 + len);
    if (buf.readUInt32LE(off + 12 + len) !== maskedCrc(data)) throw new Error(`${path}: bad data CRC at byte ${off}`);
    off += 16 + len;
    parseEvent(data, out);
  }
  return out;
}

function readVarint(b: Uint8Array, pos: { i: number }): number {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = b[pos.i++];
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
    shift += 7n;
  }
  return Number(result);
}

function fields(b: Uint8Array): { field: number; wire: number; value: number | Uint8Array }[] {
  const out: { field: number; wire: number; value: number | Uint8Array }[] = [];
  const pos = { i: 0 };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (pos.i < b.length) {
    const key = readVarint(b, pos);
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: readVarint(b, pos) });
    else if (wire === 1) {
      out.push({ field, wire, value: dv.getFloat64(pos.i, true) });
      pos.i += 8;
    } else if (wire === 5) {
      out.push({ field, wire, value: dv.getFloat32(pos.i, true) });
      pos.i += 4;
    } else if (wire === 2) {
      const len = readVarint(b, pos);
      out.push({ field, wire, value: b.subarray(pos.i, pos.i + len) });
      pos.i += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

function parseEvent(data: Uint8Array, out: { step: number; tag: string; value: number }[]): void {
  const f = fields(data);
  const step = (f.find((x) => x.field === 2)?.value as number) ?? 0;
  const summary = f.find((x) => x.field === 5)?.value as Uint8Array | undefined;
  if (!summary) return;
  for (const v of fields(summary).filter((x) => x.field === 1)) {
    const vf = fields(v.value as Uint8Array);
    const tag = Buffer.from(vf.find((x) => x.field === 1)?.value as Uint8Array).toString();
    out.push({ step, tag, value: vf.find((x) => x.field === 2)?.value as number });
  }
}
