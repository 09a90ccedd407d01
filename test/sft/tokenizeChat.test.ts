// Conversation tokenisation for SFT: ids identical to encoding the whole rendered chat, loss masks
// checked token by token, lossOn / maskHistory variants, truncation rules, skips and their report.
import { describe, expect, it } from "vitest";
import type { Conversation } from "../../src/data/formats/conversation.js";
import { countTargets, SftConfigError, SftSkipError, type TokenizedExample, tokenizeConversation, tokenizeConversations } from "../../src/sft/index.js";
import { CHATML_TEMPLATE, MissingChatTokensError, renderChat } from "../../src/tokenizer/index.js";
import { CONVERSATIONS, smallTokenizer } from "./fixtures.js";

const tok = smallTokenizer();
const S = (c: string) => tok.specialId(c);
const enc = (s: string) => tok.encode(s);

/** The decoded text of each maximal run of supervised tokens. */
function learnedRuns(ex: TokenizedExample, t = tok): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  for (let i = 0; i <= ex.ids.length; i++) {
    if (i < ex.ids.length && ex.supervised[i]) run.push(ex.ids[i]);
    else if (run.length > 0) {
      runs.push(t.decode(run));
      run = [];
    }
  }
  return runs;
}

function skipReason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof SftSkipError) return e.reason;
    throw e;
  }
  return "not skipped";
}

const twoTurns: Conversation = CONVERSATIONS[1];

describe("tokenizeConversation", () => {
  it("masks exactly the assistant content and its <|im_end|> (token by token)", () => {
    const ex = tokenizeConversation(tok, { messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }] });
    const pieces: [number[], number][] = [
      [[S("<|im_start|>")], 0],
      [enc("user"), 0],
      [enc("\n"), 0],
      [enc("Hi"), 0],
      [[S("<|im_end|>")], 0],
      [enc("\n"), 0],
      [[S("<|im_start|>")], 0],
      [enc("assistant"), 0],
      [enc("\n"), 0],
      [enc("Hello!"), 1],
      [[S("<|im_end|>")], 1],
      [enc("\n"), 0],
    ];
    expect([...ex.ids]).toEqual(pieces.flatMap(([ids]) => ids));
    expect([...ex.supervised]).toEqual(pieces.flatMap(([ids, f]) => ids.map(() => f)));
    expect(ex.truncated).toBe(false);
  });

  it("gives exactly the ids of the whole rendered conversation, for every conversation and mode", () => {
    for (const conv of CONVERSATIONS) {
      const whole = tok.encode(renderChat(CHATML_TEMPLATE, conv.messages), { allowedSpecial: "all" });
      for (const lossOn of ["assistant", "completion", "all"] as const) {
        for (const maskHistory of lossOn === "all" ? [false] : [false, true]) {
          const ex = tokenizeConversation(tok, conv, { lossOn, maskHistory });
          expect([...ex.ids], JSON.stringify(conv.messages)).toEqual(whole);
          expect(ex.supervised.length).toBe(ex.ids.length);
        }
      }
    }
  });

  it("learns every assistant turn, only the last with maskHistory or completion, everything with all", () => {
    expect(learnedRuns(tokenizeConversation(tok, twoTurns))).toEqual(["Paris.<|im_end|>", "Berlin.<|im_end|>"]);
    expect(learnedRuns(tokenizeConversation(tok, twoTurns, { maskHistory: true }))).toEqual(["Berlin.<|im_end|>"]);
    expect(learnedRuns(tokenizeConversation(tok, twoTurns, { lossOn: "completion" }))).toEqual(["Berlin.<|im_end|>"]);
    const all = tokenizeConversation(tok, twoTurns, { lossOn: "all" });
    expect(all.supervised.every((f) => f === 1)).toBe(true);
    const tool = tokenizeConversation(tok, CONVERSATIONS[3]);
    expect(learnedRuns(tool)).toEqual(['{"tool": "clock"}<|im_end|>', "It is noon.<|im_end|>"]);
  });

  it("always learns the closing <|im_end|>, also for an empty reply; the header and trailing newline never", () => {
    const ex = tokenizeConversation(tok, CONVERSATIONS[6]);
    expect(learnedRuns(ex)).toEqual(["<|im_end|>"]);
    const last = ex.ids.length - 1;
    expect([ex.ids[last - 1], ex.supervised[last - 1], ex.supervised[last]]).toEqual([S("<|im_end|>"), 1, 0]);
    // Whitespace inside content is learned as it is.
    expect(learnedRuns(tokenizeConversation(tok, CONVERSATIONS[5]))).toEqual([" leading space\n\ntrailing newlines\n\n<|im_end|>"]);
  });

  it("learns a token that joins the header's newline with a reply's leading newlines", () => {
    const ex = tokenizeConversation(tok, CONVERSATIONS[7]);
    expect(learnedRuns(ex)).toEqual(["\n\n\nstarts with newlines<|im_end|>"]);
    const first = ex.supervised.indexOf(1);
    // The first learned token holds the header's "\n" and the reply's first "\n" (they encode together).
    expect(tok.decode([ex.ids[first]]).startsWith("\n\n")).toBe(true);
    expect(tok.decode(ex.ids.subarray(0, first)).endsWith("<|im_start|>assistant")).toBe(true);
  });

  it("works with another prefix-stable template (Llama-3 style, bos, eos without trailing text)", () => {
    const llama = tok.withSpecialTokens(["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]);
    const template =
      "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    const opts = { template, eosToken: "<|eot_id|>", bosToken: "<|begin_of_text|>" };
    const ex = tokenizeConversation(llama, twoTurns, opts);
    expect([...ex.ids]).toEqual(llama.encode(renderChat(template, twoTurns.messages, opts), { allowedSpecial: "all" }));
    expect(ex.ids[0]).toBe(llama.specialId("<|begin_of_text|>"));
    const runs = learnedRuns(ex, llama);
    expect(runs).toEqual(["Paris.<|eot_id|>", "Berlin.<|eot_id|>"]);
    expect(() => tokenizeConversation(tok, twoTurns, opts)).toThrow(MissingChatTokensError);
  });

  it("rejects a template that is not prefix-stable", () => {
    const template = `{{ messages|length }}${CHATML_TEMPLATE}`;
    expect(() => tokenizeConversation(tok, twoTurns, { template })).toThrow(SftConfigError);
    expect(() => tokenizeConversation(tok, twoTurns, { template })).toThrow(/not prefix-stable/);
  });

  it("applies the truncation rules", () => {
    const full = tokenizeConversation(tok, twoTurns);
    const L = full.ids.length;
    expect(skipReason(() => tokenizeConversation(tok, twoTurns, { maxLen: L - 1 }))).toBe("too-long");
    expect(tokenizeConversation(tok, twoTurns, { maxLen: L }).truncated).toBe(false);
    const cut = tokenizeConversation(tok, twoTurns, { maxLen: L - 3, truncation: "right" });
    expect(cut.truncated).toBe(true);
    expect([...cut.ids]).toEqual([...full.ids.subarray(0, L - 3)]);
    expect([...cut.supervised]).toEqual([...full.supervised.subarray(0, L - 3)]);
    // Cut before the first learned token: nothing left to learn, so skipped.
    const firstLearned = full.supervised.indexOf(1);
    expect(skipReason(() => tokenizeConversation(tok, twoTurns, { maxLen: firstLearned, truncation: "right" }))).toBe("no-targets");
    expect(countTargets(tokenizeConversation(tok, twoTurns, { maxLen: firstLearned + 1, truncation: "right" }).supervised)).toBe(1);
  });

  it("skips conversations with nothing to learn, and rejects contradictory options", () => {
    const noAssistant: Conversation = { messages: [{ role: "system", content: "s" }, { role: "user", content: "u" }] };
    expect(skipReason(() => tokenizeConversation(tok, noAssistant))).toBe("no-assistant");
    expect(() => tokenizeConversation(tok, noAssistant)).toThrow(/no assistant turn/);
    expect(tokenizeConversation(tok, noAssistant, { lossOn: "all" }).ids.length).toBeGreaterThan(2);
    expect(skipReason(() => tokenizeConversation(tok, { messages: [] }))).toBe("invalid");
    expect(() => tokenizeConversation(tok, twoTurns, { lossOn: "all", maskHistory: true })).toThrow(SftConfigError);
    expect(() => tokenizeConversation(tok, twoTurns, { maxLen: 1 })).toThrow(/maxLen must be an integer >= 2/);
    expect(() => tokenizeConversation(tok, twoTurns, { lossOn: "prompt" as never })).toThrow(/lossOn must be/);
  });
});

