// Retrieval-augmented prompts: numbered sources with path and offsets, the trimming rule (prompt + answer always fit,
// the first passage that does not fit is cut, later ones dropped), "nothing relevant", and citations read back.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addToKb } from "../../src/kb/build.js";
import { wordCounter } from "../../src/kb/chunk.js";
import { answerWithKb, buildRagPrompt, NOTHING_FOUND, RAG_INSTRUCTIONS } from "../../src/kb/rag.js";
import { KbSearcher, type SearchHit } from "../../src/kb/search.js";
import { KnowledgeBase } from "../../src/kb/store.js";
import { writeCorpus } from "./fixture.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llmforge-kb-rag-"));
  writeCorpus(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hit = (id: number, words: number, bm25: number): SearchHit => {
  const text = Array.from({ length: words }, (_, i) => `w${id}_${i}`).join(" ");
  return { id, docId: id, path: `/d/${id}.md`, ordinal: 0, text, start: 100 * id, end: 100 * id + text.length, tokens: words, heading: null, rank: id, score: bm25, bm25 };
};

describe("buildRagPrompt", () => {
  it("numbers sources with path and offsets, and fits the context by the stated rule", () => {
    const hits = [hit(1, 20, 5), hit(2, 200, 4), hit(3, 10, 3)];
    const o = { contextTokens: 256, answerTokens: 64, templateTokens: 16, count: wordCounter };
    const p = buildRagPrompt("what is w1_3?", hits, o);
    expect(p.nothingFound).toBe(false);
    expect(p.prompt.startsWith(RAG_INSTRUCTIONS)).toBe(true);
    expect(p.prompt).toContain(`[1] /d/1.md (characters 100-${100 + hits[0].text.length})\n${hits[0].text}`);
    expect(p.prompt.trimEnd().endsWith("Question: what is w1_3?")).toBe(true);
    expect(p.citations.map((c) => [c.n, c.trimmed])).toEqual([[1, false], [2, true]]); // [2] cut, [3] dropped
    expect(p.citations[1].end).toBeLessThan(hits[1].end);
    expect(p.prompt).toContain(`[2] /d/2.md (characters 200-${p.citations[1].end})`);
    expect(p.promptTokens).toBeLessThanOrEqual(256 - 64 - 16);
    expect(p.promptTokens).toBeGreaterThan(256 - 64 - 16 - 30);
    expect(() => buildRagPrompt("what?", hits, { ...o, contextTokens: 140 })).toThrow(/no room for a passage/);
    for (const ctx of [160, 180, 400, 2000]) {
      const q = buildRagPrompt("what?", hits, { ...o, contextTokens: ctx });
      expect(q.promptTokens).toBeLessThanOrEqual(ctx - Math.min(64, ctx / 2) - 16);
    }
    expect(() => buildRagPrompt("a long question ".repeat(100), hits, o)).toThrow(/question takes/);
  });

  it("says nothing was found when no hit passes the relevance rule", () => {
    const o = { contextTokens: 256, count: wordCounter };
    expect(buildRagPrompt("q", [hit(1, 5, 0)], o).nothingFound).toBe(true);
    expect(buildRagPrompt("q", [{ ...hit(1, 5, 0), bm25: undefined, cosine: 0.1 }], o).nothingFound).toBe(true);
    expect(buildRagPrompt("q", [{ ...hit(1, 5, 0), bm25: undefined, cosine: 0.5 }], o).nothingFound).toBe(false);
    expect(buildRagPrompt("q", [], o).nothingFound).toBe(true);
  });

  it("answers from a knowledge base with citations, and without calling the model when nothing matches", async () => {
    const kbPath = join(dir, "r.sqlite");
    await addToKb({ kb: kbPath, files: [join(dir, "docs")] });
    const kb = KnowledgeBase.open(kbPath, { readonly: true });
    const searcher = new KbSearcher(kb, null);
    const prompts: string[] = [];
    const r = await answerWithKb(searcher, "How does a bishop move in chess?", (p) => {
      prompts.push(p);
      return "Diagonally [1].";
    }, { contextTokens: 512, count: wordCounter });
    expect(r.nothingFound).toBe(false);
    expect(prompts[0]).toContain("bishop moves diagonally");
    expect(r.citations[0]).toMatchObject({ n: 1, cited: true });
    expect(r.citations[0].path).toMatch(/chess\.md$/);
    expect(r.citations.slice(1).every((c) => !c.cited)).toBe(true);
    const none = await answerWithKb(searcher, "zebra quantum", () => {
      throw new Error("the model must not be called");
    }, { contextTokens: 512, count: wordCounter });
    expect(none).toMatchObject({ nothingFound: true, answer: NOTHING_FOUND, citations: [] });
    kb.close();
  });
});
