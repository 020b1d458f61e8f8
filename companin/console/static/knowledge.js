// The Knowledge pages' script.
// - The upload form sends its file with XMLHttpRequest, for the progress of the upload
//   itself; the server answers JSON ({location} or {error}). Without this script, the
//   same form posts as any form does.
// - Rows (and a source's page) still `processing` are followed: every second the status
//   route says how each one is doing, until none is processing.
// Document titles and errors are only ever set as textContent.
(function () {
  "use strict";

  var POLL_MS = 1000;

  // --- the upload ------------------------------------------------------------------------

  var form = document.getElementById("upload");
  if (form && window.XMLHttpRequest && window.FormData) {
    var progress = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-bar");
    var percent = document.getElementById("upload-percent");
    var problem = document.getElementById("upload-error");
    var button = form.querySelector("button[type=submit]");

    var showError = function (message) {
      problem.textContent = message;
      problem.hidden = false;
      progress.hidden = true;
      button.disabled = false;
    };

    var showProgress = function (done) {
      bar.value = done;
      bar.textContent = done + "%";
      percent.textContent = done < 100 ? "Uploading… " + done + "%" : "Uploaded; reading the file…";
    };

    var refusal = function (request) {
      try {
        var body = JSON.parse(request.responseText);
        if (body && body.error) return body.error;
      } catch (ignored) { /* a page (403, 413) rather than the route's JSON */ }
      if (request.status === 403) return "The upload was refused (403): reload the page and try again.";
      if (request.status === 413) return "The file is larger than " + form.dataset.maxLabel + ", the largest this server accepts.";
      return "The upload failed (" + (request.status || "no answer") + "). Try again.";
    };

    form.addEventListener("submit", function (event) {
      var file = form.elements.file.files[0];
      if (!file) return; // the browser says the field is required
      event.preventDefault();
      problem.hidden = true;
      if (file.size > Number(form.dataset.maxBytes)) {
        showError("“" + file.name + "” is larger than " + form.dataset.maxLabel + ", the largest this server accepts.");
        return;
      }
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) showProgress(Math.round((e.loaded / e.total) * 100));
      });
      request.addEventListener("load", function () {
        if (request.status === 201) {
          window.location.assign(JSON.parse(request.responseText).location);
        } else {
          showError(refusal(request));
        }
      });
      request.addEventListener("error", function () {
        showError("The server could not be reached. Try again.");
      });
      button.disabled = true;
      progress.hidden = false;
      showProgress(0);
      request.send(new FormData(form));
    });
  }

  // --- following what is processing -------------------------------------------------------

  var holder = document.querySelector("[data-status-url]");
  if (!holder || !window.fetch) return;
  var statusUrl = holder.dataset.statusUrl;

  function processing() {
    return Array.prototype.slice.call(
      holder.querySelectorAll("[data-source-id][data-status=processing]")
    );
  }

  function part(row, role) {
    return row.querySelector("[data-role=" + role + "]");
  }

  function update(row, source) {
    row.dataset.status = source.status;
    var badge = part(row, "status");
    badge.className = "badge " + source.status;
    badge.textContent =
      source.status === "processing" && source.progress ? source.status + " " + source.progress + "%" : source.status;
    var error = part(row, "error");
    error.textContent = source.error || "";
    error.hidden = !source.error;
    [["chunks", source.chunk_count], ["updated", source.updated], ["detail", source.detail]].forEach(
      function (pair) {
        var cell = part(row, pair[0]);
        if (cell) cell.textContent = pair[1];
      }
    );
  }

  function poll() {
    var rows = processing();
    if (!rows.length) return;
    var query = rows.map(function (row) { return "id=" + encodeURIComponent(row.dataset.sourceId); });
    var delay = POLL_MS;
    fetch(statusUrl + "?" + query.join("&"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (body) {
        var found = {};
        body.sources.forEach(function (source) { found[source.id] = source; });
        rows.forEach(function (row) {
          var source = found[row.dataset.sourceId];
          if (source) update(row, source);
          else row.dataset.status = "gone"; // deleted meanwhile: nothing more to follow
        });
      })
      .catch(function () { delay = POLL_MS * 5; /* signed out, or the server restarting */ })
      .then(function () { window.setTimeout(poll, delay); });
  }

  window.setTimeout(poll, POLL_MS);
})();
