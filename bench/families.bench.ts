// Encoder (BERT) and encoder-decoder (T5) families on the quickstart run's shards: BERT masked-LM + next-sentence
// pretraining for a fixed time, then a sentiment classifier fine-tuned from it on the offline review sentences and
// scored on the sentences `llmforge eval --task sentiment` holds out, beside a majority-class baseline, the
// `sentiment` package's word list and the quickstart SFT GPT scored by the eval harness; T5 span-corruption
// pretraining beside a GPT of about its size trained for the same seconds; T5 greedy decoding with and without
// its KV caches.
import { mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { classificationScores, classifyTrain } from "../src/eval/classify.js";
import { evaluateTasks } from "../src/eval/harness.js";
import { builtinTask, detectSftMixSeed, SFT_MIX_SEED } from "../src/eval/tasks.js";
import { Bert } from "../src/model/bert.js";
import { bertParamCount, resolveBertConfig } from "../src/model/bertConfig.js";
import { saveBert } from "../src/model/bertFolder.js";
import { configFromDepth, formatCount, paramCount, type GPTConfig } from "../src/model/config.js";
import { loadRun, runChatTemplate } from "../src/model/runFolder.js";
import { resolveT5Config, t5ParamCount } from "../src/model/t5Config.js";
import { loadT5 } from "../src/model/t5Folder.js";
import { ids } from "../src/tensor/ops/index.js";
import { bf16MatmulAvailable } from "../src/tensor/ops/matmul.js";
import { CHATML_TEMPLATE } from "../src/tokenizer/chatTemplate.js";
import { readTokenShard, Tokenizer } from "../src/tokenizer/index.js";
import { pretrainBert } from "../src/train/bertPretrain.js";
import { bertTokenizer } from "../src/train/mlm.js";
import { findShards, pretrain } from "../src/train/pretrain.js";
import { t5Tokenizer } from "../src/train/spanCorruption.js";
import { pretrainT5 } from "../src/train/t5Pretrain.js";
import { cpuLine } from "./peers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outPath = process.env.LLMFORGE_BENCH_OUT ?? join(root, "bench", "results", "families.md");
/** The quickstart run (`llmforge quickstart --out /tmp/qs`): its shards/, tokenizer/ and sft/ are used. */
const qs = process.env.LLMFORGE_QS ?? "/tmp/qs";
/** Seconds each model pretrains for, and each classifier fine-tunes for. */
const pretrainSeconds = Number(process.env.LLMFORGE_FAMILIES_SECONDS ?? "90");
const finetuneSeconds = Number(process.env.LLMFORGE_FAMILIES_FINETUNE_SECONDS ?? "45");
const title = "## Encoder (BERT) and encoder-decoder (T5) models (quickstart corpus)";
const say = (line: string): void => {
  process.stderr.write(`[families] ${line}\n`);
};
const write = (md: string): void => {
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, `${md}\n`);
  console.log(md);
};

const shardDir = join(qs, "shards");
const tokPath = join(qs, "tokenizer", "tokenizer.json");
if (!existsSync(shardDir) || !existsSync(tokPath)) {
  say(`no quickstart run at ${qs} (shards/ and tokenizer/ needed); skipping`);
  write(`${title}\n\nNot measured: no quickstart run at ${qs} (run \`llmforge quickstart --out ${qs}\` first, or set LLMFORGE_QS).`);
  process.exit(0);
}

const work = join(tmpdir(), `llmforge-families-bench-${process.pid}`);
mkdirSync(work, { recursive: true });
const tok = Tokenizer.fromFile(tokPath);
const precision = bf16MatmulAvailable() ? "bf16" : "f32";
const minutes = pretrainSeconds / 60;
const load0 = loadavg()[0];
const pct = (x: number | null | undefined): string => (typeof x === "number" ? `${(100 * x).toFixed(1)}%` : "—");
const num = (x: number | null | undefined, d = 3): string => (typeof x === "number" ? x.toFixed(d) : "—");
/** Options every pretraining run shares: batch 16, AdamW 1e-3 -> 1e-4 fitted to the time budget, seed 0, no mid-run evaluation. */
const loopOptions = {
  data: shardDir, tokenizer: tokPath, batchSize: 16, steps: 1_000_000, minutes, lr: 1e-3, minLr: 1e-4, warmupSteps: 30,
  evalEvery: 1_000_000, checkpointEvery: 1_000_000, keepCheckpoints: 1, seed: 0, progress: false, precision, evalBatches: 8,
} as const;

