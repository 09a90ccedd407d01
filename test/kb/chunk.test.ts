// Chunking: every chunk is the exact slice its offsets name, fits the size in tokens, headings start chunks,
// overlap repeats whole trailing paragraphs, and nothing of the text is lost.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkText, splitBlocks, wordCounter } from "../../src/kb/chunk.js";

const para = (n: number, w: string) => `${Array.from({ length: n }, (_, i) => `${w}${i}`).join(" ")}.`;

describe("chunkText", () => {
  it("keeps exact offsets, the size limit and every word", () => {
    const text = `# Title\n\n${para(30, "a")}\n\n${para(50, "b")}\n\nSection two\n===========\n\n${para(12, "c")}\r\n\r\n${para(300, "d")}\n`;
    const chunks = chunkText(text, { maxTokens: 64, overlapTokens: 16 });
    for (const c of chunks) {
      expect(c.text).toBe(text.slice(c.start, c.end));
      expect(c.tokens).toBe(wordCounter(c.text));
      expect(c.tokens).toBeLessThanOrEqual(64);
    }
    const covered = new Uint8Array(text.length);
    for (const c of chunks) covered.fill(1, c.start, c.end);
    for (let i = 0; i < text.length; i++) if (!/\s/.test(text[i])) expect(covered[i], `char ${i} ${JSON.stringify(text[i])}`).toBe(1);
    expect(chunks.map((c) => c.ordinal)).toEqual(chunks.map((_, i) => i));
    // the setext heading starts a chunk and names the chunks below it
    const s2 = chunks.find((c) => c.text.startsWith("Section two"));
    expect(s2?.heading).toBe("Section two");
    expect(chunks.find((c) => c.text.includes("d299"))?.heading).toBe("Section two");
    expect(chunks[0].text.startsWith("# Title")).toBe(true);
  });

  it("overlaps by whole trailing paragraphs within a section, never across a heading", () => {
    const paras = Array.from({ length: 8 }, (_, i) => para(10, `p${i}x`));
    const text = paras.join("\n\n");
    const chunks = chunkText(text, { maxTokens: 40, overlapTokens: 12 });
    expect(chunks.length).toBeGreaterThan(2);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i].start).toBeLessThan(chunks[i - 1].end); // overlap
    const noOverlap = chunkText(text, { maxTokens: 40, overlapTokens: 0 });
    for (let i = 1; i < noOverlap.length; i++) expect(noOverlap[i].start).toBeGreaterThanOrEqual(noOverlap[i - 1].end);
    const withHeading = chunkText(`${para(10, "a")}\n\n## H\n\n${para(10, "b")}`, { maxTokens: 40, overlapTokens: 12 });
    expect(withHeading.map((c) => c.text.slice(0, 4))).toEqual(["a0 a", "## H"]);
  });

  it("splits a paragraph without sentence ends, and a word longer than the limit", () => {
    const long = `${"x".repeat(500)} ${para(100, "w").replaceAll(".", "")}`;
    const count = (t: string) => Math.ceil(t.length / 8); // a "tokenizer" where length matters
    const chunks = chunkText(long, { maxTokens: 16, overlapTokens: 0, count });
    for (const c of chunks) {
      expect(c.text).toBe(long.slice(c.start, c.end));
      expect(count(c.text)).toBeLessThanOrEqual(16);
    }
    expect(chunks.map((c) => c.text).join("").replace(/\s/g, "")).toBe(long.replace(/\s/g, ""));
  });

  it("holds its guarantees on random text (property)", () => {
    const piece = fc.oneof(fc.constantFrom("\n", "\n\n", "# ", "## Head\n", "word", " ", ". ", "Ünï", "\r\n", "====\n", "😀"), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 80 }), fc.integer({ min: 8, max: 40 }), (parts, max) => {
        const text = parts.join("");
        const chunks = chunkText(text, { maxTokens: max, overlapTokens: Math.floor(max / 4) });
        const covered = new Uint8Array(text.length);
        for (const c of chunks) {
          if (c.text !== text.slice(c.start, c.end)) return false;
          if (c.tokens > max) return false;
          covered.fill(1, c.start, c.end);
        }
        for (let i = 0; i < text.length; i++) if (!/\s/.test(text[i]) && !covered[i]) return false;
        return true;
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("marks Markdown, underlined and short title lines as headings", () => {
    const text = "# A\n\nBody text here, a sentence.\n\nShort Title\n\nUnder\n-----\n\nlower case line";
    const b = splitBlocks(text).map((x) => [text.slice(x.start, x.end), x.heading]);
    expect(b).toEqual([["# A", true], ["Body text here, a sentence.", false], ["Short Title", true], ["Under\n-----", true], ["lower case line", false]]);
  });
});
