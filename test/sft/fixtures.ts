// Shared pieces of the SFT tests: a small tokenizer trained on a few sentences (with the default
// specials <|endoftext|>, <|im_start|>, <|im_end|>, <|pad|>) and a set of varied conversations.
import type { Conversation } from "../../src/data/formats/conversation.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const SENTENCES = [
  "Hello, how are you today? I am fine, thank you.",
  "The assistant answers questions about the weather and the time.",
  "What is the capital of France? The capital of France is Paris.",
  "Please add two and three. Two plus three is five.",
  "You are a helpful assistant. Answer briefly.",
  "user assistant system tool",
  "自然语言处理很有意思。 Ünïcödé straße 👍🏽",
  "Paragraphs.\n\n\nSeparated.\n\n\nBy blank lines.\n\n\n",
];

/** A small trained tokenizer (all 256 bytes + a few hundred merges + default specials). */
export function smallTokenizer(specialTokens?: string[]): Tokenizer {
  return Tokenizer.trainFromTexts(SENTENCES.flatMap((s) => [s, s.toLowerCase()]), { vocabSize: 420, ...(specialTokens ? { specialTokens } : {}) });
}

/** Conversations covering multi-turn, system, tool, unicode, empty content and awkward whitespace. */
export const CONVERSATIONS: Conversation[] = [
  { messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }] },
  {
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "What is the capital of France?" },
      { role: "assistant", content: "Paris." },
      { role: "user", content: "And of Germany?" },
      { role: "assistant", content: "Berlin." },
    ],
  },
  { messages: [{ role: "system", content: "" }, { role: "user", content: "x" }, { role: "assistant", content: "y" }] },
  {
    messages: [
      { role: "user", content: "What time is it?" },
      { role: "assistant", content: '{"tool": "clock"}' },
      { role: "tool", content: "12:00", name: "clock" },
      { role: "assistant", content: "It is noon." },
    ],
  },
  { messages: [{ role: "user", content: "自然语言处理？" }, { role: "assistant", content: "很有意思。 👨‍👩‍👧‍👦 straße" }] },
  { messages: [{ role: "user", content: "  spaces  " }, { role: "assistant", content: " leading space\n\ntrailing newlines\n\n" }] },
  { messages: [{ role: "user", content: "empty answer" }, { role: "assistant", content: "" }] },
  { messages: [{ role: "user", content: "newline first" }, { role: "assistant", content: "\n\nstarts with newlines" }] },
  { messages: [{ role: "assistant", content: "I speak first." }, { role: "user", content: "ok" }] },
  { messages: [{ role: "user", content: "lone \ud800 surrogate" }, { role: "assistant", content: "bad \udfff too" }] },
];