// ---------------------------------------------------------------- BERT pretraining

const bertConfig = resolveBertConfig({ depth: 3, block: 128, dropout: 0 }, bertTokenizer(tok).tokenizer.vocabSize);
say(`BERT depth 3 (${formatCount(bertParamCount(bertConfig))} parameters): masked LM + next sentence for ${pretrainSeconds} s`);
const bertRun = join(work, "bert");
const bert = await pretrainBert({ ...loopOptions, out: bertRun, config: bertConfig, nsp: true });
const bs = bert.summary;
say(`BERT: ${bs.steps} steps, ${Math.round(bs.tokensPerSec)} tokens/s, MLM accuracy ${pct(bs.initialVal?.mlm_acc)} -> ${pct(bs.val?.mlm_acc)}`);

// ---------------------------------------------------------------- sentiment: the eval task's split, four ways

// The split `llmforge eval --task sentiment --model QS/sft` uses: the sentences the quickstart's SFT mix held out
// (its seed read from the mix's mix.json, as the eval command does); the rest (its few-shot pool) trains the classifier.
const mix = detectSftMixSeed(join(qs, "sft"));
const mixSeed = mix?.seed ?? SFT_MIX_SEED;
const task = builtinTask("sentiment", { mixSeed });
const labels = [...(task.spec.labels ?? [])];
if (labels.join() !== "negative,positive") throw new Error(`the sentiment task's labels changed (${labels.join(", ")}); update this benchmark`);
const toJsonl = (xs: typeof task.examples): string => xs.map((e) => JSON.stringify({ text: e.fields.text, label: labels[e.gold] })).join("\n");
const trainFile = join(work, "sentiment-train.jsonl");
const heldFile = join(work, "sentiment-heldout.jsonl");
writeFileSync(trainFile, `${toJsonl(task.fewshotPool)}\n`);
writeFileSync(heldFile, `${toJsonl(task.examples)}\n`);
const gold = task.examples.map((e) => e.gold);
const share = (xs: readonly { gold: number }[], k: number) => xs.filter((e) => e.gold === k).length / xs.length;
say(`sentiment: ${task.fewshotPool.length} training and ${task.examples.length} held-out sentences (SFT mix seed ${mixSeed})`);

type Row = { name: string; acc: number; f1: number; note: string };
const rows: Row[] = [];
const scoreRow = (name: string, pred: readonly number[], note: string): void => {
  const s = classificationScores(gold, pred);
  rows.push({ name, acc: s.acc, f1: s.macro_f1, note });
};

// Majority class of the training sentences.
const majority = share(task.fewshotPool, 1) >= 0.5 ? 1 : 0;
scoreRow(`majority class ("${labels[majority]}")`, gold.map(() => majority), "the most common label of the training sentences");

// The `sentiment` package's AFINN word-list score (no types ship with it): sign of the score, ties positive.
const Sentiment = createRequire(import.meta.url)("sentiment") as new () => { analyze(text: string): { score: number } };
const lexicon = new Sentiment();
const lexPred = task.examples.map((e) => (lexicon.analyze(e.fields.text).score >= 0 ? labels.indexOf("positive") : labels.indexOf("negative")));
const ties = task.examples.filter((e) => lexicon.analyze(e.fields.text).score === 0).length;
const allSentences = [...task.examples, ...task.fewshotPool];
const lexAll = allSentences.filter((e) => (lexicon.analyze(e.fields.text).score >= 0 ? 1 : 0) === e.gold).length / allSentences.length;
scoreRow("`sentiment` package word list", lexPred, `sign of the AFINN score; ${ties} ties (score 0) counted positive; ${pct(lexAll)} over all ${allSentences.length} sentences`);

