// The `pii` step: finds personal data (emails, phone numbers, IPv4/IPv6 addresses, Luhn-valid payment cards, US
// SSNs, Chinese resident IDs with their check digit) and the secrets that code corpora carry (provider API keys and
// tokens, private key blocks, passwords in URLs and in key = "value" assignments), and replaces each with a typed
// placeholder (`<EMAIL>`, `<API_KEY>`, ...). Each detector is a candidate regex plus a validator, tuned to leave
// dates, times, versions, ratios, verse references, prices, plain numbers, hashes and UUIDs alone.
//
// Secret formats follow the providers' published token formats as collected by gitleaks' rule set (v8 config,
// `gitleaks.toml`) and Yelp's detect-secrets plugins (keyword detector, high-entropy strings); the expressions and
// validators here are our own, written from those formats:
// - provider tokens by fixed prefix and length: AWS access key ids (AKIA/ASIA/ABIA/ACCA + 16 base32), GitHub
//   (ghp_/gho_/ghu_/ghs_/ghr_ + 36, github_pat_), GitLab glpat-, Slack xox[abprs]- tokens and hooks.slack.com
//   webhooks, Stripe sk_/rk_ live/test/prod keys, Google AIza + 35, OpenAI sk-/sk-proj-, Anthropic sk-ant-,
//   Hugging Face hf_ + 34 letters, npm npm_ + 36, Twilio API key SK + 32 hex, SendGrid SG.<22>.<43>, JWTs (a
//   base64url JSON header with "alg"/"typ"), `Bearer` tokens;
// - private key blocks: -----BEGIN ... PRIVATE KEY----- through the matching END line (a block whose body is not
//   base64, as in documentation "...", is left alone);
// - passwords in URLs: scheme://user:password@host keeps scheme, user and host and replaces the password only;
// - assignments (detect-secrets' keyword detector): an identifier naming a key, token, secret or password, then
//   `=`, `:`, `:=` or `=>`, then a value (quoted or not) that looks random: long enough, a digit and a letter, and a
//   Shannon entropy over its characters above a floor; placeholders (`<...>`, `${...}`, `your_key`, `xxxx`,
//   `changeme`, "example") are left alone. Only the value is replaced.
// Not secrets, by decision: git SHAs and other hex digests, UUIDs and MAC addresses (identifiers, not credentials;
// a hex string only counts as part of a key format above, e.g. Twilio's SK prefix or an assignment to `secret`).
// Addresses: IPv6 in full, compressed and IPv4-mapped forms (syntax by node:net isIPv6), but a run of small decimal
// groups such as the verse reference "Revelation 3:20:: 20" is not an address (see ipv6Plausible); a dotted quad
// after "version", "section", "chapter", "figure", ... is a number, not an IPv4 address.
// Speed: every detector first asks a cheap screen (a character or literal the match needs); the digit-led detectors
// (IPv4, cards, IDs, SSNs, phones) and key = value assignments try their expression only where a match can start
// (a digit run, an operator), which gives exactly the matches of a global scan (findPiiPlain, tested against).
import { isIPv6 } from "node:net";
import { z } from "zod";
import type { DataStats } from "./stats.js";
import { DataConfigError, type DataDoc } from "./types.js";

export const PII_TYPES = ["email", "ip_address", "credit_card", "cn_resident_id", "us_ssn", "phone", "api_key", "private_key", "password"] as const;
export type PiiType = (typeof PII_TYPES)[number];
/** The types that are secrets (scrubbed in source code too, unlike the other personal data). */
export const SECRET_TYPES: readonly PiiType[] = ["api_key", "private_key", "password"];

