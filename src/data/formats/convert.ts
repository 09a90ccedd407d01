// `data convert`: reads SFT records from JSONL / JSON-array files, folders and LLaMA-Factory data folders
// (dataset_info.json), converts each to Conversations, and accounts for every record in the step's stats:
// written, removed (no assistant turn) or rejected with file:line and reason.
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { assertNotAnInput } from "../../io/stepOutput.js";
import type { StepResult } from "../shards.js";
import { DataStats } from "../stats.js";
import { DataConfigError, type OnErrorPolicy } from "../types.js";
import { type Conversation, conversationProblem } from "./conversation.js";
import {
  ALPACA_COLUMNS,
  type AlpacaColumns,
  alpacaLists,
  type Converted,
  convertRaw,
  isObj,
  openaiMessages,
  type Rec,
  RecordFormatError,
  type RecordOptions,
  SHAREGPT_TAGS,
  sharegptMessages,
  toConversations,
} from "./records.js";
import { bump, dataFiles, readRecords, recordSkipper, type SkippedRecord, writeJsonlWithStats } from "./recordFiles.js";

export type { SkippedRecord };

/** Options of {@link convertToConversations} and {@link convertToJsonl}. */
export interface ConvertOptions extends RecordOptions {
  /** Bad records: `skip` (count, report, go on; default) or `fail` (throw a {@link DataInputError} naming file:line). */
  onError?: OnErrorPolicy;
  /** LLaMA-Factory folders: convert only these datasets of `dataset_info.json` (default: every local one). */
  datasets?: readonly string[];
  /** Statistics to fill (a fresh `DataStats("convert")` when absent). */
  stats?: DataStats;
  /** Called for every record that is not written (removed: a well-formed record with nothing to train on). */
  onSkip?: (s: SkippedRecord) => void;
  /**
   * RL prompts: a conversation that ends with a user turn (TRL's prompt-only records, `{"prompt": ...}` or messages
   * without an answer) is kept instead of removed as `no_assistant_turn`.
   */
  prompts?: boolean;
}

interface Source {
  file: string;
  dataset?: string;
  convert: (rec: unknown) => Converted;
  toolsField?: string;
}

const str = (o: Rec, k: string, dflt?: string) => (typeof o[k] === "string" ? (o[k] as string) : dflt);

/**
 * The datasets of a LLaMA-Factory `dataset_info.json`: `file_name` (file or folder) read with its `formatting`
 * (alpaca, the default, sharegpt or openai), `columns` and (sharegpt) `tags` mapping, LLaMA-Factory's defaults.
 * Hub, script and ranking datasets are listed in `stats.extra` as skipped (an error when named in `datasets`).
 */
