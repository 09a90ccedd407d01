// Plain text documents: one per file or one per blank-line paragraph block, and the size cap on documents.
// (Files are read and decoded by the shared text policy in io/textInput.ts.)
import type { ReadItem, ReaderOptions } from "./readItem.js";

/** Plain text: one document per file, or one per paragraph block (with its starting line). */
export function* readPlainText(text: string, opts: ReaderOptions): Generator<ReadItem> {
  if (opts.textSplit === "file") {
    yield sized({ kind: "doc", text, line: 0, meta: { kind: "text" } }, opts);
    return;
  }
  const lines = text.split(/\r?\n/);
  let block: string[] = [];
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    const l = i < lines.length ? lines[i] : "";
    if (l.trim() === "") {
      if (block.length > 0) yield sized({ kind: "doc", text: block.join("\n"), line: start, meta: { kind: "text" } }, opts);
      block = [];
    } else {
      if (block.length === 0) start = i + 1;
      block.push(l);
    }
  }
}

/** Turns an over-large document into a rejection. */
export function sized(item: ReadItem, opts: ReaderOptions): ReadItem {
  if (item.kind !== "doc") return item;
  const bytes = Buffer.byteLength(item.text);
  if (bytes > opts.maxDocBytes) return { kind: "reject", reason: "document too large", detail: `${bytes} bytes > ${opts.maxDocBytes}`, line: item.line || 1, bytes };
  return item;
}