export const DEFAULT_PII_PLACEHOLDERS: Record<PiiType, string> = {
  email: "<EMAIL>",
  phone: "<PHONE>",
  ip_address: "<IP_ADDRESS>",
  credit_card: "<CREDIT_CARD>",
  us_ssn: "<US_SSN>",
  cn_resident_id: "<CN_RESIDENT_ID>",
  api_key: "<API_KEY>",
  private_key: "<PRIVATE_KEY>",
  password: "<PASSWORD>",
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

/** Shannon entropy of the characters of `s`, in bits per character. */
export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  const n = [...s].length;
  let h = 0;
  for (const k of counts.values()) {
    const p = k / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Per-text memo of the cheap screens and candidate places several detectors share (each computed on first use). */
class Screens {
  private url?: boolean;
  private runs?: DigitRuns;
  private ops?: number[];
  private schemes?: number[];
  private families?: number;
  private ats?: number[];
  private colons?: number[];
  constructor(readonly text: string) {}
  /** the text holds an ASCII digit */
  get hasDigit(): boolean {
    return this.digitRuns.at.length > 0;
  }
  /** the text holds "://" (a URL) */
  get hasUrl(): boolean {
    this.url ??= this.text.includes("://");
    return this.url;
  }
  /** whether the prefix of a token family (bits of FAMILY) stands just before one of the text's `_` or `-` */
  hasFamily(bit: number): boolean {
    if (this.families === undefined) {
      const t = this.text;
      let f = 0;
      for (let i = t.indexOf("_"); i >= 0; i = t.indexOf("_", i + 1)) {
        const c = t.charCodeAt(i - 1);
        if (t.startsWith("gh", i - 3) && (c === 112 || c === 111 || c === 117 || c === 115 || c === 114)) f |= FAMILY.github;
        else if (t.startsWith("github_pat", i - 10)) f |= FAMILY.githubPat;
        else if (t.startsWith("sk", i - 2) || t.startsWith("rk", i - 2)) f |= FAMILY.stripe;
        else if (t.startsWith("hf", i - 2)) f |= FAMILY.huggingFace;
        else if (t.startsWith("npm", i - 3)) f |= FAMILY.npm;
      }
      for (let i = t.indexOf("-"); i >= 0; i = t.indexOf("-", i + 1)) {
        const c = t.charCodeAt(i - 1);
        if (t.startsWith("sk", i - 2)) f |= FAMILY.openAi;
        else if (t.startsWith("glpat", i - 5)) f |= FAMILY.gitlab;
        else if (t.startsWith("xox", i - 4) && (c === 97 || c === 98 || c === 112 || c === 114 || c === 115)) f |= FAMILY.slack;
      }
      this.families = f;
    }
    return (this.families & bit) !== 0;
  }
  /** each maximal run of ASCII digits (and the `+` or `(` just before one, as a place of its own), in text order */
  get digitRuns(): DigitRuns {
    if (!this.runs) {
      const at: number[] = [];
      const len: number[] = [];
      // the engine finds each run's first digit (test() builds no match object), a loop its end
      const t = this.text;
      DIGIT_RE.lastIndex = 0;
      while (DIGIT_RE.test(t)) {
        const start = DIGIT_RE.lastIndex - 1;
        let end = start + 1;
        while (isDigit(t.charCodeAt(end))) end++;
        const c = t.charCodeAt(start - 1);
        if (c === 43 || c === 40) {
          at.push(start - 1);
          len.push(end - start);
        }
        at.push(start);
        len.push(end - start);
        DIGIT_RE.lastIndex = end;
      }
      this.runs = { at, len };
    }
    return this.runs;
  }
  /**
   * Where a URL's scheme may start: for each "://", each word start (a letter after a non-word character or at the
   * text's start) from which scheme characters [A-Za-z0-9+.-] run to it, 2 to 16 characters before it; in order.
   */
  get schemeStarts(): number[] {
    if (!this.schemes) {
      const t = this.text;
      const out: number[] = [];
      for (let q = t.indexOf("://"); q >= 0; q = t.indexOf("://", q + 3)) {
        let p = q;
        while (p > 0 && q - p < 16 && isSchemeChar(t.charCodeAt(p - 1))) p--;
        for (; p <= q - 2; p++) {
          const c = t.charCodeAt(p);
          const isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
          if (isLetter && (p === 0 || !isWordChar(t.charCodeAt(p - 1))) && (out.length === 0 || out[out.length - 1] < p)) out.push(p);
        }
      }
      this.schemes = out;
    }
    return this.schemes;
  }
  /**
   * Where an email's local part may start: for each "@", the start of the run of [A-Za-z0-9._%+-] just before it,
   * when that run is 1 to 64 characters long, starts with a letter or digit and follows no [\w.%+-] (the only place a
   * match with this "@" can start); in order.
   */
  get emailStarts(): number[] {
    if (!this.ats) {
      const t = this.text;
      const out: number[] = [];
      for (let q = t.indexOf("@"); q >= 0; q = t.indexOf("@", q + 1)) {
        let p = q;
        while (p > 0 && q - p <= 64 && isLocalChar(t.charCodeAt(p - 1))) p--;
        const before = t.charCodeAt(p - 1);
        if (p < q && q - p <= 64 && isAlnum(t.charCodeAt(p)) && (p === 0 || !(isWordChar(before) || before === 46 || before === 37 || before === 43 || before === 45))) out.push(p);
      }
      this.ats = out;
    }
    return this.ats;
  }
  /**
   * Where an IPv6 address may start: for each ":" not after another, the start of the 0 to 4 hex digits before it,
   * when no [\w:.] comes before them and the next ":" follows within five characters over hex digits only; in order.
   */
  get ipv6Starts(): number[] {
    if (!this.colons) {
      const t = this.text;
      const out: number[] = [];
      for (let c = t.indexOf(":"); c >= 0; c = t.indexOf(":", c + 1)) {
        if (t.charCodeAt(c - 1) === 58) continue;
        let n = c + 1;
        while (n - c <= 5 && isHex(t.charCodeAt(n))) n++;
        if (t.charCodeAt(n) !== 58 || n - c > 5) continue;
        let p = c;
        while (p > 0 && c - p < 4 && isHex(t.charCodeAt(p - 1))) p--;
        const before = t.charCodeAt(p - 1);
        if (p === 0 || !(isWordChar(before) || before === 58 || before === 46)) out.push(p);
      }
      this.colons = out;
    }
    return this.colons;
  }
  /** The places of a candidate-driven detector other than digit runs. */
  startsOf(kind: "operators" | "schemes" | "ats" | "colons" | "digits"): number[] {
    if (kind === "operators") return this.operators;
    if (kind === "schemes") return this.schemeStarts;
    if (kind === "ats") return this.emailStarts;
    if (kind === "colons") return this.ipv6Starts;
    return this.digitRuns.at;
  }
  /** positions of `=` and `:`, in text order */
  get operators(): number[] {
    if (!this.ops) {
      const t = this.text;
      const ops: number[] = [];
      let a = t.indexOf(":");
      let b = t.indexOf("=");
      while (a >= 0 || b >= 0) {
        if (b < 0 || (a >= 0 && a < b)) {
          ops.push(a);
          a = t.indexOf(":", a + 1);
        } else {
          ops.push(b);
          b = t.indexOf("=", b + 1);
        }
      }
      this.ops = ops;
    }
    return this.ops;
  }
}
/** Places a candidate-driven detector tries: `at[i]` with the length `len[i]` of the digit run at or just after it. */
interface DigitRuns {
  at: number[];
  len: number[];
}
const DIGIT_RE = /\d/g;
/** Necessary for an AWS access key id (one expression: the engine skips ahead to each "A" once). */
const AWS_PREFIX_RE = /A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])/;
/** Token families whose prefix ends in `_` or `-` (ghp_, github_pat_, sk_live_, hf_, npm_, sk-, glpat-, xoxb-). */
const FAMILY = { github: 1, githubPat: 2, stripe: 4, huggingFace: 8, npm: 16, openAi: 32, gitlab: 64, slack: 128 } as const;
/** A screen for a family: its prefix stands before a separator somewhere in the text. */
const family = (bit: number): Detector["hint"] => (_, s) => s.hasFamily(bit);

