// The chat page of `llmforge serve` (GET /): its markdown renderer evaluated in node from the very source the page
// inlines (hostile HTML stays text), then the page in Debian's chromium driven by puppeteer-core against a live server
// with a tiny model: API key prompt, a streamed answer that grows, stop, conversation history, a hostile answer shown
// as text, light and dark. Screenshots stay in a temp folder whose path is printed; the model folder is removed.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import puppeteer, { type Browser, type HTTPRequest, type Page } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { chatPage, MARKDOWN_RENDERER_JS } from "../../src/serve/chatPage.js";
import { type RunningServer, startServer } from "../../src/serve/server.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

const renderMarkdown = runInNewContext(`${MARKDOWN_RENDERER_JS}\nrenderMarkdown`) as (text: string) => string;
const ALLOWED = ["p", "br", "pre", "code", "strong", "em", "ul", "ol", "li"];
/** What is left of `html` once the renderer's own tags are taken out: must hold no markup and no quote. */
const leftover = (html: string): string => html.replace(new RegExp(`</?(${ALLOWED.join("|")})>`, "g"), "");
/** Decodes the renderer's entities and drops its tags: the text a browser would show. */
const shown = (html: string): string =>
  leftover(html).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

const HOSTILE = [
  '<img src=x onerror="window.__pwned=1">',
  "<script>window.__pwned=2</script>",
  "```\n</code></pre><svg onload=window.__pwned=3>\n```",
  "**<iframe srcdoc='<script>parent.__pwned=4</script>'>**",
  "`<a href=javascript:alert(1)>x</a>`",
  "- <b onmouseover=alert(1)>item</b>\n- _<style>body{display:none}</style>_",
  "[click](javascript:window.__pwned=5) &lt;already escaped&gt; \" ' &amp;",
];