// BERT classifiers: from the pretrained encoder, and from a freshly initialised one (same budget).
const finetune = async (name: string, model: string, out: string, note: string): Promise<void> => {
  say(`fine-tuning ${name} for ${finetuneSeconds} s`);
  const r = await classifyTrain({
    model, data: trainFile, valData: heldFile, out, labels, batchSize: 16, steps: 1_000_000, minutes: finetuneSeconds / 60, lr: 1e-4,
    weightDecay: 0.01, evalEvery: 1_000_000, checkpointEvery: 1_000_000, keepCheckpoints: 1, seed: 0, progress: false, precision,
  });
  const v = r.summary.val;
  say(`${name}: ${r.summary.steps} steps, held-out accuracy ${pct(v?.acc)}`);
  rows.push({ name, acc: Number(v?.acc), f1: Number(v?.macro_f1), note: `${note}; ${r.summary.steps} steps (${(r.summary.steps * 16 / r.train).toFixed(1)} epochs) in ${r.summary.seconds.toFixed(0)} s` });
};
await finetune("BERT classifier, pretrained above", bertRun, join(work, "cls-pretrained"), `depth 3, lr 1e-4, batch 16`);
const scratchDir = join(work, "bert-scratch", "model");
const grownBert = bertTokenizer(tok);
saveBert(scratchDir, new Bert({ ...bertConfig, padTokenId: grownBert.special.pad }, { seed: 0 }));
writeFileSync(join(scratchDir, "tokenizer.json"), grownBert.tokenizer.toHuggingFaceJson());
await finetune("BERT classifier, no pretraining", scratchDir, join(work, "cls-scratch"), "the same encoder freshly initialised, same settings");

// The quickstart SFT GPT through the eval harness (what `llmforge eval --task sentiment [--chat]` runs).
const sftDir = join(qs, "sft");
if (existsSync(join(sftDir, "model", "config.json"))) {
  const loaded = loadRun(sftDir);
  for (const chat of [false, true]) {
    say(`eval harness: quickstart SFT GPT, sentiment${chat ? " --chat" : ""}`);
    const [r] = evaluateTasks(loaded.model, loaded.tokenizer, [task], chat ? { chat: { template: runChatTemplate(loaded) ?? CHATML_TEMPLATE } } : {});
    rows.push({
      name: `quickstart SFT GPT (\`eval --task sentiment${chat ? " --chat" : ""}\`)`, acc: r.metrics.acc, f1: r.metrics.macro_f1,
      note: `${formatCount(paramCount(loaded.model.config))} parameters; label of higher log-likelihood, 0-shot${chat ? ", prompt as a chat turn" : ""}`,
    });
  }
} else {
  say(`no SFT model in ${sftDir}; the GPT row is left out`);
}

// ---------------------------------------------------------------- T5 and a GPT of about its size

const t5Config = resolveT5Config({ depth: 3 }, t5Tokenizer(tok).tokenizer.vocabSize);
const t5Params = t5ParamCount(t5Config);
say(`T5 depth 3 (${formatCount(t5Params)} parameters): span corruption for ${pretrainSeconds} s`);
const t5 = await pretrainT5({ ...loopOptions, out: join(work, "t5"), config: t5Config, windowLength: 128 });
const ts = t5.summary;
say(`T5: ${ts.steps} steps, ${Math.round(ts.tokensPerSec)} tokens/s, loss ${num(ts.initialVal?.loss)} -> ${num(ts.val?.loss)}`);

// The GPT of the quickstart's width (depth 3: 192 wide) with as many layers as bring it nearest the T5's parameter count.
const gptOf = (layers: number): GPTConfig => configFromDepth(3, { vocabSize: tok.vocabSize, blockSize: 128, overrides: { dropout: 0, nLayer: layers } });
let gptConfig = gptOf(1);
for (let l = 2; l <= 16; l++) if (Math.abs(paramCount(gptOf(l)) - t5Params) < Math.abs(paramCount(gptConfig) - t5Params)) gptConfig = gptOf(l);
say(`GPT ${gptConfig.nLayer} layers (${formatCount(paramCount(gptConfig))} parameters): next token for ${pretrainSeconds} s`);
const gpt = await pretrain({ ...loopOptions, out: join(work, "gpt"), config: gptConfig });
const gs = gpt.summary;
say(`GPT: ${gs.steps} steps, ${Math.round(gs.tokensPerSec)} tokens/s, loss ${num(gs.initialVal?.loss)} -> ${num(gs.val?.loss)}`);

// ---------------------------------------------------------------- T5 greedy decoding, cached vs recomputed

const t5Model = loadT5(t5.modelDir as string);
const valTokens = readTokenShard(findShards(shardDir).val[0]).tokens;
const input = [...Array.from(valTokens.subarray(0, 127), Number), t5Model.config.eosTokenId];
const newTokens = 64;
const decodeMs = (useCache: boolean): { ms: number; tokens: number[] } => {
  let best = Number.POSITIVE_INFINITY;
  let tokens: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    [tokens] = t5Model.generate(ids(input, [1, input.length]), { maxNewTokens: newTokens, eosTokenId: null, useCache });
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, tokens };
};
say(`T5 greedy decoding: ${newTokens} tokens from a ${input.length}-token input, cached and recomputed`);
const cached = decodeMs(true);
const recomputed = decodeMs(false);
const sameTokens = cached.tokens.join(",") === recomputed.tokens.join(",");

