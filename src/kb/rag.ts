// Retrieval-augmented answers: retrieve passages, keep the relevant ones, put them in the prompt as numbered
// sources ([1] path, characters a-b), trimmed so that the prompt and the answer fit the model's context, and return
// the answer with its citations; with nothing relevant, say so instead of asking the model.
import { existsSync } from "node:fs";
import type { ChatMessage } from "../tokenizer/chatTemplate.js";
import { Embedder } from "./embed.js";
import { KbSearcher, type SearchHit, type SearchMode } from "./search.js";
import { KnowledgeBase } from "./store.js";

/**
 * The prompt template (the user message of a chat, or a plain prompt):
 *
 * ```
 * Answer the question using only the numbered sources below. Cite the sources you use as [1], [2].
 * If the sources do not contain the answer, say that you do not know.
 *
 * [1] docs/guide.md (characters 120-980)
 * <passage text>
 *
 * [2] ...
 *
 * Question: <question>
 * ```
 */
export const RAG_INSTRUCTIONS =
  "Answer the question using only the numbered sources below. Cite the sources you use as [1], [2].\nIf the sources do not contain the answer, say that you do not know.";

/** The answer given, without asking the model, when no passage passes the relevance rule. */
export const NOTHING_FOUND = "Nothing relevant was found in the knowledge base for this question.";

/** A passage placed in the prompt. */
export interface Citation {
  /** The number it has in the prompt ([n]). */
  n: number;
  path: string;
  start: number;
  /** End offset of the text placed in the prompt (less than the chunk's end when the passage was trimmed). */
  end: number;
  score: number;
  trimmed: boolean;
  /** Whether the answer cites [n]. */
  cited: boolean;
}

export interface RagOptions {
  k?: number;
  mode?: SearchMode;
  /** The model's context in tokens (prompt + answer). */
  contextTokens: number;
  /** Tokens kept free for the answer (default 128, at most half the context). */
  answerTokens?: number;
  /** Tokens the chat template adds around the prompt (default 16). */
  templateTokens?: number;
  count: (text: string) => number;
  /** Relevance rule: a BM25 hit must score at least this (default: > 0, i.e. any query term matched). */
  minBm25?: number;
  /** Relevance rule: a vector hit must have at least this cosine (default 0.3). */
  minCosine?: number;
  /** Smallest piece of a trimmed passage worth keeping, in tokens (default 24). */
  minPassageTokens?: number;
}

export interface RagPrompt {
  prompt: string;
  citations: Citation[];
  /** True when no passage passed the relevance rule (the prompt is then empty). */
  nothingFound: boolean;
  promptTokens: number;
}

/** Whether a hit passes the relevance rule: its BM25 score >= minBm25 (> 0 by default) or its cosine >= minCosine. */
export function isRelevant(h: SearchHit, o: Pick<RagOptions, "minBm25" | "minCosine"> = {}): boolean {
  const bmOk = h.bm25 !== undefined && (o.minBm25 === undefined ? h.bm25 > 0 : h.bm25 >= o.minBm25);
  const cosOk = h.cosine !== undefined && h.cosine >= (o.minCosine ?? 0.3);
  return bmOk || cosOk;
}

const header = (n: number, h: { path: string; start: number }, end: number): string => `[${n}] ${h.path} (characters ${h.start}-${end})`;

/** Cuts text to at most `tokens` tokens by `count` (binary search on a character prefix, ending at a word boundary). */
function cutTo(text: string, tokens: number, count: (t: string) => number): string {
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (count(text.slice(0, mid)) <= tokens) lo = mid;
    else hi = mid - 1;
  }
  const cut = text.slice(0, lo);
  const ws = cut.search(/\s\S*$/);
  return ws > 0 ? cut.slice(0, ws) : cut;
}

