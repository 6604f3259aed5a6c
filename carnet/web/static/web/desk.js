/* The desk's keyboard: "/" the patient search, j/k or the arrows move between rows and free
   slots, Enter opens the focused one, t today, n/p next/previous day (or week), Esc closes
   the booking panel. Keys never fire while typing in a field. Also: the Print button, the
   booking panel's focus after htmx swaps, and a notice when an htmx action fails.
   Served from static (CSP script-src 'self'): no inline handler, no eval. */
(function () {
  "use strict";
  if (window.carnetDesk) {
    return;
  }
  window.carnetDesk = true;

  var pending = null;

  function typing(target) {
    return target instanceof Element && target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function shown(element) {
    return element.getClientRects().length > 0;
  }

  function items() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-desk-item]"), shown);
  }

  function move(step) {
    var all = items();
    if (!all.length) {
      return false;
    }
    var active = document.activeElement;
    var current = active instanceof Element ? all.indexOf(active.closest("[data-desk-item]")) : -1;
    var next = current === -1 ? (step > 0 ? 0 : all.length - 1) : current + step;
    next = Math.max(0, Math.min(all.length - 1, next));
    all[next].focus();
    all[next].scrollIntoView({ block: "nearest" });
    return true;
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (!link) {
      return false;
    }
    link.click();
    return true;
  }

  function focusSearch() {
    var field = document.querySelector("[data-desk-search] input[name=surname]");
    if (!field) {
      return false;
    }
    field.focus();
    field.select();
    return true;
  }

  function open(target) {
    // Links and buttons open themselves; a focused row opens the link it names.
    if (!(target instanceof Element) || !target.matches("[data-desk-item][data-desk-href]")) {
      return false;
    }
    window.location.assign(target.getAttribute("data-desk-href"));
    return true;
  }

  function closePanel() {
    var panel = document.getElementById("desk-book-panel");
    if (!panel || !panel.firstElementChild) {
      return false;
    }
    panel.replaceChildren();
    document.querySelectorAll("a.slot[aria-current]").forEach(function (slot) {
      slot.removeAttribute("aria-current");
    });
    var slot = pending && pending.slot ? document.querySelector('[data-desk-key="' + pending.slot + '"]') : null;
    if (slot) {
      slot.focus();
    }
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    if (event.key === "Escape") {
      if (closePanel()) {
        event.preventDefault();
      }
      return;
    }
    if (typing(event.target)) {
      return;
    }
    var handled = false;
    switch (event.key) {
      case "/":
        handled = focusSearch();
        break;
      case "j":
      case "ArrowDown":
        handled = move(1);
        break;
      case "k":
      case "ArrowUp":
        handled = move(-1);
        break;
      case "Enter":
        handled = open(event.target);
        break;
      case "t":
        handled = follow("[data-desk-today]");
        break;
      case "n":
        handled = follow("[data-desk-next]");
        break;
      case "p":
        handled = follow("[data-desk-prev]");
        break;
    }
    if (handled) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("[data-desk-close]")) {
      closePanel();
    } else if (target && target.closest("[data-desk-print]")) {
      window.print();
    }
  });

  // Where the focus goes back after an htmx swap: the row or slot the action came from, the
  // search field of a newly opened booking panel, or the first "Book" button of its results.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var origin = event.detail.elt instanceof Element ? event.detail.elt.closest("[data-desk-key]") : null;
    var target = event.detail.target;
    if (origin && target && target.id === "desk-book-panel") {
      // The slot being booked stays marked while its panel is open.
      document.querySelectorAll("a.slot[aria-current]").forEach(function (slot) {
        slot.removeAttribute("aria-current");
      });
      origin.setAttribute("aria-current", "true");
    }
    pending = {
      key: origin ? origin.getAttribute("data-desk-key") : null,
      slot: origin && target && target.id === "desk-book-panel" ? origin.getAttribute("data-desk-key") : pending && pending.slot,
      panel: Boolean(target && target.id === "desk-book-panel"),
    };
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!pending) {
      return;
    }
    if (pending.panel) {
      var first = document.querySelector("#desk-book-panel [data-desk-book-first]");
      if (first) {
        first.focus();
      } else {
        focusSearch();
      }
      pending.panel = false;
      return;
    }
    var again = pending.key ? document.querySelector('[data-desk-key="' + pending.key + '"]') : null;
    again = again || document.querySelector("[data-desk-fresh]");
    if (again) {
      again.focus();
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var host = document.querySelector("[data-desk-refused]");
    if (!host) {
      return;
    }
    var notice = document.createElement("p");
    notice.className = "notice error";
    notice.setAttribute("role", "alert");
    notice.textContent = host.getAttribute("data-desk-refused");
    host.prepend(notice);
  });

  function reveal() {
    document.querySelectorAll("[data-desk-keys], [data-desk-print]").forEach(function (element) {
      element.hidden = false;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();
