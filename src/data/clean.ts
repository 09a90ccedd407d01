// The `clean` step: repairs and normalises text without judging it: mojibake repair (cp1252 round trip
// via iconv-lite), leftover HTML markup and entities, control/junk characters (newlines and tabs kept),
// whitespace, C4-style boilerplate lines, repeated lines and paragraphs, Unicode NFC.
import { decodeHTML } from "entities";
import iconv from "iconv-lite";
import { z } from "zod";
import { C4_POLICY_SUBSTRINGS } from "./filters/c4.js";
import type { DataStats } from "./stats.js";
import { type TextAddon, textAddon } from "./nativeText.js";
import { LowerCaseNeedles } from "./textView.js";
import { DataConfigError, type DataDoc } from "./types.js";

export const cleanConfigSchema = z
  .object({
    fixMojibake: z.boolean().default(true),
    stripMarkup: z.boolean().default(true),
    removeControlChars: z.boolean().default(true),
    collapseWhitespace: z.boolean().default(true),
    /** Drop lines containing any of these (lower-case) substrings, as C4 does. */
    boilerplateLines: z.boolean().default(true),
    boilerplateSubstrings: z.array(z.string()).default(["javascript", ...C4_POLICY_SUBSTRINGS, "enable cookies", "all rights reserved"]),
    /** Boilerplate substrings only drop lines shorter than this many words (long prose lines mentioning them stay). */
    boilerplateMaxWords: z.number().int().positive().default(30),
    removeRepeatedLines: z.boolean().default(true),
    /** Only lines at least this long count as repeated (short lines such as "--" or "Thanks," repeat legitimately). */
    minRepeatedLineChars: z.number().int().nonnegative().default(20),
    removeRepeatedParagraphs: z.boolean().default(true),
    nfc: z.boolean().default(true),
    /** Documents shorter than this after cleaning are removed (`clean.empty`). */
    minChars: z.number().int().nonnegative().default(1),
  })
  .strict();
export type CleanConfig = z.infer<typeof cleanConfigSchema>;
export type CleanConfigInput = z.input<typeof cleanConfigSchema>;

