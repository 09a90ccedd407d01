// Raw email and mbox reading with mailparser: headers parsed, bodies decoded (quoted-printable, base64,
// charsets), HTML-only parts converted to text; mbox files split on their "From " separator lines.
// cleanEmailBody() keeps what the writer wrote: quoted replies, attribution lines, signatures, PGP armour and
// mailing-list footers are cut, since they repeat other messages or boilerplate thousands of times in a corpus.
import { simpleParser, type AddressObject } from "mailparser";
import { htmlToText } from "./html.js";
import type { ReadItem, ReaderOptions } from "./readItem.js";

/** Splits an mbox file into messages with their 1-based start lines (mboxrd ">From " unescaped). */
export function splitMbox(text: string): Array<{ line: number; raw: string }> {
  const lines = text.split("\n");
  const msgs: Array<{ line: number; raw: string }> = [];
  let cur: string[] | null = null;
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith("From ") && (i === 0 || lines[i - 1].trim() === "" || cur === null)) {
      if (cur?.some((x) => x.trim() !== "")) msgs.push({ line: start, raw: cur.join("\n") });
      cur = [];
      start = i + 2;
      continue;
    }
    if (cur === null) {
      cur = [];
      start = i + 1;
    }
    cur.push(/^>+From /.test(l) ? l.slice(1) : l);
  }
  if (cur?.some((x) => x.trim() !== "")) msgs.push({ line: start, raw: cur.join("\n") });
  return msgs;
}

/**
 * The Date header as ISO 8601 UTC when it names its zone, else as written. mailparser's own `date` is the current
 * time when the header does not parse and local time when it has no zone: ingest would depend on the clock and TZ.
 */
function dateOf(parsed: Awaited<ReturnType<typeof simpleParser>>): string | undefined {
  const line = parsed.headerLines.find((h) => h.key === "date")?.line;
  if (!line) return undefined;
  const raw = line.slice(line.indexOf(":") + 1).replace(/\s+/g, " ").trim();
  if (raw === "") return undefined;
  const zoned = /(?:[+-]\d{4}|\b(?:GMT|UTC?|[ECMP][SD]T|Z))(?: \([^)]*\))?$/i.test(raw);
  const t = Date.parse(raw);
  return zoned && Number.isFinite(t) ? new Date(t).toISOString() : raw;
}

function addrText(a: AddressObject | AddressObject[] | undefined): string | undefined {
  if (!a) return undefined;
  return Array.isArray(a) ? a.map((x) => x.text).join(", ") : a.text;
}

/** Parses one raw RFC 822 message into a document. */
export async function readEmailMessage(raw: string | Buffer, line: number, opts: ReaderOptions): Promise<ReadItem> {
  const bytes = typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
  let parsed: Awaited<ReturnType<typeof simpleParser>>;
  try {
    parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
  } catch (err) {
    return { kind: "reject", reason: "unparseable email", detail: err instanceof Error ? err.message : String(err), line, bytes };
  }
  let body = parsed.text ?? "";
  let htmlConverted = false;
  if (body.trim() === "" && typeof parsed.html === "string") {
    body = htmlToText(parsed.html).text;
    htmlConverted = true;
  }
  const from = addrText(parsed.from);
  const to = addrText(parsed.to);
  const date = dateOf(parsed);
  const head: string[] = [];
  if (opts.emailHeaders) {
    if (from) head.push(`From: ${from}`);
    if (to) head.push(`To: ${to}`);
    if (date) head.push(`Date: ${date}`);
    if (parsed.subject) head.push(`Subject: ${parsed.subject}`);
  }
  const text = head.length > 0 ? `${head.join("\n")}\n\n${body.trim()}` : body.trim();
  if (body.trim() === "" && !parsed.subject) return { kind: "reject", reason: "email without text body", line, bytes };
  return {
    kind: "doc",
    text,
    line,
    meta: {
      kind: "email",
      message_id: parsed.messageId,
      subject: parsed.subject,
      from,
      date,
      ...(htmlConverted ? { html_converted: true } : {}),
      ...(parsed.attachments.length > 0 ? { attachments: parsed.attachments.length } : {}),
    },
  };
}

/** What {@link cleanEmailBody} cut from one body. */
export interface EmailBodyCuts {
  /** Quoted lines (`> ...`) and the attribution lines that introduce them ("On ..., X wrote:"). */
  quotedLines: number;
  /** A forwarded-reply block ("-----Original Message-----" and all below it) was cut. */
  originalMessage: boolean;
  /** A signature below a "-- " delimiter was cut. */
  signature: boolean;
  /** A mailing-list footer (unsubscribe links, list banners, sponsor blocks) was cut. */
  footer: boolean;
  /** PGP armour lines removed. */
  pgpLines: number;
}

