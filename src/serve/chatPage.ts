// The web chat page `llmforge serve` answers at GET /: one HTML document, no build step and no request beyond this
// server's /v1 API, that streams chat completions (fetch + SSE), keeps the conversation and renders the model's
// markdown safely: everything is escaped first, then only fixed tags without attributes are added.
import { createHash } from "node:crypto";

/**
 * The page's markdown renderer, as JavaScript source defining `function renderMarkdown(text) -> html`. The page inlines
 * this very text and the tests evaluate it, so both run the same code. Safe by construction: the input is escaped
 * (`& < > " '`) before any markup is added, and the only markup added is `<p> <br> <pre> <code> <strong> <em> <ul>
 * <ol> <li>` with no attributes, so model output can never open an element or an attribute of its own.
 */
export const MARKDOWN_RENDERER_JS = String.raw`function renderMarkdown(src) {
  var esc = function (s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  };
  // inline spans of escaped text: code spans first (their content stays as is), then **strong**, *em* and _em_
  var inline = function (s) {
    return s.split(/(\x60[^\x60\n]+\x60)/).map(function (part, i) {
      if (i % 2 === 1) return "<code>" + part.slice(1, -1) + "</code>";
      return part
        .replace(/\*\*([^*\n]+?)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*\w])\*([^*\s][^*\n]*?)\*(?![*\w])/g, "$1<em>$2</em>")
        .replace(/(^|[^\w])_([^_\s][^_\n]*?)_(?!\w)/g, "$1<em>$2</em>");
    }).join("");
  };
  // paragraphs (single newlines become <br>), bullet and numbered lists, "# heading" lines as strong paragraphs
  var prose = function (t) {
    var html = "", para = [], items = null, tag = "";
    var endPara = function () {
      if (para.length) html += "<p>" + para.map(inline).join("<br>") + "</p>";
      para = [];
    };
    var endList = function () {
      if (items) html += "<" + tag + ">" + items.map(function (li) { return "<li>" + inline(li) + "</li>"; }).join("") + "</" + tag + ">";
      items = null;
    };
    t.split("\n").forEach(function (line) {
      var m = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/.exec(line);
      var h = /^#{1,6}\s+(.*)$/.exec(line);
      if (m) {
        var want = /\d/.test(m[1]) ? "ol" : "ul";
        endPara();
        if (items && want !== tag) endList();
        if (!items) { items = []; tag = want; }
        items.push(m[2]);
      } else if (/^\s*$/.test(line)) { endPara(); endList(); }
      else if (items && /^\s+\S/.test(line)) items[items.length - 1] += " " + line.trim();
      else if (h) { endPara(); endList(); html += "<p><strong>" + inline(h[1]) + "</strong></p>"; }
      else { endList(); para.push(line); }
    });
    endPara();
    endList();
    return html;
  };
  // fenced code blocks split the text: even parts are prose, odd parts code (an unclosed fence runs to the end, as while streaming)
  var parts = esc(String(src)).replace(/\r\n?/g, "\n").split(/^ {0,3}\x60\x60\x60[^\n]*(?:\n|$)/m);
  return parts.map(function (p, i) { return i % 2 === 1 ? "<pre><code>" + p.replace(/\n$/, "") + "</code></pre>" : prose(p); }).join("");
}`;

const STYLE = `
:root { color-scheme: light; --bg: #ffffff; --fg: #1d1f23; --muted: #667085; --panel: #f4f5f7; --line: #d9dce1; --user: #e8f0fe; --accent: #2563eb; --err: #b42318; }
@media (prefers-color-scheme: dark) { :root:not([data-theme=light]) { color-scheme: dark; --bg: #15171b; --fg: #e6e8eb; --muted: #9aa1ad; --panel: #1f2228; --line: #343842; --user: #1e2a44; --accent: #6ea0ff; --err: #ff8a80; } }
:root[data-theme=dark] { color-scheme: dark; --bg: #15171b; --fg: #e6e8eb; --muted: #9aa1ad; --panel: #1f2228; --line: #343842; --user: #1e2a44; --accent: #6ea0ff; --err: #ff8a80; }
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, sans-serif; }
body { display: flex; flex-direction: column; max-width: 900px; margin: 0 auto; padding: 0 12px; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 0; border-bottom: 1px solid var(--line); }
header h1 { font-size: 17px; margin: 0; }
#model, #status, .meta, label { color: var(--muted); font-size: 13px; }
header .grow { flex: 1; }
details { padding: 6px 0; border-bottom: 1px solid var(--line); }
.settings { display: grid; grid-template-columns: 1fr auto auto; gap: 8px 12px; align-items: end; padding-top: 6px; }
.settings label { display: flex; flex-direction: column; gap: 2px; }
textarea, input, button { font: inherit; color: inherit; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
input[type=number] { width: 7em; }
button { cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--bg); }
button:disabled { opacity: .5; cursor: default; }
#keybox { display: flex; gap: 8px; padding: 8px 0; align-items: center; }
#keybox[hidden] { display: none; }
#log { flex: 1; overflow-y: auto; padding: 12px 0; }
.msg { margin: 0 0 14px; }
.msg .who { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.msg.user .body { background: var(--user); border-radius: 8px; padding: 6px 10px; white-space: pre-wrap; display: inline-block; max-width: 100%; }
.msg.assistant .body p { margin: .3em 0; }
.msg.streaming .body::after { content: "▍"; color: var(--accent); }
.msg.error .body { color: var(--err); }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow-x: auto; }
code { font: 13px/1.4 ui-monospace, monospace; background: var(--panel); border-radius: 4px; padding: 0 3px; }
pre code { padding: 0; background: none; }
form#composer { display: flex; gap: 8px; padding: 10px 0 14px; border-top: 1px solid var(--line); }
#input { flex: 1; resize: vertical; min-height: 2.6em; }
#status.error { color: var(--err); }
`;

