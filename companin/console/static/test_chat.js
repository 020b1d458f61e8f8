// The assistant page's test chat: each question is POSTed (with the page's CSRF token) to
// the test-chat route, which answers in JSON; the reply is shown with the passages it used.
// The session id of the first answer is sent back, so that the questions make one chat.
// Text from the model and the documents is only ever set as textContent.
(function () {
  "use strict";

  var form = document.getElementById("test-chat");
  if (!form || !window.fetch || !window.FormData) return;
  var log = document.getElementById("test-chat-log");
  var status = document.getElementById("test-chat-status");
  var question = form.elements.content;
  var button = form.querySelector("button[type=submit]");
  var busy = false; // one question at a time: the next one belongs to the same session

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(node) {
    log.appendChild(node);
    node.scrollIntoView({ block: "nearest" });
  }

  function passages(sources) {
    var list = element("ul", "passages");
    sources.forEach(function (source) {
      var item = element("li", "passage");
      item.appendChild(element("span", "score", "score " + Number(source.score).toFixed(3)));
      item.appendChild(element("strong", "", source.title || source.url || "Untitled"));
      if (source.page) item.appendChild(element("span", "muted", " · page " + source.page));
      item.appendChild(element("div", "snippet", source.snippet || ""));
      list.appendChild(item);
    });
    return list;
  }

  function reply(answer) {
    var turn = element("div", "turn assistant");
    turn.appendChild(element("div", "text", answer.reply));
    var meta = answer.handoff ? "Handed off to a person (nothing relevant found)" : "";
    if (answer.model) meta += (meta ? " · " : "") + "model " + answer.model;
    if (meta) turn.appendChild(element("span", "meta", meta));
    if (answer.sources && answer.sources.length) {
      turn.appendChild(element("span", "meta", "Passages used:"));
      turn.appendChild(passages(answer.sources));
    } else {
      turn.appendChild(element("span", "meta", "No passage used."));
    }
    show(turn);
    form.elements.session_id.value = answer.session_id;
  }

  function failed(message) {
    show(element("div", "turn error", message));
  }

  // A refusal is JSON ({"error"}) from the route itself, or a page (403, 404) from the guard.
  function refusal(response) {
    return response.json().then(
      function (body) { return body.error || "The test chat failed (" + response.status + ")."; },
      function () { return "The test chat failed (" + response.status + "): reload the page and try again."; }
    );
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = question.value;
    if (busy || !text.trim()) return;
    busy = true;
    var body = new FormData(form);
    show(element("div", "turn user", text));
    question.value = "";
    button.disabled = true;
    status.textContent = "Thinking…";
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (response.ok) return response.json().then(reply);
        return refusal(response).then(failed);
      })
      .catch(function () { failed("The server could not be reached. Try again."); })
      .then(function () {
        busy = false;
        button.disabled = false;
        status.textContent = "";
        question.focus();
      });
  });

  question.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.getElementById("test-chat-reset").addEventListener("click", function () {
    form.elements.session_id.value = "";
    log.textContent = "";
    question.focus();
  });
})();
