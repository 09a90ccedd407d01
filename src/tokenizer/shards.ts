// Token shards in the llm.c layout: a 256 x int32 header (magic, version, token count) then the tokens:
// magic 20240520 version 1 = uint16 (llm.c's GPT-2 shards), magic 20240801 version 7 = uint32 (llm.c's Llama 3 shards,
// written when the vocabulary has more than 65536 ids). Shards of llmforge 0.1 with magic 20240520 version 2 (uint32)
// are still read, and a resumed set of them goes on in that layout.
// writeTokenShards streams documents through the tokenizer on all cores, resumably, holding the folder's lock;
// shards.json (tokenizer sha256, "complete") is the set's provenance and completion marker, checked before training.
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { readFileChecked, requireFile } from "../io/fsErrors.js";
import { LOCK_FILE, lockFolder } from "../io/runLock.js";
import { assertFinishedInputs } from "../io/stepOutput.js";
import { Progress } from "../io/progress.js";
import { InputRejects } from "../io/textInput.js";
import { checkCorpusFiles, readCorpus } from "./corpus.js";
import { TokenShardError, TokenizerConfigError } from "./errors.js";
import type { Tokenizer } from "./tokenizer.js";
import { encodeDocuments } from "./worker.js";
import { defaultWorkerCount, TokenizerWorkerPool } from "./workerPool.js";

/** Magic of uint16 shards (llm.c's GPT-2 layout, version 1). */
export const TOKEN_SHARD_MAGIC = 20240520;
/** Magic of uint32 shards (llm.c's Llama 3 layout, version 7). */
export const TOKEN_SHARD_MAGIC_U32 = 20240801;
export const TOKEN_SHARD_HEADER_BYTES = 256 * 4;
/** Header version for uint16 tokens (llm.c's format). */
export const TOKEN_SHARD_VERSION_U16 = 1;
/** Header version for uint32 tokens (llm.c's), used when the vocabulary has more than 65536 ids. */
export const TOKEN_SHARD_VERSION_U32 = 7;
/** llmforge 0.1's uint32 version under the uint16 magic: read, and continued on resume, never started. */
const TOKEN_SHARD_VERSION_U32_LEGACY = 2;

/** A shard layout: 1 = uint16, 7 = uint32 (llm.c), 2 = uint32 (llmforge 0.1). */
export type ShardVersion = 1 | 2 | 7;

export interface TokenShardHeader {
  magic: number;
  version: ShardVersion;
  tokenCount: number;
}

const magicOf = (version: ShardVersion): number => (version === TOKEN_SHARD_VERSION_U32 ? TOKEN_SHARD_MAGIC_U32 : TOKEN_SHARD_MAGIC);

export interface TokenShard {
  header: TokenShardHeader;
  tokens: Uint16Array | Uint32Array;
}

/** The shard version (token width) a vocabulary needs. */
export function shardVersionFor(vocabSize: number): ShardVersion {
  return vocabSize <= 65536 ? TOKEN_SHARD_VERSION_U16 : TOKEN_SHARD_VERSION_U32;
}

function encodeHeader(version: ShardVersion, tokenCount: number): Uint8Array {
  const h = new Int32Array(256);
  h[0] = magicOf(version);
  h[1] = version;
  h[2] = tokenCount;
  return new Uint8Array(h.buffer);
}

