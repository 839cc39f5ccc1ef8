/* Keyboard shortcuts: one registry per page, listed on the help overlay ("?").
 *
 *   Casework.shortcuts.add(keys, description, fn)   keys: "j", "?", or a sequence "g i" (one key after the other)
 *   Casework.shortcuts.remove(keys)
 *   Casework.shortcuts.list()                       [{keys, description}] in the order added
 *   Casework.shortcuts.help()                       open the help overlay
 *
 * Shortcuts never fire while the user types (inputs, textareas, selects, contenteditable), with Ctrl/Alt/Meta
 * held, or while a modal dialog is open. Keys agreed across pages, so the help reads the same everywhere:
 *   global: "g i" inbox, "?" help, "a" set yourself available
 *   lists:  "j" / "k" next / previous case, Enter opens it
 *   case:   "r" reply, "n" internal note, "m" assign to me, "s" change status, "j" / "k" next / previous case
 */
(function () {
  "use strict";

  var SEQUENCE_MS = 1200;
  var registry = [];
  var pending = null;          // the first key of a sequence, until the second one or a pause
  var pendingTimer = null;
  var help = document.getElementById("shortcuts-help");

  function normalise(keys) { return String(keys).trim().split(/\s+/).join(" "); }

  function add(keys, description, fn) {
    keys = normalise(keys);
    remove(keys);              // a page may take over a key; the last one added wins
    registry.push({ keys: keys, description: description, fn: fn });
  }

  function remove(keys) {
    keys = normalise(keys);
    registry = registry.filter(function (s) { return s.keys !== keys; });
  }

  function list() {
    return registry.map(function (s) { return { keys: s.keys, description: s.description }; });
  }

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
    if (tag !== "input") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["button", "submit", "reset", "checkbox", "radio", "image", "range", "color"].indexOf(type) === -1;
  }

  function renderHelp() {
    var body = document.getElementById("shortcuts-list");
    if (!body) return;
    body.textContent = "";
    registry.forEach(function (s) {
      var row = document.createElement("tr");
      var keys = document.createElement("td");
      s.keys.split(" ").forEach(function (key, i) {
        if (i) keys.appendChild(document.createTextNode(" then "));
        var kbd = document.createElement("kbd");
        kbd.textContent = key;
        keys.appendChild(kbd);
      });
      var what = document.createElement("td");
      what.textContent = s.description;
      row.appendChild(keys);
      row.appendChild(what);
      body.appendChild(row);
    });
  }

  function openHelp() {
    if (!help || help.open) return;
    renderHelp();
    help.showModal();          // focus moves in; Escape or Close returns it to where it was
  }

  function clearPending() {
    pending = null;
    if (pendingTimer) window.clearTimeout(pendingTimer);
    pendingTimer = null;
  }

  function onKeydown(event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (isTyping(event.target) || document.querySelector("dialog[open]")) { clearPending(); return; }
    var key = event.key;
    if (!key || key.length !== 1) return;        // Shift, Tab, arrows and friends are never shortcuts
    var typed = pending ? pending + " " + key : key;
    var exact = registry.filter(function (s) { return s.keys === typed; })[0];
    var prefix = registry.some(function (s) { return s.keys.indexOf(typed + " ") === 0; });
    clearPending();
    if (exact) {
      event.preventDefault();
      exact.fn(event);
    } else if (prefix) {
      event.preventDefault();
      pending = typed;
      pendingTimer = window.setTimeout(clearPending, SEQUENCE_MS);
    }
  }

  document.addEventListener("keydown", onKeydown);

  var shortcuts = { add: add, remove: remove, list: list, help: openHelp };
  window.Casework = window.Casework || {};
  window.Casework.shortcuts = shortcuts;

  var inbox = document.querySelector(".site-header nav a[href$='/inbox/']");
  add("?", "Show this list of keyboard shortcuts", openHelp);
  if (inbox) add("g i", "Go to my cases (inbox)", function () { window.location.assign(inbox.href); });
  if (window.Casework.setPresence) {
    add("a", "Set yourself available for new work", function () { window.Casework.setPresence("available"); });
  }
})();