// ---------------------------------------------------------------- the section

const lines: string[] = [title, ""];
lines.push(`\`npm run bench -- families\` on ${new Date().toISOString().slice(0, 10)}, ${cpuLine()}, LLMFORGE_THREADS=${process.env.LLMFORGE_THREADS ?? "all cores"}, ` +
  `${precision} matmuls in training; the quickstart run's shards (${qs}/shards, vocab ${tok.vocabSize} + each family's special tokens). ` +
  `Every pretraining run: ${pretrainSeconds} s wall time from seed 0, batch 16, AdamW lr 1e-3 → 1e-4 (warmup 30, the schedule fitted to the time), dropout 0; ` +
  "validation over 8 batches of the held-out shard before and after.");
lines.push("");
lines.push("### Pretraining");
lines.push("");
lines.push("| model | objective | parameters | tokens/s | steps | val loss before → after | val accuracy before → after | NSP accuracy before → after |");
lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
lines.push(`| BERT depth 3 (3 layers, width 192, 128 positions) | masked LM 15% (80/10/10) + next sentence | ${formatCount(bert.params)} | ${Math.round(bs.tokensPerSec)} | ${bs.steps} | ` +
  `MLM ${num(bs.initialVal?.mlm_loss)} → ${num(bs.val?.mlm_loss)} | MLM ${pct(bs.initialVal?.mlm_acc)} → ${pct(bs.val?.mlm_acc)} | ${pct(bs.initialVal?.nsp_acc)} → ${pct(bs.val?.nsp_acc)} |`);
lines.push(`| T5 depth 3 (3+3 blocks, width 192) | span corruption 15%, mean span 3 (encoder ${t5.inputLength}, decoder ${t5.targetLength} tokens) | ${formatCount(t5.params)} | ` +
  `${Math.round(ts.tokensPerSec)} | ${ts.steps} | ${num(ts.initialVal?.loss)} → ${num(ts.val?.loss)} | ${pct(ts.initialVal?.acc)} → ${pct(ts.val?.acc)} | — |`);
lines.push(`| GPT (gpt2 flavour, ${gptConfig.nLayer} layers, width 192, block 128) | next token | ${formatCount(gpt.params)} | ${Math.round(gs.tokensPerSec)} | ${gs.steps} | ` +
  `${num(gs.initialVal?.loss)} → ${num(gs.val?.loss)} | — | — |`);
lines.push("");
lines.push("Tokens/s counts corpus tokens consumed: rows × 128 for BERT and GPT, rows × 128 tokens of text before corruption for T5 " +
  "(the encoder sees fewer, the decoder only the sentinels and dropped spans). Losses of different objectives are not comparable with each other; " +
  "MLM accuracy is over the predicted (masked) positions, T5 accuracy over the target tokens.");
lines.push("");
lines.push("### Sentiment classification");
lines.push("");
lines.push(`The ${task.examples.length} review sentences that \`llmforge eval --task sentiment --model ${qs}/sft\` scores (those the quickstart's SFT mix held out, ` +
  `seed ${mixSeed}; ${pct(share(task.examples, labels.indexOf("positive")))} positive); the classifiers fine-tune on the other ${task.fewshotPool.length} ` +
  `(\`loadSentiment()\`: Amazon, IMDB and Yelp sentences of at most 10 words) for ${finetuneSeconds} s each.`);
lines.push("");
lines.push("| method | accuracy | macro-F1 | notes |");
lines.push("| --- | ---: | ---: | --- |");
for (const r of rows) lines.push(`| ${r.name} | ${pct(r.acc)} | ${num(r.f1)} | ${r.note} |`);
lines.push("");
lines.push("### T5 greedy decoding");
lines.push("");
lines.push(`${newTokens} new tokens (no early stop) from a ${input.length}-token encoder input (the start of the held-out shard + </s>), batch 1, f32, the trained T5 above; best of 3.`);
lines.push("");
lines.push("| decoder | ms total | ms per token | speed-up |");
lines.push("| --- | ---: | ---: | ---: |");
lines.push(`| KV caches (cross-attention keys/values once, self-attention grown per token) | ${cached.ms.toFixed(0)} | ${(cached.ms / newTokens).toFixed(2)} | ${(recomputed.ms / cached.ms).toFixed(1)}× |`);
lines.push(`| recomputed (\`useCache: false\`: encoder once, whole decoder prefix every step) | ${recomputed.ms.toFixed(0)} | ${(recomputed.ms / newTokens).toFixed(2)} | 1.0× |`);
lines.push("");
lines.push(`Same tokens both ways: ${sameTokens ? "yes" : "NO (a bug: the cache must not change greedy output)"}. ` +
  `Load average ${load0.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (the machine may be shared: compare rows of one run only).`);