function parseHeader(path: string, buf: Uint8Array, fileBytes: number): TokenShardHeader {
  if (buf.length < TOKEN_SHARD_HEADER_BYTES) throw new TokenShardError(path, `file is ${buf.length} bytes, shorter than the ${TOKEN_SHARD_HEADER_BYTES}-byte header`);
  const h = new Int32Array(buf.buffer, buf.byteOffset, 256);
  if (h[0] !== TOKEN_SHARD_MAGIC && h[0] !== TOKEN_SHARD_MAGIC_U32) {
    throw new TokenShardError(path, `bad magic ${h[0]}: expected ${TOKEN_SHARD_MAGIC} (llm.c uint16 token shard) or ${TOKEN_SHARD_MAGIC_U32} (llm.c uint32 token shard)`);
  }
  const known = h[0] === TOKEN_SHARD_MAGIC ? [TOKEN_SHARD_VERSION_U16, TOKEN_SHARD_VERSION_U32_LEGACY] : [TOKEN_SHARD_VERSION_U32];
  if (!known.includes(h[1])) {
    throw new TokenShardError(path, `unsupported version ${h[1]} for magic ${h[0]}: expected ${h[0] === TOKEN_SHARD_MAGIC ? "1 (uint16 tokens)" : "7 (uint32 tokens)"}`);
  }
  const width = h[1] === 1 ? 2 : 4;
  const expected = TOKEN_SHARD_HEADER_BYTES + h[2] * width;
  if (h[2] < 0 || fileBytes !== expected) {
    throw new TokenShardError(path, `header says ${h[2]} tokens (${expected} bytes in all) but the file has ${fileBytes} bytes: truncated or corrupt`);
  }
  return { magic: h[0], version: h[1] as ShardVersion, tokenCount: h[2] };
}

const SHARD_EXPECTED = "a token shard file (.bin) from `llmforge tokenizer shard`";

