/* Rantai: small progressive enhancements. Every page works without this file
   (and without htmx); the CSP forbids inline scripts, so all behaviour lives here. */
(function () {
  "use strict";

  // Expand or collapse every unit of the organisation chart at once. (A large chart
  // offers only "collapse": expanding would load the positions of every unit.)
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-expand-all], [data-collapse-all]");
    if (!button) {
      return;
    }
    var open = button.hasAttribute("data-expand-all");
    var scope = document.getElementById("chart-results") || document;
    scope.querySelectorAll("details.unit").forEach(function (details) {
      details.open = open;
    });
  });

  // A new party: only an internal unit sits under a parent unit, so the parent
  // field shows only while "Internal unit" is chosen (the server checks it anyway).
  function showParentForKind(form) {
    var chosen = form.querySelector("input[name=kind]:checked");
    var parent = form.querySelector("[data-field=parent]");
    if (chosen && parent) {
      parent.hidden = chosen.value !== "internal_unit";
      var select = parent.querySelector("select");
      if (parent.hidden && select) {
        select.value = "";
      }
    }
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("input[name=kind]")) {
      showParentForKind(event.target.form);
    }
  });

  function enhance(root) {
    root.querySelectorAll("form").forEach(showParentForKind);
    // Tools and notes that need JavaScript stay hidden without it.
    root.querySelectorAll("[data-tree-tools], [data-needs-js]").forEach(function (element) {
      element.hidden = false;
    });
    // After a refused form, move the focus to the summary of what went wrong.
    var errors = root.querySelector("[data-focus-on-load]");
    if (errors) {
      errors.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
  });
  // A closed unit of a large chart loads its positions when opened: if that fails,
  // say so in place of "Loading…" (the unit's own page is linked just above).
  function showLoadError(event) {
    var target = event.detail && event.detail.target;
    var note = target && target.querySelector("[data-load-error]");
    if (note) {
      note.textContent = note.getAttribute("data-load-error");
    }
  }
  document.addEventListener("htmx:responseError", showLoadError);
  document.addEventListener("htmx:sendError", showLoadError);

  // htmx announces every piece of content it puts in the page.
  document.addEventListener("htmx:load", function (event) {
    if (event.detail && event.detail.elt && event.detail.elt !== document.body) {
      enhance(event.detail.elt);
    }
  });
})();

// "/" focuses the search box of the header, unless one is typing in a field.
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  if (event.target.closest("input, textarea, select, [contenteditable]")) {
    return;
  }
  var box = document.querySelector("[data-search-shortcut]");
  if (box) {
    event.preventDefault();
    box.focus();
  }
});
