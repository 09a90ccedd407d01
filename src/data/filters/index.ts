// The `filter` step: builds the configured quality rules (each a named, configurable unit with the
// published defaults) and applies them in order to each document, recording removals per rule.reason.
import { z } from "zod";
import type { DataStats } from "../stats.js";
import { TextView } from "../textView.js";
import { DataConfigError, type DataDoc } from "../types.js";
import { C4Rule, c4OptionsSchema } from "./c4.js";
import { FinewebRule, finewebOptionsSchema } from "./fineweb.js";
import { GopherQualityRule, gopherQualityOptionsSchema } from "./gopherQuality.js";
import { GopherRepetitionRule, gopherRepetitionOptionsSchema } from "./gopherRepetition.js";
import { LanguageRule, languageOptionsSchema } from "./language.js";
import { QualityClassifierRule, qualityClassifierOptionsSchema } from "./qualityClassifier.js";
import type { QualityRule, RuleScope } from "./rule.js";
import { ToxicityRule, toxicityOptionsSchema } from "./toxicity.js";

const scopeShape = {
  enabled: z.boolean().default(true),
  sources: z.array(z.string()).optional(),
  skipKinds: z.array(z.string()).default(["code"]),
};

export const FILTER_RULE_NAMES = ["language", "gopher_quality", "gopher_repetition", "c4", "fineweb", "toxicity", "quality_classifier"] as const;
export type FilterRuleName = (typeof FILTER_RULE_NAMES)[number];

/** Options of the filter step: one entry per rule (all but the classifier on by default) and the order they run in. */
export const filterConfigSchema = z
  .object({
    language: languageOptionsSchema.extend(scopeShape).prefault({}),
    gopher_quality: gopherQualityOptionsSchema.extend(scopeShape).prefault({}),
    gopher_repetition: gopherRepetitionOptionsSchema.extend(scopeShape).prefault({}),
    c4: c4OptionsSchema.extend(scopeShape).prefault({}),
    fineweb: finewebOptionsSchema.extend(scopeShape).prefault({}),
    toxicity: toxicityOptionsSchema.extend(scopeShape).prefault({}),
    quality_classifier: qualityClassifierOptionsSchema.extend(scopeShape).optional(),
    order: z.array(z.enum(FILTER_RULE_NAMES)).default([...FILTER_RULE_NAMES]),
  })
  .strict();
export type FilterConfig = z.infer<typeof filterConfigSchema>;
export type FilterConfigInput = z.input<typeof filterConfigSchema>;

/** Validates filter options (throws a {@link DataConfigError} naming the bad field). */
export function parseFilterConfig(input: unknown): FilterConfig {
  const r = filterConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new DataConfigError(`invalid filter config: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

function scopeOf(o: z.infer<z.ZodObject<typeof scopeShape>>): RuleScope {
  return { enabled: o.enabled, sources: o.sources, skipKinds: o.skipKinds };
}

/** Instantiates the enabled rules in the configured order. */
export function buildFilterRules(cfg: FilterConfig): QualityRule[] {
  const rules: QualityRule[] = [];
  for (const name of cfg.order) {
    let r: QualityRule | undefined;
    switch (name) {
      case "language":
        r = new LanguageRule(cfg.language, scopeOf(cfg.language));
        break;
      case "gopher_quality":
        r = new GopherQualityRule(cfg.gopher_quality, scopeOf(cfg.gopher_quality));
        break;
      case "gopher_repetition":
        r = new GopherRepetitionRule(cfg.gopher_repetition, scopeOf(cfg.gopher_repetition));
        break;
      case "c4":
        r = new C4Rule(cfg.c4, scopeOf(cfg.c4));
        break;
      case "fineweb":
        r = new FinewebRule(cfg.fineweb, scopeOf(cfg.fineweb));
        break;
      case "toxicity":
        r = new ToxicityRule(cfg.toxicity, scopeOf(cfg.toxicity));
        break;
      case "quality_classifier":
        if (cfg.quality_classifier) r = new QualityClassifierRule(cfg.quality_classifier, scopeOf(cfg.quality_classifier));
        break;
    }
    if (r?.scope.enabled) rules.push(r);
  }
  return rules;
}

function applies(rule: QualityRule, doc: DataDoc): boolean {
  const s = rule.scope;
  if (s.sources && !s.sources.includes(doc.source)) return false;
  const kind = doc.meta.kind;
  return !(typeof kind === "string" && s.skipKinds.includes(kind));
}

/**
 * Runs the rules over one document. Returns the (possibly trimmed, score-annotated) document, or null
 * when a rule removed it; either way the outcome is recorded in `stats`, removals under the document's source
 * (input and output counted by the caller).
 */
export function filterDocument(doc: DataDoc, rules: readonly QualityRule[], stats: DataStats, bytes: number): DataDoc | null {
  let view = new TextView(doc.text);
  let meta = doc.meta;
  for (const rule of rules) {
    if (!applies(rule, doc)) continue;
    const out = rule.check(view, doc);
    if (!out) continue;
    if (out.scores) meta = { ...meta, ...out.scores };
    if (out.remove) {
      stats.remove(`${rule.name}.${out.remove}`, bytes, doc.id, doc.text, out.detail, doc.source);
      return null;
    }
    if (out.text !== undefined && out.text !== view.text) {
      stats.modify(`${rule.name}.lines_dropped`, out.changed ?? 1, doc.id);
      view = out.view?.text === out.text ? out.view : new TextView(out.text);
    }
  }
  return view.text === doc.text && meta === doc.meta ? doc : { ...doc, text: view.text, meta };
}

export { C4Rule, FinewebRule, GopherQualityRule, GopherRepetitionRule, LanguageRule, QualityClassifierRule, ToxicityRule };
export type { QualityRule, RuleOutcome, RuleScope } from "./rule.js";
