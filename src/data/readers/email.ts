// Raw email and mbox reading with mailparser: headers parsed, bodies decoded (quoted-printable, base64,
// charsets), HTML-only parts converted to text; mbox files split on their "From " separator lines.
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
      if (cur && cur.some((x) => x.trim() !== "")) msgs.push({ line: start, raw: cur.join("\n") });
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
  if (cur && cur.some((x) => x.trim() !== "")) msgs.push({ line: start, raw: cur.join("\n") });
  return msgs;
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
  const date = parsed.date ? parsed.date.toISOString() : undefined;
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
