/*
 * The widget editor: re-renders the preview as the form changes.
 *
 * The preview is a page of the console (an iframe) that loads the real widget; it is
 * reloaded with the form's fields in its query string, which the server validates as it
 * would a save. Nothing is saved until the form is sent.
 */
(() => {
  "use strict";

  const DEBOUNCE_MS = 400;

  function livePreview() {
    const form = document.querySelector("form[data-widget-form]");
    const frame = document.querySelector("iframe[data-preview-url]");
    const fields = form && form.querySelector("fieldset");
    if (!form || !frame || !fields || fields.disabled) return; // read-only: the saved one
    let timer = null;

    const render = () => {
      const draft = new URLSearchParams(new FormData(form));
      draft.delete("csrf_token");
      draft.delete("allowed_origins"); // where it may run does not change how it looks
      draft.set("draft", "1");
      // replace(): each keystroke must not become a step of the Back button.
      frame.contentWindow.location.replace(`${frame.dataset.previewUrl}?${draft}`);
    };
    const renderSoon = () => {
      clearTimeout(timer);
      timer = setTimeout(render, DEBOUNCE_MS);
    };
    form.addEventListener("input", renderSoon);
    form.addEventListener("change", renderSoon);
    if (frame.hasAttribute("data-render-now")) render();
  }

  livePreview();
})();