lines.push("");
lines.push(conclusion());
write(lines.join("\n"));
rmSync(work, { recursive: true, force: true });

/** The honest reading of this run's figures. */
function conclusion(): string {
  const by = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
  const pre = by("BERT classifier, pretrained");
  const scratch = by("BERT classifier, no pretraining");
  const lex = by("`sentiment` package");
  const maj = by("majority");
  const gptRows = rows.filter((r) => r.name.startsWith("quickstart SFT GPT"));
  const bestGpt = gptRows.length > 0 ? gptRows.reduce((a, b) => (b.acc > a.acc ? b : a)) : undefined;
  const parts: string[] = [];
  const n = task.examples.length;
  /** Two accuracies on these sentences differ by more than noise: over two standard errors of the larger. */
  const apart = (a: number, b: number): boolean => Math.abs(a - b) > 2 * Math.sqrt((Math.max(a, b) * (1 - Math.max(a, b))) / n);
  const against = (a: number, b: number): string => (!apart(a, b) ? "is level with" : a > b ? "beats" : "loses to");
  if (pre && lex && maj) {
    parts.push(`On sentiment the BERT classifier pretrained for ${pretrainSeconds} s reaches ${pct(pre.acc)} (macro-F1 ${num(pre.f1)}): it ${against(pre.acc, lex.acc)} ` +
      `the \`sentiment\` package's word list (${pct(lex.acc)}) and ${against(pre.acc, maj.acc)} the majority class (${pct(maj.acc)}).`);
    const nsp = bs.val?.nsp_loss;
    if (typeof nsp === "number" && nsp > 0.68) {
      parts.push(`Next-sentence prediction stayed at chance in ${bs.steps} steps (validation NSP loss ${nsp.toFixed(3)}, ln 2 = 0.693; the accuracy is one class's share of the 128 pairs).`);
    }
  }
  if (pre && scratch) {
    const d = 100 * (pre.acc - scratch.acc);
    const noise = !apart(pre.acc, scratch.acc)
      ? `, within the noise of ${n} sentences: at this size and budget the pretraining gives the classifier nothing measurable`
      : d < 0
        ? `: a ${pretrainSeconds} s masked-LM run does not pay here, its weights fine-tune to a worse classifier than random ones at lr 1e-4 (longer pretraining or another fine-tuning rate may change that; not measured)`
        : ": the pretraining pays";
    parts.push(`Against the same encoder fine-tuned from random weights (${pct(scratch.acc)}) the pretrained one is ${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(1)} points${noise}.`);
  }
  if (bestGpt && maj) {
    const reading = !apart(bestGpt.acc, maj.acc)
      ? "no better than the majority class: the small SFT model does not tell the labels apart from the sentence"
      : pre && apart(bestGpt.acc, pre.acc)
        ? (bestGpt.acc < pre.acc ? "below the fine-tuned encoder" : "above the fine-tuned encoder")
        : "level with the fine-tuned encoder";
    parts.push(`The quickstart's SFT GPT, scoring the two labels by log-likelihood, gets ${gptRows.map((r) => pct(r.acc)).join(" and ")} ` +
      `(plain prompt${gptRows.length > 1 ? " and chat turn" : ""}): ${reading}.`);
  }
  parts.push("Every run is seeded but time-budgeted, so step counts, and with them the figures, move with the machine's load from one run of this bench to the next.");
  parts.push(`T5 trains at ${(ts.tokensPerSec / gs.tokensPerSec).toFixed(2)}× the tokens/s of a GPT of about its size, and its KV caches make greedy decoding ` +
    `${(recomputed.ms / cached.ms).toFixed(1)}× faster than recomputing the decoder at 64 tokens.`);
  return parts.join(" ");
}
