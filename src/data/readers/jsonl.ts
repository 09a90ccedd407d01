// JSONL inputs: a chosen (dotted) text field and optional id field, or dialogue records (messages/turns
// of role+content) rendered as "role: text" lines. Bad lines come back as rejections with their line.
import { readJsonl } from "../../io/jsonl.js";
import { sized } from "./text.js";
import type { ReadItem, ReaderOptions } from "./readItem.js";

function getPath(o: unknown, path: string): unknown {
  let cur = o;
  for (const k of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

const TURN_LIST_FIELDS = ["messages", "turns", "conversations", "conversation", "dialogue", "dialog"];
const ROLE_FIELDS = ["role", "speaker", "from", "author", "user"];
const CONTENT_FIELDS = ["content", "text", "value", "utterance", "message"];

/** Renders a dialogue record as "role: text" lines; null when the record holds no turn list. */
export function dialogueText(rec: Record<string, unknown>): { text: string; turns: number } | string | null {
  const field = TURN_LIST_FIELDS.find((f) => Array.isArray(rec[f]));
  if (!field) return null;
  const turns = rec[field] as unknown[];
  const lines: string[] = [];
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i];
    if (typeof t === "string") {
      lines.push(t);
      continue;
    }
    if (typeof t !== "object" || t === null) return `turn ${i} of "${field}" is not an object`;
    const o = t as Record<string, unknown>;
    const role = ROLE_FIELDS.map((f) => o[f]).find((v) => typeof v === "string") as string | undefined;
    const content = CONTENT_FIELDS.map((f) => o[f]).find((v) => typeof v === "string") as string | undefined;
    if (content === undefined) return `turn ${i} of "${field}" has no text (expected one of ${CONTENT_FIELDS.join(", ")})`;
    lines.push(role ? `${role}: ${content}` : content);
  }
  if (lines.length === 0) return `"${field}" is empty`;
  return { text: lines.join("\n"), turns: lines.length };
}

/** Reads a JSONL file of documents (or of dialogues when `dialogue` is set or the text field is absent but turns are present). */
export async function* readJsonlDocs(file: string, opts: ReaderOptions, dialogue: boolean): AsyncGenerator<ReadItem> {
  for await (const item of readJsonl<unknown>(file, opts.maxLineBytes)) {
    if (!item.ok) {
      const bad = item.error.reason.startsWith("invalid JSON");
      yield { kind: "reject", reason: bad ? "malformed JSON line" : item.error.reason, detail: bad ? item.error.reason : item.error.detail, line: item.line, bytes: 0 };
      continue;
    }
    const rec = item.value;
    const bytes = JSON.stringify(rec).length;
    if (typeof rec !== "object" || rec === null || Array.isArray(rec)) {
      yield { kind: "reject", reason: "JSON line is not an object", line: item.line, bytes };
      continue;
    }
    const r = rec as Record<string, unknown>;
    const idv = opts.idField ? getPath(r, opts.idField) : undefined;
    const id = typeof idv === "string" || typeof idv === "number" ? String(idv) : undefined;
    const meta: Record<string, unknown> = typeof r.meta === "object" && r.meta !== null ? { ...(r.meta as object) } : {};
    const text = getPath(r, opts.textField);
    if (!dialogue && typeof text === "string") {
      yield sized({ kind: "doc", text, line: item.line, id, meta }, opts);
      continue;
    }
    const d = dialogueText(r);
    if (d !== null && typeof d !== "string") {
      yield sized({ kind: "doc", text: d.text, line: item.line, id, meta: { ...meta, kind: "dialogue", turns: d.turns } }, opts);
      continue;
    }
    if (typeof d === "string") yield { kind: "reject", reason: "bad dialogue record", detail: d, line: item.line, bytes };
    else if (text === undefined) yield { kind: "reject", reason: "missing text field", detail: `no "${opts.textField}" field`, line: item.line, bytes };
    else yield { kind: "reject", reason: "text field not a string", detail: `"${opts.textField}" is ${typeof text}`, line: item.line, bytes };
  }
}