describe("chat page markdown renderer (the page's own source, run in node)", () => {
  it("renders paragraphs, strong, em, code spans, fenced code and lists", () => {
    expect(renderMarkdown("**bold**, *em*, _em too_ and `a < b`")).toBe("<p><strong>bold</strong>, <em>em</em>, <em>em too</em> and <code>a &lt; b</code></p>");
    expect(renderMarkdown("one\ntwo\n\nthree")).toBe("<p>one<br>two</p><p>three</p>");
    expect(renderMarkdown("intro:\n- a\n- **b**\n\n1. x\n2. y")).toBe("<p>intro:</p><ul><li>a</li><li><strong>b</strong></li></ul><ol><li>x</li><li>y</li></ol>");
    expect(renderMarkdown("```js\nif (a < b && c) {}\n```\nafter")).toBe("<pre><code>if (a &lt; b &amp;&amp; c) {}</code></pre><p>after</p>");
    // while streaming, an open fence runs to the end of the text; `*` inside code stays literal
    expect(renderMarkdown("see:\n```\nx = 2 * 3 * 4")).toBe("<p>see:</p><pre><code>x = 2 * 3 * 4</code></pre>");
    expect(renderMarkdown("# Title\ntext")).toBe("<p><strong>Title</strong></p><p>text</p>");
  });

  it("keeps hostile HTML as text: no markup of the model's own, no quote, each < > \" ' & shown as itself", () => {
    // the checks can fail: raw HTML is caught by them
    expect(leftover('<img src=x onerror="alert(1)">')).toContain("<");
    for (const h of HOSTILE) {
      const html = renderMarkdown(h);
      const rest = leftover(html);
      expect(rest, h).not.toMatch(/[<>"']/);
      // every markup character of the input is shown as itself
      for (const c of "<>\"'&") expect(shown(html).split(c).length, `${h}: ${c}`).toBe(h.split(c).length);
    }
    expect(renderMarkdown("&lt;b&gt;")).toBe("<p>&amp;lt;b&amp;gt;</p>"); // an entity in the text is shown as typed
  });

  it("never puts the API key in the page, and allows its script only by hash", () => {
    const page = chatPage({ keyRequired: true });
    expect(page.html).toContain('data-key-required="1"');
    expect(page.html).toContain(MARKDOWN_RENDERER_JS);
    expect(page.csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
    expect(page.csp).not.toContain("unsafe-inline");
    expect(chatPage({ keyRequired: false }).html).toContain('data-key-required="0"');
  });
});

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const SKIP_REASON = "no chromium binary at /usr/bin/chromium (Debian: apt-get install -y --no-install-recommends chromium)";
const KEY = "page-test-key";

/** The answer the hostile mode serves instead of the model, split over SSE chunks. */
const HOSTILE_ANSWER = `**bold** and ${HOSTILE.join("\n\n")}`;
function hostileSse(): string {
  const pieces = HOSTILE_ANSWER.match(/[\s\S]{1,7}/g) ?? [];
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 0, model: "tiny", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  return `${chunk({ role: "assistant", content: "" }, null)}${pieces.map((p) => chunk({ content: p }, null)).join("")}${chunk({}, "stop")}data: [DONE]\n\n`;
}

describe("chat page in chromium", () => {
  let browser: Browser | undefined;
  let server: RunningServer | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.shutdown(500);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!CHROMIUM)(`asks for the key, streams, stops, keeps history, shows hostile output as text, light and dark${CHROMIUM ? "" : ` (skipped: ${SKIP_REASON})`}`, async () => {
    dir = mkdtempSync(join(tmpdir(), "llmforge-chat-model-"));
    const run = join(dir, "tiny");
    const tokenizer = Tokenizer.trainFromTexts(["the cat sat on the mat. the dog sat on the log. a cat and a dog ran. ".repeat(20)], { vocabSize: 300 });
    mkdirSync(join(run, "tokenizer"), { recursive: true });
    writeFileSync(join(run, "tokenizer", "tokenizer.json"), tokenizer.toHuggingFaceJson());
    saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 2048, vocabSize: tokenizer.vocabSize, initStd: 0.1 }), { seed: 3 }));
    server = await startServer({ run, apiKey: KEY, maxBatch: 4, maxTokens: 2000, logger: false });
    const base = await server.app.listen({ port: 0, host: "127.0.0.1" });
    const raw = await fetch(`${base}/`);
    expect(raw.status).toBe(200); // no key needed for the page itself
    expect(await raw.text()).not.toContain(KEY);

    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true,
      // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"],
    });
    const page: Page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 760 });
    const problems: string[] = [];
    page.on("console", (m) => {
      // the wrong key below is refused with a 401 on purpose
      if ((m.type() === "error" || m.type() === "warn") && !/status of 401/.test(m.text())) problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
    // chat requests are recorded; "ignore_eos" makes answers run to max_tokens; hostile mode answers instead of the model
    let mode: "model" | "hostile" = "model";
    const sent: { messages: { role: string; content: string }[]; max_tokens: number; temperature: number }[] = [];
    await page.setRequestInterception(true);
    page.on("request", (r: HTTPRequest) => {
      if (!r.url().endsWith("/v1/chat/completions")) return void r.continue();
      const body = JSON.parse(r.postData() ?? "{}");
      sent.push(body);
      if (mode === "hostile") return void r.respond({ status: 200, contentType: "text/event-stream", body: hostileSse() });
      return void r.continue({ postData: JSON.stringify({ ...body, ignore_eos: true }) });
    });
    // The network, not the page, decides how events are grouped into reads: on a loaded machine the tiny model can
    // finish before chromium reads once, and the page rightly shows the whole answer in one paint. So the page's
    // fetch hands each server-sent event of a chat stream to the page in a read of its own, 5 ms apart, as a slow
    // network would; everything still comes from the live server.
    await page.evaluateOnNewDocument(() => {
      const realFetch = window.fetch.bind(window);
      window.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
        const r = await realFetch(input, init);
        if (!String(input).endsWith("chat/completions") || !r.body) return r;
        const upstream = r.body.getReader();
        const decoder = new TextDecoder();
        const encoder = new TextEncoder();
        let buf = "";
        const paced = new ReadableStream<Uint8Array>({
          async pull(c) {
            for (;;) {
              const cut = buf.indexOf("\n\n");
              if (cut >= 0) {
                await new Promise((done) => setTimeout(done, 5));
                c.enqueue(encoder.encode(buf.slice(0, cut + 2)));
                buf = buf.slice(cut + 2);
                return;
              }
              const next = await upstream.read();
              if (next.done) {
                if (buf) c.enqueue(encoder.encode(buf));
                return c.close();
              }
              buf += decoder.decode(next.value, { stream: true });
            }
          },
          cancel: (why) => upstream.cancel(why),
        });
        return new Response(paced, { status: r.status, statusText: r.statusText, headers: r.headers });
      };
    });
    await page.goto(`${base}/`, { waitUntil: "load" });

    // the key: asked for, a wrong one refused, the right one accepted
    await page.waitForSelector("#keybox:not([hidden])", { timeout: 5000 });
    await page.type("#key", "wrong");
    await page.click("#keyform button");
    await page.waitForFunction(() => /Incorrect API key/.test(document.getElementById("status")?.textContent ?? ""), { timeout: 5000 });
    await page.type("#key", KEY);
    await page.click("#keyform button");
    await page.waitForFunction(() => /tiny/.test(document.getElementById("model")?.textContent ?? ""), { timeout: 5000 });
    expect(await page.$eval("#keybox", (e) => (e as HTMLElement).hidden)).toBe(true);

    const setField = (sel: string, v: string) => page.$eval(sel, (e, val) => {
      (e as HTMLInputElement).value = val;
    }, v);
    const lastAnswer = () => page.$$eval(".msg.assistant", (ms) => {
      const m = ms[ms.length - 1];
      return { text: m?.querySelector(".body")?.textContent ?? "", meta: m?.querySelector(".meta")?.textContent ?? "" };
    });
    const chunks = () => page.evaluate(() => (window as unknown as { state: { chunks: number } }).state.chunks);
    const idle = () => page.waitForSelector("body[data-state=idle]", { timeout: 15_000 });

    // 1. a streamed answer: the text grows while the page says it is generating
    await page.click("details summary");
    await setField("#system", "be brief");
    await setField("#maxTokens", "200");
    await setField("#temperature", "1");
    // (chunk count, shown length) at every change of the conversation's DOM while generating, recorded in the page;
    // the shown length may dip when a `**` pair closes, the count cannot
    await page.evaluate(() => {
      const w = window as unknown as { seen: [number, number][]; state: { chunks: number } };
      w.seen = [];
      new MutationObserver(() => {
        const body = document.querySelector(".msg.assistant:last-child .body");
        if (body && document.body.dataset.state === "generating" && w.state.chunks > 0) w.seen.push([w.state.chunks, body.textContent?.length ?? 0]);
      }).observe(document.getElementById("log") as HTMLElement, { subtree: true, childList: true, characterData: true });
    });
    await page.type("#input", "the cat");
    await page.keyboard.press("Enter");
    await page.waitForSelector("body[data-state=generating]", { timeout: 5000 }).catch(() => undefined); // may already be done
    await idle();
    const seen = (await page.evaluate(() => (window as unknown as { seen: [number, number][] }).seen)).filter((o, i, all) => i === 0 || o[0] !== all[i - 1][0]);
    const seenText = seen.map(([c, n]) => `${c}:${n}`).join(" ");
    expect(seen.length, `chunks:shown length while streaming: ${seenText}`).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i][0], seenText).toBeGreaterThan(seen[i - 1][0]);
    expect(new Set(seen.map(([, n]) => n)).size, seenText).toBeGreaterThanOrEqual(2);
    const first = await lastAnswer();
    expect(first.meta).toMatch(/^200 tokens · [\d.]+ tokens\/s · first token \d+ ms · stopped at max tokens$/);
    expect(await chunks()).toBeGreaterThan(1);
    expect(sent[0]).toMatchObject({ max_tokens: 200, temperature: 1, messages: [{ role: "system", content: "be brief" }, { role: "user", content: "the cat" }] });

    // 2. stop: the generation ends early, the server frees its slot, the page takes the next message
    const aborts0 = server.metrics.finished.get({ reason: "abort" });
    await setField("#maxTokens", "1500");
    // the page itself clicks Stop at the 10th chunk (a click from here would come a round trip late on a loaded machine)
    await page.evaluate(() => {
      const w = window as unknown as { state: { chunks: number } };
      const watch = new MutationObserver(() => {
        if (w.state.chunks < 10) return;
        watch.disconnect();
        (document.getElementById("stop") as HTMLButtonElement).click();
      });
      watch.observe(document.getElementById("log") as HTMLElement, { subtree: true, childList: true, characterData: true });
    });
    await page.type("#input", "a dog");
    await page.keyboard.press("Enter");
    await page.waitForSelector("body[data-state=generating]", { timeout: 5000 }).catch(() => undefined);
    await idle();
    expect(await page.$eval("#status", (e) => e.textContent ?? "")).toBe("ready");
    const stopped = await lastAnswer();
    expect(stopped.meta).toMatch(/ · stopped$/);
    expect(Number(stopped.meta.split(" ")[0])).toBeLessThan(1500);
    for (let t = 0; t < 100 && server.metrics.finished.get({ reason: "abort" }) === aborts0; t++) await new Promise((r) => setTimeout(r, 20));
    expect(server.metrics.finished.get({ reason: "abort" })).toBe(aborts0 + 1);
    expect(await page.$eval("#send", (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    await setField("#maxTokens", "5");
    await page.type("#input", "and then");
    await page.keyboard.press("Enter");
    await page.waitForSelector("body[data-state=generating]", { timeout: 5000 }).catch(() => undefined); // may already be done
    await idle();
    expect((await lastAnswer()).meta).toMatch(/^5 tokens .* stopped at max tokens$/);
    // the conversation went out whole: system, then three user turns and the two answers between them (the stopped one as far as it got)
    const third = sent[2].messages;
    expect(third.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant", "user"]);
    expect(third[3].content).toBe("a dog");
    expect(third[4].content.length).toBeGreaterThan(0);

    // 3. a hostile answer is shown as text: no element of its own, nothing run
    mode = "hostile";
    await page.type("#input", "show me some html");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.body.dataset.state === "idle" && /done$/.test(document.querySelector(".msg.assistant:last-child .meta")?.textContent ?? ""), { timeout: 10_000 });
    const hostile = await page.$$eval(".msg.assistant", (ms) => {
      const body = ms[ms.length - 1].querySelector(".body") as HTMLElement;
      const els = Array.from(body.querySelectorAll("*"));
      return {
        tags: [...new Set(els.map((e) => e.tagName.toLowerCase()))],
        attributes: els.reduce((s, e) => s + e.attributes.length, 0),
        text: body.textContent ?? "",
        pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
        strong: body.querySelector("strong")?.textContent ?? "",
      };
    });
    expect(hostile.pwned).toBeNull();
    expect(hostile.attributes).toBe(0);
    for (const t of hostile.tags) expect(ALLOWED).toContain(t);
    expect(hostile.strong).toBe("bold");
    expect(hostile.text).toContain('<img src=x onerror="window.__pwned=1">');
    expect(hostile.text).toContain("<script>window.__pwned=2</script>");
    expect(hostile.text).toContain("</code></pre><svg onload=window.__pwned=3>");

    // 4. screenshots, light then dark (the toggle overrides the system scheme)
    const shots = mkdtempSync(join(tmpdir(), "llmforge-chat-page-"));
    const light = join(shots, "chat-light.png");
    const dark = join(shots, "chat-dark.png");
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
    expect(await bg()).toBe("rgb(255, 255, 255)");
    await page.screenshot({ path: light });
    await page.click("#theme");
    expect(await bg()).not.toBe("rgb(255, 255, 255)");
    await page.screenshot({ path: dark });
    for (const s of [light, dark]) expect(statSync(s).size).toBeGreaterThan(10_000);
    console.log(`chat page screenshots: ${light} ${dark}`);
    expect(problems).toEqual([]);
  }, 60_000);
});
