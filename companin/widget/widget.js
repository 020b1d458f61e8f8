/*
 * Companin chat widget.
 *
 *   <script src="https://HOST/widget.js" data-client-id="…" data-assistant-id="…"
 *           data-config-id="…" data-instance-id="primary-widget"></script>
 *
 * Plain JavaScript with no dependencies and no build step. It adds one global,
 * `window.Companin`, and draws inside a shadow root, so the host page's CSS cannot reach
 * it and its own CSS cannot leak out. Everything the server, the model or a document
 * says is shown as text, never parsed as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || !script.src) return;

  const API = new URL("/api/v1", script.src).href;
  const RENEW_MARGIN_MS = 60_000; // a token is renewed this long before it expires
  const HISTORY_PAGE_SIZE = 100;
  // While the panel is open, how often to ask for messages written elsewhere: a person of
  // the team answering in the console (they must reach the visitor within 3 seconds).
  const POLL_MS = 2_000;

  // ------------------------------------------------------------------ the global

  const Companin =
    window.Companin ||
    (window.Companin = Object.freeze({
      instances: new Map(),
      /** The widget of `instanceId`, or the first one on the page. */
      instance(instanceId) {
        return instanceId === undefined
          ? this.instances.values().next().value
          : this.instances.get(instanceId);
      },
      open(instanceId) {
        this.instance(instanceId)?.open();
      },
      close(instanceId) {
        this.instance(instanceId)?.close();
      },
      send(text, instanceId) {
        return this.instance(instanceId)?.send(text);
      },
      /** A logged-in customer: `{user_reference, traits}`, kept with the visitor's session. */
      identify(identity, instanceId) {
        return this.instance(instanceId)?.identify(identity);
      },
    }));

  // ------------------------------------------------------------------ small helpers

  /** An element with attributes and children; text children are text nodes, never HTML. */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== undefined && child !== null) node.append(child);
    }
    return node;
  }

  // Feather's thumbs-up and thumbs-down outlines (MIT): drawn, so that no emoji font is needed.
  const THUMB_UP =
    "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3";
  const THUMB_DOWN =
    "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17";

  function icon(path) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
    shape.setAttribute("d", path);
    svg.append(shape);
    return svg;
  }

  function domReady() {
    return document.body
      ? Promise.resolve()
      : new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve, { once: true }));
  }

  function randomKey() {
    const bytes = new Uint8Array(24);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function httpUrl(value) {
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /** What the widget remembers for its visitor, per instance; memory when storage is off. */
  class Memory {
    constructor(key) {
      this.key = key;
      this.values = {};
      try {
        this.values = JSON.parse(localStorage.getItem(key) || "{}") || {};
      } catch {
        this.values = {};
      }
    }
    get(name) {
      return this.values[name];
    }
    set(name, value) {
      if (value === undefined) delete this.values[name];
      else this.values[name] = value;
      try {
        localStorage.setItem(this.key, JSON.stringify(this.values));
      } catch {
        /* private mode or full: the chat still works for this page */
      }
    }
  }

  // ------------------------------------------------------------------ talking to the API

  class WidgetError extends Error {
    constructor(kind, message, retryAfter) {
      super(message);
      this.kind = kind; // offline | rate | forbidden | server | refused
      this.retryAfter = retryAfter;
    }
  }

  async function errorOf(response) {
    let detail = "";
    try {
      detail = (await response.json()).detail || "";
    } catch {
      /* not the envelope: a proxy's page */
    }
    return errorFromEnvelope(response.status, detail, response.headers.get("Retry-After"));
  }

  function errorFromEnvelope(status, detail, retryAfter) {
    if (status === 429) return new WidgetError("rate", detail, Number(retryAfter) || null);
    if (status === 403) return new WidgetError("forbidden", detail);
    if (status >= 500) return new WidgetError("server", detail);
    return new WidgetError("refused", detail);
  }

  class Api {
    constructor(tokenRequest) {
      this.tokenRequest = tokenRequest;
      this.token = null;
      this.renewAt = 0;
      this.renewing = null;
      this.tokensFetched = 0;
    }

    /** A token not about to expire, fetched once for concurrent callers. */
    async currentToken() {
      if (this.token && Date.now() < this.renewAt) return this.token;
      if (!this.renewing) {
        this.renewing = this.fetchToken().finally(() => {
          this.renewing = null;
        });
      }
      return this.renewing;
    }

    async fetchToken() {
      const response = await this.fetch(`${API}/auth/widget-token`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(this.tokenRequest),
      });
      if (!response.ok) throw await errorOf(response);
      const body = await response.json();
      this.tokensFetched += 1;
      this.token = body.token;
      // Renewed a minute before it expires (a short-lived one, at a fifth of its life left).
      const lifeMs = body.expires_in * 1000;
      this.renewAt = Date.now() + lifeMs - Math.min(RENEW_MARGIN_MS, lifeMs / 5);
      return this.token;
    }

    async fetch(url, init) {
      try {
        return await fetch(url, init);
      } catch {
        throw new WidgetError("offline", "offline");
      }
    }

    /** A request with the widget token; a 401 (the token expired or the key rotated) gets one
     * new token and one more try. Resolves to the response, rejects with a WidgetError. */
    async request(method, path, { body, headers = {} } = {}) {
      for (let attempt = 0; ; attempt += 1) {
        const token = await this.currentToken();
        const response = await this.fetch(`${API}${path}`, {
          method,
          headers: {
            Authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            ...headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (response.status === 401 && attempt === 0) {
          this.token = null;
          continue;
        }
        if (!response.ok) throw await errorOf(response);
        return response;
      }
    }

    async json(method, path, options) {
      return (await this.request(method, path, options)).json();
    }
  }

  /** Server-sent events of a fetch response, as [event, data] pairs. */
  async function* serverEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) yield [event, JSON.parse(data.join("\n"))];
      }
    }
  }

  // ------------------------------------------------------------------ the look

  const STYLE = `
:host { all: initial; }
.root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2937;
  --primary: #2563eb; }
.root *, .root *::before, .root *::after { box-sizing: border-box; }
button, textarea { font: inherit; color: inherit; }
.launcher { position: fixed; bottom: 20px; right: 20px; z-index: 2147483000; display: flex;
  align-items: center; gap: 8px; min-height: 52px; padding: 0 20px; border: 0; border-radius: 26px;
  background: var(--primary); color: #fff; font-size: 15px; font-weight: 600; cursor: pointer;
  box-shadow: 0 6px 20px rgba(0,0,0,.2); transition: transform .15s ease; }
.launcher:hover { transform: translateY(-2px); }
.left .launcher, .left .panel { right: auto; left: 20px; }
.launcher:focus-visible, button:focus-visible, textarea:focus-visible, a:focus-visible {
  outline: 3px solid #f59e0b; outline-offset: 2px; }
.panel { position: fixed; bottom: 84px; right: 20px; z-index: 2147483001; display: flex;
  flex-direction: column; width: 380px; height: min(600px, calc(100vh - 104px));
  background: #fff; border-radius: 14px; overflow: hidden; box-shadow: 0 12px 40px rgba(0,0,0,.25);
  animation: rise .18s ease-out; }
.panel[hidden], .launcher[hidden] { display: none; }
@keyframes rise { from { opacity: 0; transform: translateY(12px); } }
header { display: flex; align-items: center; justify-content: space-between; gap: 8px;
  padding: 14px 16px; background: var(--primary); color: #fff; }
header h2 { margin: 0; font-size: 16px; font-weight: 600; }
.close { border: 0; background: transparent; color: #fff; font-size: 22px; line-height: 1;
  width: 36px; height: 36px; border-radius: 8px; cursor: pointer; }
.log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 10px;
  background: #f9fafb; }
.bubble { max-width: 85%; padding: 9px 12px; border-radius: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.user { align-self: flex-end; background: var(--primary); color: #fff; border-bottom-right-radius: 4px; }
.assistant { align-self: flex-start; background: #fff; border: 1px solid #e5e7eb;
  border-bottom-left-radius: 4px; }
.unsent { opacity: .6; }
.agent { border-color: var(--primary); }
.author { display: block; font-size: 12px; font-weight: 600; color: var(--primary); }
.sources { margin-top: 6px; font-size: 12px; color: #4b5563; white-space: normal; }
.sources ul { margin: 2px 0 0; padding-left: 16px; }
.sources a { color: var(--primary); }
.actions { display: flex; gap: 4px; margin-top: 6px; }
.actions button { border: 1px solid #e5e7eb; background: #fff; border-radius: 8px; min-width: 32px;
  min-height: 28px; cursor: pointer; font-size: 14px; }
.actions button { display: inline-flex; align-items: center; justify-content: center; }
.actions svg { width: 16px; height: 16px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round; }
.actions button[aria-pressed="true"] { background: #eef2ff; border-color: var(--primary);
  color: var(--primary); }
.notice { align-self: stretch; padding: 8px 12px; border-radius: 10px; font-size: 13px;
  background: #fffbeb; border: 1px solid #fcd34d; color: #78350f; }
.error { background: #fef2f2; border-color: #fca5a5; color: #7f1d1d; }
.error button { margin-left: 8px; border: 1px solid currentColor; background: transparent;
  border-radius: 6px; padding: 2px 8px; cursor: pointer; }
.suggestions { display: flex; flex-wrap: wrap; gap: 6px; }
.suggestions button { border: 1px solid var(--primary); color: var(--primary); background: #fff;
  border-radius: 16px; padding: 6px 12px; cursor: pointer; text-align: left; }
.typing { align-self: flex-start; display: flex; gap: 4px; padding: 12px; }
.typing span { width: 7px; height: 7px; border-radius: 50%; background: #9ca3af;
  animation: blink 1.2s infinite ease-in-out; }
.typing span:nth-child(2) { animation-delay: .2s; }
.typing span:nth-child(3) { animation-delay: .4s; }
@keyframes blink { 0%, 80%, 100% { opacity: .3; } 40% { opacity: 1; } }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; }
textarea { flex: 1; resize: none; height: 42px; max-height: 120px; padding: 10px 12px;
  border: 1px solid #d1d5db; border-radius: 10px; background: #fff; }
.send { border: 0; border-radius: 10px; padding: 0 16px; background: var(--primary); color: #fff;
  font-weight: 600; cursor: pointer; }
.send:disabled { opacity: .5; cursor: default; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 480px) {
  .panel, .left .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
}
@media (prefers-reduced-motion: reduce) {
  .root * { animation: none !important; transition: none !important; }
}
`;

  // ------------------------------------------------------------------ one widget

  class Widget {
    constructor(options) {
      this.options = options;
      this.memory = new Memory(`companin:${options.clientId}:${options.instanceId}`);
      if (!this.memory.get("visitorKey")) this.memory.set("visitorKey", randomKey());
      this.api = new Api({
        client_id: options.clientId,
        ...(options.assistantId ? { assistant_id: options.assistantId } : {}),
        ...(options.configId ? { config_id: options.configId } : {}),
        visitor_key: this.memory.get("visitorKey"),
      });
      this.config = {};
      this.state = "starting"; // starting | ready | not-allowed | unavailable
      this.busy = false;
      this.historyShown = false;
      this.shown = new Set(); // ids of the messages in the log
      this.lastId = null; // the newest of them: polls ask for what came after it
      this.sends = 0; // messages sent so far: a poll that overlaps one is dropped
      this.identity = this.memory.get("identity") || null;
      this.ready = this.start();
    }

    async start() {
      await domReady();
      try {
        await this.connect();
      } catch (error) {
        const why =
          this.state === "not-allowed"
            ? "this site is not among the origins allowed for this widget"
            : `the chat is unavailable for now (${error.message || error.kind})`;
        console.warn(`Companin widget "${this.options.instanceId}": ${why}.`);
        if (this.state === "not-allowed") return; // quietly absent: nothing to offer here
      }
      this.render(); // unavailable: the launcher is there, and sending tries again
    }

    /** A first token and the widget config; the state says how it went. */
    async connect() {
      try {
        await this.api.currentToken();
        if (this.options.config) {
          this.config = this.options.config; // a preview of a config not saved yet
        } else if (this.options.configId) {
          this.config = (await this.api.json("GET", `/widget-configs/${this.options.configId}`)).data;
        }
        this.state = "ready";
      } catch (error) {
        this.state = error.kind === "forbidden" ? "not-allowed" : "unavailable";
        throw error;
      }
    }

    get assistantId() {
      return this.options.assistantId || this.config.assistant_id;
    }

    // -------------------------------------------------------------- drawing

    render() {
      const theme = this.config.theme || {};
      const title = theme.title || "Chat with us";
      this.host = el("div", { "data-companin-instance": this.options.instanceId });
      // Inline and important: a host page rule such as `* { display: none !important }`
      // must not hide the widget's own element.
      this.host.style.setProperty("display", "block", "important");
      this.host.style.setProperty("position", "static", "important");
      const shadow = this.host.attachShadow({ mode: "open" });
      this.root = el("div", { class: theme.position === "bottom-left" ? "root left" : "root" });
      if (theme.primary_color) this.root.style.setProperty("--primary", theme.primary_color);

      this.launcher = el(
        "button",
        {
          type: "button",
          class: "launcher",
          "aria-haspopup": "dialog",
          "aria-expanded": "false",
          onclick: () => this.open(),
        },
        theme.launcher_text || title,
      );
      this.log = el("div", { class: "log" });
      this.status = el("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
      this.input = el("textarea", {
        rows: 1,
        "aria-label": "Your message",
        placeholder: "Write a message…",
        maxlength: 4000,
        onkeydown: (event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            this.submit();
          }
        },
      });
      this.sendButton = el("button", { type: "submit", class: "send" }, "Send");
      this.panel = el(
        "div",
        {
          class: "panel",
          role: "dialog",
          "aria-label": title,
          hidden: true,
          onkeydown: (event) => {
            if (event.key === "Escape") {
              event.stopPropagation();
              this.close();
            }
          },
        },
        el(
          "header",
          {},
          el("h2", {}, title),
          el(
            "button",
            { type: "button", class: "close", "aria-label": "Close chat", onclick: () => this.close() },
            "×",
          ),
        ),
        this.log,
        this.status,
        el(
          "form",
          {
            onsubmit: (event) => {
              event.preventDefault();
              this.submit();
            },
          },
          this.input,
          this.sendButton,
        ),
      );
      this.root.append(this.launcher, this.panel);
      shadow.append(el("style", {}, STYLE), this.root);
      document.body.append(this.host);
      if (this.memory.get("open")) this.open({ focus: false });
    }

    async open({ focus = true } = {}) {
      await this.ready;
      if (!this.panel) return;
      this.panel.hidden = false;
      this.launcher.setAttribute("aria-expanded", "true");
      this.memory.set("open", true);
      if (focus) this.input.focus();
      if (!this.historyShown) {
        this.historyShown = true;
        await this.showHistory();
      }
      this.poller ??= setInterval(() => this.poll(), POLL_MS);
    }

    close() {
      if (!this.panel || this.panel.hidden) return;
      this.panel.hidden = true;
      this.launcher.setAttribute("aria-expanded", "false");
      this.memory.set("open", undefined);
      this.launcher.focus();
    }

    scrollDown() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    add(node) {
      this.log.append(node);
      this.scrollDown();
      return node;
    }

    greet() {
      const greeting = this.config.greeting || "Hi! How can I help you today?";
      this.add(el("div", { class: "bubble assistant" }, greeting));
      const questions = this.config.suggested_questions || [];
      if (questions.length) {
        this.suggestions = this.add(
          el(
            "div",
            { class: "suggestions", role: "group", "aria-label": "Suggested questions" },
            ...questions.map((question) =>
              el("button", { type: "button", onclick: () => this.send(question) }, question),
            ),
          ),
        );
      }
    }

    async showHistory() {
      this.greet();
      const sessionId = this.memory.get("sessionId");
      if (!sessionId) return;
      let messages;
      try {
        messages = await this.latestMessages(sessionId);
      } catch (error) {
        if (error.kind === "refused" || error.kind === "forbidden") {
          this.memory.set("sessionId", undefined); // gone, or another visitor's: start anew
        } else {
          this.showError(error, () => this.showHistory());
        }
        return;
      }
      if (messages.length) this.suggestions?.remove();
      for (const message of messages) this.showMessage(message);
    }

    /** A message of the history, as its author's bubble. */
    showMessage(message) {
      this.remember(message);
      if (message.role === "user") this.add(el("div", { class: "bubble user" }, message.content));
      else if (message.role === "agent") this.add(this.agentBubble(message));
      else this.finishReply(this.add(el("div", { class: "bubble assistant" }, message.content)), message);
    }

    remember(message) {
      if (!message) return;
      this.shown.add(message.id);
      this.lastId = message.id;
    }

    /** What was written in the chat since the last message shown (a person of the team,
     * or this visitor in another tab), while the panel is open and the page is seen. */
    async poll() {
      const sessionId = this.memory.get("sessionId");
      const idle = !this.panel || this.panel.hidden || document.visibilityState !== "visible";
      if (idle || this.busy || this.polling || !sessionId || !this.lastId) return;
      this.polling = true;
      const sends = this.sends;
      try {
        const path = `/sessions/${sessionId}/messages?after=${this.lastId}&page_size=${HISTORY_PAGE_SIZE}`;
        const messages = (await this.api.json("GET", path)).data;
        if (this.sends !== sends || this.busy) return; // the send shows its own messages
        const fresh = messages.filter((message) => !this.shown.has(message.id));
        for (const message of fresh) this.showMessage(message);
        const agent = fresh.filter((message) => message.role === "agent").pop();
        if (agent) this.status.textContent = `${agent.author || "Support team"}: ${agent.content}`;
      } catch {
        /* the next poll tries again; sending shows the errors that matter */
      } finally {
        this.polling = false;
      }
    }

    /** A person of the team writing in the chat: their name over their words. */
    agentBubble(message) {
      const name = message.author || "Support team";
      return el(
        "div",
        { class: "bubble assistant agent" },
        el("span", { class: "author" }, name),
        message.content,
      );
    }

    /** The session's latest messages, oldest first: the last two pages of its history. */
    async latestMessages(sessionId) {
      const path = `/sessions/${sessionId}/messages?page_size=${HISTORY_PAGE_SIZE}`;
      const first = await this.api.request("GET", path);
      let pages = 1;
      try {
        pages = JSON.parse(first.headers.get("X-Pagination") || "{}").total_pages || 1;
      } catch {
        /* no paging header: one page */
      }
      if (pages === 1) return (await first.json()).data;
      const before = await this.api.json("GET", `${path}&page=${pages - 1}`);
      const last = await this.api.json("GET", `${path}&page=${pages}`);
      return [...before.data, ...last.data];
    }

    // -------------------------------------------------------------- talking

    submit() {
      const text = this.input.value;
      if (this.send(text)) this.input.value = "";
    }

    /** Send a visitor's message; false if there was nothing to send or one is on its way. */
    send(text) {
      text = String(text ?? "").trim();
      if (!text || this.busy || !this.panel) return false;
      this.suggestions?.remove();
      const bubble = this.add(el("div", { class: "bubble user" }, text));
      this.deliver(text, bubble, randomKey());
      return true;
    }

    async deliver(text, bubble, idempotencyKey) {
      this.busy = true;
      this.sends += 1;
      this.sendButton.disabled = true;
      bubble.classList.remove("unsent");
      const typing = this.add(
        el("div", { class: "typing", "aria-hidden": "true" }, el("span"), el("span"), el("span")),
      );
      this.status.textContent = "The assistant is writing…";
      let reply = null;
      try {
        if (this.state !== "ready") await this.connect(); // the server was down at start
        const sessionId = await this.session();
        const response = await this.api.request(
          "POST",
          `/sessions/${sessionId}/messages?stream=true`,
          { body: { content: text }, headers: { "Idempotency-Key": idempotencyKey } },
        );
        for await (const [event, data] of serverEvents(response)) {
          if (event === "delta") {
            if (!reply) {
              typing.remove();
              reply = this.add(el("div", { class: "bubble assistant" }));
            }
            reply.textContent += data.text;
            this.scrollDown();
          } else if (event === "done") {
            const message = data.data.assistant_message;
            this.remember(data.data.user_message);
            if (!message) {
              // A person of the team has this chat: their answer comes by polling.
              this.status.textContent = "Sent. A member of our team will answer here.";
              continue;
            }
            if (!reply) reply = this.add(el("div", { class: "bubble assistant" }));
            reply.textContent = message.content;
            this.finishReply(reply, message);
            this.remember(message);
            this.status.textContent = message.content;
          } else if (event === "error") {
            throw errorFromEnvelope(data.status_code, data.detail);
          }
        }
      } catch (error) {
        reply?.remove(); // a half reply is not the answer
        bubble.classList.add("unsent");
        this.status.textContent = "";
        this.showError(error, () => this.deliver(text, bubble, idempotencyKey));
      } finally {
        typing.remove();
        this.busy = false;
        this.sendButton.disabled = false;
      }
    }

    /** The visitor's session: the remembered one, or a new one. */
    async session() {
      const known = this.memory.get("sessionId");
      if (known) return known;
      const body = await this.api.json("POST", "/sessions/", {
        body: {
          assistant_id: this.assistantId,
          locale: navigator.language || null,
          metadata: this.identity ? { identity: this.identity } : {},
        },
      });
      this.memory.set("sessionId", body.data.id);
      return body.data.id;
    }

    finishReply(bubble, message) {
      const sources = this.config.show_sources === false ? [] : message.sources || [];
      if (sources.length) {
        const items = sources.map((source) => {
          const label = source.page ? `${source.title}, page ${source.page}` : source.title;
          const url = httpUrl(source.url);
          return el(
            "li",
            {},
            url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label) : label,
          );
        });
        bubble.append(el("div", { class: "sources" }, "Sources:", el("ul", {}, ...items)));
      }
      if (message.role === "assistant" && message.id) {
        const rate = (rating) => this.rate(message.id, rating, buttons);
        const buttons = [
          el(
            "button",
            { type: "button", "aria-label": "Helpful", "aria-pressed": "false", onclick: () => rate("up") },
            icon(THUMB_UP),
          ),
          el(
            "button",
            { type: "button", "aria-label": "Not helpful", "aria-pressed": "false", onclick: () => rate("down") },
            icon(THUMB_DOWN),
          ),
        ];
        const given = message.feedback?.rating;
        if (given) buttons[given === "up" ? 0 : 1].setAttribute("aria-pressed", "true");
        bubble.append(el("div", { class: "actions" }, ...buttons));
      }
      if (message.handoff) {
        this.add(
          el(
            "div",
            { class: "notice", role: "note" },
            "A person from our team has been asked to help and will reply here.",
          ),
        );
      }
    }

    async rate(messageId, rating, buttons) {
      try {
        await this.api.request("POST", `/messages/${messageId}/feedback`, { body: { rating } });
        buttons[0].setAttribute("aria-pressed", String(rating === "up"));
        buttons[1].setAttribute("aria-pressed", String(rating === "down"));
        this.status.textContent = "Thanks for your feedback.";
      } catch (error) {
        this.showError(error, () => this.rate(messageId, rating, buttons));
      }
    }

    showError(error, retry) {
      const text =
        error.kind === "offline"
          ? "You seem to be offline. Check your connection and try again."
          : error.kind === "rate"
            ? `Too many messages for now. Please wait${
                error.retryAfter ? ` ${error.retryAfter} seconds` : " a moment"
              } and try again.`
            : error.kind === "server"
              ? "Sorry, something went wrong on our side. Please try again."
              : error.kind === "forbidden"
                ? "This chat is not available here."
                : `Your message could not be sent${error.message ? `: ${error.message}` : "."}`;
      const notice = this.add(
        el(
          "div",
          { class: "notice error", role: "alert" },
          text,
          el(
            "button",
            {
              type: "button",
              onclick: () => {
                notice.remove();
                retry();
              },
            },
            "Retry",
          ),
        ),
      );
    }

    /** Who the visitor is, as the host page knows them: kept with their session. */
    async identify(identity) {
      if (!identity || typeof identity !== "object") return;
      this.identity = {
        user_reference: identity.user_reference ?? identity.userReference ?? null,
        traits: identity.traits || {},
      };
      this.memory.set("identity", this.identity);
      await this.ready;
      const sessionId = this.memory.get("sessionId");
      if (sessionId && this.state === "ready") {
        await this.api.request("PATCH", `/sessions/${sessionId}`, {
          body: { metadata: { identity: this.identity } },
        });
      }
    }
  }

  // ------------------------------------------------------------------ start

  const data = script.dataset;
  const options = {
    clientId: data.clientId,
    assistantId: data.assistantId || null,
    configId: data.configId || null,
    instanceId: data.instanceId || "default",
    // The console's preview: a config as edited, before it is saved (JSON).
    config: null,
  };
  if (data.config) {
    try {
      options.config = JSON.parse(data.config);
    } catch {
      console.warn("Companin widget: data-config is not JSON; using the saved config.");
    }
  }
  if (!options.clientId) {
    console.warn("Companin widget: data-client-id is missing on the script tag.");
    return;
  }
  if (Companin.instances.has(options.instanceId)) {
    console.warn(`Companin widget: instance "${options.instanceId}" is already on this page.`);
    return;
  }
  const widget = new Widget(options);
  const facade = Object.freeze({
    get state() {
      return widget.state;
    },
    get tokensFetched() {
      return widget.api.tokensFetched;
    },
    ready: widget.ready,
    open: () => widget.open(),
    close: () => widget.close(),
    send: (text) => widget.ready.then(() => widget.send(text)),
    identify: (identity) =>
      widget.identify(identity).catch((error) => {
        console.warn(`Companin widget: identify failed (${error.message || error.kind}).`);
      }),
  });
  Companin.instances.set(options.instanceId, facade);
})();
