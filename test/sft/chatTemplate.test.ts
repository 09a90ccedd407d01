// Chat template rendering (ChatML via @huggingface/jinja equals the hand-written format), template
// errors, special-token checks and additions, and tokenizer_config.json written and read back.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "tokenizers";
import { describe, expect, it } from "vitest";
import {
  CHATML_TEMPLATE,
  ChatTemplateError,
  chatTemplateSpecialTokens,
  MissingChatTokensError,
  readTokenizerConfig,
  renderChat,
  requireChatTokens,
  Tokenizer,
  TokenizerConfigError,
  TokenizerError,
  TokenizerFileError,
  writeTokenizerConfig,
} from "../../src/tokenizer/index.js";
import { CONVERSATIONS, smallTokenizer } from "./fixtures.js";

const tok = smallTokenizer();

function chatml(messages: { role: string; content: string }[], gen = false): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + (gen ? "<|im_start|>assistant\n" : "");
}

describe("renderChat", () => {
  it("renders ChatML exactly as the hand-written format, with and without the generation prompt", () => {
    for (const c of CONVERSATIONS) {
      expect(renderChat(CHATML_TEMPLATE, c.messages)).toBe(chatml(c.messages));
      expect(renderChat(CHATML_TEMPLATE, c.messages, { addGenerationPrompt: true })).toBe(chatml(c.messages, true));
    }
    expect(renderChat(CHATML_TEMPLATE, [], { addGenerationPrompt: true })).toBe("<|im_start|>assistant\n");
    expect(renderChat(CHATML_TEMPLATE, [{ role: "user", content: "a" }])).toBe("<|im_start|>user\na<|im_end|>\n");
  });

  it("passes bos/eos tokens, tool names and extra variables to the template", () => {
    const t = "{{ bos_token }}{% for m in messages %}{{ m.role }}{% if m.name is defined %}({{ m.name }}){% endif %}:{{ m.content }}{{ eos_token }}{% endfor %}{{ date }}";
    const msgs = [{ role: "user", content: "a" }, { role: "tool", content: "b", name: "clock" }];
    expect(renderChat(t, msgs, { bosToken: "<s>", eosToken: "</s>", variables: { date: "today" } })).toBe("<s>user:a</s>tool(clock):b</s>today");
  });

  it("reports a template that does not parse or fails to render", () => {
    expect(() => renderChat("{% for m in %}", [])).toThrow(ChatTemplateError);
    expect(() => renderChat("{% for m in %}", [])).toThrow(/does not parse/);
    const raising = "{% if messages[0].role != 'system' %}{{ raise_exception('first message must be system') }}{% endif %}";
    expect(() => renderChat(raising, [{ role: "user", content: "x" }])).toThrow(/failed to render messages with roles \[user\].*first message must be system/);
  });
});

