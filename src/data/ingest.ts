// The `ingest` step: walks input files and folders, picks a reader per file (text, JSONL, dialogue, HTML,
// email/mbox, code; gzip transparently), NFC-normalises, assigns ids and sources, and writes JSONL shards.
// Every input unit is either written or rejected with file:line and a reason (or stops the run on --on-error fail).
import { readdirSync, statSync } from "node:fs";
import { basename, extname, join, relative, resolve } from "node:path";
import { z } from "zod";
import { Progress } from "../io/progress.js";
import { describeFsError } from "../io/fsErrors.js";
import { DEFAULT_MAX_LINE_BYTES, JsonlWriter } from "../io/jsonl.js";
import { decodeTextBytes, DEFAULT_MAX_FILE_BYTES, readFileCapped, rejectHead } from "../io/textInput.js";
import { type StepOutput, withStepOutput } from "../io/stepOutput.js";
import { codeLanguageOf } from "./readers/code.js";
import { readEmailMessage, splitMbox } from "./readers/email.js";
import { htmlToText } from "./readers/html.js";
import { readJsonlDocs } from "./readers/jsonl.js";
import type { ReadItem, ReaderOptions } from "./readers/readItem.js";
import { readPlainText, sized } from "./readers/text.js";
import { DataStats } from "./stats.js";
import { DataConfigError, DataInputError, type DataDoc } from "./types.js";
import { finishStep, type StepResult } from "./shards.js";

export const INGEST_FORMATS = ["auto", "text", "jsonl", "dialogue", "html", "email", "mbox", "code"] as const;
export type IngestFormat = (typeof INGEST_FORMATS)[number];

export const ingestInputSchema = z
  .object({
    path: z.string(),
    /** Source name for these documents (default: the file or folder name). */
    source: z.string().optional(),
    format: z.enum(INGEST_FORMATS).default("auto"),
    /** Only files whose names end with one of these (e.g. [".txt"]). */
    include: z.array(z.string()).optional(),
    exclude: z.array(z.string()).default([]),
    /** Read at most this many files from this input (sorted order). */
    maxFiles: z.number().int().positive().optional(),
  })
  .strict();
export type IngestInput = z.infer<typeof ingestInputSchema>;

export const ingestConfigSchema = z
  .object({
    inputs: z.array(z.union([z.string().transform((path) => ({ path, format: "auto" as const, exclude: [] as string[] })), ingestInputSchema])).min(1),
    textSplit: z.enum(["file", "paragraph"]).default("file"),
    textField: z.string().default("text"),
    idField: z.string().optional(),
    emailHeaders: z.boolean().default(true),
    maxDocBytes: z.number().int().positive().default(4 << 20),
    /** Whole-file inputs larger than this after decompression are skipped unread as "file too large". */
    maxFileBytes: z.number().int().positive().default(DEFAULT_MAX_FILE_BYTES),
    /** JSONL lines longer than this are skipped unread as "line too large". */
    maxLineBytes: z.number().int().positive().default(DEFAULT_MAX_LINE_BYTES),
    onError: z.enum(["skip", "fail"]).default("skip"),
    shardDocs: z.number().int().positive().default(5000),
    shardBytes: z.number().int().positive().default(64 << 20),
    /** Stop after this many documents in all (for samples). */
    maxDocs: z.number().int().positive().optional(),
  })
  .strict();
export type IngestConfig = z.infer<typeof ingestConfigSchema>;
export type IngestConfigInput = z.input<typeof ingestConfigSchema>;

