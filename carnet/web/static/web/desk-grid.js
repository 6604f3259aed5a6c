/* The time grid: drag a booked appointment onto a free slot of the same agenda and visit type
   to move it there. The drop posts the move form (the same checks as the Move page, which
   stays the way to move without a mouse). Served from static (CSP script-src 'self'). */
(function () {
  "use strict";
  var dragged = null;

  function clear() {
    document.querySelectorAll(".desk-drop-here").forEach(function (element) {
      element.classList.remove("desk-drop-here");
    });
  }

  function token() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function field(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function target(event) {
    var slot = event.target instanceof Element ? event.target.closest("[data-desk-drop]") : null;
    if (!slot || !dragged) {
      return null;
    }
    var same = ["data-desk-agenda", "data-desk-type"].every(function (name) {
      return slot.getAttribute(name) === dragged.getAttribute(name);
    });
    return same ? slot : null;
  }

  document.addEventListener("dragstart", function (event) {
    var item = event.target instanceof Element ? event.target.closest("[data-desk-move-url]") : null;
    if (!item) {
      return;
    }
    dragged = item;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.getAttribute("data-desk-move-url"));
    item.classList.add("desk-dragging");
  });

  document.addEventListener("dragend", function () {
    if (dragged) {
      dragged.classList.remove("desk-dragging");
    }
    dragged = null;
    clear();
  });

  document.addEventListener("dragover", function (event) {
    var slot = target(event);
    if (!slot) {
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!slot.classList.contains("desk-drop-here")) {
      clear();
      slot.classList.add("desk-drop-here");
    }
  });

  document.addEventListener("drop", function (event) {
    var slot = target(event);
    if (!slot) {
      return;
    }
    event.preventDefault();
    var form = document.createElement("form");
    form.method = "post";
    form.action = dragged.getAttribute("data-desk-move-url");
    field(form, "csrfmiddlewaretoken", token());
    field(form, "start", slot.getAttribute("data-desk-drop"));
    field(form, "back", window.location.pathname + window.location.search);
    document.body.appendChild(form);
    form.submit();
  });
})();