/** A found span: its type and offsets; `claimOnly` claims the match (later detectors skip it) without replacing it. */
interface Found {
  type: PiiType;
  start: number;
  end: number;
  claimOnly?: boolean;
}

interface Detector {
  /** The types this detector can report (it runs when one of them is enabled). */
  types: readonly PiiType[];
  /** Cheap test that the text may contain a match at all. */
  hint: (t: string, s: Screens) => boolean;
  re: RegExp;
  /** The span to replace for a candidate (or null to leave it alone); receives the match and the whole text. */
  check: (m: RegExpExecArray, text: string) => Found | null;
  /**
   * Candidate-driven detectors: a match can only start at a digit run (or the `+`/`(` just before one), at an
   * operator (`=`, `:`), or at a URL scheme (a word start up to 16 characters before "://"), and `mayStart` is a necessary condition for a match of `re` there (`len`: the digit
   * run's length). Trying the sticky copy of `re` at those places in order, from the end of the last match on,
   * finds exactly the matches of a global scan ({@link findPiiPlain}) without running the engine over the rest.
   */
  starts?: "digits" | "operators" | "schemes" | "ats" | "colons";
  mayStart?: (text: string, p: number, len: number) => boolean;
  /** sticky copy of `re` (made once) */
  sticky?: RegExp;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
/** \w */
const isWordChar = (c: number) => isAlnum(c) || c === 95;
/** [A-Za-z0-9._%+-]: a character of an email's local part */
const isLocalChar = (c: number) => isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
/** [0-9A-Fa-f] */
const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
/** [A-Za-z0-9+.-]: a character of a URL scheme */
const isSchemeChar = (c: number) => isAlnum(c) || c === 43 || c === 46 || c === 45;
/** [A-Za-z0-9] */
const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** [A-Za-z0-9_-]: a character that continues a token */
const isTokenChar = (c: number) => isAlnum(c) || c === 95 || c === 45;



/** Words before a dotted quad that make it a version or a section number, not an address. */
const VERSION_CONTEXT_RE = /(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\brev\.?|\bsection|\bsec\.|\bchapter|\bch\.|§|\bclause|\bfig(?:ure|\.)?|\btable|\bstep|\bpart|\bpara(?:graph|\.)?)\s*$/i;

/** Candidate-driven: matches start at a digit run (or `+`/`(` before it) where `mayStart` holds. */
function atDigits(d: Detector, mayStart: (t: string, p: number, len: number) => boolean): Detector {
  return { ...d, starts: "digits", mayStart };
}
/** The characters of an assigned value, quoted or not: [A-Za-z0-9+/=_.~!@#$%^&*?:|-]. */
const VALUE_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.~!@#$%^&*?:|-") VALUE_CHAR[c.charCodeAt(0)] = 1;
const isValueChar = (c: number) => c < 128 && VALUE_CHAR[c] === 1;
/** Necessary for an assignment at operator `p`: after the operator (one or two characters), blanks and maybe a quote, eight value characters. */
function assignmentMayStart(t: string, p: number): boolean {
  for (let s = p + 1; s <= p + 2; s++) {
    let q = s;
    while (t.charCodeAt(q) === 32 || t.charCodeAt(q) === 9) q++;
    const c = t.charCodeAt(q);
    if (c === 34 || c === 39 || c === 96) q++;
    let k = 0;
    while (k < 8 && isValueChar(t.charCodeAt(q + k))) k++;
    if (k === 8) return true;
  }
  return false;
}

/** A detector whose whole match is the span, of one type, accepted by `valid`. */
function whole(type: PiiType, hint: Detector["hint"], re: RegExp, valid: (m: RegExpExecArray, text: string) => boolean): Detector {
  return { types: [type], hint, re, check: (m, text) => (valid(m, text) ? { type, start: m.index, end: m.index + m[0].length } : null) };
}

/**
 * A provider token: the whole match, when it stands alone (no token character just before or after it, so that a
 * longer identifier that merely contains the prefix is not cut) and `valid` accepts it; `hint` is its prefix's screen.
 * The expressions start with their fixed prefix (no look-behind), so that the regular expression engine can skip
 * ahead to it.
 */
function token(re: RegExp, valid: (s: string) => boolean, hint: Detector["hint"]): Detector {
  return whole("api_key", hint, re, (m, text) => {
    const end = m.index + m[0].length;
    return (m.index === 0 || !isTokenChar(text.charCodeAt(m.index - 1))) && (end === text.length || !isTokenChar(text.charCodeAt(end))) && valid(m[0]);
  });
}

/** Mixed case and a digit: random tokens nearly always have all three, words and identifiers seldom do. */
const looksRandom = (s: string) => /\d/.test(s) && /[a-z]/.test(s) && /[A-Z]/.test(s);

/** A JWT: its header decodes to a JSON object naming "alg" or "typ". */
function jwtValid(s: string): boolean {
  const header = Buffer.from(s.slice(0, s.indexOf(".")), "base64url").toString("latin1");
  return header.startsWith("{") && /"(?:alg|typ)"\s*:/.test(header);
}

/** Values that stand for a secret without being one: templates, masks, examples. */
const PLACEHOLDER_RE = /^(?:[*xX.#•-]+|<[^>]*>|\[[^\]]*\]|\$\{[^}]*\}|\{\{[^}]*\}\}|\$[A-Za-z_]\w*|%s|%\([^)]*\)s)$/;
const PLACEHOLDER_WORD_RE = /example|sample|dummy|placeholder|changeme|change_me|your[_-]|redacted|xxxx|\*\*\*|\.\.\./i;

/** The password of scheme://user:password@host, unless it is a placeholder (`***`, `<pass>`, `${PW}`, "password"). */
function urlPasswordValid(p: string): boolean {
  return !PLACEHOLDER_RE.test(p) && !/^(?:pass(?:w(?:or)?d)?|pwd|pw|secret|(?:your|my)[_-]?pass(?:word)?)$/i.test(p);
}

// Names of variables, keys and fields that hold a secret (detect-secrets' keyword list, narrowed): the password
// ones are reported as `password`, the others as `api_key`.
const SECRET_NAME_RE = /api[_.-]?key|api[_.-]?secret|access[_.-]?key|auth[_.-]?key|private[_.-]?key|client[_.-]?secret|secret|token|passw(?:or)?d|passphrase|pwd|credentials?/gi;
/** An identifier (maybe quoted) just before an assignment operator: `api_key`, `"apiKey"`, `DB_PASSWORD`, `:password`. */
const NAME_BEFORE_RE = /(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{2,64}["']?[ \t]*$/;

/** The type of secret an identifier names, or null: the keyword must end the identifier or a part of it (`tokenizer` and `secretary` do not count). */
export function secretNameType(name: string): "api_key" | "password" | null {
  SECRET_NAME_RE.lastIndex = 0;
  for (let m = SECRET_NAME_RE.exec(name); m !== null; m = SECRET_NAME_RE.exec(name)) {
    const after = name.charCodeAt(m.index + m[0].length);
    const last = m[0].charCodeAt(m[0].length - 1);
    // ends the name, or is followed by a separator, a digit, or (camelCase) an upper-case letter after a lower-case one
    const ends = Number.isNaN(after) || !isAlnum(after) || isDigit(after) || (after >= 65 && after <= 90 && last >= 97);
    if (ends) return /^(?:passw|passphrase|pwd)/i.test(m[0]) ? "password" : "api_key";
  }
  return null;
}

/** Whether an assigned value looks like a real secret of this type (not a word, path, expression or placeholder). */
export function secretValueLooksReal(v: string, type: "api_key" | "password", quoted = true): boolean {
  if (v.length < (type === "password" ? 8 : 16) || v.length > 256) return false;
  if (PLACEHOLDER_RE.test(v) || PLACEHOLDER_WORD_RE.test(v)) return false;
  if (!/\d/.test(v) || !/[A-Za-z]/.test(v)) return false;
  // paths, URLs, file names and dotted identifiers are configuration, not secrets
  if (/^[./~$%{<@]/.test(v) || v.includes("://") || /\.[a-z]{2,4}$/.test(v)) return false;
  // unquoted, a dotted name is an expression (self.token, config.api_key2)
  if (!quoted && /^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$/.test(v)) return false;
  return shannonEntropy(v) >= (type === "password" ? 2.5 : 3.0);
}

// `=`, `:`, `:=` or `=>`, then a quoted value or an unquoted one (ending at whitespace, a delimiter or the end)
const ASSIGNMENT_RE = /(?::=|=>|[=:])[ \t]*(?:(["'`])([A-Za-z0-9+/=_.~!@#$%^&*?:|-]{8,256})\1|([A-Za-z0-9+/=_.~!@#$%^&*?|-]{8,256})(?=$|[\s,;)}\]>"'`]))/dg;

function assignmentCheck(m: RegExpExecArray, text: string): Found | null {
  const g = m[2] !== undefined ? 2 : 3;
  // cheap tests first: most candidates in prose ("Note: something") have no digit in the value
  if (!/\d/.test(m[g]) || !/[A-Za-z]/.test(m[g])) return null;
  if (m[0][0] === "=" && (text[m.index - 1] === "=" || text[m.index - 1] === "!" || text[m.index + 1] === "=")) return null; // a comparison
  const before = NAME_BEFORE_RE.exec(text.slice(Math.max(0, m.index - 70), m.index));
  if (!before) return null;
  const type = secretNameType(before[0].replace(/["' \t]+$/, ""));
  if (!type) return null;
  let [start, end] = (m.indices as RegExpIndicesArray)[g] as [number, number];
  // an unquoted value at the end of a sentence keeps its full stop
  while (g === 3 && end > start && /[.!?]/.test(text[end - 1])) end--;
  return secretValueLooksReal(text.slice(start, end), type, g === 2) ? { type, start, end } : null;
}

const DETECTORS: Detector[] = [
  // secrets first: a password in a URL looks like an email (pass@host), a key block's body like anything
  whole(
    "private_key",
    (t) => t.includes("PRIVATE KEY"),
    /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----[\s\S]{0,16384}?-----END ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----/g,
    // the body is base64 (64 characters at least, headers such as Proc-Type aside), not "..." in documentation
    (m) => /[A-Za-z0-9+/]{64}/.test(m[0].replace(/\s+/g, "")) && !m[0].includes("..."),
  ),
  {
    types: ["password"],
    hint: (t, s) => s.hasUrl && t.includes("@"),
    // (no backslash in user or password: in a JSON or C string, "\n" ends the URL as the newline it stands for does)
    re: /\b[A-Za-z][A-Za-z0-9+.-]{1,15}:\/\/[^\s:@/?#[\]\\]{1,64}:([^\s@/?#[\]\\]{1,128})@(?=[A-Za-z0-9[])/dg,
    check: (m) => {
      const [start, end] = (m.indices as RegExpIndicesArray)[1] as [number, number];
      // a placeholder password is left, but the URL stays claimed so that pass@host is not taken for an email
      return { type: "password", start, end, claimOnly: !urlPasswordValid(m[1]) };
    },
    starts: "schemes",
    mayStart: () => true,
  },
  token(/A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z2-7]{16}/g, (s) => /\d/.test(s) || /[A-Z]{2}/.test(s.slice(4)), (t) => AWS_PREFIX_RE.test(t)),
  token(/gh[pousr]_[A-Za-z0-9]{36}/g, looksRandom, family(FAMILY.github)),
  token(/github_pat_[A-Za-z0-9_]{40,255}/g, looksRandom, family(FAMILY.githubPat)),
  token(/glpat-[A-Za-z0-9_-]{20,64}/g, (s) => /\d/.test(s) && /[A-Za-z]/.test(s.slice(6)), family(FAMILY.gitlab)),
  token(/xox[abprs]-[A-Za-z0-9-]{10,255}/g, (s) => /\d{6}/.test(s), family(FAMILY.slack)),
  {
    types: ["api_key"],
    hint: (t) => t.includes("hooks.slack.com"),
    re: /hooks\.slack\.com\/(?:services|workflows|triggers)\/([A-Za-z0-9+/_-]{20,128})/dg,
    check: (m) => {
      const [start, end] = (m.indices as RegExpIndicesArray)[1] as [number, number];
      return /\d/.test(m[1]) ? { type: "api_key", start, end } : null;
    },
  },
  token(/[rs]k_(?:live|test|prod)_[A-Za-z0-9]{10,255}/g, (s) => /\d/.test(s), family(FAMILY.stripe)),
  token(/AIza[A-Za-z0-9_-]{35}/g, (s) => /\d/.test(s), (t) => t.includes("AIza")),
  token(/sk-(?:ant-[a-z]{3,8}\d{0,3}-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,255}/g, looksRandom, family(FAMILY.openAi)),
  token(/hf_[A-Za-z0-9]{34}/g, (s) => /[a-z]/.test(s.slice(3)) && /[A-Z]/.test(s), family(FAMILY.huggingFace)),
  token(/npm_[A-Za-z0-9]{36}/g, looksRandom, family(FAMILY.npm)),
  token(/SK[0-9a-fA-F]{32}/g, (s) => /\d/.test(s) && /[a-fA-F]/.test(s.slice(2)), (t) => t.includes("SK")),
  token(/SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/g, () => true, (t) => t.includes("SG.")),
  token(/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*/g, jwtValid, (t) => t.includes(".eyJ")),
  {
    types: ["api_key"],
    hint: (t) => t.includes("Bearer"),
    re: /\bBearer[ \t]+([A-Za-z0-9._~+/-]{20,1024}=*)(?![A-Za-z0-9._~+/=-])/dg,
    check: (m) => {
      const [start, end] = (m.indices as RegExpIndicesArray)[1] as [number, number];
      return secretValueLooksReal(m[1], "api_key") ? { type: "api_key", start, end } : null;
    },
  },
  {
    types: ["api_key", "password"],
    hint: (t) => t.includes("=") || t.includes(":"),
    re: ASSIGNMENT_RE,
    check: assignmentCheck,
    starts: "operators",
    mayStart: assignmentMayStart,
  },
  {
    ...whole(
      "email",
      (t) => t.includes("@"),
      /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])/g,
      () => true,
    ),
    starts: "ats",
    mayStart: () => true,
  },
  // (an IPv4 tail is tried before a hex group, so that ::ffff:192.0.2.1 is one address, not ::ffff:192 and a rest)
  {
    ...whole("ip_address", (_, s) => s.ipv6Starts.length > 0, /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)/g, (m) => ipv6Plausible(m[0])),
    starts: "colons",
    mayStart: () => true,
  },
  atDigits(
    whole(
      "ip_address",
      (_, s) => s.hasDigit,
      /(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)/g,
      (m, text) => !VERSION_CONTEXT_RE.test(text.slice(Math.max(0, m.index - 12), m.index)),
    ),
    (t, p, len) => len <= 3 && t.charCodeAt(p + len) === 46,
  ),
  atDigits(
    whole("credit_card", (_, s) => s.hasDigit, /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d-]|[.,]\d)/g, (m) => {
      const s = m[0];
      const seps = s.match(/[ -]/g);
      if (seps && new Set(seps).size > 1) return false;
      const d = s.replace(/[ -]/g, "");
      if (seps && !/^\d{4}([ -]?)\d{4,6}\1\d{4,5}(?:\1\d{1,4})?$/.test(s)) return false;
      return d.length >= 13 && d.length <= 19 && cardBrandOk(d) && luhnValid(d);
    }),
    // 13 digits in a row, or a separator and a digit after the run
    (t, p, len) => isDigit(t.charCodeAt(p)) && (len >= 13 || ((t.charCodeAt(p + len) === 32 || t.charCodeAt(p + len) === 45) && isDigit(t.charCodeAt(p + len + 1)))),
  ),
  atDigits(
    whole("cn_resident_id", (_, s) => s.hasDigit, /(?<![\dA-Za-z])[1-9]\d{16}[\dXx](?![\dA-Za-z])/g, (m) => cnResidentIdValid(m[0])),
    (t, p, len) => (len === 17 || len === 18) && isDigit(t.charCodeAt(p)),
  ),
  atDigits(
    whole(
      "us_ssn",
      (_, s) => s.hasDigit,
      /(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])|(?<=\b(?:SSN|ssn|Social Security(?: Number| No\.?)?)[:#\s]{1,3})(\d{3})(\d{2})(\d{4})(?!\d)/g,
      (m) => (m[1] ? usSsnValid(m[1], m[2], m[3]) : usSsnValid(m[4], m[5], m[6])),
    ),
    (t, p, len) => isDigit(t.charCodeAt(p)) && ((len === 3 && t.charCodeAt(p + 3) === 45) || len === 9),
  ),
  atDigits(
    whole(
      "phone",
      (_, s) => s.hasDigit,
      new RegExp(
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
      (m) => {
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
    ),
    // `+` or `(` before digits; a run of at most 7 digits followed by a separator (212-, 1 (, 030/, 0(30), 138 1234);
    // 11 digits in a row (a Chinese mobile number)
    (t, p, len) => {
      const c = t.charCodeAt(p);
      if (c === 43 || c === 40) return true;
      const n = t.charCodeAt(p + len);
      return (len <= 7 && (n === 32 || n === 46 || n === 45 || n === 47 || n === 41)) || len === 11;
    },
  ),
];

for (const d of DETECTORS) if (d.starts) d.sticky = new RegExp(d.re.source, `${d.re.flags.replace("g", "")}y`);

/**
 * An IPv6 candidate that is an address as people write them, not a colon-separated list of small numbers (verse
 * references such as "Revelation 3:20:: 20", times, scores): valid syntax, a digit (so that `dead::beef` in code
 * stays), and a group of three or four hex digits or one with a hex letter (2001:db8::1, fe80::1, ::ffff:10.0.0.1)
 * unless it is the loopback ::1.
 */
export function ipv6Plausible(s: string): boolean {
  if (!isIPv6(s)) return false;
  if (s === "::1") return true;
  const groups = s.split(/:+/).filter((g) => g.length > 0);
  if (groups.length < 2 || !/\d/.test(s)) return false;
  return groups.some((g) => g.includes(".") || g.length >= 3 || /[a-fA-F]/.test(g));
}

/** One found piece of personal data. */
export interface PiiMatch {
  type: PiiType;
  start: number;
  end: number;
  value: string;
}

/**
 * Finds personal data of the given types, in detector order, without overlaps: each detector's matches in text
 * order, a match that overlaps one an earlier detector took being skipped. Detectors whose matches start only at
 * digit runs or operators try their expression there alone; {@link findPiiPlain} is the same with every
 * expression run over the whole text (the definition this is tested against).
 */
export function findPii(text: string, types: readonly PiiType[] = PII_TYPES): PiiMatch[] {
  return find(text, types, true);
}

/** {@link findPii} by global scans only: the plain definition the candidate-driven search must equal. */
export function findPiiPlain(text: string, types: readonly PiiType[] = PII_TYPES): PiiMatch[] {
  return find(text, types, false);
}

function find(text: string, types: readonly PiiType[], candidates: boolean): PiiMatch[] {
  const found: PiiMatch[] = [];
  const taken: Array<[number, number]> = [];
  const overlaps = (a: number, b: number) => {
    for (const [s, e] of taken) if (a < e && b > s) return true;
    return false;
  };
  const screens = new Screens(text);
  const take = (det: Detector, m: RegExpExecArray) => {
    if (overlaps(m.index, m.index + m[0].length)) return;
    const f = det.check(m, text);
    if (!f || !types.includes(f.type)) return;
    if (!f.claimOnly) found.push({ type: f.type, start: f.start, end: f.end, value: text.slice(f.start, f.end) });
    taken.push([m.index, m.index + m[0].length]);
  };
  for (const det of DETECTORS) {
    if (!det.types.some((t) => types.includes(t)) || !det.hint(text, screens)) continue;
    if (candidates && det.starts && det.mayStart) {
      // the places in order; a place inside the last match is passed over, as a global scan does
      const sticky = det.sticky as RegExp;
      const runs = det.starts === "digits" ? screens.digitRuns : null;
      const at = runs ? runs.at : screens.startsOf(det.starts);
      let from = 0;
      for (let i = 0; i < at.length; i++) {
        const p = at[i];
        if (p < from || !det.mayStart(text, p, runs ? runs.len[i] : 0)) continue;
        sticky.lastIndex = p;
        const m = sticky.exec(text);
        if (m === null || m[0].length === 0) continue;
        from = p + m[0].length;
        take(det, m);
      }
      continue;
    }
    det.re.lastIndex = 0;
    for (let m = det.re.exec(text); m !== null; m = det.re.exec(text)) {
      if (m[0].length === 0) {
        det.re.lastIndex++;
        continue;
      }
      take(det, m);
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

/** Masks a found value for a report example: keeps the first two characters (none of a password). */
function mask(v: string, type: PiiType): string {
  const keep = type === "password" ? 0 : 2;
  return `${v.slice(0, keep)}${"*".repeat(Math.max(0, Math.min(v.length - keep, 12)))}`;
}

/** Scrubs one document (text and string metadata such as email From/Subject), recording replacements per type (examples masked) in `stats`. */
export function scrubDocument(doc: DataDoc, cfg: PiiConfig, stats: DataStats): DataDoc {
  // in source code only emails and secrets are scrubbed: version strings and numeric literals look too much like the rest
  const c = doc.meta.kind === "code" ? { ...cfg, types: cfg.types.filter((t) => t === "email" || SECRET_TYPES.includes(t)) } : cfg;
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
    stats.modify(`pii.${type}`, n ?? 0, ex ? `${doc.id}: ${mask(ex.value, ex.type)}` : doc.id);
  }
  return { ...doc, text: r.text, meta: { ...meta, pii: { ...((doc.meta.pii as object) ?? {}), ...r.counts } } };
}
