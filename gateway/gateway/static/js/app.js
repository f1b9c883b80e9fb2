// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to the error summary so screen-reader and keyboard users meet it first.
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) { summary.focus(); }
    // Links of the error summary: focus the field itself, not only scroll to it.
    document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var target = document.getElementById(link.getAttribute("href").slice(1));
        if (target) { event.preventDefault(); target.focus(); target.scrollIntoView({ block: "center" }); }
      });
    });
  });
})();
