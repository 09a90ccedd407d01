// Conversations -> token ids + a per-token loss mask for supervised fine-tuning. The ids are exactly
// the encoding of the whole rendered chat (what inference renders too); the mask comes from rendering
// the conversation message by message with the same template and mapping each piece's bytes to tokens.
import { type Conversation, conversationProblem } from "../data/formats/conversation.js";
import { CHATML_TEMPLATE, renderChat, requireChatTokens, type ChatMessage } from "../tokenizer/chatTemplate.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";

/** Which tokens are training targets: every assistant turn, only the final one, or every token. */
export type LossOn = "assistant" | "completion" | "all";

/** Why an example was left out of training (counted by {@link tokenizeConversations}). */
export type SkipReason = "invalid" | "no-assistant" | "too-long" | "no-targets";

export interface ChatTokenizeOptions {
  /** Jinja chat template (default {@link CHATML_TEMPLATE}); must be prefix-stable. */
  template?: string;
  /** Default "assistant": each assistant turn's content and its closing eos token; headers are not learned. */
  lossOn?: LossOn;
  /** With lossOn "assistant": learn only the last assistant turn (earlier ones are context). */
  maskHistory?: boolean;
  /** Longest example in tokens. A batch row of T positions holds an example of up to T + 1 tokens. */
  maxLen?: number;
  /** Over maxLen: "skip" drops the example (default); "right" cuts the tail, and skips only if no target is left. */
  truncation?: "skip" | "right";
  /** The token that closes an assistant turn and is always learned with it (default "<|im_end|>"). */
  eosToken?: string;
  bosToken?: string;
  /** More template variables (e.g. `tools`). */
  variables?: Record<string, unknown>;
}

/** One tokenised conversation: `supervised[i] = 1` when the loss on predicting token i counts. */
export interface TokenizedExample {
  ids: Int32Array;
  supervised: Uint8Array;
  /** True when the tail was cut to maxLen. */
  truncated: boolean;
}

/** Base class of the errors the SFT data path raises on purpose. */
export class SftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A contradictory or out-of-range option, or a template unusable for masking. */
export class SftConfigError extends SftError {}

/** This conversation cannot be a training example; `reason` says why (the batch helper counts these). */
export class SftSkipError extends SftError {
  constructor(
    readonly reason: SkipReason,
    message: string,
  ) {
    super(message);
  }
}

interface Piece {
  text: string;
  learn: boolean;
}

function checkOptions(o: ChatTokenizeOptions): void {
  if (o.lossOn !== undefined && !["assistant", "completion", "all"].includes(o.lossOn)) {
    throw new SftConfigError(`lossOn must be "assistant", "completion" or "all", got ${JSON.stringify(o.lossOn)}`);
  }
  if (o.maskHistory && o.lossOn === "all") throw new SftConfigError('maskHistory contradicts lossOn "all" (every token is learned); drop one of them');
  if (o.maxLen !== undefined && (!Number.isInteger(o.maxLen) || o.maxLen < 2)) throw new SftConfigError(`maxLen must be an integer >= 2, got ${o.maxLen}`);
  if (o.truncation !== undefined && o.truncation !== "skip" && o.truncation !== "right") {
    throw new SftConfigError(`truncation must be "skip" or "right", got ${JSON.stringify(o.truncation)}`);
  }
}

/**
 * Renders the conversation piece by piece: renderings of messages[0..k] (and the generation prompt
 * before each assistant turn) must each extend the previous one; the new text is one piece.
 */
function renderPieces(messages: readonly ChatMessage[], o: ChatTokenizeOptions): Piece[] {
  const template = o.template ?? CHATML_TEMPLATE;
  const eos = o.eosToken ?? "<|im_end|>";
  const lossOn = o.lossOn ?? "assistant";
  const all = lossOn === "all";
  let lastAssistant = messages.length - 1;
  while (lastAssistant >= 0 && messages[lastAssistant].role !== "assistant") lastAssistant--;
  const opts = { bosToken: o.bosToken, eosToken: eos, variables: o.variables };
  const render = (n: number, gen: boolean) => renderChat(template, messages.slice(0, n), { ...opts, addGenerationPrompt: gen });
  let prev: string;
  try {
    prev = render(0, false);
  } catch {
    prev = ""; // a template may refuse an empty conversation; nothing precedes the first message then
  }
  const pieces: Piece[] = [{ text: prev, learn: all }];
  const extend = (next: string, what: string): string => {
    if (!next.startsWith(prev)) {
      let i = 0;
      while (i < prev.length && prev[i] === next[i]) i++;
      throw new SftConfigError(
        `chat template is not prefix-stable: ${what} does not extend the rendering before it (they differ at character ${i}: ` +
          `${JSON.stringify(prev.slice(i, i + 30))} vs ${JSON.stringify(next.slice(i, i + 30))}); loss masks need a template whose rendering of the ` +
          "first k messages is a prefix of the whole (e.g. CHATML_TEMPLATE)",
      );
    }
    const added = next.slice(prev.length);
    prev = next;
    return added;
  };
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].role !== "assistant") {
      pieces.push({ text: extend(render(k + 1, false), `rendering messages[0..${k}]`), learn: all });
      continue;
    }
    pieces.push({ text: extend(render(k, true), `the generation prompt after messages[0..${k - 1}]`), learn: all });
    const body = extend(render(k + 1, false), `rendering messages[0..${k}]`);
    const learn = all || k === lastAssistant || (lossOn === "assistant" && !o.maskHistory);
    // Learn the content and its closing eos; template text after the eos (ChatML's "\n") is glue.
    const cut = body.lastIndexOf(eos);
    const end = cut < 0 ? body.length : cut + eos.length;
    pieces.push({ text: body.slice(0, end), learn }, { text: body.slice(end), learn: all });
  }
  return pieces;
}

