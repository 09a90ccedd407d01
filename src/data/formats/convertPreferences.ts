// `data convert --to preferences`: reads preference records from JSONL / JSON-array files and folders, converts
// each to a PreferenceRecord and accounts for every record in the step's stats: written, removed (nothing left to
// train on), or rejected with file:line; ties and identical answers that made no pair are counted per record.
import { assertNotAnInput } from "../../io/stepOutput.js";
import type { StepResult } from "../shards.js";
import { DataStats } from "../stats.js";
import type { ConvertOptions } from "./convert.js";
import type { PreferenceRecord } from "./preference.js";
import { convertPreferenceRecord, type PreferenceRecordOptions } from "./preferenceRecords.js";
import { bump, dataFiles, readRecords, recordSkipper, writeJsonlWithStats } from "./recordFiles.js";
import { RecordFormatError } from "./records.js";

/** Options of {@link convertToPreferences} and {@link convertPreferencesToJsonl}. */
export interface PreferenceConvertOptions extends PreferenceRecordOptions, Pick<ConvertOptions, "onError" | "stats" | "onSkip"> {}

const pairNames = (ps: Array<[number, number]>) => ps.map(([a, b]) => `${a + 1}/${b + 1}`).join(", ");

/**
 * Streams the preference records of files and folders, counting into `opts.stats`: `extra.records` records parsed,
 * `extra["format.NAME"]` written per format, `extra.pairs` and `extra.responses` written; `modified.tie_no_pair`
 * and `modified.identical_answers_no_pair` count the pairs not made (examples name file:line and the answers,
 * 1-based). A record left with no pair, score or label is removed (`no_pairs`); a bad one is rejected with its
 * reason (or throws a {@link DataInputError} naming file:line under `onError: "fail"`). Each record's `meta` names
 * its format, file and line.
 */
export async function* convertToPreferences(inputs: readonly string[], opts: PreferenceConvertOptions = {}): AsyncGenerator<PreferenceRecord> {
  const stats = opts.stats ?? new DataStats("convert");
  const skip = recordSkipper(stats, opts.onError, opts.onSkip);
  for (const file of inputs.flatMap(dataFiles)) {
    for await (const item of readRecords(file)) {
      if ("reason" in item) {
        skip(file, item.line, 0, item.reason, item.detail);
        continue;
      }
      bump(stats, "records");
      const bytes = Buffer.byteLength(JSON.stringify(item.value) ?? "");
      let c: ReturnType<typeof convertPreferenceRecord>;
      try {
        c = convertPreferenceRecord(item.value, opts, { file, line: item.line });
      } catch (err) {
        if (!(err instanceof RecordFormatError)) throw err;
        skip(file, item.line, bytes, err.reason, err.detail);
        continue;
      }
      const r = c.record;
      if (r.pairs.length === 0 && !r.scores && !r.labels) {
        stats.input(bytes);
        const why = [c.ties.length ? `tied: ${pairNames(c.ties)}` : "", c.identical.length ? `same text: ${pairNames(c.identical)}` : ""].filter(Boolean).join("; ");
        skip(file, item.line, bytes, "no_pairs", why || undefined, r.responses.join(" | "));
        continue;
      }
      if (c.ties.length) stats.modify("tie_no_pair", c.ties.length, `${file}:${item.line} (answers ${pairNames(c.ties)})`);
      if (c.identical.length) stats.modify("identical_answers_no_pair", c.identical.length, `${file}:${item.line} (answers ${pairNames(c.identical)})`);
      stats.input(bytes);
      stats.output(Buffer.byteLength(JSON.stringify(r)));
      bump(stats, `format.${c.format}`);
      stats.extra.pairs = (Number(stats.extra.pairs) || 0) + r.pairs.length;
      stats.extra.responses = (Number(stats.extra.responses) || 0) + r.responses.length;
      yield r;
    }
  }
}

/**
 * Converts inputs to one {@link PreferenceRecord} JSONL file `out` (written atomically) with the stats beside it
 * as `<out minus .jsonl>.stats.json` and `.stats.md`. Nothing appears under `out` when the run throws.
 */
export async function convertPreferencesToJsonl(inputs: readonly string[], out: string, opts: PreferenceConvertOptions = {}): Promise<StepResult> {
  assertNotAnInput(out, inputs);
  const stats = opts.stats ?? new DataStats("convert");
  return writeJsonlWithStats(out, convertToPreferences(inputs, { ...opts, stats }), stats);
}
