// Byte-level helpers: the GPT-2 byte<->printable-character table used by Hugging Face
// tokenizer.json files, and fast UTF-8 encoding of JS strings into byte arrays.

/**
 * GPT-2's reversible byte -> unicode character table (`bytes_to_unicode`): printable
 * Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (keep(b)) table[b] = String.fromCharCode(b);
    else table[b] = String.fromCharCode(256 + n++);
  }
  return table;
})();

/** Inverse of {@link BYTE_TO_CHAR}: char code -> byte, or -1. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CHAR[b].charCodeAt(0)] = b;
  return t;
})();

/** Maps bytes to their GPT-2 byte-level string (the form tokens take in tokenizer.json). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** Inverse of {@link bytesToByteLevel}; returns null if a character is not in the table. */
export function byteLevelToBytes(s: string): Uint8Array | null {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 512 ? CHAR_TO_BYTE[c] : -1;
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const encoder = new TextEncoder();

/**
 * UTF-8 bytes of `s`. Lone surrogates become U+FFFD (EF BF BD), as in the WHATWG
 * encoder: this is the tokenizer's stated policy for strings that are not well formed.
 */
export function utf8Bytes(s: string): Uint8Array {
  // ASCII fast path: most pre-tokens are short ASCII words.
  const n = s.length;
  if (n < 64) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
      return out;
    }
  }
  return encoder.encode(s);
}

/** Key for a byte string in a Map: one char per byte (Latin-1), cheap to hash and compare. */
export function bytesKey(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}
