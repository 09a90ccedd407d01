// The one conversation type every supervised fine-tuning format is converted to (chat
// messages as OpenAI and Hugging Face chat templates use them), and its validation.

export type Role = "system" | "user" | "assistant" | "tool";

export const ROLES: readonly Role[] = ["system", "user", "assistant", "tool"];

/** One turn of a conversation. */
export interface Message {
  role: Role;
  content: string;
  /** Tool name on a `tool` message (the tool whose result this is), when the source gives one. */
  name?: string;
}

/**
 * A conversation in the normalised form (one JSON object per JSONL line when written):
 * `{"messages": [...], "meta": {...}}`. Training supervises assistant turns.
 */
export interface Conversation {
  messages: Message[];
  /** Where it came from: source format, file:line, task name, reference answer, split... */
  meta?: Record<string, unknown>;
}

/** Why a value is not a well-formed {@link Conversation}, or null when it is. */
export function conversationProblem(v: unknown): string | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "expected a JSON object with a \"messages\" list";
  const msgs = (v as { messages?: unknown }).messages;
  if (!Array.isArray(msgs)) return "\"messages\" must be a list";
  if (msgs.length === 0) return "\"messages\" is empty";
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i] as { role?: unknown; content?: unknown } | null;
    if (typeof m !== "object" || m === null) return `messages[${i}] is not an object`;
    if (typeof m.role !== "string" || !(ROLES as readonly string[]).includes(m.role)) {
      return `messages[${i}].role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(m.role)}`;
    }
    if (typeof m.content !== "string") return `messages[${i}].content must be a string`;
  }
  return null;
}