const SCRIPT = String.raw`"use strict";
${MARKDOWN_RENDERER_JS}
var $ = function (id) { return document.getElementById(id); };
var state = { history: [], controller: null, model: null, key: sessionStorage.getItem("llmforge-api-key") || "", chunks: 0, conversation: 0 };
var ui = function (s) { document.body.dataset.state = s; $("send").disabled = s === "generating"; $("stop").disabled = s !== "generating"; };
var setStatus = function (text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; };
var headers = function () {
  var h = { "content-type": "application/json" };
  if (state.key) h.authorization = "Bearer " + state.key;
  return h;
};
var errorOf = async function (r) {
  try { var j = await r.json(); return (j.error && j.error.message) || r.status + " " + r.statusText; } catch (e) { return r.status + " " + r.statusText; }
};
var askKey = function (why) { $("keybox").hidden = false; setStatus(why, true); $("key").focus(); };
var loadModel = async function () {
  var r = await fetch("v1/models", { headers: headers() });
  if (r.status === 401) { askKey(await errorOf(r)); return false; }
  if (!r.ok) { setStatus(await errorOf(r), true); return false; }
  var m = (await r.json()).data[0];
  state.model = m.id;
  $("model").textContent = m.id + " · context " + m.max_model_len + " tokens";
  $("keybox").hidden = true;
  setStatus("ready");
  return true;
};
var addMessage = function (role, text) {
  var div = document.createElement("div");
  div.className = "msg " + role;
  var who = document.createElement("div");
  who.className = "who";
  who.textContent = role;
  var body = document.createElement("div");
  body.className = "body";
  body.textContent = text;
  var meta = document.createElement("div");
  meta.className = "meta";
  div.append(who, body, meta);
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
};
var send = async function () {
  var text = $("input").value.trim();
  if (!text || document.body.dataset.state === "generating") return;
  if (!state.model && !(await loadModel())) return;
  $("input").value = "";
  var conversation = state.conversation;
  var userDiv = addMessage("user", text);
  state.history.push({ role: "user", content: text });
  var messages = ($("system").value.trim() ? [{ role: "system", content: $("system").value.trim() }] : []).concat(state.history);
  var div = addMessage("assistant", "");
  var body = div.querySelector(".body"), meta = div.querySelector(".meta");
  div.classList.add("streaming");
  state.controller = new AbortController();
  state.chunks = 0;
  ui("generating");
  setStatus("generating…");
  var answer = "", tokens = 0, t0 = performance.now(), tFirst = 0, finish = null, usage = null, failure = null;
  var speed = function () {
    var s = (performance.now() - t0) / 1000;
    return tokens + " tokens · " + (s > 0 ? (tokens / s).toFixed(1) : "0") + " tokens/s" + (tFirst ? " · first token " + Math.round(tFirst - t0) + " ms" : "");
  };
  try {
    var r = await fetch("v1/chat/completions", {
      method: "POST", headers: headers(), signal: state.controller.signal,
      body: JSON.stringify({ model: state.model, messages: messages, stream: true, stream_options: { include_usage: true },
        temperature: Number($("temperature").value), max_tokens: Number($("maxTokens").value) }),
    });
    if (r.status === 401) { var why = await errorOf(r); askKey(why); throw new Error(why); }
    if (!r.ok) throw new Error(await errorOf(r));
    var reader = r.body.getReader(), decoder = new TextDecoder(), buf = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      var events = buf.split(/\r?\n\r?\n/);
      buf = events.pop();
      events.forEach(function (ev) {
        var data = ev.split(/\r?\n/).filter(function (l) { return l.indexOf("data:") === 0; }).map(function (l) { return l.slice(5).replace(/^ /, ""); }).join("\n");
        if (!data || data === "[DONE]") return;
        var c = JSON.parse(data);
        if (c.error) throw new Error(c.error.message);
        if (c.usage) usage = c.usage;
        var ch = c.choices && c.choices[0];
        if (!ch) return;
        if (ch.delta && ch.delta.content) {
          if (!tFirst) tFirst = performance.now();
          answer += ch.delta.content;
          tokens++;
          state.chunks++;
        }
        if (ch.finish_reason) finish = ch.finish_reason;
      });
      body.innerHTML = renderMarkdown(answer);
      meta.textContent = speed();
      $("log").scrollTop = $("log").scrollHeight;
    }
  } catch (e) {
    if (e && e.name === "AbortError") finish = "stopped";
    else failure = e instanceof Error ? e.message : String(e);
  }
  if (usage) tokens = usage.completion_tokens;
  div.classList.remove("streaming");
  state.controller = null;
  if (conversation !== state.conversation) {
    // "New chat" was pressed while this answer streamed: it belongs to no conversation any more
    setStatus("ready");
  } else if (failure && !answer) {
    // nothing came back: the turn leaves the conversation and its text returns to the input box
    state.history.pop();
    userDiv.remove();
    div.remove();
    $("input").value = text;
    setStatus(failure, true);
  } else {
    body.innerHTML = renderMarkdown(answer);
    state.history.push({ role: "assistant", content: answer });
    meta.textContent = speed() + " · " + (failure ? "error: " + failure : finish === "length" ? "stopped at max tokens" : finish === "stopped" ? "stopped" : "done");
    setStatus(failure ? failure : "ready", !!failure);
  }
  ui("idle");
  $("input").focus();
};
$("composer").addEventListener("submit", function (e) { e.preventDefault(); send(); });
$("input").addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } });
$("stop").addEventListener("click", function () { if (state.controller) state.controller.abort(); });
$("clear").addEventListener("click", function () {
  if (state.controller) state.controller.abort();
  state.conversation++;
  state.history = [];
  $("log").textContent = "";
});
$("keyform").addEventListener("submit", function (e) {
  e.preventDefault();
  state.key = $("key").value.trim();
  sessionStorage.setItem("llmforge-api-key", state.key);
  $("key").value = "";
  loadModel();
});
$("theme").addEventListener("click", function () {
  var dark = document.documentElement.dataset.theme ? document.documentElement.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "light" : "dark";
  localStorage.setItem("llmforge-theme", document.documentElement.dataset.theme);
});
if (localStorage.getItem("llmforge-theme")) document.documentElement.dataset.theme = localStorage.getItem("llmforge-theme");
ui("idle");
if (document.body.dataset.keyRequired === "1" && !state.key) askKey("this server needs an API key");
else loadModel().catch(function (e) { setStatus(String(e), true); });
`;