/**
 * Builds the prompt from ranked hits. Trimming rule: the instructions and the question are always kept; passages
 * are taken in rank order while they fit in contextTokens - answerTokens - templateTokens; the first passage that
 * does not fit whole is cut to the room left (at a word boundary) if at least minPassageTokens remain (any room, for
 * the best passage), and the passages after it are dropped. Throws when the question, or the question and a piece of
 * the best passage, do not fit.
 */
export function buildRagPrompt(question: string, hits: readonly SearchHit[], o: RagOptions): RagPrompt {
  const relevant = hits.filter((h) => isRelevant(h, o));
  const tail = `Question: ${question.trim()}`;
  if (relevant.length === 0) return { prompt: "", citations: [], nothingFound: true, promptTokens: 0 };
  const answer = Math.min(o.answerTokens ?? 128, Math.floor(o.contextTokens / 2));
  const budget = o.contextTokens - answer - (o.templateTokens ?? 16);
  const fixed = `${RAG_INSTRUCTIONS}\n\n${tail}`;
  let used = o.count(fixed) + 2;
  if (used > budget) throw new RangeError(`the question takes ${used} tokens with the instructions; the context of ${o.contextTokens} leaves ${budget} after ${answer} for the answer`);
  const parts: string[] = [];
  const citations: Citation[] = [];
  for (const h of relevant) {
    const n = citations.length + 1;
    const whole = `${header(n, h, h.end)}\n${h.text}\n\n`;
    const cost = o.count(whole);
    if (used + cost <= budget) {
      parts.push(whole);
      used += cost;
      citations.push({ n, path: h.path, start: h.start, end: h.end, score: h.score, trimmed: false, cited: false });
      continue;
    }
    const room = budget - used - o.count(`${header(n, h, h.end)}\n\n\n`);
    if (room >= (citations.length === 0 ? 1 : (o.minPassageTokens ?? 24))) {
      const text = cutTo(h.text, room, o.count);
      if (text.length > 0) {
        const end = h.start + text.length;
        const piece = `${header(n, h, end)}\n${text}\n\n`;
        parts.push(piece);
        used += o.count(piece);
        citations.push({ n, path: h.path, start: h.start, end, score: h.score, trimmed: true, cited: false });
      }
    }
    break;
  }
  if (citations.length === 0) {
    throw new RangeError(`a context of ${o.contextTokens} tokens leaves no room for a passage after the instructions, the question and ${answer} tokens for the answer (ask for fewer answer tokens)`);
  }
  const prompt = `${RAG_INSTRUCTIONS}\n\n${parts.join("")}${tail}`;
  return { prompt, citations, nothingFound: false, promptTokens: o.count(prompt) };
}

/** The citation numbers [n] an answer uses. */
export function citedNumbers(answer: string): Set<number> {
  return new Set([...answer.matchAll(/\[(\d{1,3})\]/g)].map((m) => Number(m[1])));
}

export interface RagAnswer {
  answer: string;
  citations: Citation[];
  nothingFound: boolean;
  prompt: string;
}

/**
 * Retrieves, builds the prompt and asks `generate` (the model: prompt text -> answer text, e.g. through the chat
 * template); returns the answer with the passages placed and which of them it cites. With nothing relevant, the
 * answer is {@link NOTHING_FOUND} and the model is not called.
 */
export async function answerWithKb(
  searcher: KbSearcher,
  question: string,
  generate: (prompt: string) => Promise<string> | string,
  o: RagOptions,
): Promise<RagAnswer> {
  const hits = searcher.search(question, { k: o.k ?? 5, mode: o.mode });
  const p = buildRagPrompt(question, hits, o);
  if (p.nothingFound) return { answer: NOTHING_FOUND, citations: [], nothingFound: true, prompt: "" };
  const answer = await generate(p.prompt);
  return { answer, citations: markCited(p.citations, answer), nothingFound: false, prompt: p.prompt };
}

/** A knowledge base open for answering, with the search mode it supports. */
export interface KbRetriever {
  searcher: KbSearcher;
  /** hybrid when the embedder that built the knowledge base is at hand, else bm25. */
  mode: SearchMode;
  close(): void;
}