describe("tokenizeConversations", () => {
  it("keeps what it can and counts skips by reason", () => {
    const convs: Conversation[] = [
      ...CONVERSATIONS,
      { messages: [{ role: "user", content: "no answer" }], meta: { source: "chat.jsonl", line: 7 } },
      { messages: [{ role: "robot" as never, content: "?" }] },
      { messages: [{ role: "user", content: "long ".repeat(50) }, { role: "assistant", content: "ok" }] },
    ];
    const { examples, report } = tokenizeConversations(tok, convs, { maxLen: 60 });
    expect(report.conversations).toBe(convs.length);
    expect(report.kept).toBe(examples.length);
    expect(report.skipped["no-assistant"]).toBe(1);
    expect(report.skipped.invalid).toBe(1);
    expect(report.skipped["too-long"]).toBeGreaterThanOrEqual(1);
    expect(report.kept + Object.values(report.skipped).reduce((a, b) => a + (b ?? 0), 0)).toBe(convs.length);
    expect(report.samples.find((s) => s.reason === "no-assistant")).toMatchObject({ index: CONVERSATIONS.length, source: "chat.jsonl:7" });
    expect(report.tokens).toBe(examples.reduce((a, e) => a + e.ids.length, 0));
    expect(report.targets).toBe(examples.reduce((a, e) => a + countTargets(e.supervised), 0));
    // Template errors are not skips: they stop the run.
    expect(() => tokenizeConversations(tok, convs, { template: "{% if %}" })).toThrow(/does not parse/);
  });
});
