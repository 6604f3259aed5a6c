// Clinical pages: the Print button of a prescription (no inline script: CSP script-src 'self').
// Buttons stay hidden until this script runs, so a page without scripts shows no dead button.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("[data-clinical-print]")) {
      window.print();
    }
  });

  function reveal() {
    document.querySelectorAll("[data-clinical-print]").forEach(function (element) {
      element.hidden = false;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();