/**
 * Opens a knowledge base read-only for retrieval: hybrid search with `embedder` or the embedder folder it recorded
 * when that folder is still there, else BM25. Close it when done.
 */
export function openKbRetriever(kbPath: string, o: { embedder?: string } = {}): KbRetriever {
  const kb = KnowledgeBase.open(kbPath, { readonly: true });
  try {
    const path = o.embedder ?? kb.settings.embedder?.path;
    const embedder = kb.settings.embedder && path && existsSync(path) ? Embedder.load(path) : null;
    return { searcher: new KbSearcher(kb, embedder), mode: embedder ? "hybrid" : "bm25", close: () => kb.close() };
  } catch (err) {
    kb.close();
    throw err;
  }
}

/** Searches an open knowledge base for `question` and builds the prompt (see {@link buildRagPrompt}). */
export function retrieveWith(r: KbRetriever, question: string, o: RagOptions): RagPrompt {
  return buildRagPrompt(question, r.searcher.search(question, { k: o.k ?? 5, mode: o.mode ?? r.mode }), o);
}

/**
 * Opens a knowledge base, searches it for `question` (hybrid with the embedder it recorded when that folder is still
 * there, else BM25) and builds the prompt; what `llmforge generate --chat --kb KB` puts in the user message.
 */
export function retrieveForPrompt(kbPath: string, question: string, o: RagOptions & { embedder?: string }): RagPrompt {
  const r = openKbRetriever(kbPath, o);
  try {
    return retrieveWith(r, question, o);
  } finally {
    r.close();
  }
}

/** Options of {@link ragChatTurn}: those of a RAG prompt, and the token count of a rendered conversation. */
export interface RagChatOptions extends Omit<RagOptions, "templateTokens"> {
  /** Tokens of `messages` rendered by the chat template with the assistant's generation prompt. */
  conversationTokens: (messages: readonly ChatMessage[]) => number;
}

/**
 * One chat turn answered from a knowledge base (`llmforge chat --kb`, the server's `kb` option): the last message, the
 * user's question, becomes the RAG prompt; the earlier messages stay as they are and the passages get the context
 * they leave (the conversation rendered with an empty last message is what the template and the earlier turns
 * take). With nothing relevant, the messages come back unchanged and `rag.nothingFound` is set.
 */
export function ragChatTurn(r: KbRetriever, messages: readonly ChatMessage[], o: RagChatOptions): { messages: ChatMessage[]; rag: RagPrompt } {
  const last = messages.at(-1);
  if (last?.role !== "user") throw new RangeError(`answering from a knowledge base needs the user's question last; the last message is ${last ? `a ${last.role} message` : "missing"}`);
  const earlier = messages.slice(0, -1);
  const taken = o.conversationTokens([...earlier, { role: "user", content: "" }]);
  if (taken >= o.contextTokens) throw new RangeError(`the earlier messages take ${taken} tokens of the model's context of ${o.contextTokens}: no room for the question`);
  const rag = retrieveWith(r, last.content, { ...o, contextTokens: o.contextTokens - taken, templateTokens: 0 });
  return { messages: rag.nothingFound ? [...messages] : [...earlier, { ...last, content: rag.prompt }], rag };
}

/** The citations of a prompt with `cited` set for those the answer uses. */
export function markCited(citations: readonly Citation[], answer: string): Citation[] {
  const used = citedNumbers(answer);
  return citations.map((c) => ({ ...c, cited: used.has(c.n) }));
}

/** The sources of a prompt, one line each ("[1] path (characters a-b)"), for showing under an answer. */
export function describeCitations(citations: readonly Citation[]): string {
  return citations.map((c) => `[${c.n}] ${c.path} (characters ${c.start}-${c.end})${c.trimmed ? " (trimmed)" : ""}`).join("\n");
}
