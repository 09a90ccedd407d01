// Splits a document's text into knowledge-base chunks: blocks are headings and paragraphs (blank-line separated), a
// heading starts a new chunk, blocks are packed up to a size in tokens of the embedder's tokenizer, and consecutive
// chunks of a section overlap by whole trailing blocks. Every chunk is an exact slice text.slice(start, end).

/** Counts tokens of a piece of text (the embedder's tokenizer, or {@link wordCounter} without one). */
export type TokenCounter = (text: string) => number;

/** A rough count for knowledge bases without a tokenizer: words and punctuation marks. */
export const wordCounter: TokenCounter = (text) => (text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []).length;

/** A heading or paragraph of a document, with its offsets (UTF-16 code units, as JavaScript strings index). */
export interface TextBlock {
  start: number;
  end: number;
  heading: boolean;
}

/** One chunk: `text` is exactly the document's text from `start` to `end`. */
export interface Chunk {
  ordinal: number;
  text: string;
  start: number;
  end: number;
  /** Tokens of `text` by the counter the chunker was given. */
  tokens: number;
  /** The nearest heading above the chunk's first block (or the chunk's own heading), if any. */
  heading?: string;
}

export interface ChunkOptions {
  /** Largest chunk, in tokens (default 256). */
  maxTokens?: number;
  /** Trailing blocks of the previous chunk of the same section repeated at the start of the next, up to this many tokens (default maxTokens / 8). */
  overlapTokens?: number;
  count?: TokenCounter;
}

const ATX_HEADING = /^ {0,3}#{1,6}\s+\S/;
const UNDERLINE = /^\s*(=+|-+|~+|\^+|\*+)\s*$/;

/** Whether a one-line paragraph reads like a heading (HTML text and plain text mark headings only by their shape). */
function headingLike(line: string): boolean {
  const t = line.trim();
  if (ATX_HEADING.test(line)) return true;
  const words = t.split(/\s+/).length;
  return words <= 12 && t.length <= 100 && !/[.,;:!?)"'\]]$/.test(t) && /^[\p{Lu}\p{N}]/u.test(t);
}

