/*
 * Copy buttons: `<button data-copy="ID">` copies the text of the element with that id (a
 * script tag to paste, an invitation link, a new secret) and says so.
 */
(() => {
  "use strict";

  const SAID_MS = 2000;

  function copyButtons() {
    for (const button of document.querySelectorAll("button[data-copy]")) {
      const source = document.getElementById(button.dataset.copy);
      if (!source) continue;
      const label = button.textContent;
      let timer = null;
      const say = (words) => {
        button.textContent = words;
        clearTimeout(timer);
        timer = setTimeout(() => {
          button.textContent = label;
        }, SAID_MS);
      };
      button.addEventListener("click", async () => {
        const text = source.textContent;
        try {
          await navigator.clipboard.writeText(text);
          say("Copied");
        } catch {
          // No clipboard API (a page over plain http, say): select it for Ctrl+C.
          selectContents(source);
          say(document.execCommand && document.execCommand("copy") ? "Copied" : "Selected: press Ctrl+C");
        }
      });
    }
  }

  function selectContents(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  copyButtons();
})();