/** Number of tokens that are targets (index 0 is never one: nothing predicts it). */
export function countTargets(supervised: Uint8Array): number {
  let n = 0;
  for (let i = 1; i < supervised.length; i++) n += supervised[i];
  return n;
}

/**
 * Tokenises one conversation for SFT. `ids` equals `tok.encode(renderChat(template, messages), {allowedSpecial: "all"})`;
 * a token is supervised when its bytes overlap a learned piece (a token straddling a piece boundary, e.g.
 * newlines that open an assistant reply merged with the header's, counts as learned).
 * Throws {@link SftSkipError} for conversations that cannot be examples, {@link SftConfigError} for bad options or templates.
 */
export function tokenizeConversation(tok: Tokenizer, conv: Conversation, options: ChatTokenizeOptions = {}): TokenizedExample {
  checkOptions(options);
  const problem = conversationProblem(conv);
  if (problem !== null) throw new SftSkipError("invalid", `not a conversation: ${problem}`);
  const lossOn = options.lossOn ?? "assistant";
  if (lossOn !== "all" && !conv.messages.some((m) => m.role === "assistant")) {
    throw new SftSkipError("no-assistant", `conversation has no assistant turn to learn (roles: ${conv.messages.map((m) => m.role).join(",")}); lossOn "${lossOn}" needs one`);
  }
  const template = options.template ?? CHATML_TEMPLATE;
  const eos = options.eosToken ?? "<|im_end|>";
  requireChatTokens(tok, template, [eos]);
  const pieces = renderPieces(conv.messages, options);
  const text = pieces.map((p) => p.text).join("");
  // Byte-level mask of the rendered text (lone surrogates become U+FFFD, 3 bytes, in both Buffer and encode).
  const learnByte = new Uint8Array(Buffer.byteLength(text, "utf8"));
  let at = 0;
  for (const p of pieces) {
    const n = Buffer.byteLength(p.text, "utf8");
    if (p.learn) learnByte.fill(1, at, at + n);
    at += n;
  }
  const all = tok.encode(text, { allowedSpecial: "all" });
  let ids = Int32Array.from(all);
  let supervised: Uint8Array = new Uint8Array(ids.length);
  at = 0;
  for (let i = 0; i < ids.length; i++) {
    const end = at + tok.tokenToBytes(ids[i]).length;
    for (let b = at; b < end; b++) {
      if (learnByte[b]) {
        supervised[i] = 1;
        break;
      }
    }
    at = end;
  }
  if (at !== learnByte.length) throw new SftError(`internal: tokens cover ${at} bytes of a ${learnByte.length}-byte rendering`);
  let truncated = false;
  const maxLen = options.maxLen;
  if (maxLen !== undefined && ids.length > maxLen) {
    if ((options.truncation ?? "skip") === "skip") throw new SftSkipError("too-long", `${ids.length} tokens > maxLen ${maxLen} (truncation "skip")`);
    ids = ids.slice(0, maxLen);
    supervised = supervised.slice(0, maxLen);
    truncated = true;
  }
  if (countTargets(supervised) === 0) {
    throw new SftSkipError("no-targets", truncated ? `no supervised token left after cutting to maxLen ${maxLen}` : "no supervised token (nothing to learn)");
  }
  return { ids, supervised, truncated };
}

/** What {@link tokenizeConversations} kept and left out. */
export interface TokenizeReport {
  conversations: number;
  kept: number;
  skipped: Partial<Record<SkipReason, number>>;
  truncated: number;
  tokens: number;
  /** Supervised target tokens over all kept examples. */
  targets: number;
  /** The first few skips, for the user to look at (index into the input list, and where meta says it came from). */
  samples: { index: number; source?: string; reason: SkipReason; message: string }[];
}

function sourceOf(conv: Conversation): string | undefined {
  const m = conv?.meta;
  if (!m) return undefined;
  const file = m.source ?? m.file;
  if (typeof file !== "string") return undefined;
  return typeof m.line === "number" ? `${file}:${m.line}` : file;
}

/** Tokenises many conversations, skipping (and counting by reason) the ones that cannot be examples. */
export function tokenizeConversations(
  tok: Tokenizer,
  convs: Iterable<Conversation>,
  options: ChatTokenizeOptions = {},
): { examples: TokenizedExample[]; report: TokenizeReport } {
  const examples: TokenizedExample[] = [];
  const report: TokenizeReport = { conversations: 0, kept: 0, skipped: {}, truncated: 0, tokens: 0, targets: 0, samples: [] };
  for (const conv of convs) {
    const index = report.conversations++;
    try {
      const ex = tokenizeConversation(tok, conv, options);
      examples.push(ex);
      report.kept++;
      report.tokens += ex.ids.length;
      report.targets += countTargets(ex.supervised);
      if (ex.truncated) report.truncated++;
    } catch (err) {
      if (!(err instanceof SftSkipError)) throw err;
      report.skipped[err.reason] = (report.skipped[err.reason] ?? 0) + 1;
      if (report.samples.length < 10) report.samples.push({ index, source: sourceOf(conv), reason: err.reason, message: err.message });
    }
  }
  return { examples, report };
}