const sha256 = (s: string): string => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;

/** The chat page and the Content-Security-Policy it is served with (inline script and style allowed by hash only). */
export interface ChatPage {
  html: string;
  csp: string;
}

/**
 * Builds the chat page. `keyRequired` only makes the page ask for a key before its first request: the key itself is
 * never part of the page (the user types it; it stays in the tab's sessionStorage and goes out as a Bearer header).
 */
export function chatPage(opts: { keyRequired: boolean }): ChatPage {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llmforge chat</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-key-required="${opts.keyRequired ? "1" : "0"}" data-state="loading">
<header><h1>llmforge chat</h1><span id="model">…</span><span class="grow"></span><span id="status"></span>
<button id="clear" type="button" title="start a new conversation">New chat</button><button id="theme" type="button" title="light / dark">◐</button></header>
<form id="keyform"><div id="keybox" hidden><label for="key">API key</label><input id="key" type="password" autocomplete="off" placeholder="the server's --api-key"><button type="submit">Use key</button></div></form>
<details><summary>Settings</summary><div class="settings">
<label>System prompt<textarea id="system" rows="2" placeholder="optional, e.g. You are a helpful assistant."></textarea></label>
<label>Temperature<input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
<label>Max tokens<input id="maxTokens" type="number" min="1" step="1" value="256"></label>
</div></details>
<main id="log" aria-live="polite"></main>
<form id="composer"><textarea id="input" rows="2" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
<button id="send" class="primary" type="submit">Send</button><button id="stop" type="button">Stop</button></form>
<script>${SCRIPT}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'", `script-src ${sha256(SCRIPT)}`, `style-src ${sha256(STYLE)}`, "img-src data:", "connect-src 'self'",
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}