/** Reads only the header of a shard (and checks the file size against it). */
export function readTokenShardHeader(path: string): TokenShardHeader {
  requireFile(path, SHARD_EXPECTED);
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(TOKEN_SHARD_HEADER_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseHeader(path, buf.subarray(0, n), fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole shard: the header and the tokens (Uint16Array for version 1, Uint32Array for the uint32 versions). */
export function readTokenShard(path: string): TokenShard {
  const buf = readFileChecked(path, SHARD_EXPECTED);
  const header = parseHeader(path, buf, buf.length);
  const body = buf.buffer.slice(buf.byteOffset + TOKEN_SHARD_HEADER_BYTES, buf.byteOffset + buf.length);
  const tokens = header.version === 1 ? new Uint16Array(body) : new Uint32Array(body);
  return { header, tokens };
}

/** Writes one shard atomically. */
export function writeTokenShard(path: string, tokens: ArrayLike<number>, vocabSize: number): void {
  const version = shardVersionFor(vocabSize);
  const body = version === 1 ? Uint16Array.from(tokens) : Uint32Array.from(tokens);
  const out = new Uint8Array(TOKEN_SHARD_HEADER_BYTES + body.byteLength);
  out.set(encodeHeader(version, body.length));
  out.set(new Uint8Array(body.buffer), TOKEN_SHARD_HEADER_BYTES);
  writeFileAtomicSync(path, out);
}

type Split = "train" | "val";

interface SplitState {
  /** Completed shards: file name (relative to outDir) and token count. */
  shards: { file: string; tokens: number }[];
  /** Tokens already in the open (partial) shard. */
  partialTokens: number;
}

/** The resume manifest, DIR/shards.json. */
export interface ShardManifest {
  format: "llmforge-token-shards";
  version: 1;
  inputs: string[];
  tokenizerSha256: string;
  vocabSize: number;
  eotId: number;
  shardVersion: ShardVersion;
  shardTokens: number;
  valFraction: number;
  /** Corpus items (documents, or chunks of long text files) already in the shards. */
  itemsDone: number;
  /** Whole documents started so far (drives the train/val split). */
  documents: number;
  train: SplitState;
  val: SplitState;
  complete: boolean;
  /** Input skipped as bad (binary, invalid UTF-8, malformed JSONL...), by reason; set when complete. */
  skipped?: Record<string, { count: number; example: string }>;
}

function shardName(split: Split, index: number): string {
  return `${split}_${String(index).padStart(6, "0")}.bin`;
}
function partialName(split: Split, index: number): string {
  return `.${shardName(split, index)}.partial`;
}

/** An append-only shard being filled; completed shards are renamed into place. */
class ShardStream {
  private fd = -1;
  private readonly width: number;
  constructor(
    private readonly dir: string,
    private readonly split: Split,
    private readonly shardTokens: number,
    private readonly version: ShardVersion,
    readonly state: SplitState,
  ) {
    this.width = version === 1 ? 2 : 4;
  }

  private get index(): number {
    return this.state.shards.length;
  }

  /** Opens the partial shard, cutting it back to the checkpointed length (resume). */
  open(): void {
    const partial = join(this.dir, partialName(this.split, this.index));
    const final = join(this.dir, shardName(this.split, this.index));
    // A crash between completing a shard and saving the manifest leaves it under its final name.
    if (!existsSync(partial) && existsSync(final)) renameSync(final, partial);
    if (this.state.partialTokens > 0 && !existsSync(partial)) {
      throw new TokenShardError(partial, `missing: shards.json says it holds ${this.state.partialTokens} tokens; rerun with --overwrite to start over`);
    }
    this.fd = openSync(partial, existsSync(partial) ? "r+" : "w+");
    ftruncateSync(this.fd, TOKEN_SHARD_HEADER_BYTES + this.state.partialTokens * this.width);
    writeSync(this.fd, encodeHeader(this.version, 0), 0, TOKEN_SHARD_HEADER_BYTES, 0);
  }

  /** Appends tokens; returns true when at least one shard was completed. */
  append(tokens: Int32Array, start: number, end: number): boolean {
    let completed = false;
    while (start < end) {
      const room = this.shardTokens - this.state.partialTokens;
      const n = Math.min(room, end - start);
      const chunk = this.version === 1 ? Uint16Array.from(tokens.subarray(start, start + n)) : Uint32Array.from(tokens.subarray(start, start + n));
      const bytes = new Uint8Array(chunk.buffer);
      writeSync(this.fd, bytes, 0, bytes.length, TOKEN_SHARD_HEADER_BYTES + this.state.partialTokens * this.width);
      this.state.partialTokens += n;
      start += n;
      if (this.state.partialTokens === this.shardTokens) {
        this.complete();
        completed = true;
      }
    }
    return completed;
  }

  private complete(): void {
    this.seal();
    this.open();
  }

  /** Writes the final header, closes the partial file and renames it into place as a completed shard. */
  private seal(): void {
    const count = this.state.partialTokens;
    writeSync(this.fd, encodeHeader(this.version, count), 0, TOKEN_SHARD_HEADER_BYTES, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    const name = shardName(this.split, this.index);
    renameSync(join(this.dir, partialName(this.split, this.index)), join(this.dir, name));
    this.state.shards.push({ file: name, tokens: count });
    this.state.partialTokens = 0;
  }

  sync(): void {
    if (this.fd >= 0) fsyncSync(this.fd);
  }

  /** Completes the last shard if it holds tokens, else removes the empty partial file. */
  finish(): void {
    if (this.state.partialTokens > 0) {
      this.seal();
    } else {
      closeSync(this.fd);
      rmSync(join(this.dir, partialName(this.split, this.index)), { force: true });
    }
    this.fd = -1;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export interface WriteTokenShardsOptions {
  /** JSONL (`{"text": ...}`) or plain text files, in order. */
  inputs: readonly string[];
  tokenizer: Tokenizer;
  outDir: string;
  /** Fraction of documents sent to the validation split (default 0.01), spread evenly. */
  valFraction?: number;
  /** Tokens per shard (default 100M, as llm.c's FineWeb shards). The last shard of each split is shorter. */
  shardTokens?: number;
  /** Special token put before every document (default "<|endoftext|>"). */
  eotToken?: string;
  /** JSONL text field (default "text"). */
  field?: string;
  /** Worker threads for encoding (default: all cores). */
  workers?: number;
  /** Delete shards from an earlier run in outDir instead of resuming it (default false). */
  overwrite?: boolean;
  /** Print progress lines to stderr (default false). */
  progress?: boolean;
  /** Characters of text per encoding batch (default 1M); also the checkpoint granularity. */
  batchChars?: number;
  /** Stop (as if interrupted) after this many batches: for testing resume. */
  stopAfterBatches?: number;
  /** Bad input files and lines (binary, UTF-16, invalid UTF-8, malformed JSONL): skip and count (default) or stop. */
  onError?: "skip" | "fail";
  /** JSONL lines longer than this are skipped unread (default 64 MiB). */
  maxLineBytes?: number;
}

export interface WriteTokenShardsResult {
  trainFiles: string[];
  valFiles: string[];
  trainTokens: number;
  valTokens: number;
  documents: number;
  manifestPath: string;
  /** True when an earlier, interrupted run was continued. */
  resumed: boolean;
  /** False when stopped early by `stopAfterBatches`. */
  complete: boolean;
  /** Input skipped as bad, by reason: count and the first file:line. */
  skipped: Record<string, { count: number; example: string }>;
}

const BATCH_CHARS = 1 << 20;
const CHECKPOINT_MS = 5000;

const SHARD_FILE = /^\.?(train|val)_\d{6}\.bin(\.partial)?$/;

function removeOwnFiles(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    if (SHARD_FILE.test(f) || f === "shards.json") rmSync(join(dir, f), { force: true });
  }
}

/** The sha256 of a tokenizer's tokenizer.json text, as shards.json records it. */
export function tokenizerSha256(tokenizer: Tokenizer): string {
  return createHash("sha256").update(tokenizer.toHuggingFaceJson()).digest("hex");
}

/**
 * Checks that a shard folder may be trained on with `tokenizer` (named `tokenizerPath` in messages): its
 * shards.json says the set is complete and was written with this very tokenizer (same sha256). A folder without
 * shards.json passes (llm.c shards) unless it shows an unfinished `tokenizer shard` run (a lock or partial files).
 */
export function verifyShardSet(dir: string, tokenizer: Tokenizer, tokenizerPath: string): void {
  const manifestPath = join(dir, "shards.json");
  if (!existsSync(manifestPath)) {
    const names = existsSync(dir) ? readdirSync(dir) : [];
    if (names.some((f) => f === LOCK_FILE || /\.bin\.partial$/.test(f))) {
      throw new TokenShardError(manifestPath, "missing: the folder holds an unfinished `tokenizer shard` run; rerun that command to finish it");
    }
    return;
  }
  let m: Partial<ShardManifest>;
  try {
    m = JSON.parse(readFileSync(manifestPath, "utf8")) as Partial<ShardManifest>;
  } catch (err) {
    throw new TokenShardError(manifestPath, `unreadable (${err instanceof Error ? err.message : String(err)}); rerun \`tokenizer shard\` with --overwrite`);
  }
  if (m.complete !== true) throw new TokenShardError(manifestPath, '"complete": false: the `tokenizer shard` run that writes these shards has not finished; rerun the same command to resume it');
  if (m.vocabSize !== undefined && m.vocabSize !== tokenizer.vocabSize) {
    throw new TokenShardError(manifestPath, `shards were written with a tokenizer of ${m.vocabSize} tokens, but ${tokenizerPath} has ${tokenizer.vocabSize}; re-shard with this tokenizer`);
  }
  const sha = tokenizerSha256(tokenizer);
  if (m.tokenizerSha256 !== undefined && m.tokenizerSha256 !== sha) {
    throw new TokenShardError(manifestPath, `shards were written with another tokenizer (sha256 ${m.tokenizerSha256.slice(0, 12)}…) than ${tokenizerPath} (sha256 ${sha.slice(0, 12)}…); train with the tokenizer that wrote them or re-shard`);
  }
}

function resultOf(m: ShardManifest, dir: string, manifestPath: string, resumed: boolean): WriteTokenShardsResult {
  const sum = (s: SplitState) => s.shards.reduce((a, x) => a + x.tokens, 0) + s.partialTokens;
  return {
    trainFiles: m.train.shards.map((s) => join(dir, s.file)),
    valFiles: m.val.shards.map((s) => join(dir, s.file)),
    trainTokens: sum(m.train),
    valTokens: sum(m.val),
    documents: m.documents,
    manifestPath,
    resumed,
    complete: m.complete,
    skipped: m.skipped ?? {},
  };
}

/**
 * Tokenizes `inputs` into llm.c-layout shards under `outDir`: `<|endoftext|>` before every
 * document, documents split train/val by `valFraction`, encoding on all cores. An interrupted
 * run resumes from DIR/shards.json (checkpointed every few seconds and at every completed shard).
 */
export async function writeTokenShards(options: WriteTokenShardsOptions): Promise<WriteTokenShardsResult> {
  const valFraction = options.valFraction ?? 0.01;
  if (!(valFraction >= 0 && valFraction < 1)) throw new TokenizerConfigError(`valFraction must be in [0, 1), got ${valFraction}`);
  const shardTokens = options.shardTokens ?? 100_000_000;
  if (!Number.isInteger(shardTokens) || shardTokens < 1 || shardTokens > 0x7fffffff) {
    throw new TokenizerConfigError(`shardTokens must be an integer in [1, 2^31), got ${shardTokens}`);
  }
  if (options.inputs.length === 0) throw new TokenizerConfigError("no input files given to shard");
  checkCorpusFiles(options.inputs);
  assertFinishedInputs(options.inputs);
  const lock = lockFolder(resolve(options.outDir), "tokenizer shard");
  try {
    return await writeShardsLocked(options, valFraction, shardTokens);
  } finally {
    lock.release();
  }
}

async function writeShardsLocked(options: WriteTokenShardsOptions, valFraction: number, shardTokens: number): Promise<WriteTokenShardsResult> {
  const { tokenizer, outDir } = options;
  const eotId = tokenizer.specialId(options.eotToken ?? "<|endoftext|>");
  const json = tokenizer.toHuggingFaceJson();
  const sha = createHash("sha256").update(json).digest("hex");
  const manifestPath = join(outDir, "shards.json");
  if (options.overwrite) removeOwnFiles(outDir);
  else if (!existsSync(manifestPath) && readdirSync(outDir).some((f) => SHARD_FILE.test(f))) {
    throw new TokenShardError(outDir, "holds token shards but no shards.json (not written by this command, or from an older version); use another --out directory or --overwrite");
  }
  const fresh: ShardManifest = {
    format: "llmforge-token-shards",
    version: 1,
    inputs: [...options.inputs],
    tokenizerSha256: sha,
    vocabSize: tokenizer.vocabSize,
    eotId,
    shardVersion: shardVersionFor(tokenizer.vocabSize),
    shardTokens,
    valFraction,
    itemsDone: 0,
    documents: 0,
    train: { shards: [], partialTokens: 0 },
    val: { shards: [], partialTokens: 0 },
    complete: false,
  };
  let m = fresh;
  let resumed = false;
  if (existsSync(manifestPath)) {
    let old: ShardManifest;
    try {
      old = JSON.parse(readFileSync(manifestPath, "utf8")) as ShardManifest;
    } catch (err) {
      throw new TokenShardError(manifestPath, `unreadable resume manifest (${err instanceof Error ? err.message : String(err)}); rerun with --overwrite to start over`);
    }
    const same =
      old.format === fresh.format &&
      old.tokenizerSha256 === sha &&
      old.shardTokens === shardTokens &&
      old.valFraction === valFraction &&
      old.eotId === eotId &&
      JSON.stringify(old.inputs) === JSON.stringify(fresh.inputs);
    if (!same) {
      throw new TokenShardError(manifestPath, "holds shards from a different run (other inputs, tokenizer, shard size or val fraction); use another --out directory or --overwrite");
    }
    if (old.complete) return resultOf(old, outDir, manifestPath, true);
    m = old;
    resumed = true;
  }
  const train = new ShardStream(outDir, "train", shardTokens, m.shardVersion, m.train);
  const val = new ShardStream(outDir, "val", shardTokens, m.shardVersion, m.val);
  train.open();
  val.open();
  let lastCheckpoint = performance.now();
  const checkpoint = () => {
    train.sync();
    val.sync();
    writeFileAtomicSync(manifestPath, `${JSON.stringify(m, null, 2)}\n`);
    lastCheckpoint = performance.now();
  };
  checkpoint();

  const workers = Math.max(1, Math.floor(options.workers ?? defaultWorkerCount()));
  const pool = workers > 1 ? new TokenizerWorkerPool(workers) : null;
  if (pool) pool.broadcast({ kind: "encode-init", tokenizerJson: json });
  const progress = new Progress("tokenizer shard", { unit: "docs", enabled: options.progress ?? false });

  interface Batch {
    seq: number;
    texts: string[];
    eot: number[];
    isVal: boolean[];
    /** `documents` after this batch. */
    documentsAfter: number;
  }
  const pending = new Map<number, { batch: Batch; tokens: Int32Array; offsets: Int32Array }>();
  const inFlight = new Set<Promise<unknown>>();
  let nextWrite = 0;
  let seq = 0;
  let stopped = false;
  const drain = () => {
    for (let r = pending.get(nextWrite); r !== undefined; r = pending.get(nextWrite)) {
      pending.delete(nextWrite);
      nextWrite++;
      const { batch, tokens, offsets } = r;
      let completed = false;
      for (let i = 0; i < batch.texts.length; i++) {
        const stream = batch.isVal[i] ? val : train;
        if (stream.append(tokens, offsets[i], offsets[i + 1])) completed = true;
      }
      m.itemsDone += batch.texts.length;
      m.documents = batch.documentsAfter;
      progress.tick(batch.texts.length);
      if (completed || performance.now() - lastCheckpoint > CHECKPOINT_MS) checkpoint();
    }
  };
  const submit = async (batch: Batch) => {
    if (!pool) {
      const { tokens, offsets } = encodeDocuments(tokenizer, batch.texts, batch.eot);
      pending.set(batch.seq, { batch, tokens, offsets });
      drain();
      return;
    }
    let i = pool.leastBusy();
    while (pool.inFlight(i) >= 2) {
      await Promise.race(inFlight);
      i = pool.leastBusy();
    }
    const p = pool.request(i, { kind: "encode", seq: batch.seq, texts: batch.texts, eot: batch.eot }).then((reply) => {
      if (reply.kind === "encoded") pending.set(batch.seq, { batch, tokens: reply.tokens, offsets: reply.offsets });
      drain();
    });
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => undefined);
  };

  try {
    const batchChars = options.batchChars ?? BATCH_CHARS;
    let skip = m.itemsDone;
    let documents = m.documents;
    let docIsVal = false;
    let batch: Batch = { seq: seq++, texts: [], eot: [], isVal: [], documentsAfter: documents };
    let chars = 0;
    const rejects = new InputRejects();
    const read = { field: options.field, onError: options.onError ?? "skip", rejects, maxLineBytes: options.maxLineBytes } as const;
    for await (const doc of readCorpus(options.inputs, read)) {
      if (skip > 0) {
        skip--;
        continue;
      }
      if (!doc.continues) {
        docIsVal = Math.floor((documents + 1) * valFraction) > Math.floor(documents * valFraction);
        documents++;
      }
      batch.texts.push(doc.text);
      batch.eot.push(doc.continues ? -1 : eotId);
      batch.isVal.push(docIsVal);
      batch.documentsAfter = documents;
      chars += doc.text.length;
      if (chars >= batchChars) {
        await submit(batch);
        batch = { seq: seq++, texts: [], eot: [], isVal: [], documentsAfter: documents };
        chars = 0;
        if (options.stopAfterBatches !== undefined && seq > options.stopAfterBatches) {
          stopped = true;
          break;
        }
      }
    }
    if (!stopped && batch.texts.length > 0) await submit(batch);
    while (inFlight.size > 0) await Promise.race(inFlight);
    drain();
    if (stopped) {
      checkpoint();
      train.close();
      val.close();
      return resultOf(m, outDir, manifestPath, resumed);
    }
    train.finish();
    val.finish();
    m.complete = true;
    m.skipped = rejects.toJSON();
    checkpoint();
    progress.finish();
    return resultOf(m, outDir, manifestPath, resumed);
  } catch (err) {
    train.close();
    val.close();
    throw err;
  } finally {
    await pool?.close();
  }
}
