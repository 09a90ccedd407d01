// `llmforge classify train|predict`: fine-tune a pretrained BERT run into a sequence classifier on labelled
// JSONL (single texts or text pairs), and label new records with it. Thin shells over eval/classify.ts.
import { type Command, InvalidArgumentError } from "commander";
import { classifyPredict, classifyTrain } from "../eval/classify.js";
import { abortOnSignals, addLoopOptions, fractionOption, loopRunOptions, oneOf, positiveIntOption as int, reportInterrupted } from "./options.js";

/** "neg,pos" -> ["neg", "pos"]. */
function labelsOption(v: string): string[] {
  const labels = v.split(",").map((l) => l.trim());
  if (labels.length < 2 || labels.some((l) => l === "")) throw new InvalidArgumentError(`expected two or more comma-separated labels (e.g. negative,positive), got "${v}"`);
  return labels;
}

/** The record field options both sub-commands share. */
function addFieldOptions(cmd: Command): Command {
  return cmd
    .option("--text-field <name>", "field holding the text", "text")
    .option("--pair-field <name>", "field holding the second text of a pair ([CLS] text [SEP] pair [SEP], segment ids 0/1); used where present", "text_pair")
    .option("--label-field <name>", "field holding the class (a string, or a number)", "label")
    .option("--max-length <n>", "longest row in tokens, [CLS] and [SEP] included (default: the model's positions); longer texts are cut", int);
}

const pct = (x: number | null | undefined) => (typeof x === "number" ? `${(x * 100).toFixed(1)}%` : "?");
const f1 = (x: number | null | undefined) => (typeof x === "number" ? x.toFixed(3) : "?");

export function registerClassifyCommand(program: Command): void {
  const cls = program.command("classify").description("sequence classification with a BERT run: fine-tune on labelled JSONL, predict labels of new records");

  const train = cls
    .command("train")
    .description("fine-tune a pretrained BERT (`llmforge train --flavour bert`) with a classification head on {text, label} records; held-out accuracy and macro-F1")
    .requiredOption("--model <run>", "the BERT run (or model folder with tokenizer.json) to start from")
    .requiredOption("--data <files...>", "labelled records: JSONL/JSON (or folders, .gz) with a text and a label per record")
    .requiredOption("--out <dir>", "run folder; the classifier is written to OUT/model (BertForSequenceClassification, id2label)")
    .option("--val-data <files...>", "held-out records (default: --val-fraction of --data)")
    .option("--val-fraction <f>", "share of --data held out when --val-data is not given", fractionOption, 0.1)
    .option("--labels <a,b,...>", "the classes in id order (default: the sorted labels of --data); a number that is not a listed label indexes this list", labelsOption)
    .option("--batch <n>", "records per micro-batch", int, 16);
  addFieldOptions(train);
  addLoopOptions(train, { steps: 300, lr: 1e-4, weightDecay: 0.01, evalEvery: 50, keep: 2 }).action(async (o) => {
    const signal = abortOnSignals();
    const r = await classifyTrain({
      model: o.model, data: o.data, valData: o.valData, valFraction: o.valFraction, out: o.out, labels: o.labels, maxLength: o.maxLength,
      textField: o.textField, pairField: o.pairField, labelField: o.labelField, batchSize: o.batch, ...loopRunOptions(o, signal),
    });
    const t = r.summary;
    if (reportInterrupted(t, signal)) return;
    const held = t.val
      ? `held-out (${r.val} records): accuracy ${pct(t.initialVal?.acc)} -> ${pct(t.val.acc)}, macro-F1 ${f1(t.initialVal?.macro_f1)} -> ${f1(t.val.macro_f1)}`
      : "no held-out records";
    console.log(`fine-tuned ${t.steps} steps in ${t.seconds.toFixed(1)} s on ${r.train} records, labels ${r.labels.join(", ")}; ${held}; classifier in ${r.modelDir}`);
  });

  const predict = cls
    .command("predict")
    .description("label records with a classifier run: JSONL out, each record with `prediction` and `probabilities`; accuracy and macro-F1 where records carry labels")
    .requiredOption("--model <run>", "classifier run (OUT of `llmforge classify train`) or its model folder")
    .requiredOption("--data <files...>", "records to classify (JSONL/JSON, folders, .gz)")
    .option("--out <file>", "JSONL output (default: standard output)")
    .option("--batch <n>", "records per forward pass", int, 32)
    .option("--backend <b>", "ref or native", oneOf(["ref", "native"]));
  addFieldOptions(predict).action(async (o) => {
    const r = await classifyPredict({
      model: o.model, data: o.data, out: o.out, batchSize: o.batch, backend: o.backend, maxLength: o.maxLength,
      textField: o.textField, pairField: o.pairField, labelField: o.labelField,
    });
    if (!o.out) for (const p of r.predictions) process.stdout.write(`${JSON.stringify(p.output)}\n`);
    const scored = r.scores ? `; accuracy ${pct(r.scores.acc)}, macro-F1 ${f1(r.scores.macro_f1)} over the ${r.labelled} labelled records` : "";
    process.stderr.write(`classified ${r.predictions.length} records${o.out ? ` -> ${o.out}` : ""}${scored}\n`);
  });
}
