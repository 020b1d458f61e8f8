// A transcript's new messages, without a reload: every few seconds the page asks its
// chat's JSON route for what came after the last message it shows, and appends those
// it does not show yet (two messages of the same instant may both come back). Without
// this script the page still works: a reload shows the same.
// Customer, model and document text is only ever set as textContent.
(function () {
  "use strict";

  var EVERY_MS = 3000;
  var ROLE_WORDS = { user: "customer", assistant: "assistant", agent: "team" };
  var list = document.getElementById("transcript");
  if (!list || !window.fetch) return;
  var url = list.getAttribute("data-poll-url");
  var shown = {};
  Array.prototype.forEach.call(list.querySelectorAll("[data-message-id]"), function (item) {
    shown[item.getAttribute("data-message-id")] = true;
  });

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function lastId() {
    var items = list.querySelectorAll("[data-message-id]");
    return items.length ? items[items.length - 1].getAttribute("data-message-id") : "";
  }

  function author(message) {
    if (message.role === "user") return "Customer";
    if (message.role === "agent") return message.author || "Team";
    return list.getAttribute("data-assistant") || "Assistant";
  }

  // "2025-01-31T09:05:00.000Z" -> "2025-01-31 09:05", as the server writes times (UTC).
  function when(iso) {
    var time = element("time", "muted small", (iso || "").slice(0, 16).replace("T", " "));
    time.setAttribute("datetime", iso || "");
    return time;
  }

  function sources(found) {
    var items = element("ul", "sources");
    items.setAttribute("aria-label", "Sources of this reply");
    found.forEach(function (source) {
      var item = element("li");
      if (typeof source.score === "number") {
        item.appendChild(element("span", "score", "score " + source.score.toFixed(3)));
      }
      var title = source.title || source.url || "Untitled";
      if (/^https?:\/\//i.test(source.url || "")) {
        var link = element("a", "", title);
        link.href = source.url;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        item.appendChild(link);
      } else {
        item.appendChild(element("strong", "", title));
      }
      if (source.page) item.appendChild(element("span", "muted", " · page " + source.page));
      if (source.snippet) item.appendChild(element("span", "snippet", source.snippet));
      items.appendChild(item);
    });
    return items;
  }

  function rendered(message) {
    var item = element("li", "message " + message.role);
    item.id = "message-" + message.id;
    item.setAttribute("data-message-id", message.id);
    var head = element("div", "message-head");
    head.appendChild(element("strong", "author", author(message)));
    head.appendChild(element("span", "muted small", ROLE_WORDS[message.role] || message.role));
    head.appendChild(when(message.created_at));
    if (message.handoff) head.appendChild(element("span", "badge handoff", "Handed off"));
    item.appendChild(head);
    item.appendChild(element("div", "message-text", message.content));
    if (message.role === "assistant" && message.sources && message.sources.length) {
      item.appendChild(sources(message.sources));
    }
    return item;
  }

  function show(messages) {
    messages.forEach(function (message) {
      if (shown[message.id]) return;
      shown[message.id] = true;
      list.appendChild(rendered(message));
    });
    var empty = document.getElementById("transcript-empty");
    if (empty && list.children.length) empty.remove();
  }

  function poll() {
    if (document.hidden) return later(); // a tab in the background asks nothing
    var after = lastId();
    fetch(url + (after ? "?after=" + encodeURIComponent(after) : ""), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        // Signed out, the route answers with the sign-in page: nothing to show.
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) throw new Error("no messages");
        return response.json();
      })
      .then(function (body) {
        show(body.messages || []);
      })
      .catch(function () {}) // the next poll tries again
      .then(later);
  }

  function later() {
    window.setTimeout(poll, EVERY_MS);
  }

  later();
})();