const ORIGINAL_MESSAGE = /^\s*-{2,}\s*(Original Message|Forwarded by .*|Reply Separator)\s*-{2,}\s*$/i;
const ATTRIBUTION = /\b(wrote|writes|said)\s*[:;]\s*$/i;
const FOOTER_RULE = /^\s*(_{10,}|-{10,}.*|={10,}|-+\s*Yahoo! Groups Sponsor.*)\s*$/;
const LIST_MARK = /mailman\/listinfo|listinfo\/|mailing list|unsubscribe|List maintainer|Yahoo! Groups|lists\.sourceforge\.net|sponsored by/i;
/** Signatures and footers are short: a delimiter with more than this many non-blank lines below it is kept. */
const MAX_TAIL_LINES = 25;

function nonBlank(lines: readonly string[]): number {
  let n = 0;
  for (const l of lines) if (l.trim() !== "") n++;
  return n;
}

/**
 * The part of an email body its writer wrote: drops quoted lines and their attribution lines, a forwarded
 * "-----Original Message-----" block, PGP armour, a signature below "-- " and mailing-list footers (a rule line or
 * list banner followed by unsubscribe/listinfo lines). Forwarded articles are kept: they are the message's content.
 */
export function cleanEmailBody(body: string): { text: string; cuts: EmailBodyCuts } {
  const cuts: EmailBodyCuts = { quotedLines: 0, originalMessage: false, signature: false, footer: false, pgpLines: 0 };
  let lines = body.replace(/\r\n?/g, "\n").split("\n");
  // a reply quoted in full below the new text
  const orig = lines.findIndex((l) => ORIGINAL_MESSAGE.test(l));
  if (orig >= 0) {
    lines = lines.slice(0, orig);
    cuts.originalMessage = true;
  }
  // PGP: the signed-message header with its Hash line, and the signature block
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === "-----BEGIN PGP SIGNED MESSAGE-----") {
      cuts.pgpLines++;
      while (i + 1 < lines.length && /^Hash:/i.test(lines[i + 1].trim())) {
        i++;
        cuts.pgpLines++;
      }
      continue;
    }
    if (t === "-----BEGIN PGP SIGNATURE-----") {
      let j = i;
      while (j < lines.length && lines[j].trim() !== "-----END PGP SIGNATURE-----") j++;
      cuts.pgpLines += Math.min(j, lines.length - 1) - i + 1;
      i = j;
      continue;
    }
    kept.push(lines[i]);
  }
  lines = kept;
  // a mailing-list footer: a rule line (or sponsor banner) with list boilerplate below it
  for (let i = 0; i < lines.length; i++) {
    if (!FOOTER_RULE.test(lines[i])) continue;
    const tail = lines.slice(i + 1);
    if (nonBlank(tail) <= MAX_TAIL_LINES && tail.some((l) => LIST_MARK.test(l))) {
      lines = lines.slice(0, i);
      cuts.footer = true;
      break;
    }
  }
  // the signature: below the conventional "-- " delimiter (many lists' footers hang there too)
  const sig = lines.findIndex((l, i) => (l === "-- " || l === "--") && nonBlank(lines.slice(i + 1)) <= MAX_TAIL_LINES);
  if (sig >= 0) {
    lines = lines.slice(0, sig);
    cuts.signature = true;
  }
  // quoted lines, and the attribution lines that introduce a quote
  // "> " is the usual quote mark; Supercite puts the writer's initials before it ("JD> "); some clients quote with ") "
  const quoted = (l: string | undefined) => l !== undefined && /^\s*([A-Za-z]{1,4}>|>|\)(\s|$))/.test(l);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (quoted(l)) {
      cuts.quotedLines++;
      continue;
    }
    if (ATTRIBUTION.test(l) && l.length <= 200) {
      let j = i + 1;
      while (j < lines.length && lines[j].trim() === "") j++;
      if (quoted(lines[j]) || j === lines.length || /^\s*(On|At|Quoting|In (message|article))\b/i.test(l)) {
        cuts.quotedLines++;
        continue;
      }
    }
    out.push(l);
  }
  // feed digests open with "URL: ..." and "Date: ..." lines of their own: not the writer's text
  while (out.length > 0 && (out[0].trim() === "" || /^(URL|Date): \S/.test(out[0]))) out.shift();
  // list links left at the very end without a rule line above them
  while (out.length > 0 && (out[out.length - 1].trim() === "" || (out[out.length - 1].length <= 120 && LIST_MARK.test(out[out.length - 1])))) {
    if (out[out.length - 1].trim() !== "") cuts.footer = true;
    out.pop();
  }
  const text = out
    .map((l) => l.trimEnd())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
  return { text, cuts };
}
