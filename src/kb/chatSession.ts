// A conversation with a chat model (`llmforge chat`): keeps the turns, renders them with the model's chat template,
// and with a knowledge base answers each user turn from retrieved passages with citations (rag.ts's ragChatTurn,
// the code `generate --chat --kb` and the server use). Earlier turns keep only the plain question and answer.
import type { GPT } from "../model/gpt.js";
import { type ChatMessage, renderChat, requireChatTokens } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { chatModel } from "./agent.js";
import { type Citation, type KbRetriever, markCited, NOTHING_FOUND, ragChatTurn } from "./rag.js";

/** The token that ends an assistant turn in the ChatML template. */
const CHAT_EOS = "<|im_end|>";

export interface ChatSessionOptions {
  model: GPT;
  tokenizer: Tokenizer;
  /** The run's chat template. */
  template: string;
  /** A system message before every turn. */
  system?: string;
  /** Most new tokens per answer (default 128). */
  maxTokens?: number;
  /** 0 = greedy (default 0.7). */
  temperature?: number;
  /** Seed of the first turn; turn i samples with seed + i (default 0). */
  seed?: number;
  /** Answer from this knowledge base. */
  retriever?: KbRetriever | null;
  /** Passages retrieved per turn (default 5). */
  k?: number;
}

/** One answered turn. */
export interface ChatTurn {
  answer: string;
  /** Passages placed in the prompt ([n] -> source and offsets), `cited` when the answer uses [n]. */
  citations: Citation[];
  /** True when the knowledge base had nothing relevant (the model was not asked). */
  nothingFound: boolean;
  /** Earlier messages dropped to fit the context this turn. */
  dropped: number;
}

/**
 * Keeps a conversation and answers each user message. Context rule: before a turn, the oldest question/answer pairs
 * are dropped (the system message stays) while the conversation takes more than half the model's context, so that
 * the other half holds the passages and the answer.
 */
export class ChatSession {
  /** The conversation so far: plain user questions and assistant answers (no passages). */
  readonly history: ChatMessage[] = [];
  private turns = 0;
  private readonly context: number;

  constructor(private readonly o: ChatSessionOptions) {
    requireChatTokens(o.tokenizer, o.template, [CHAT_EOS]);
    this.context = o.model.config.blockSize;
  }

  /** Tokens of a conversation rendered with the generation prompt. */
  conversationTokens = (messages: readonly ChatMessage[]): number =>
    this.o.tokenizer.encode(renderChat(this.o.template, messages, { addGenerationPrompt: true }), { allowedSpecial: "all" }).length;

  private withSystem(messages: readonly ChatMessage[]): ChatMessage[] {
    return [...(this.o.system !== undefined ? [{ role: "system", content: this.o.system }] : []), ...messages];
  }

  /** Forgets the conversation. */
  reset(): void {
    this.history.length = 0;
  }

  /** Answers `text` as the next user turn and appends the question and the answer to the history. */
  async send(text: string): Promise<ChatTurn> {
    const user: ChatMessage = { role: "user", content: text };
    let dropped = 0;
    while (this.history.length > 0 && this.conversationTokens(this.withSystem([...this.history, user])) > this.context / 2) {
      this.history.splice(0, 2);
      dropped += 2;
    }
    let messages = this.withSystem([...this.history, user]);
    let citations: Citation[] = [];
    const maxTokens = this.o.maxTokens ?? 128;
    if (this.o.retriever) {
      const turn = ragChatTurn(this.o.retriever, messages, {
        k: this.o.k ?? 5, contextTokens: this.context, answerTokens: maxTokens, count: (t) => this.o.tokenizer.encode(t).length, conversationTokens: this.conversationTokens,
      });
      if (turn.rag.nothingFound) {
        this.push(user, NOTHING_FOUND);
        return { answer: NOTHING_FOUND, citations: [], nothingFound: true, dropped };
      }
      messages = turn.messages;
      citations = turn.rag.citations;
    }
    const model = chatModel(this.o.model, this.o.tokenizer, { template: this.o.template, maxTokens, temperature: this.o.temperature ?? 0.7, seed: (this.o.seed ?? 0) + this.turns });
    const answer = (await model.complete(messages, [])).trim();
    this.push(user, answer);
    return { answer, citations: markCited(citations, answer), nothingFound: false, dropped };
  }

  private push(user: ChatMessage, answer: string): void {
    this.turns++;
    this.history.push(user, { role: "assistant", content: answer });
  }
}
