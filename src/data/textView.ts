// Lazily computed views of a document's text (lines, paragraphs, words) shared by all quality
// rules, so a document is split once however many rules look at it.

const WORD_RE = /\S+/g;
/** Leading/trailing punctuation stripped from a whitespace token to get a word. */
const EDGE_PUNCT_RE = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

/** Splits text into words: whitespace tokens with edge punctuation removed; pure-punctuation tokens dropped. */
export function splitWords(text: string): string[] {
  const toks = text.match(WORD_RE);
  if (!toks) return [];
  const out: string[] = [];
  for (const t of toks) {
    const c0 = t.charCodeAt(0);
    const c1 = t.charCodeAt(t.length - 1);
    // fast path: token starts and ends with an ASCII letter or digit
    const plain0 = (c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90) || (c0 >= 48 && c0 <= 57);
    const plain1 = (c1 >= 97 && c1 <= 122) || (c1 >= 65 && c1 <= 90) || (c1 >= 48 && c1 <= 57);
    const w = plain0 && plain1 ? t : t.replace(EDGE_PUNCT_RE, "");
    if (w.length > 0) out.push(w);
  }
  return out;
}

/** Text of one document with cached splits. */
export class TextView {
  private _lines?: string[];
  private _nonEmptyLines?: string[];
  private _paragraphs?: string[];
  private _tokens?: string[];
  private _words?: string[];

  constructor(readonly text: string) {}

  /** Lines split on `\n` (may include empty lines). */
  get lines(): string[] {
    this._lines ??= this.text.split("\n");
    return this._lines;
  }

  /** Lines that are not blank, trimmed. */
  get nonEmptyLines(): string[] {
    if (!this._nonEmptyLines) {
      const out: string[] = [];
      for (const l of this.lines) {
        const t = l.trim();
        if (t.length > 0) out.push(t);
      }
      this._nonEmptyLines = out;
    }
    return this._nonEmptyLines;
  }

  /** Paragraphs split on blank lines. */
  get paragraphs(): string[] {
    this._paragraphs ??= this.text.trim().split(/\n\s*\n+/);
    return this._paragraphs;
  }

  /** Whitespace-separated tokens, punctuation kept. */
  get tokens(): string[] {
    this._tokens ??= this.text.match(WORD_RE) ?? [];
    return this._tokens;
  }

  /** Words (edge punctuation removed, pure-punctuation tokens dropped). */
  get words(): string[] {
    this._words ??= splitWords(this.text);
    return this._words;
  }
}

/** Counts duplicates in a list: how many elements repeat an earlier one and how many characters they hold. */
export function findDuplicates(xs: readonly string[]): { elements: number; chars: number } {
  const seen = new Set<string>();
  let elements = 0;
  let chars = 0;
  for (const x of xs) {
    if (seen.has(x)) {
      elements++;
      chars += x.length;
    } else seen.add(x);
  }
  return { elements, chars };
}
