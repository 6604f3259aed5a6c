// Clinical pages (no inline script: CSP script-src 'self'). Controls that need this script stay
// hidden until it runs, so a page without scripts shows no dead control.
// - The Print button of a prescription.
// - Prescribing: a search box above each medication list filters it as one types (by name,
//   brand or form, accents ignored) and picks the first match; choosing a medication proposes
//   its usual route when none is chosen yet.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("[data-clinical-print]")) {
      window.print();
    }
  });

  function plain(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function routes() {
    var element = document.getElementById("clinical-routes");
    return element ? JSON.parse(element.textContent) : {};
  }

  function proposeRoute(select, known) {
    var row = select.closest("tr");
    var route = row && row.querySelector("select[name$='-route']");
    if (route && !route.value && known[select.value]) {
      route.value = known[select.value];
    }
  }

  function wireSearch(input, known) {
    var select = input.parentElement.querySelector("select[data-clinical-drug]");
    if (!select) {
      return;
    }
    input.hidden = false;
    input.addEventListener("input", function () {
      var words = plain(input.value).split(/\s+/).filter(Boolean);
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) {
          return;
        }
        var text = plain(option.textContent);
        var match = words.every(function (word) { return text.indexOf(word) !== -1; });
        option.hidden = !match;
        option.disabled = !match;
        if (match && first === null) {
          first = option;
        }
      });
      if (words.length && first) {
        select.value = first.value;
        proposeRoute(select, known);
      } else if (words.length) {
        select.value = "";
      }
    });
    select.addEventListener("change", function () { proposeRoute(select, known); });
  }

  function reveal() {
    document.querySelectorAll("[data-clinical-print]").forEach(function (element) {
      element.hidden = false;
    });
    var known = routes();
    document.querySelectorAll("[data-clinical-drug-search]").forEach(function (input) {
      wireSearch(input, known);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();