export function parseIngestConfig(input: unknown): IngestConfig {
  const r = ingestConfigSchema.safeParse(input);
  if (!r.success) throw new DataConfigError(`invalid ingest config: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

const TEXT_EXT = new Set([".txt", ".text", ".md", ".markdown", ".rst", ""]);

/** Chooses a format for a file from its extension and, for text, a peek at the content. */
export function detectFormat(file: string, head: string): Exclude<IngestFormat, "auto"> {
  const name = file.replace(/\.gz$/, "").toLowerCase();
  const ext = extname(name);
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".html" || ext === ".htm" || ext === ".xhtml") return "html";
  if (ext === ".eml") return "email";
  if (ext === ".mbox") return "mbox";
  if (codeLanguageOf(name)) return "code";
  if (TEXT_EXT.has(ext) || !/^\.[a-z0-9]{1,8}$/.test(ext)) {
    if (/^From \S+ /.test(head)) return "mbox";
    if (/^(?:[A-Za-z][A-Za-z0-9-]*: .*\r?\n(?:[ \t].*\r?\n)*){3}/.test(head) && /^(?:Received|Return-Path|Message-I[Dd]|From|Date|Subject):/im.test(head)) return "email";
    if (/^\s*<(?:!doctype html|html)/i.test(head)) return "html";
  }
  return "text";
}

function listFiles(root: string, input: IngestInput): string[] {
  const st = statSync(root);
  if (st.isFile()) return [root];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        if (input.include && !input.include.some((s) => e.name.endsWith(s))) continue;
        if (input.exclude.some((s) => e.name.endsWith(s))) continue;
        out.push(p);
      }
    }
  };
  walk(root);
  return input.maxFiles ? out.slice(0, input.maxFiles) : out;
}

/** Yields the read items of one file (documents, or rejections with the reason), read as `format` ("auto": detected). */
export async function* readFile(file: string, format: IngestFormat, ropts: ReaderOptions): AsyncGenerator<ReadItem> {
  if (format === "jsonl" || format === "dialogue" || (format === "auto" && /\.(jsonl|ndjson)(\.gz)?$/i.test(file))) {
    yield* readJsonlDocs(file, ropts, format === "dialogue");
    return;
  }
  if (format === "email" || format === "mbox") {
    // raw mail is bytes in any charset: mailparser decodes each part by its declared charset
    yield* readMailFile(file, format, ropts);
    return;
  }
  const read = readFileCapped(file, ropts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
  if (!read.ok) {
    yield { kind: "reject", ...read.reject };
    return;
  }
  const dec = decodeTextBytes(read.bytes);
  if (!dec.ok) {
    if (format === "auto" && dec.reject.reason === "invalid UTF-8") {
      const f = detectFormat(file, read.bytes.subarray(0, 4096).toString("latin1"));
      if (f === "email" || f === "mbox") {
        yield* readMailBytes(read.bytes, f, ropts);
        return;
      }
    }
    yield { kind: "reject", ...dec.reject };
    return;
  }
  const fmt = format === "auto" ? detectFormat(file, dec.text.slice(0, 4096)) : format;
  switch (fmt) {
    case "text":
      yield* readPlainText(dec.text, ropts);
      return;
    case "html": {
      const h = htmlToText(dec.text);
      yield sized({ kind: "doc", text: h.text, line: 0, meta: { kind: "html", ...(h.title ? { title: h.title } : {}), boilerplate_dropped: h.dropped } }, ropts);
      return;
    }
    case "code":
      yield sized({ kind: "doc", text: dec.text, line: 0, meta: { kind: "code", lang: codeLanguageOf(file) ?? "unknown" } }, ropts);
      return;
    case "email":
    case "mbox":
      yield* readMailFile(file, fmt, ropts);
      return;
    default:
      throw new DataConfigError(`${file}: format "${fmt}" cannot be read as a whole file`);
  }
}

/** Reads an email or mbox file (at most `maxFileBytes`) from its bytes, in any charset. */
async function* readMailFile(file: string, fmt: "email" | "mbox", ropts: ReaderOptions): AsyncGenerator<ReadItem> {
  const read = readFileCapped(file, ropts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
  if (read.ok) yield* readMailBytes(read.bytes, fmt, ropts);
  else yield { kind: "reject", ...read.reject };
}

/** Parses mail bytes (any charset); an mbox is split on its "From " lines. */
async function* readMailBytes(buf: Buffer, fmt: "email" | "mbox", ropts: ReaderOptions): AsyncGenerator<ReadItem> {
  const head = rejectHead(buf, buf.length);
  if (head) {
    yield { kind: "reject", ...head };
    return;
  }
  const latin = buf.toString("latin1"); // byte-preserving, for splitting only
  const msgs = fmt === "mbox" || /^From \S+ /.test(latin) ? splitMbox(latin) : [{ line: 1, raw: latin }];
  for (const m of msgs) {
    const raw = Buffer.from(m.raw, "latin1");
    if (raw.length > ropts.maxDocBytes) {
      yield { kind: "reject", reason: "document too large", detail: `email of ${raw.length} bytes > ${ropts.maxDocBytes}`, line: m.line, bytes: raw.length };
      continue;
    }
    yield sized(await readEmailMessage(raw, m.line, ropts), ropts);
  }
}

/** Writes documents into numbered JSONL shards (`part-00000.jsonl`, ...) in a folder. */
export class ShardedJsonlWriter {
  readonly paths: string[] = [];
  private w: JsonlWriter | null = null;
  private docs = 0;
  private bytes = 0;
  constructor(
    readonly dir: string,
    readonly shardDocs: number,
    readonly shardBytes: number,
    readonly prefix = "part",
  ) {}

  write(doc: DataDoc, bytes: number): void {
    if (!this.w || this.docs >= this.shardDocs || this.bytes >= this.shardBytes) this.roll();
    this.w!.write(doc);
    this.docs++;
    this.bytes += bytes;
  }

  private roll(): void {
    this.w?.close();
    const p = join(this.dir, `${this.prefix}-${String(this.paths.length).padStart(5, "0")}.jsonl`);
    this.paths.push(p);
    this.w = new JsonlWriter(p);
    this.docs = 0;
    this.bytes = 0;
  }

  /** Closes the last shard (an empty first shard is written when there were no documents, so outputs always exist). */
  close(): string[] {
    if (!this.w) this.roll();
    this.w!.close();
    this.w = null;
    return this.paths;
  }

  abort(): void {
    this.w?.abort();
    this.w = null;
  }
}

/** Options for {@link ingest}. */
export interface IngestRunOptions {
  /** Output folder for shards and stats. */
  outDir: string;
  /** Show progress on stderr (default true). */
  progress?: boolean;
  /** Replace a non-empty output folder that is not an earlier ingest output. */
  overwrite?: boolean;
}

/** Reads raw inputs into JSONL shards with stats; the output folder is locked, written whole and published at the end. */
export async function ingest(configInput: IngestConfigInput, run: IngestRunOptions): Promise<StepResult> {
  const cfg = parseIngestConfig(configInput);
  const paths = cfg.inputs.map((i) => (i as IngestInput).path);
  return withStepOutput(run.outDir, { command: "data ingest", step: "ingest", inputs: paths, overwrite: run.overwrite }, (out) => ingestInto(cfg, out, run));
}

async function ingestInto(cfg: IngestConfig, out: StepOutput, run: IngestRunOptions): Promise<StepResult> {
  const t0 = performance.now();
  const stats = new DataStats("ingest");
  const writer = new ShardedJsonlWriter(out.dir, cfg.shardDocs, cfg.shardBytes);
  const ropts: ReaderOptions = { textSplit: cfg.textSplit, textField: cfg.textField, idField: cfg.idField, emailHeaders: cfg.emailHeaders, maxDocBytes: cfg.maxDocBytes,
    maxFileBytes: cfg.maxFileBytes, maxLineBytes: cfg.maxLineBytes };
  const progress = new Progress("ingest", { unit: "docs", enabled: run.progress ?? true });
  let total = 0;
  try {
    outer: for (const raw of cfg.inputs) {
      const input = raw as IngestInput;
      const root = resolve(input.path);
      let files: string[];
      try {
        files = listFiles(root, input);
      } catch (err) {
        throw new DataConfigError(describeFsError(err, input.path, "a file or folder to ingest") ?? `input ${input.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const source = input.source ?? basename(root).replace(/\.(jsonl|ndjson|txt|gz)$/g, "");
      const base = statSync(root).isFile() ? resolve(root, "..") : root;
      for (const file of files) {
        const rel = relative(base, file);
        let n = 0;
        for await (const item of readFile(file, input.format, ropts)) {
          if (item.kind === "reject") {
            const where = `${file}${item.line > 0 ? `:${item.line}` : ""}`;
            if (cfg.onError === "fail") throw new DataInputError(file, item.line, `${item.reason}${item.detail ? `: ${item.detail}` : ""}`);
            stats.reject(item.reason, item.bytes, `${where}${item.detail ? ` (${item.detail})` : ""}`);
            continue;
          }
          const text = item.text.normalize("NFC");
          n++;
          const id = item.id ? `${source}/${item.id}` : `${source}/${rel}${item.line > 0 || n > 1 ? `#${n}` : ""}`;
          const doc: DataDoc = { id, text, source, meta: { ...item.meta, file: rel, ...(item.line > 0 ? { line: item.line } : {}) } };
          const bytes = Buffer.byteLength(text);
          stats.input(bytes, source);
          stats.output(bytes, source);
          writer.write(doc, bytes);
          progress.tick(1);
          if (cfg.maxDocs && ++total >= cfg.maxDocs) break outer;
        }
      }
    }
    const outputs = writer.close();
    stats.seconds = (performance.now() - t0) / 1000;
    progress.finish();
    return finishStep(out, stats, outputs);
  } catch (err) {
    writer.abort();
    throw err;
  }
}
