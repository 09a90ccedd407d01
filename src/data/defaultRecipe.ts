// The default recipe on the embedded corpus (Brown, nlp-corpus, WordNet, SpamAssassin ham and spam):
// ingest → clean → pii → train-quality (Brown+WordNet+ham vs spam) → filter → dedup → mix. `llmforge quickstart`
// and the tests use it through runDefaultRecipe().
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomicSync } from "../io/atomicWrite.js";
import { withFolderLock } from "../io/runLock.js";
import { spamAssassinDirs, writeEmbeddedRaw } from "./embedded.js";
import { runRecipe, type RecipeInput, type RecipeResult } from "./recipe.js";

export interface DefaultRecipeOptions {
  /** Output folder (raw inputs go to `<outDir>/raw`). */
  outDir: string;
  /** At most this many documents (or email files) per source; all when absent. */
  maxDocs?: number;
  workers?: number;
  progress?: boolean;
  force?: boolean;
  seed?: number;
}

/** The default recipe as plain data (inputs under `rawDir`, SpamAssassin read in place from node_modules). */
export function defaultRecipe(outDir: string, maxDocs?: number, seed = 42): RecipeInput {
  const raw = join(resolve(outDir), "raw");
  const sa = spamAssassinDirs();
  const perDir = maxDocs === undefined ? undefined : Math.max(1, Math.ceil(maxDocs / 2));
  const mail = (path: string, source: string, share: number) => ({
    path,
    source,
    format: "email" as const,
    include: [".txt"],
    ...(perDir ? { maxFiles: Math.max(1, Math.ceil(perDir / share)) } : {}),
  });
  return {
    name: "default",
    outDir: resolve(outDir),
    steps: [
      {
        step: "ingest",
        config: {
          inputs: [
            { path: join(raw, "brown"), source: "brown", format: "text" },
            { path: join(raw, "nlp-corpus.jsonl"), source: "nlp_corpus", format: "jsonl" },
            { path: join(raw, "wordnet.jsonl"), source: "wordnet", format: "jsonl" },
            ...sa.ham.map((d) => mail(d, "email_ham", sa.ham.length)),
            ...sa.spam.map((d) => mail(d, "email_spam", sa.spam.length)),
          ],
          idField: "id",
          shardDocs: 2000,
        },
      },
      { step: "clean", config: {} },
      { step: "pii", config: {} },
      {
        step: "train-quality",
        config: { positiveSources: ["brown", "wordnet", "email_ham"], negativeSources: ["email_spam"], maxDocsPerClass: 3000, seed },
      },
      {
        step: "filter",
        config: {
          // C4 and FineWeb line rules are written for web pages: they would strip email headers and
          // dictionary lines, so they apply to the running-prose sources only.
          c4: { sources: ["brown", "nlp_corpus"], minSentences: 3 },
          fineweb: { sources: ["brown", "nlp_corpus"] },
          gopher_quality: { skipKinds: ["code"] },
          quality_classifier: { model: "@train-quality", minScore: 0.2 },
        },
      },
      { step: "dedup", config: {} },
      {
        step: "mix",
        config: { weights: { brown: 4, nlp_corpus: 1, wordnet: 1, email_ham: 2 }, valFraction: 0.05, seed },
      },
    ],
  };
}

/** Prepares the embedded raw inputs and runs the default recipe; returns the steps' outputs and stats. */
export async function runDefaultRecipe(o: DefaultRecipeOptions): Promise<RecipeResult & { train: string[]; val: string[] }> {
  const outDir = resolve(o.outDir);
  const r = await withFolderLock(outDir, "data default", () => {
    writeEmbeddedRawIfNeeded(join(outDir, "raw"), o.maxDocs);
    return runRecipe(defaultRecipe(outDir, o.maxDocs, o.seed), { progress: o.progress, force: o.force, workers: o.workers });
  });
  const mix = r.steps.find((s) => s.step === "mix");
  return { ...r, train: mix?.files.train ?? [], val: mix?.files.val ?? [] };
}

/** Writes the raw embedded inputs unless they were already written with the same limit (keeps reruns up to date). */
function writeEmbeddedRawIfNeeded(rawDir: string, maxDocs: number | undefined): void {
  const marker = join(rawDir, "_prepared.json");
  const want = JSON.stringify({ format: "llmforge-embedded-raw", version: 1, maxDocs: maxDocs ?? null });
  if (existsSync(marker) && readFileSync(marker, "utf8") === want) return;
  writeEmbeddedRaw(rawDir, maxDocs ?? Infinity);
  writeFileAtomicSync(marker, want);
}
