// Booking pages, progressive enhancement only (every page works without this file):
// the calendar says aloud how many dates are ticked; the iCal page copies its link.
(function () {
  "use strict";
  function plural(n, word) { return n + " " + word + (n > 1 ? "s" : ""); }

  function countTicked(form, out) {
    var boxes = form.querySelectorAll("input[name='ligne']:checked");
    var book = 0, cancel = 0;
    boxes.forEach(function (box) { if (/\|cancel$/.test(box.value)) { cancel += 1; } else { book += 1; } });
    if (!boxes.length) { out.textContent = "Aucune date cochée."; return; }
    var parts = [];
    if (book) { parts.push(plural(book, "réservation")); }
    if (cancel) { parts.push(plural(cancel, "annulation")); }
    out.textContent = plural(boxes.length, "date") + " " + (boxes.length > 1 ? "cochées" : "cochée") + " : " + parts.join(" et ") +
      ". Appuyez sur « Ajouter au panier ».";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector(".reservations-calendar-form");
    var out = document.getElementById("reservations-selection");
    if (form && out) {
      form.addEventListener("change", function (event) {
        if (event.target && event.target.name === "ligne") { countTicked(form, out); }
      });
    }
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById("copie-etat");
      if (!source || !navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        source.select();
        navigator.clipboard.writeText(source.value).then(function () {
          if (status) { status.textContent = "Lien copié : collez-le dans votre agenda."; }
        }, function () {
          if (status) { status.textContent = "La copie n'a pas fonctionné : sélectionnez le lien et copiez-le."; }
        });
      });
    });
  });
})();
