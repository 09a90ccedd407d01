// The `pii` step: finds personal data (emails, phone numbers, IPv4/IPv6 addresses, Luhn-valid payment
// cards, US SSNs, Chinese resident IDs with their check digit) and replaces each with a typed placeholder.
// Each detector is a candidate regex plus a validator, tuned to leave dates, versions, prices and plain numbers alone.
import { isIPv6 } from "node:net";
import { z } from "zod";
import type { DataStats } from "./stats.js";
import { DataConfigError, type DataDoc } from "./types.js";

export const PII_TYPES = ["email", "ip_address", "credit_card", "cn_resident_id", "us_ssn", "phone"] as const;
export type PiiType = (typeof PII_TYPES)[number];

export const DEFAULT_PII_PLACEHOLDERS: Record<PiiType, string> = {
  email: "<EMAIL>",
  phone: "<PHONE>",
  ip_address: "<IP_ADDRESS>",
  credit_card: "<CREDIT_CARD>",
  us_ssn: "<US_SSN>",
  cn_resident_id: "<CN_RESIDENT_ID>",
};

export const piiConfigSchema = z
  .object({
    types: z.array(z.enum(PII_TYPES)).default([...PII_TYPES]),
    placeholders: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type PiiConfig = z.infer<typeof piiConfigSchema>;
export type PiiConfigInput = z.input<typeof piiConfigSchema>;

export function parsePiiConfig(input: unknown): PiiConfig {
  const r = piiConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new DataConfigError(`invalid pii config: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  for (const k of Object.keys(r.data.placeholders))
    if (!(PII_TYPES as readonly string[]).includes(k)) throw new DataConfigError(`invalid pii config: placeholders.${k}: unknown PII type (expected one of ${PII_TYPES.join(", ")})`);
  return r.data;
}

/** Luhn checksum over a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** Card brands by issuer prefix and length (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay). */
function cardBrandOk(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  if (d[0] === "4") return n === 13 || n === 16 || n === 19;
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16;
  if (p2 === 34 || p2 === 37) return n === 15;
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) return n >= 16 && n <= 19;
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;
  if (p2 === 36 || p2 === 38 || (p3 >= 300 && p3 <= 305)) return n === 14;
  if (p2 === 62) return n >= 16 && n <= 19;
  return false;
}

const CN_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CN_CHECK = "10X98765432";

/** Validates an 18-character Chinese resident identity number: region, real birth date, ISO 7064 MOD 11-2 check digit. */
export function cnResidentIdValid(id: string): boolean {
  if (!/^[1-9]\d{16}[\dXx]$/.test(id)) return false;
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (y < 1900 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (id.charCodeAt(i) - 48) * CN_WEIGHTS[i];
  return CN_CHECK[sum % 11] === id[17].toUpperCase();
}

/** US SSN area/group/serial rules: area not 000, 666 or 9xx; group not 00; serial not 0000. */
export function usSsnValid(area: string, group: string, serial: string): boolean {
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000";
}

interface Detector {
  type: PiiType;
  /** Cheap test that the text may contain this type at all. */
  hint: (t: string) => boolean;
  re: RegExp;
  /** Returns false to leave a candidate alone; receives the match and the text before it. */
  valid: (m: RegExpExecArray, text: string) => boolean;
}

const hasDigit = (t: string) => /\d/.test(t);
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Necessary for an IPv6 candidate: two colons at most 5 apart (`x:` repeated at least twice, x up to 4 hex digits). */
function hasColonPair(t: string): boolean {
  let prev = -10;
  for (let i = t.indexOf(":"); i >= 0; i = t.indexOf(":", i + 1)) {
    if (i - prev <= 5) return true;
    prev = i;
  }
  return false;
}

/** Necessary for an IPv4 candidate: a dot between two digits. */
function hasDigitDotDigit(t: string): boolean {
  for (let i = t.indexOf("."); i >= 0; i = t.indexOf(".", i + 1)) if (i > 0 && isDigit(t.charCodeAt(i - 1)) && isDigit(t.charCodeAt(i + 1))) return true;
  return false;
}

/** Necessary for a dashed SSN candidate: digit, dash, two digits, dash. */
function hasSsnDashes(t: string): boolean {
  for (let i = t.indexOf("-"); i >= 0; i = t.indexOf("-", i + 1))
    if (t.charCodeAt(i + 3) === 45 && i > 0 && isDigit(t.charCodeAt(i - 1)) && isDigit(t.charCodeAt(i + 1)) && isDigit(t.charCodeAt(i + 2))) return true;
  return false;
}
const VERSION_CONTEXT_RE = /(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\brev\.?)\s*$/i;

const DETECTORS: Detector[] = [
  {
    type: "email",
    hint: (t) => t.includes("@"),
    re: /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])/g,
    valid: () => true,
  },
  {
    type: "ip_address",
    hint: hasColonPair,
    re: /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])/g,
    valid: (m) => {
      const s = m[0];
      if (!isIPv6(s)) return false;
      const groups = s.split(/:+/).filter((g) => g.length > 0).length;
      // require a digit so that words such as "a::b" or "dead::beef" in code are left alone
      return (groups >= 2 && /\d/.test(s)) || s === "::1";
    },
  },
  {
    type: "ip_address",
    hint: hasDigitDotDigit,
    re: /(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)/g,
    valid: (m, text) => !VERSION_CONTEXT_RE.test(text.slice(Math.max(0, m.index - 12), m.index)),
  },
  {
    type: "credit_card",
    hint: hasDigit,
    re: /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d-]|[.,]\d)/g,
    valid: (m) => {
      const s = m[0];
      const seps = s.match(/[ -]/g);
      if (seps && new Set(seps).size > 1) return false;
      const d = s.replace(/[ -]/g, "");
      if (seps && !/^\d{4}([ -]?)\d{4,6}\1\d{4,5}(?:\1\d{1,4})?$/.test(s)) return false;
      return d.length >= 13 && d.length <= 19 && cardBrandOk(d) && luhnValid(d);
    },
  },
  {
    type: "cn_resident_id",
    hint: hasDigit,
    re: /(?<![\dA-Za-z])[1-9]\d{16}[\dXx](?![\dA-Za-z])/g,
    valid: (m) => cnResidentIdValid(m[0]),
  },
  {
    type: "us_ssn",
    hint: (t) => hasSsnDashes(t) || /ssn|social security/i.test(t),
    re: /(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])|(?<=\b(?:SSN|ssn|Social Security(?: Number| No\.?)?)[:#\s]{1,3})(\d{3})(\d{2})(\d{4})(?!\d)/g,
    valid: (m) => (m[1] ? usSsnValid(m[1], m[2], m[3]) : usSsnValid(m[4], m[5], m[6])),
  },
  {
    type: "phone",
    hint: hasDigit,
    re: new RegExp(
      [
        // international: +CC then groups (E.164: at most 15 digits)
        String.raw`(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,5}(?![\w])`,
        // North American: (212) 555-0123, 212-555-0123, 212.555.0123, 1-800-555-0199
        String.raw`(?<![\w.-])(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w]|[.-]\d)`,
        String.raw`(?<![\w.-])(?:1 )?\(\d{3}\) \d{3} \d{4}(?!\w|[ .-]\d)`,
        // national with trunk prefix 0: 020 7946 0958, 07700 900123, 01 23 45 67 89, 030/1234567, 089-1234567
        String.raw`(?<![\w.,/-])0[1-9]\d{0,3}(?:[ /-]|\) ?)\d{2,8}(?:[ .-]\d{2,4}){0,3}(?![\w]|[.,/-]\d)`,
        String.raw`(?<![\w.,/-])\(0\d{1,4}\) ?\d{3,8}(?:[ -]\d{2,4}){0,2}(?![\w]|[.,/-]\d)`,
        String.raw`(?<![\w.,/-])0[1-9](?:\.\d{2}){4}(?![\w]|[.,/-]\d)`,
        // Chinese mobile: 138 1234 5678, 13812345678
        String.raw`(?<![\w.,+-])1[3-9]\d(?:[ -]?\d{4}){2}(?![\w]|[.,-]\d)`,
      ].join("|"),
      "g",
    ),
    valid: (m) => {
      const s = m[0];
      const digits = s.replace(/\D/g, "").length;
      if (s.startsWith("+")) return digits >= 8 && digits <= 15;
      if (/^\d{4}[-./]\d{2}[-./]\d{2}$/.test(s) || /^\d{2}[-./]\d{2}[-./]\d{2,4}$/.test(s)) return false; // dates
      if (s.startsWith("0") || s.startsWith("(0")) {
        const groups = s.split(/[^\d]+/).filter(Boolean);
        // two groups only: the subscriber part must be long (030/1234567), unlike a ZIP+4 (02139-4307)
        if (groups.length === 2 && groups[1].length < 6) return false;
        return digits >= 9 && digits <= 12;
      }
      return digits >= 10 && digits <= 11;
    },
  },
];

/** One found piece of personal data. */
export interface PiiMatch {
  type: PiiType;
  start: number;
  end: number;
  value: string;
}

/** Finds personal data of the given types, in detector order, without overlaps. */
export function findPii(text: string, types: readonly PiiType[] = PII_TYPES): PiiMatch[] {
  const found: PiiMatch[] = [];
  const taken: Array<[number, number]> = [];
  const overlaps = (a: number, b: number) => taken.some(([s, e]) => a < e && b > s);
  for (const det of DETECTORS) {
    if (!types.includes(det.type) || !det.hint(text)) continue;
    det.re.lastIndex = 0;
    for (let m = det.re.exec(text); m !== null; m = det.re.exec(text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (m[0].length === 0) {
        det.re.lastIndex++;
        continue;
      }
      if (overlaps(start, end) || !det.valid(m, text)) continue;
      found.push({ type: det.type, start, end, value: m[0] });
      taken.push([start, end]);
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/** Replaces personal data by typed placeholders; returns the new text and counts per type. */
export function scrubPii(text: string, cfg: PiiConfig = parsePiiConfig({})): { text: string; counts: Partial<Record<PiiType, number>>; matches: PiiMatch[] } {
  const matches = findPii(text, cfg.types);
  if (matches.length === 0) return { text, counts: {}, matches };
  const counts: Partial<Record<PiiType, number>> = {};
  const parts: string[] = [];
  let at = 0;
  for (const m of matches) {
    parts.push(text.slice(at, m.start), cfg.placeholders[m.type] ?? DEFAULT_PII_PLACEHOLDERS[m.type]);
    at = m.end;
    counts[m.type] = (counts[m.type] ?? 0) + 1;
  }
  parts.push(text.slice(at));
  return { text: parts.join(""), counts, matches };
}

/** Masks a found value for a report example: keeps the first two characters. */
function mask(v: string): string {
  return `${v.slice(0, 2)}${"*".repeat(Math.max(0, Math.min(v.length - 2, 12)))}`;
}

/** Scrubs one document (text and string metadata such as email From/Subject), recording replacements per type (examples masked) in `stats`. */
export function scrubDocument(doc: DataDoc, cfg: PiiConfig, stats: DataStats): DataDoc {
  // in source code only emails are scrubbed: version strings and numeric literals look too much like the rest
  const c = doc.meta.kind === "code" ? { ...cfg, types: cfg.types.filter((t) => t === "email") } : cfg;
  const r = scrubPii(doc.text, c);
  let meta = doc.meta;
  for (const [k, v] of Object.entries(doc.meta)) {
    if (typeof v !== "string" || k === "file" || k === "kind") continue;
    const m = scrubPii(v, c);
    if (m.matches.length > 0) {
      if (meta === doc.meta) meta = { ...doc.meta };
      meta[k] = m.text;
      stats.modify("pii.meta_fields", 1, `${doc.id}: meta.${k}`);
    }
  }
  if (r.matches.length === 0) return meta === doc.meta ? doc : { ...doc, meta };
  for (const [type, n] of Object.entries(r.counts)) {
    const ex = r.matches.find((m) => m.type === type);
    stats.modify(`pii.${type}`, n ?? 0, ex ? `${doc.id}: ${mask(ex.value)}` : doc.id);
  }
  return { ...doc, text: r.text, meta: { ...meta, pii: { ...((doc.meta.pii as object) ?? {}), ...r.counts } } };
}
