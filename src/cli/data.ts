// `llmforge data ...`: the pretraining data pipeline commands (ingest, clean, filter, pii, dedup, mix, stats,
// train-quality, run, default) and `convert` for SFT data. Each is a thin shell over the library function of the same step.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import YAML from "yaml";
import { readFileChecked } from "../io/fsErrors.js";
import type { StepResult } from "../data/shards.js";
import { runCorpusStats } from "../data/corpusStats.js";
import { runDedup } from "../data/dedup/index.js";
import { runDefaultRecipe } from "../data/defaultRecipe.js";
import { convertPreferencesToJsonl, convertToJsonl, FORMAT_NAMES, type FormatName, PREFERENCE_FORMAT_NAMES, type PreferenceFormatName, type SkippedRecord } from "../data/formats/index.js";
import { ingest, INGEST_FORMATS, type IngestFormat } from "../data/ingest.js";
import { runMapStep, type MapStepName } from "../data/mapSteps.js";
import { runMix } from "../data/mix.js";
import { loadRecipe, runRecipe } from "../data/recipe.js";
import { runTrainQuality } from "../data/trainQuality.js";
import { DataConfigError, type OnErrorPolicy } from "../data/types.js";
import { DEFAULT_VADER_MIN_GAP, MAX_WORD_DROPOUT, type PreferenceMixOptions, recommendedMix, writePreferenceMix } from "../reward/preferenceMix.js";
import { INSTRUCTION_TASKS, writeInstructionMix } from "../sft/instructionMix.js";
import { writeToolCallMix } from "../kb/toolData.js";
import { fractionOption, intOption, nonNegativeIntOption, nonNegativeNumberOption, numberOption, positiveIntOption as int, rangeOption } from "./options.js";

function readConfig(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  const text = readFileChecked(file, "a config file (JSON or YAML)").toString("utf8");
  try {
    return (/\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text)) as Record<string, unknown>;
  } catch (err) {
    throw new DataConfigError(`${file}: cannot parse config: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function onErrorOf(v: string): OnErrorPolicy {
  if (v !== "skip" && v !== "fail") throw new DataConfigError(`--on-error must be skip or fail (got "${v}")`);
  return v;
}

function report(r: StepResult, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(r.stats.toJSON(), null, 2)}\n`);
  else process.stdout.write(r.stats.toMarkdown());
  process.stderr.write(`wrote ${r.outputs.length} file(s) to ${r.outDir}; stats: ${r.statsJsonPath}, ${r.statsMarkdownPath}\n`);
}

