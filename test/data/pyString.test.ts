// Python 3.11 str semantics (src/data/words/pyString.ts) against Python itself: results recorded by
// scripts/make_spacy_fixture.py in test/data/fixtures/spacyEnglish.json ("py"), and the whitespace set
// against Python's str.isspace() over every code point (SPACE_RANGES, generated from Python).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isPyAlpha, isPySpace, pyLstrip, pyRstrip, pySplit, pySplitlines, pyStrip } from "../../src/data/words/pyString.js";
import { SPACE_RANGES } from "../../src/data/words/spacyEnglishData.js";

interface PyCase {
  s: string;
  splitlines: string[];
  strip: string;
  lstrip: string;
  rstrip: string;
  split: string[];
  isalpha: boolean;
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "spacyEnglish.json"), "utf8")) as { py: PyCase[] };

describe("Python string semantics", () => {
  it("isPySpace is Python's str.isspace() on every code unit", () => {
    const want = new Uint8Array(65536);
    for (let j = 0; j < SPACE_RANGES.length; j += 2) for (let c = SPACE_RANGES[j]; c <= SPACE_RANGES[j + 1]; c++) want[c] = 1;
    // (every Python whitespace character is in the BMP)
    expect(SPACE_RANGES[SPACE_RANGES.length - 1]).toBeLessThan(65536);
    const bad: number[] = [];
    for (let c = 0; c < 65536; c++) if (isPySpace(c) !== (want[c] === 1)) bad.push(c);
    expect(bad).toEqual([]);
  });

  it(`agrees with Python on ${fixture.py.length} strings`, () => {
    const bad: string[] = [];
    for (const c of fixture.py) {
      const got = { splitlines: pySplitlines(c.s), strip: pyStrip(c.s), lstrip: pyLstrip(c.s), rstrip: pyRstrip(c.s), split: pySplit(c.s), isalpha: isPyAlpha(c.s) };
      const want = { splitlines: c.splitlines, strip: c.strip, lstrip: c.lstrip, rstrip: c.rstrip, split: c.split, isalpha: c.isalpha };
      if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${JSON.stringify(c.s)}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("splits lines the Python way", () => {
    expect(pySplitlines("")).toEqual([]);
    expect(pySplitlines("a\r\nb\rc\nd\u2028e\x85f\x0bg\x0ch\x1ci")).toEqual(["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
    expect(pySplitlines("a\n\nb\n")).toEqual(["a", "", "b"]);
    expect(pySplitlines("\n")).toEqual([""]);
    expect(pySplitlines("a\r\n\r\n")).toEqual(["a", ""]);
  });

  it("strips and splits on Python's whitespace, not JavaScript's", () => {
    expect(pyStrip("\ufeffa\u0085")).toBe("\ufeffa");
    expect(pyStrip("\x1c a \x1f")).toBe("a");
    expect("\x1c a \x1f".trim()).not.toBe("a");
    expect(pySplit(" a\u00a0b\x1cc\ufeffd ")).toEqual(["a", "b", "c\ufeffd"]);
    expect(pySplit("")).toEqual([]);
    expect(isPyAlpha("")).toBe(false);
    expect(isPyAlpha("héllo")).toBe(true);
    expect(isPyAlpha("a1")).toBe(false);
  });
});
