/* PharmSafe: forms that behave. Every page works without it; with it:
   - a form is sent once: its buttons are disabled while the request is in flight, and a second
     click (or Enter) before the answer arrives sends nothing;
   - after a refused form, focus moves to the message that says what to fix;
   - coming back to a page from the browser's history re-enables its forms;
   - a page answered to a form (a refusal: a success redirects) takes the address of the form's own
     page, so that Reload shows that page afresh and never sends the refused form again. */
(function () {
  "use strict";

  function release(form) {
    delete form.dataset.sending;
    form.removeAttribute("aria-busy");
    form.querySelectorAll("button[data-was-enabled]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("data-was-enabled");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "").toLowerCase() !== "post") return;
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
    form.setAttribute("aria-busy", "true");
    // Disabled after the browser has read the clicked button's name and value.
    window.setTimeout(function () {
      form.querySelectorAll("button").forEach(function (button) {
        if (!button.disabled) {
          button.disabled = true;
          button.setAttribute("data-was-enabled", "");
        }
      });
    }, 0);
  });

  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sending]").forEach(release);
  });

  var page = document.body && document.body.dataset.pageUrl;
  if (page && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", page);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var target = document.querySelector("main [role=alert], main [data-focus-first]");
    if (target) {
      if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
  });
})();