function llamaFactorySources(dir: string, opts: ConvertOptions, stats: DataStats): Source[] {
  const infoPath = join(dir, "dataset_info.json");
  let info: unknown;
  try {
    info = JSON.parse(readFileSync(infoPath, "utf8"));
  } catch (err) {
    throw new DataConfigError(`${infoPath}: cannot parse: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObj(info)) throw new DataConfigError(`${infoPath}: expected an object of datasets`);
  const wanted = opts.datasets;
  for (const n of wanted ?? []) if (!Object.hasOwn(info, n)) throw new DataConfigError(`${infoPath}: no dataset "${n}" (it has: ${Object.keys(info).join(", ")})`);
  const out: Source[] = [];
  for (const [name, d] of Object.entries(info)) {
    if (wanted && !wanted.includes(name)) continue;
    const formatting = isObj(d) ? str(d, "formatting", "alpaca") : undefined;
    const why = !isObj(d)
      ? "not an object"
      : d.hf_hub_url || d.ms_hub_url || d.script_url || typeof d.file_name !== "string"
        ? "no local file_name (hub and script datasets are not fetched)"
        : d.ranking
          ? "a preference (ranking) dataset, not SFT data"
          : !["alpaca", "sharegpt", "openai"].includes(String(formatting))
            ? `unsupported formatting "${formatting}"`
            : null;
    if (why || !isObj(d)) {
      if (wanted) throw new DataConfigError(`${infoPath}: dataset "${name}" cannot be converted: ${why}`);
      stats.extra[`skipped_dataset.${name}`] = String(why);
      continue;
    }
    const cols = isObj(d.columns) ? d.columns : {};
    const tags = isObj(d.tags) ? d.tags : {};
    const messages = str(cols, "messages", "conversations") as string;
    const system = str(cols, "system");
    let convert: (rec: unknown) => Converted;
    if (formatting === "alpaca") {
      const col = (k: keyof AlpacaColumns) => str(cols, k, ALPACA_COLUMNS[k]) as string;
      const c: AlpacaColumns = { prompt: col("prompt"), query: col("query"), response: col("response"), system, history: str(cols, "history") };
      convert = (rec) => ({ format: "alpaca", lists: alpacaLists(asRec(rec), c) });
    } else {
      const t = (k: string, dflt: string) => str(tags, k, dflt) as string;
      const roles = { [t("user_tag", "human")]: "user", [t("assistant_tag", "gpt")]: "assistant", [t("observation_tag", "observation")]: "tool", [t("function_tag", "function_call")]: "assistant", [t("system_tag", "system")]: "system" } as const;
      const sg = { roleTag: t("role_tag", SHAREGPT_TAGS.roleTag), contentTag: t("content_tag", SHAREGPT_TAGS.contentTag), roles };
      convert = (rec) => {
        const r = asRec(rec);
        const msgs = formatting === "openai" ? openaiMessages(r[messages], messages) : sharegptMessages(r[messages], messages, sg);
        const sys = system && typeof r[system] === "string" && r[system] !== "" && msgs[0]?.role !== "system" ? r[system] : undefined;
        return { format: String(formatting), lists: [sys ? [{ role: "system", content: sys }, ...msgs] : msgs] };
      };
    }
    for (const file of dataFiles(join(dir, d.file_name as string))) out.push({ file, dataset: name, convert, toolsField: str(cols, "tools") });
  }
  return out;
}

function asRec(rec: unknown): Rec {
  if (!isObj(rec)) throw new RecordFormatError("record is not a JSON object");
  return rec;
}

/** Expands inputs into (file, converter) pairs: LLaMA-Factory folders by their dataset_info.json, other paths as data files. */
function sources(inputs: readonly string[], opts: ConvertOptions, stats: DataStats): Source[] {
  const out: Source[] = [];
  for (const inp of inputs) {
    if (!existsSync(inp)) throw new DataConfigError(`input ${inp} does not exist`);
    const isDir = statSync(inp).isDirectory();
    if (basename(inp) === "dataset_info.json" || (isDir && existsSync(join(inp, "dataset_info.json")))) out.push(...llamaFactorySources(isDir ? inp : dirname(inp), opts, stats));
    else for (const file of dataFiles(inp)) out.push({ file, convert: (rec) => convertRaw(rec, opts) });
  }
  return out;
}

/**
 * Streams the conversations of SFT files, folders and LLaMA-Factory data folders, counting into `opts.stats`:
 * `extra.records` records parsed, `extra["format.NAME"]` conversations written per detected format; every
 * conversation candidate (one per record, one per output of a list-output Alpaca record) is an input that is
 * written, removed (`no_assistant_turn`, never an error) or rejected by reason (malformed JSON, unknown shape,
 * wrong field types, empty final assistant turn), with file:line examples. Under `onError: "fail"` the first
 * rejected record throws a {@link DataInputError} naming file:line. Each conversation's `meta` names its source
 * format, file and line (and dataset for LLaMA-Factory).
 */
export async function* convertToConversations(inputs: readonly string[], opts: ConvertOptions = {}): AsyncGenerator<Conversation> {
  const stats = opts.stats ?? new DataStats("convert");
  const skip = recordSkipper(stats, opts.onError, opts.onSkip);
  for (const src of sources(inputs, opts, stats)) {
    for await (const item of readRecords(src.file)) {
      if ("reason" in item) {
        skip(src.file, item.line, 0, item.reason, item.detail);
        continue;
      }
      bump(stats, "records");
      let bytes = Buffer.byteLength(JSON.stringify(item.value) ?? "");
      let convs: Conversation[];
      try {
        const where = { ...(src.dataset ? { dataset: src.dataset } : {}), file: src.file, line: item.line };
        convs = toConversations(item.value as Rec, src.convert(item.value), where, src.toolsField);
      } catch (err) {
        if (!(err instanceof RecordFormatError)) throw err;
        skip(src.file, item.line, bytes, err.reason, err.detail);
        continue;
      }
      for (const conv of convs) {
        const problem = conversationProblem(conv);
        const last = conv.messages.filter((m) => m.role === "assistant").at(-1);
        const at = conv.meta?.output_index !== undefined ? `output ${conv.meta.output_index}` : undefined;
        if (problem) skip(src.file, item.line, bytes, problem, at);
        else if (!last && !(opts.prompts && conv.messages.at(-1)?.role === "user")) {
          stats.input(bytes);
          skip(src.file, item.line, bytes, "no_assistant_turn", at, conv.messages.map((m) => `${m.role}: ${m.content}`).join(" | "));
        } else if (last && last.content.trim() === "") skip(src.file, item.line, bytes, "empty final assistant turn", at);
        else {
          stats.input(bytes);
          stats.output(Buffer.byteLength(JSON.stringify(conv)));
          bump(stats, `format.${conv.meta?.format}`);
          yield conv;
        }
        bytes = 0; // a list-output record's bytes count once
      }
    }
  }
}

/**
 * Converts inputs to one chat-messages JSONL file `out` (written atomically) and writes the stats beside it as
 * `<out minus .jsonl>.stats.json` and `.stats.md`. Nothing appears under `out` when the run throws.
 */
export async function convertToJsonl(inputs: readonly string[], out: string, opts: ConvertOptions = {}): Promise<StepResult> {
  assertNotAnInput(out, inputs);
  const stats = opts.stats ?? new DataStats("convert");
  return writeJsonlWithStats(out, convertToConversations(inputs, { ...opts, stats }), stats);
}