export function registerDataCommands(program: Command): void {
  const data = program.command("data").description("pretraining data pipeline: ingest, clean, filter, pii, dedup, mix, stats, train-quality, run; convert (SFT data)");

  data
    .command("ingest")
    .description("read text/JSONL/HTML/email/mbox/code/dialogue files or folders (gzip ok) into JSONL shards")
    .argument("<inputs...>", "files or folders")
    .requiredOption("-o, --out <dir>", "output folder")
    .option("--format <format>", `input format: ${INGEST_FORMATS.join("|")}`, "auto")
    .option("--source <name>", "source name (default: the input's file or folder name)")
    .option("--split <mode>", "plain text: one document per file or per paragraph (file|paragraph)", "file")
    .option("--text-field <path>", "JSONL: dotted path of the text field", "text")
    .option("--id-field <path>", "JSONL: dotted path of an id field")
    .option("--include <suffixes>", "only files ending with these (comma-separated), e.g. .txt,.html")
    .option("--no-email-headers", "email: leave out the From/To/Date/Subject lines")
    .option("--max-doc-bytes <n>", "reject documents larger than this", int)
    .option("--max-file-bytes <n>", "skip whole-file inputs (text, HTML, code, email) larger than this after decompression (default 64 MiB)", int)
    .option("--max-line-bytes <n>", "skip JSONL lines longer than this, unread (default 64 MiB)", int)
    .option("--max-docs <n>", "stop after this many documents", int)
    .option("--shard-docs <n>", "documents per output shard", int)
    .option("--on-error <policy>", "bad input: skip (count and go on) or fail (stop with file:line)", "skip")
    .option("--overwrite", "replace an --out folder that holds something other than an earlier output of this step")
    .option("--json", "print stats as JSON instead of Markdown")
    .option("-q, --quiet", "no progress output")
    .action(async (inputs: string[], o) => {
      if (!(INGEST_FORMATS as readonly string[]).includes(o.format)) throw new DataConfigError(`--format must be one of ${INGEST_FORMATS.join(", ")}`);
      const include = o.include ? String(o.include).split(",") : undefined;
      const r = await ingest(
        {
          inputs: inputs.map((path) => ({ path, format: o.format as IngestFormat, ...(o.source ? { source: o.source } : {}), ...(include ? { include } : {}) })),
          textSplit: o.split,
          textField: o.textField,
          idField: o.idField,
          emailHeaders: o.emailHeaders,
          onError: onErrorOf(o.onError),
          ...(o.maxDocBytes ? { maxDocBytes: o.maxDocBytes } : {}),
          ...(o.maxFileBytes ? { maxFileBytes: o.maxFileBytes } : {}),
          ...(o.maxLineBytes ? { maxLineBytes: o.maxLineBytes } : {}),
          ...(o.maxDocs ? { maxDocs: o.maxDocs } : {}),
          ...(o.shardDocs ? { shardDocs: o.shardDocs } : {}),
        },
        { outDir: o.out, progress: !o.quiet, overwrite: o.overwrite },
      );
      report(r, o.json);
    });

  const mapCommand = (name: MapStepName, description: string) =>
    data
      .command(name)
      .description(description)
      .argument("<inputs...>", "JSONL shards or folders of shards")
      .requiredOption("-o, --out <dir>", "output folder")
      .option("-c, --config <file>", `JSON or YAML ${name} options`)
      .option("-w, --workers <n>", "worker threads (default: all cores)", int)
      .option("--force", "redo shards that are already done")
      .option("--overwrite", "replace an --out folder that holds something other than an earlier output of this step")
      .option("--on-error <policy>", "malformed lines: skip or fail", "skip")
      .option("--json", "print stats as JSON instead of Markdown")
      .option("-q, --quiet", "no progress output")
      .action(async (inputs: string[], o) => {
        const cfg = readConfig(o.config);
        const r = await runMapStep(name, name === "process" ? cfg : { [name]: cfg }, {
          inputs,
          outDir: o.out,
          workers: o.workers,
          force: o.force,
          overwrite: o.overwrite,
          onError: onErrorOf(o.onError),
          progress: !o.quiet,
        });
        report(r, o.json);
      });
  mapCommand("clean", "fix mojibake, strip markup and junk characters, collapse whitespace, drop boilerplate and repeated lines");
  mapCommand("filter", "quality rules (Gopher quality/repetition, C4, FineWeb, language, toxicity, trained classifier)");
  mapCommand("pii", "replace emails, phones, IPs, cards, SSNs and Chinese resident IDs by typed placeholders");
  mapCommand("process", "clean + filter + pii in one pass (config: {clean, filter, pii})");

  data
    .command("dedup")
    .description("exact and MinHash-LSH near-duplicate removal across all shards")
    .argument("<inputs...>", "JSONL shards or folders")
    .requiredOption("-o, --out <dir>", "output folder")
    .option("-c, --config <file>", "JSON or YAML dedup options ({exact, minhash: {ngram, bands, rows, threshold, seed}})")
    .option("-w, --workers <n>", "worker threads (signatures and writing; the main thread is one of them)", int)
    .option("--on-error <policy>", "skip or fail", "skip")
    .option("--overwrite", "replace an --out folder that holds something other than an earlier output of this step")
    .option("--json", "print stats as JSON")
    .option("-q, --quiet", "no progress output")
    .action(async (inputs: string[], o) => {
      const r = await runDedup(readConfig(o.config), { inputs, outDir: o.out, workers: o.workers, onError: onErrorOf(o.onError), progress: !o.quiet, overwrite: o.overwrite });
      report(r, o.json);
    });

  data
    .command("mix")
    .description("sample sources by weight or epochs (seeded), split train/val, shuffle or order by a score")
    .argument("<inputs...>", "JSONL shards or folders")
    .requiredOption("-o, --out <dir>", "output folder (train/ and val/)")
    .option("-c, --config <file>", "JSON or YAML mix options")
    .option("--weights <list>", "source=weight pairs, e.g. brown=3,email=1")
    .option("--epochs <list>", "source=epochs pairs, e.g. wiki=2")
    .option("--val <fraction>", "validation fraction", fractionOption)
    .option("--seed <n>", "seed", intOption)
    .option("--curriculum <field>", "order train by this numeric meta field (ascending; prefix - for descending)")
    .option("--overwrite", "replace an --out folder that holds something other than an earlier output of this step")
    .option("--json", "print stats as JSON")
    .option("-q, --quiet", "no progress output")
    .action(async (inputs: string[], o) => {
      const pairs = (s: string | undefined) =>
        s
          ? Object.fromEntries(
              s.split(",").map((kv) => {
                const [k, v] = kv.split("=");
                const n = Number(v);
                if (!k || !Number.isFinite(n)) throw new DataConfigError(`expected source=number pairs, got "${kv}"`);
                return [k, n];
              }),
            )
          : undefined;
      const cfg: Record<string, unknown> = { ...readConfig(o.config) };
      if (o.weights) cfg.weights = pairs(o.weights);
      if (o.epochs) cfg.epochs = pairs(o.epochs);
      if (o.val !== undefined) cfg.valFraction = o.val;
      if (o.seed !== undefined) cfg.seed = o.seed;
      if (o.curriculum) cfg.curriculum = { field: String(o.curriculum).replace(/^-/, ""), order: String(o.curriculum).startsWith("-") ? "desc" : "asc" };
      const r = await runMix(cfg, { inputs, outDir: o.out, progress: !o.quiet, overwrite: o.overwrite });
      report(r, o.json);
    });

  data
    .command("instructions")
    .description("write the embedded offline instruction mix (arithmetic, counting, spelling, WordNet definitions/synonyms/antonyms, capitals, sentiment) as chat JSONL, split train / held-out by item and by template")
    .requiredOption("-o, --out <dir>", "output folder: train.jsonl, heldout.jsonl, mix.json")
    .option("--per-task <n>", "training conversations per task", int, 400)
    .option("--tasks <list>", `comma-separated subset of ${INSTRUCTION_TASKS.join(",")}`)
    .option("--seed <n>", "seed", intOption, 1234)
    .action((o) => {
      const r = writeInstructionMix(o.out, { perTask: o.perTask, seed: o.seed, tasks: o.tasks?.split(",").map((t: string) => t.trim()) });
      process.stdout.write(`${JSON.stringify(r.stats.tasks, null, 2)}\n`);
      process.stderr.write(`wrote ${r.train}, ${r.heldout} and ${r.mix}\n`);
    });

  data
    .command("tool-calls")
    .description("write synthetic SFT conversations that answer arithmetic through the calculator tool (user -> <tool_call> -> tool result -> answer), on the instruction mix's item split, plus some plain records")
    .requiredOption("-o, --out <dir>", "output folder: train.jsonl, heldout.jsonl, mix.json")
    .option("--train <n>", "tool-call conversations in train", int, 2000)
    .option("--heldout <n>", "held-out tool-call conversations", int, 200)
    .option("--plain-rate <f>", "plain instruction records added to train, as a share of --train", fractionOption, 0.2)
    .option("--seed <n>", "the instruction mix's seed (its held-out items stay held out)", intOption, 1234)
    .action((o) => {
      const r = writeToolCallMix(o.out, { train: o.train, heldout: o.heldout, plainRate: o.plainRate, seed: o.seed });
      process.stdout.write(`${JSON.stringify(r.stats, null, 2)}\n`);
      process.stderr.write(`wrote ${r.train}, ${r.heldout} and ${r.mix}\n`);
    });

  data
    .command("preferences")
    .description("write the embedded offline preference mix (sentiment reviews, VADER multi-rater word scores, instruction answers ranked by a rule grader) as preference JSONL, split train / held-out by prompt")
    .requiredOption("-o, --out <dir>", "output folder: train.jsonl, heldout.jsonl, mix.json (with the AFINN lexicon baseline)")
    .option("--per-task <n>", "training records per task", int, 400)
    .option("--heldout-per-task <n>", "held-out records per task (default per-task / 4)", int)
    .option("--seed <n>", "seed", intOption, 1234)
    .option("--vader-min-gap <sds>", "VADER pairs only between words whose mean ratings differ by at least this many rater SDs (0 = every unequal pair)", nonNegativeNumberOption, DEFAULT_VADER_MIN_GAP)
    .option("--sentiment-answers <n>", "review sentences per polarity in each training sentiment record (n² pairs; held-out records keep one each)", int, 1)
    .option("--sentiment-lexicon <n>", "add n training-only records that teach word valence in the review task's form: a training sentiment prompt, 2 short review-like phrases with VADER training words of the asked polarity and 2 with words of the other (4 pairs); no held-out word or sentence, held-out file unchanged (0 = none)", nonNegativeIntOption, 0)
    .option("--sentiment-lexicon-positive <share>", "share of the --sentiment-lexicon records that ask for the positive polarity: above 0.5 they also teach valence as a main effect, from which the polarity × valence interaction is learnt more readily (0..1)", rangeOption(0, 1), 0.5)
    .option("--sentiment-lexicon-review-weight <k>", "the --sentiment-lexicon records draw each VADER training word in proportion to 1 + k × its count in the training review sentences, so the words reviews use fill them most (0 = uniform)", nonNegativeNumberOption, 0)
    .option("--sentiment-long <words>", "also draw training review sentences (never held-out ones) from the fixtures' longer sentences, up to this many words (about as many labelled sentences again; 0 = none, held-out file unchanged)", nonNegativeIntOption, 0)
    .option("--curriculum", "also write curriculum.jsonl: the training records that ask for the positive polarity (valence alone decides them), the first phase of `llmforge reward --curriculum-data`")
    .option("--sentiment-word-dropout <p>", `each use of a training review sentence leaves out each word with this probability (negations and at least 3 words kept; at most ${MAX_WORD_DROPOUT}; held-out file unchanged; 0 = none)`, rangeOption(0, MAX_WORD_DROPOUT), 0)
    .option("--mirror-polarity", "add to every training sentiment and VADER record its mirror: the same answers under the other polarity's prompt, preferences reversed, so only the polarity × valence interaction lowers their loss (held-out file unchanged)")
    .option("--recommended", "the mix bench/results/reward.md measured best for a small reward model: --sentiment-answers 3 --sentiment-word-dropout 0.3 --sentiment-lexicon 3×per-task --sentiment-lexicon-positive 1 --sentiment-lexicon-review-weight 10 --mirror-polarity --curriculum (those options given here win); train on it with `llmforge reward --curriculum-data DIR/curriculum.jsonl --curriculum-steps` about a fifth of --steps")
    .action((o, cmd: Command) => {
      const mix: PreferenceMixOptions & { curriculum?: boolean } = { perTask: o.perTask, heldoutPerTask: o.heldoutPerTask, seed: o.seed, vaderMinGap: o.vaderMinGap, sentimentAnswers: o.sentimentAnswers, sentimentLexicon: o.sentimentLexicon, sentimentLexiconPositive: o.sentimentLexiconPositive, sentimentLexiconReviewWeight: o.sentimentLexiconReviewWeight, sentimentLongWords: o.sentimentLong, sentimentWordDropout: o.sentimentWordDropout, mirrorPolarity: o.mirrorPolarity === true, curriculum: o.curriculum === true };
      // the recipe's options (named as this command's), unless given on the command line
      if (o.recommended) for (const [k, v] of Object.entries(recommendedMix(o.perTask))) if (cmd.getOptionValueSource(k) !== "cli") Object.assign(mix, { [k]: v });
      const r = writePreferenceMix(o.out, mix);
      process.stdout.write(`${JSON.stringify(r.stats, null, 2)}\n`);
      process.stderr.write(`wrote ${r.train}, ${r.heldout}${r.curriculum ? `, ${r.curriculum}` : ""} and ${r.mix}\n`);
    });

  data
    .command("convert")
    .description("convert SFT data (question/answer, chat messages, ShareGPT, prompt/completion, Alpaca, text/label, entity/facts, LLaMA-Factory folders) to chat-messages JSONL, or preference data (chosen/rejected, KTO, rankings, scores) to preference-record JSONL")
    .argument("<inputs...>", "JSONL or JSON-array files, folders of them, or LLaMA-Factory data folders (with dataset_info.json)")
    .requiredOption("-o, --out <file>", "output JSONL file (stats beside it: <out>.stats.json and .stats.md)")
    .option("--to <form>", "output form: messages (SFT conversations) or preferences (reward-model records)", "messages")
    .option("--format <name>", `record format: auto|${FORMAT_NAMES.join("|")} (messages), auto|${PREFERENCE_FORMAT_NAMES.join("|")} (preferences)`, "auto")
    .option("--score-range <lo..hi>", "preferences: allowed answer scores (default 1..5)")
    .option("--labels <list>", "text/label records: the label set, comma-separated (numeric labels index it)")
    .option("--datasets <list>", "LLaMA-Factory folders: only these datasets, comma-separated")
    .option("--on-error <policy>", "bad records: skip (count, report and go on) or fail (stop with file:line)", "skip")
    .option("--json", "print stats as JSON instead of Markdown")
    .action(async (inputs: string[], o) => {
      const prefs = o.to === "preferences";
      if (!prefs && o.to !== "messages") throw new DataConfigError(`--to must be messages or preferences (got "${o.to}")`);
      const names: readonly string[] = prefs ? PREFERENCE_FORMAT_NAMES : FORMAT_NAMES;
      if (o.format !== "auto" && !names.includes(o.format)) throw new DataConfigError(`--format must be auto or one of ${names.join(", ")} with --to ${o.to}`);
      if (prefs ? o.labels || o.datasets : o.scoreRange) throw new DataConfigError(prefs ? "--labels and --datasets apply to --to messages only" : "--score-range applies to --to preferences only");
      const range = o.scoreRange ? String(o.scoreRange).split("..").map(Number) : undefined;
      if (range && !(range.length === 2 && range.every(Number.isFinite) && range[0] < range[1])) throw new DataConfigError(`--score-range must be lo..hi with lo < hi, e.g. 1..5 (got "${o.scoreRange}")`);
      let shown = 0;
      const onSkip = (s: SkippedRecord) => {
        if (++shown <= 20) process.stderr.write(`skipped ${s.file}:${s.line}: ${s.reason}\n`);
      };
      const onError = onErrorOf(o.onError);
      const r = prefs
        ? await convertPreferencesToJsonl(inputs, o.out, { format: o.format as PreferenceFormatName | "auto", onError, onSkip, scoreRange: range as [number, number] | undefined })
        : await convertToJsonl(inputs, o.out, {
            format: o.format as FormatName | "auto",
            onError,
            labels: o.labels ? String(o.labels).split(",") : undefined,
            datasets: o.datasets ? String(o.datasets).split(",") : undefined,
            onSkip,
          });
      report(r, o.json);
      if (shown > 20) process.stderr.write(`(${shown - 20} more skipped records: see ${r.statsMarkdownPath})\n`);
      if (r.stats.docsOut === 0) throw new DataConfigError(`no ${prefs ? "preference record" : "conversation"} could be converted: see the skipped records above`);
    });

  data
    .command("stats")
    .description("describe a JSONL corpus: documents, bytes, words per source, kinds, languages, length percentiles")
    .argument("<inputs...>", "JSONL shards or folders")
    .requiredOption("-o, --out <dir>", "folder for stats.json and stats.md")
    .option("--overwrite", "replace an --out folder that holds something other than an earlier output of this step")
    .option("--json", "print stats as JSON")
    .action(async (inputs: string[], o) => report(await runCorpusStats(inputs, o.out, "skip", { overwrite: o.overwrite }), o.json));

  data
    .command("train-quality")
    .description(
      "train the hashed n-gram logistic-regression quality classifier on a per-source sample; reports held-out accuracy and pass rates per source, and refuses a model that would remove a positive source",
    )
    .requiredOption("--positive <paths...>", "JSONL shards/folders of good documents")
    .requiredOption("--negative <paths...>", "JSONL shards/folders of bad documents")
    .requiredOption("-o, --out <dir>", "output folder (model.json, stats)")
    .option("--positive-sources <names>", "only these sources count as positive (comma-separated)")
    .option("--negative-sources <names>", "only these sources count as negative (comma-separated)")
    .option("--max-docs-per-class <n>", "documents sampled per class, shared among its sources (default 20000)", int)
    .option("--threshold <score>", "score the filter keeps documents at (its quality_classifier.minScore); pass rates are measured at it (default 0.5)", numberOption)
    .option("--min-pass-rate <fraction>", "refuse when a positive source passes the threshold less often than this (default 0.8; 0 = no check)", rangeOption(0, 1))
    .option("--epochs <n>", "training epochs", int)
    .option("--held-out <fraction>", "fraction of each source's sample held out (default 0.2)", fractionOption)
    .option("--seed <n>", "seed (sample, split and training order)", intOption)
    .option("--overwrite", "replace an --out folder that holds something other than an earlier output of this step")
    .option("--json", "print stats as JSON")
    .action(async (o) => {
      const r = await runTrainQuality({
        positive: o.positive,
        negative: o.negative,
        positiveSources: o.positiveSources ? String(o.positiveSources).split(",") : undefined,
        negativeSources: o.negativeSources ? String(o.negativeSources).split(",") : undefined,
        maxDocsPerClass: o.maxDocsPerClass,
        threshold: o.threshold,
        minPassRate: o.minPassRate,
        epochs: o.epochs,
        heldOut: o.heldOut,
        seed: o.seed,
        outDir: o.out,
        overwrite: o.overwrite,
      });
      report(r, o.json);
      const m = r.model.metrics;
      const worst = m.heldOutAccuracyMinSource == null ? "" : `, lowest per source ${(100 * m.heldOutAccuracyMinSource).toFixed(1)}%`;
      process.stderr.write(`model: ${r.modelPath}; held-out accuracy ${(100 * m.heldOutAccuracy).toFixed(1)}% on ${m.heldOutDocs} docs${worst}\n`);
    });

  data
    .command("run")
    .description("run a recipe (JSON or YAML): steps in order, skipping up-to-date steps, resuming unfinished shards")
    .requiredOption("-r, --recipe <file>", "recipe file")
    .option("--force", "rerun every step")
    .option("--until <step>", "stop after this step")
    .option("-w, --workers <n>", "worker threads", int)
    .option("-q, --quiet", "no progress output")
    .action(async (o) => {
      const { recipe, baseDir } = loadRecipe(o.recipe);
      const r = await runRecipe(recipe, { baseDir, force: o.force, until: o.until, workers: o.workers, progress: !o.quiet });
      process.stdout.write(`${readFileSync(r.reportMarkdown, "utf8").split("\n### ")[0]}\n`);
      process.stderr.write(`report: ${r.reportMarkdown}\n`);
    });

  data
    .command("default")
    .description("run the default recipe on the embedded corpus (Brown, State of the Union, Project Gutenberg, SpamAssassin)")
    .requiredOption("-o, --out <dir>", "output folder")
    .option("--max-docs <n>", "at most this many documents per source", int)
    .option("--force", "rerun every step")
    .option("-w, --workers <n>", "worker threads", int)
    .option("-q, --quiet", "no progress output")
    .action(async (o) => {
      const r = await runDefaultRecipe({ outDir: o.out, maxDocs: o.maxDocs, force: o.force, workers: o.workers, progress: !o.quiet });
      process.stdout.write(`${readFileSync(r.reportMarkdown, "utf8").split("\n### ")[0]}\n`);
      process.stderr.write(`train shards: ${r.train.length}, val shards: ${r.val.length}; report: ${r.reportMarkdown}\n`);
    });
}