describe("special tokens of a chat template", () => {
  it("lists the <|...|> tokens a template writes", () => {
    expect(chatTemplateSpecialTokens(CHATML_TEMPLATE)).toEqual(["<|im_start|>", "<|im_end|>"]);
  });

  it("names the missing tokens and the fix", () => {
    const plain = smallTokenizer(["<|endoftext|>"]);
    let err: unknown;
    try {
      requireChatTokens(plain, CHATML_TEMPLATE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingChatTokensError);
    expect((err as MissingChatTokensError).missing).toEqual(["<|im_start|>", "<|im_end|>"]);
    expect((err as Error).message).toMatch(/<\|im_start\|>.*<\|im_end\|>.*withSpecialTokens.*re-train/);
    expect(() => requireChatTokens(tok, CHATML_TEMPLATE)).not.toThrow();
    expect(() => requireChatTokens(tok, CHATML_TEMPLATE, ["<|eot|>"])).toThrow(/"<\|eot\|>"/);
  });

  it("withSpecialTokens adds ids from vocabSize up, keeps existing ones, and round-trips through tokenizer.json", async () => {
    const plain = smallTokenizer(["<|endoftext|>"]);
    const eot = plain.specialId("<|endoftext|>");
    const chat = plain.withSpecialTokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|im_start|>"]);
    expect(chat.specialId("<|endoftext|>")).toBe(eot);
    expect(chat.specialId("<|im_start|>")).toBe(plain.vocabSize);
    expect(chat.specialId("<|im_end|>")).toBe(plain.vocabSize + 1);
    expect(chat.vocabSize).toBe(plain.vocabSize + 2);
    expect(plain.specialTokens.has("<|im_start|>")).toBe(false);
    expect(() => requireChatTokens(chat, CHATML_TEMPLATE)).not.toThrow();
    const text = renderChat(CHATML_TEMPLATE, CONVERSATIONS[1].messages, { addGenerationPrompt: true });
    const ids = chat.encode(text, { allowedSpecial: "all" });
    expect(ids.filter((i) => i === chat.specialId("<|im_start|>"))).toHaveLength(6);
    expect(chat.decode(ids)).toBe(text);
    // Ordinary text encodes as before.
    expect(chat.encode("Hello, how are you?")).toEqual(plain.encode("Hello, how are you?"));
    const back = Tokenizer.fromHuggingFaceJson(chat.toHuggingFaceJson());
    expect(back.encode(text, { allowedSpecial: "all" })).toEqual(ids);
    expect(back.specialId("<|im_end|>")).toBe(plain.vocabSize + 1);
    const hf = HfTokenizer.fromString(chat.toHuggingFaceJson());
    expect((await hf.encode(text)).getIds()).toEqual(ids);
    expect(() => plain.withSpecialTokens([""])).toThrow(TokenizerConfigError);
  });
});

describe("tokenizer_config.json", () => {
  it("writes what transformers reads and reads it back", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tokcfg-"));
    writeTokenizerConfig(dir, tok, { chatTemplate: CHATML_TEMPLATE, modelMaxLength: 256 });
    const raw = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    expect(raw.chat_template).toBe(CHATML_TEMPLATE);
    expect(raw.eos_token).toBe("<|im_end|>");
    expect(raw.pad_token).toBe("<|pad|>");
    expect(raw.bos_token).toBeNull();
    expect(raw.model_max_length).toBe(256);
    expect(raw.tokenizer_class).toBe("PreTrainedTokenizerFast");
    expect(raw.added_tokens_decoder[String(tok.specialId("<|im_start|>"))]).toEqual({
      content: "<|im_start|>",
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
    });
    const map = JSON.parse(readFileSync(join(dir, "special_tokens_map.json"), "utf8"));
    expect(map.eos_token.content).toBe("<|im_end|>");
    expect(map.additional_special_tokens).toContain("<|im_start|>");
    const cfg = readTokenizerConfig(dir);
    expect(cfg).toMatchObject({ chatTemplate: CHATML_TEMPLATE, eosToken: "<|im_end|>", padToken: "<|pad|>", modelMaxLength: 256, tokenizerClass: "PreTrainedTokenizerFast" });
    expect(cfg?.bosToken).toBeUndefined();
    expect(cfg?.addedTokens.map((a) => [a.id, a.content])).toEqual([...tok.specialTokens].map(([c, id]) => [id, c]).sort((a, b) => (a[0] as number) - (b[0] as number)));
  });

  it("defaults eos to <|endoftext|> without a template, and rejects tokens the vocabulary lacks", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tokcfg-"));
    writeTokenizerConfig(dir, tok);
    const cfg = readTokenizerConfig(dir);
    expect(cfg?.eosToken).toBe("<|endoftext|>");
    expect(cfg?.chatTemplate).toBeUndefined();
    expect(() => writeTokenizerConfig(dir, tok, { eosToken: "</s>" })).toThrow(/eosToken "<\/s>" is not a special token.*withSpecialTokens/);
    const plain = smallTokenizer(["<|endoftext|>"]);
    expect(() => writeTokenizerConfig(dir, plain, { chatTemplate: CHATML_TEMPLATE, eosToken: "<|endoftext|>" })).toThrow(MissingChatTokensError);
    expect(() => writeTokenizerConfig(dir, tok, { chatTemplate: "{% if %}" })).toThrow(ChatTemplateError);
  });

  it("reads Hugging Face variants: list-form templates, chat_template.jinja, token objects; null for no config", () => {
    const dir = mkdtempSync(join(tmpdir(), "llmforge-tokcfg-"));
    expect(readTokenizerConfig(dir)).toBeNull();
    writeFileSync(join(dir, "chat_template.jinja"), "{{ messages }}");
    expect(readTokenizerConfig(dir)?.chatTemplate).toBe("{{ messages }}");
    writeFileSync(
      join(dir, "tokenizer_config.json"),
      JSON.stringify({ chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }], eos_token: { content: "</s>", lstrip: false }, pad_token: null }),
    );
    const cfg = readTokenizerConfig(dir);
    expect([cfg?.chatTemplate, cfg?.eosToken, cfg?.padToken]).toEqual(["D", "</s>", undefined]);
    writeFileSync(join(dir, "tokenizer_config.json"), "{ not json");
    expect(() => readTokenizerConfig(dir)).toThrow(TokenizerFileError);
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: 5 }));
    expect(() => readTokenizerConfig(dir)).toThrow(/tokenizer_config.json: "eos_token" must be a string/);
    expect(TokenizerFileError.prototype).toBeInstanceOf(TokenizerError);
  });
});