/** The words of a heading block: without Markdown #s, without an underline. */
export function headingText(block: string): string {
  return block.split(/\r?\n/)[0].replace(/^\s*#+\s*/, "").replace(/\s*#+\s*$/, "").trim();
}

/**
 * Headings and paragraphs of `text`: paragraphs are runs of non-blank lines; a Markdown `#` line, a line
 * underlined with = - ~ ^ * (setext/reStructuredText), or a short one-line paragraph without final punctuation
 * is a heading. A Markdown heading line directly above a paragraph is a block of its own.
 */
export function splitBlocks(text: string): TextBlock[] {
  const blocks: TextBlock[] = [];
  const lineRe = /[^\n]*(?:\n|$)/g;
  let cur: { start: number; end: number; lines: string[] } | null = null;
  const flush = () => {
    if (!cur) return;
    const lines = cur.lines;
    const underlined = lines.length === 2 && UNDERLINE.test(lines[1]) && lines[0].trim().length > 0;
    blocks.push({ start: cur.start, end: cur.end, heading: underlined || (lines.length === 1 && headingLike(lines[0])) });
    cur = null;
  };
  for (let m = lineRe.exec(text); m && m.index < text.length; m = lineRe.exec(text)) {
    const raw = m[0];
    const line = raw.replace(/\r?\n$/, "");
    const start = m.index;
    const end = start + line.replace(/\r$/, "").length;
    if (line.trim() === "") flush();
    else if (ATX_HEADING.test(line)) {
      flush();
      blocks.push({ start: start + (line.length - line.trimStart().length), end: start + line.trimEnd().length, heading: true });
    } else {
      const lead = line.length - line.trimStart().length;
      if (!cur) cur = { start: start + lead, end, lines: [line] };
      else {
        cur.end = end;
        cur.lines.push(line);
      }
      if (cur.lines.length === 2 && UNDERLINE.test(line) && cur.lines[0].trim()) flush(); // setext / RST heading
    }
    if (raw.length === 0) break;
  }
  flush();
  // trim trailing spaces inside a block's end
  for (const b of blocks) while (b.end > b.start && /\s/.test(text[b.end - 1])) b.end--;
  return blocks.filter((b) => b.end > b.start);
}

/**
 * Splits a block over `max` tokens into pieces that fit, with offsets: at sentence ends (level 0), else at spaces
 * (level 1), else by halving (level 2, a "word" longer than max). Pieces never end on whitespace.
 */
function splitLong(text: string, s: number, e: number, max: number, count: TokenCounter, level = 0): TextBlock[] {
  if (e - s <= 1 || count(text.slice(s, e)) <= max) return [{ start: s, end: e, heading: false }];
  if (level >= 2) {
    const mid = s + Math.floor((e - s) / 2);
    return [...splitLong(text, s, mid, max, count, 2), ...splitLong(text, mid, e, max, count, 2)];
  }
  const ws = (c: string) => /\s/.test(c);
  const starts = [s];
  for (let i = s + 1; i < e; i++) if (!ws(text[i]) && ws(text[i - 1]) && (level === 1 || /[.!?]["')\]]?\s*$/.test(text.slice(Math.max(s, i - 4), i)))) starts.push(i);
  if (starts.length === 1) return splitLong(text, s, e, max, count, level + 1);
  const pieces = starts.map((p, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] : e;
    while (end > p && ws(text[end - 1])) end--;
    return { start: p, end };
  });
  const out: TextBlock[] = [];
  let cur = -1; // start of the piece being grown, or -1
  let curEnd = -1;
  for (const p of pieces) {
    if (cur >= 0 && count(text.slice(cur, p.end)) <= max) {
      curEnd = p.end;
      continue;
    }
    if (cur >= 0) out.push({ start: cur, end: curEnd, heading: false });
    if (count(text.slice(p.start, p.end)) <= max) {
      cur = p.start;
      curEnd = p.end;
    } else {
      out.push(...splitLong(text, p.start, p.end, max, count, level + 1));
      cur = -1;
    }
  }
  if (cur >= 0) out.push({ start: cur, end: curEnd, heading: false });
  return out;
}

/**
 * Chunks `text` (see the file comment). Guarantees: every chunk is `text.slice(start, end)`, has at most `maxTokens`
 * tokens by `count` (a single word that alone is longer is cut by characters), starts at a block boundary, and
 * every character outside whitespace is in at least one chunk.
 */
export function chunkText(text: string, opts: ChunkOptions = {}): Chunk[] {
  const max = opts.maxTokens ?? 256;
  const overlap = opts.overlapTokens ?? Math.floor(max / 8);
  const count = opts.count ?? wordCounter;
  if (!(Number.isInteger(max) && max >= 8)) throw new RangeError(`chunk size must be a whole number of tokens >= 8, got ${max}`);
  if (!(Number.isInteger(overlap) && overlap >= 0 && overlap < max)) throw new RangeError(`chunk overlap must be a whole number in [0, ${max}), got ${overlap}`);
  const blocks = splitBlocks(text).flatMap((b) => (b.heading && count(text.slice(b.start, b.end)) <= max ? [b] : splitLong(text, b.start, b.end, max, count)));
  const tokensOf = blocks.map((b) => count(text.slice(b.start, b.end)));
  const chunks: Chunk[] = [];
  let heading: string | undefined;
  let first = 0; // first block of the chunk being built
  let i = 0;
  const headingAt = (bi: number): string | undefined => {
    for (let j = bi; j >= 0; j--) if (blocks[j].heading) return headingText(text.slice(blocks[j].start, blocks[j].end));
    return undefined;
  };
  while (first < blocks.length) {
    // grow [first, i) while the exact slice fits
    i = first + 1;
    // a heading (or run of headings) takes the paragraphs below it; a heading after a paragraph starts a new chunk
    let onlyHeadings = blocks[first].heading;
    while (i < blocks.length && (onlyHeadings || !blocks[i].heading) && count(text.slice(blocks[first].start, blocks[i].end)) <= max) {
      onlyHeadings &&= blocks[i].heading;
      i++;
    }
    const start = blocks[first].start;
    const end = blocks[i - 1].end;
    const slice = text.slice(start, end);
    heading = headingAt(first);
    chunks.push({ ordinal: chunks.length, text: slice, start, end, tokens: count(slice), ...(heading ? { heading } : {}) });
    if (i >= blocks.length) break;
    // overlap: repeat trailing whole blocks of this chunk (same section, not its first block) up to `overlap` tokens
    let next = i;
    if (!blocks[i].heading && overlap > 0) {
      let used = 0;
      for (let j = i - 1; j > first && !blocks[j].heading; j--) {
        if (used + tokensOf[j] > overlap) break;
        if (count(text.slice(blocks[j].start, blocks[i].end)) > max) break;
        used += tokensOf[j];
        next = j;
      }
    }
    first = next;
  }
  return chunks;
}