export function parseCleanConfig(input: unknown): CleanConfig {
  const r = cleanConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new DataConfigError(`invalid clean config: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

// UTF-8 read as Windows-1252: a lead byte (Â..ô) followed by continuation bytes (0x80-0xBF as cp1252 shows them).
const CONT = "[\\u0080-\\u00BF\\u20AC\\u201A\\u0192\\u201E\\u2026\\u2020\\u2021\\u02C6\\u2030\\u0160\\u2039\\u0152\\u017D\\u2018\\u2019\\u201C\\u201D\\u2022\\u2013\\u2014\\u02DC\\u2122\\u0161\\u203A\\u0153\\u017E\\u0178]";
const MOJIBAKE_RE = new RegExp(`[\\u00C2-\\u00DF]${CONT}|[\\u00E0-\\u00EF]${CONT}{2}|[\\u00F0-\\u00F4]${CONT}{3}`, "g");
const MOJIBAKE_HINT_RE = /[\u00C2-\u00F4]/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Repairs UTF-8 text that was decoded as Windows-1252 (e.g. `cafÃ©` → `café`, `â€™` → `’`); returns the text and the number of repairs. */
export function fixMojibake(text: string): { text: string; fixes: number } {
  if (!MOJIBAKE_HINT_RE.test(text)) return { text, fixes: 0 };
  let fixes = 0;
  let cur = text;
  for (let pass = 0; pass < 2; pass++) {
    let changed = false;
    cur = cur.replace(MOJIBAKE_RE, (m) => {
      try {
        const fixed = strictUtf8.decode(iconv.encode(m, "win1252"));
        if (fixed.length === 1 || (fixed.length === 2 && fixed.codePointAt(0)! > 0xffff)) {
          fixes++;
          changed = true;
          return fixed;
        }
      } catch {
        // not valid UTF-8 once re-encoded: leave it as it is
      }
      return m;
    });
    if (!changed) break;
  }
  return { text: cur, fixes };
}

const HTML_TAGS =
  "a|abbr|address|article|aside|b|big|blockquote|body|br|button|caption|center|cite|code|col|colgroup|dd|del|details|div|dl|dt|em|embed|fieldset|figcaption|figure|font|footer|form|h[1-6]|head|header|hr|html|i|iframe|img|input|ins|label|legend|li|link|main|mark|meta|nav|noscript|object|ol|option|p|pre|q|s|script|section|select|small|source|span|strike|strong|style|sub|summary|sup|table|tbody|td|textarea|tfoot|th|thead|title|tr|tt|u|ul|video";
const TAG_RE = new RegExp(`<\\/?(?:${HTML_TAGS})(?:\\s[^<>]*)?\\/?>`, "gi");
const BLOCK_TAG_RE = /^<\/?(?:br|p|div|li|tr|h[1-6]|blockquote|section|article|table|ul|ol|pre|hr)\b/i;
const COMMENT_RE = /<!--[\s\S]*?-->/g;
const ENTITY_RE = /&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});/gi;
const SCRIPT_STYLE_RE = /<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;

/** Strips leftover HTML tags (known tag names only, so `a < b` and `<EMAIL>` survive), comments and entities. */
export function stripMarkup(text: string): { text: string; changes: number } {
  const lt = text.includes("<");
  const amp = text.includes("&");
  if (!lt && !amp) return { text, changes: 0 };
  let changes = 0;
  let t = text;
  // each expression only where its first character occurs (most texts with "&" hold no "<", and the reverse)
  if (lt) {
    t = t.replace(SCRIPT_STYLE_RE, () => {
      changes++;
      return "";
    });
    if (t.includes("<!--"))
      t = t.replace(COMMENT_RE, () => {
        changes++;
        return "";
      });
    t = t.replace(TAG_RE, (m) => {
      changes++;
      return BLOCK_TAG_RE.test(m) ? "\n" : "";
    });
  }
  // (a removed tag never brings an "&" with it, so the text before removing tags tells)
  if (amp)
    t = t.replace(ENTITY_RE, (m) => {
      const d = decodeHTML(m);
      if (d !== m) changes++;
      return d;
    });
  return { text: t, changes };
}

// C0 controls except \t \n, DEL, C1 controls, zero-width and BOM, noncharacters, lone surrogates, U+FFFD.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this expression removes
const CONTROL_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B\u200C\u200E\u200F\u2028\u2029\u2060\uFEFF\uFFFD\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Removes control and junk characters, keeping newlines and tabs; CR/CRLF become LF. */
export function removeControlChars(text: string): { text: string; removed: number } {
  let t = text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
  let removed = 0;
  t = t.replace(CONTROL_RE, () => {
    removed++;
    return "";
  });
  return { text: t, removed };
}

/** Horizontal whitespace that collapses to one space: [ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]. */
function isHorizontalSpace(c: number): boolean {
  return c === 32 || c === 9 || (c >= 0xa0 && (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000));
}

const HSPACE = "\\t\\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000";
/** A run of spaces and newlines that is not already " ", "\n" or "\n\n". */
const COLLAPSIBLE_RE = new RegExp(`[${HSPACE}]| [ \\n${HSPACE}]|\\n(?:[ ${HSPACE}]|\\n[ \\n${HSPACE}])`);

/**
 * Collapses runs of spaces/tabs (and exotic spaces) to one space, trims lines, and keeps at most one blank line;
 * the same as the plain definition {@link collapseWhitespacePlain}, in one scan that copies only what changes.
 * Each maximal run of horizontal spaces and newlines becomes " " (no newline), "\n" (one) or "\n\n" (more).
 */
export function collapseWhitespace(text: string): string {
  // most texts hold no run to change: the regular expression engine finds that out faster than a scan
  if (!COLLAPSIBLE_RE.test(text)) return text.trim();
  const n = text.length;
  let out = "";
  let copied = 0;
  let changed = false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c !== 10 && !isHorizontalSpace(c)) continue;
    // the common case: one plain space between words is already collapsed
    if (c === 32 && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d !== 10 && !isHorizontalSpace(d)) continue;
    }
    // a run of spaces and newlines: count newlines, see whether it is already in its collapsed form
    const from = i;
    let newlines = 0;
    let e = i;
    for (; e < n; e++) {
      const d = text.charCodeAt(e);
      if (d === 10) newlines++;
      else if (!isHorizontalSpace(d)) break;
    }
    const len = e - from;
    const same = newlines === 0 ? len === 1 && c === 32 : newlines === len && len <= 2;
    if (!same) {
      out += text.slice(copied, from) + (newlines === 0 ? " " : newlines === 1 ? "\n" : "\n\n");
      copied = e;
      changed = true;
    }
    i = e - 1;
  }
  if (!changed) return text.trim();
  return (out + text.slice(copied)).trim();
}

/** The plain definition of {@link collapseWhitespace} (three regular expressions), kept as its reference. */
export function collapseWhitespacePlain(text: string): string {
  return text
    .replace(/[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+/g, " ")
    .replace(/ ?\n ?/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Bits of {@link cleanScreenPlain} (and its native twin): what each part of the clean step would find in a text. */
export const CLEAN_SCREEN = {
  /** `\r` or a character {@link removeControlChars} removes */
  control: 1,
  /** a character {@link fixMojibake} starts a repair at ([\u00C2-\u00F4]) */
  mojibake: 2,
  /** `<` or `&` ({@link stripMarkup} has something to look at) */
  markup: 4,
  /** a whitespace run {@link collapseWhitespace} rewrites */
  collapsible: 8,
  /** a character >= U+0080 (ASCII text is already NFC) */
  nonAscii: 16,
  /** leading or trailing whitespace */
  trim: 32,
  /** two equal non-empty paragraphs (split on "\n\n") or two equal lines of at least `minLineChars` */
  repeats: 64,
} as const;
const ALL_SCREEN_BITS = Object.values(CLEAN_SCREEN).reduce((a, b) => a | b, 0);

/**
 * What each part of the clean step would find in `text` (bits of {@link CLEAN_SCREEN}), by the plain definitions:
 * the same regular expressions and splits the parts use. The native kernel computes the same bits in one pass.
 */
export function cleanScreenPlain(text: string, minLineChars: number): number {
  let bits = 0;
  if (text.includes("\r") || new RegExp(CONTROL_RE.source).test(text)) bits |= CLEAN_SCREEN.control;
  if (MOJIBAKE_HINT_RE.test(text)) bits |= CLEAN_SCREEN.mojibake;
  if (text.includes("<") || text.includes("&")) bits |= CLEAN_SCREEN.markup;
  if (COLLAPSIBLE_RE.test(text)) bits |= CLEAN_SCREEN.collapsible;
  if (/[^\p{ASCII}]/u.test(text)) bits |= CLEAN_SCREEN.nonAscii;
  if (text.trim() !== text) bits |= CLEAN_SCREEN.trim;
  const paras = text.split("\n\n");
  const lines = paras.flatMap((p) => p.split("\n")).filter((l) => l.length >= minLineChars);
  const nonEmpty = paras.filter((p) => p.length > 0);
  if (new Set(nonEmpty).size < nonEmpty.length || new Set(lines).size < lines.length) bits |= CLEAN_SCREEN.repeats;
  return bits;
}

/** The screen of `text` by the native kernel, or every bit (each part then looks for itself) without it. */
function screen(text: string, cfg: CleanConfig, addon: TextAddon | null): number {
  return addon ? addon.cleanScreen(text, cfg.minRepeatedLineChars) : ALL_SCREEN_BITS;
}

/**
 * Cleans one document's text according to `cfg`, recording what changed in `stats`; returns the new text.
 * Parts the native screen ({@link cleanScreenPlain}'s twin) shows to have nothing to do are skipped (each would
 * return its input unchanged); the text is screened again whenever a part changes it. Without `addon`, every part
 * looks for itself.
 */
export function cleanText(text: string, cfg: CleanConfig, kind: string | undefined, stats?: DataStats, id = "", addon: TextAddon | null = textAddon): string {
  let t = text;
  const note = (what: string, n: number) => {
    if (n > 0) stats?.modify(what, n, id);
  };
  let bits = screen(t, cfg, addon);
  const update = (next: string) => {
    if (next !== t) {
      t = next;
      bits = screen(t, cfg, addon);
    }
  };
  if (cfg.removeControlChars && bits & CLEAN_SCREEN.control) {
    const r = removeControlChars(t);
    note("control_chars", r.removed);
    update(r.text);
  }
  if (kind === "code") return cfg.nfc && bits & CLEAN_SCREEN.nonAscii ? t.normalize("NFC") : t;
  if (cfg.fixMojibake && bits & CLEAN_SCREEN.mojibake) {
    const r = fixMojibake(t);
    note("mojibake", r.fixes);
    update(r.text);
  }
  if (cfg.stripMarkup && bits & CLEAN_SCREEN.markup) {
    const r = stripMarkup(t);
    note("markup", r.changes);
    update(r.text);
  }
  if (cfg.collapseWhitespace && bits & (CLEAN_SCREEN.collapsible | CLEAN_SCREEN.trim)) {
    const c = collapseWhitespace(t);
    if (c !== t) note("whitespace", 1);
    update(c);
  }
  if (cfg.boilerplateLines || cfg.removeRepeatedLines || cfg.removeRepeatedParagraphs) {
    // an ASCII substring of a lower-cased line is also in the lower-cased document, so lines are looked at
    // one by one only when the document holds one of the substrings
    const boilerplate = cfg.boilerplateLines && needlesOf(cfg.boilerplateSubstrings).test(t);
    if (boilerplate || bits & CLEAN_SCREEN.repeats) {
      // counted first without building anything; the text is rebuilt only when a line or paragraph goes
      const r = dropRepeatsAndBoilerplate(t, cfg, boilerplate, false);
      note("boilerplate_lines", r.boiler);
      note("repeated_lines", r.repLines);
      note("repeated_paragraphs", r.repParas);
      if (r.boiler + r.repLines + r.repParas > 0) update(dropRepeatsAndBoilerplate(t, cfg, boilerplate, true).text);
    }
  }
  if (cfg.nfc && bits & CLEAN_SCREEN.nonAscii) {
    const n = t.normalize("NFC");
    if (n !== t) note("nfc", 1);
    t = n;
  }
  return t;
}

const needleCache = new WeakMap<readonly string[], LowerCaseNeedles>();
function needlesOf(subs: readonly string[]): LowerCaseNeedles {
  let n = needleCache.get(subs);
  if (!n) {
    n = new LowerCaseNeedles(subs);
    needleCache.set(subs, n);
  }
  return n;
}

/** Drops boilerplate lines, repeated lines and repeated paragraphs; counts them, and builds the new text when `build`. */
function dropRepeatsAndBoilerplate(t: string, cfg: CleanConfig, boilerplate: boolean, build: boolean): { text: string; boiler: number; repLines: number; repParas: number } {
  const paras = t.split("\n\n");
  const seenParas = new Set<string>();
  const seenLines = new Set<string>();
  const outParas: string[] = [];
  let boiler = 0;
  let repLines = 0;
  let repParas = 0;
  for (const p of paras) {
    if (cfg.removeRepeatedParagraphs && p.length > 0) {
      if (seenParas.has(p)) {
        repParas++;
        continue;
      }
      seenParas.add(p);
    }
    const lines = p.split("\n");
    const kept: string[] = [];
    for (const line of lines) {
      if (boilerplate && isBoilerplateLine(line, cfg)) {
        boiler++;
        continue;
      }
      if (cfg.removeRepeatedLines && line.length >= cfg.minRepeatedLineChars) {
        if (seenLines.has(line)) {
          repLines++;
          continue;
        }
        seenLines.add(line);
      }
      if (build) kept.push(line);
    }
    if (build && kept.length > 0) outParas.push(kept.join("\n"));
  }
  return { text: build ? outParas.join("\n\n") : t, boiler, repLines, repParas };
}

function isBoilerplateLine(line: string, cfg: CleanConfig): boolean {
  if (line.length === 0) return false;
  const lower = line.toLowerCase();
  if (!cfg.boilerplateSubstrings.some((s) => lower.includes(s))) return false;
  let words = 1;
  for (let i = line.indexOf(" "); i >= 0; i = line.indexOf(" ", i + 1)) words++;
  return words < cfg.boilerplateMaxWords;
}

/** Cleans a document; null (recorded as `clean.empty`) when too little text remains. */
export function cleanDocument(doc: DataDoc, cfg: CleanConfig, stats: DataStats, bytes: number): DataDoc | null {
  const kind = typeof doc.meta.kind === "string" ? doc.meta.kind : undefined;
  const text = cleanText(doc.text, cfg, kind, stats, doc.id);
  if (text.trim().length < cfg.minChars) {
    stats.remove("clean.empty", bytes, doc.id, doc.text, `${text.trim().length} chars left < ${cfg.minChars}`, doc.source);
    return null;
  }
  return text === doc.text ? doc : { ...doc, text };
}
