// Python 3.11 string semantics the datatrove a649de79 quality rules depend on (str.splitlines, strip,
// isspace, isalpha, split()): JavaScript's own versions differ (String.prototype.trim strips U+FEFF but not
// U+001C..U+001F or U+0085; split("\n") is not splitlines), and a rule ported from Python must see the same
// lines and words. Unicode sets are Python's own (unicodedata 14.0), generated into spacyEnglishData.ts.

import { ALPHA_RANGES } from "./spacyEnglishData.js";

/**
 * Python 3.11 `str.isspace()` for one UTF-16 code unit (every Python whitespace character is in the BMP):
 * \t \n \v \f \r, U+001C..U+001F, space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000. Unlike JavaScript's \s: U+001C..U+001F and U+0085 are spaces, U+FEFF is not.
 */
export function isPySpace(code: number): boolean {
  if (code < 128) return code === 32 || (code >= 9 && code <= 13) || (code >= 0x1c && code <= 0x1f);
  return code === 0x85 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000;
}

/** True for the line boundaries of Python 3.11 `str.splitlines()` (\r\n counts as one, handled by the caller). */
function isLineBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 11 || c === 12 || c === 0x1c || c === 0x1d || c === 0x1e || c === 0x85 || c === 0x2028 || c === 0x2029;
}

/**
 * Python 3.11 `str.splitlines()` (keepends=False): splits at \n, \r, \r\n, \v, \f, \x1c, \x1d, \x1e, \x85,
 * U+2028 and U+2029; a final line break does not start an empty last line, and "" gives [].
 */
export function pySplitlines(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let s = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isLineBreak(c)) {
      out.push(text.slice(s, i));
      i += c === 13 && i + 1 < n && text.charCodeAt(i + 1) === 10 ? 2 : 1;
      s = i;
    } else i++;
  }
  if (s < n) out.push(text.slice(s));
  return out;
}

/** Python 3.11 `str.lstrip()` with no argument (removes leading {@link isPySpace} characters). */
export function pyLstrip(s: string): string {
  let i = 0;
  while (i < s.length && isPySpace(s.charCodeAt(i))) i++;
  return i === 0 ? s : s.slice(i);
}

/** Python 3.11 `str.rstrip()` with no argument (removes trailing {@link isPySpace} characters). */
export function pyRstrip(s: string): string {
  let j = s.length;
  while (j > 0 && isPySpace(s.charCodeAt(j - 1))) j--;
  return j === s.length ? s : s.slice(0, j);
}

/** Python 3.11 `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  let i = 0;
  let j = s.length;
  while (i < j && isPySpace(s.charCodeAt(i))) i++;
  while (j > i && isPySpace(s.charCodeAt(j - 1))) j--;
  return i === 0 && j === s.length ? s : s.slice(i, j);
}

/** 1 where a BMP code unit is alphabetic for Python (general category L*); built on first use. */
let bmpAlpha: Uint8Array | undefined;

function alphaTable(): Uint8Array {
  if (!bmpAlpha) {
    const t = new Uint8Array(65536);
    for (let j = 0; j < ALPHA_RANGES.length; j += 2) for (let c = ALPHA_RANGES[j]; c <= Math.min(ALPHA_RANGES[j + 1], 0xffff); c++) t[c] = 1;
    bmpAlpha = t;
  }
  return bmpAlpha;
}

function astralAlpha(cp: number): boolean {
  let lo = 0;
  let hi = (ALPHA_RANGES.length >> 1) - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (cp < ALPHA_RANGES[2 * m]) hi = m - 1;
    else if (cp > ALPHA_RANGES[2 * m + 1]) lo = m + 1;
    else return true;
  }
  return false;
}

/**
 * Python 3.11 `str.isalpha()`: non-empty and every code point alphabetic (Unicode 14.0 categories Lu, Ll, Lt,
 * Lm, Lo, from Python's unicodedata). A lone surrogate is not alphabetic.
 */
export function isPyAlpha(str: string): boolean {
  const n = str.length;
  if (n === 0) return false;
  const t = alphaTable();
  for (let i = 0; i < n; i++) {
    const c = str.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = str.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        if (!astralAlpha(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000)) return false;
        i++;
        continue;
      }
    }
    if (t[c] === 0) return false;
  }
  return true;
}

/** Python 3.11 `str.split()` with no argument: the runs of non-{@link isPySpace} characters. */
export function pySplit(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && isPySpace(text.charCodeAt(i))) i++;
    if (i >= n) break;
    const s = i;
    while (i < n && !isPySpace(text.charCodeAt(i))) i++;
    out.push(text.slice(s, i));
  }
  return out;
}
