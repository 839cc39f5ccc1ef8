/* The case page, live: says "viewing" and "typing" for this case, shows who else is here, and re-fetches the
 * header and timeline when the case changes. Uses window.Casework from console.js (one socket per page).
 * The server checks on every event that the person may see the case, and picks the rooms. */
(function () {
  "use strict";

  var WATCH_EVERY_MS = 20000;      // the server forgets a viewer after 45 s without news
  var TYPING_EVERY_MS = 4000;      // and a typist after 8 s

  function start() {
    var page = document.getElementById("case-page");
    var C = window.Casework;
    if (!page || !C || !C.socket) return;
    var caseId = Number(page.getAttribute("data-case-id"));
    var header = document.getElementById("case-header");
    var timeline = document.getElementById("timeline");
    var presence = document.getElementById("case-presence");
    var payload = { case_id: caseId };

    function watch() { C.emit("case.watch", payload); }
    function refreshCase() {
      C.refresh(header);
      return C.refresh(timeline);
    }

    C.on("case.changed", function (data) {
      if (!data || data.case_id !== caseId) return;
      refreshCase().then(function () { C.announce("This case was updated."); });
    });
    // The list is a live region: it is only replaced when it says something new.
    function refreshPresence() {
      var url = presence.getAttribute("data-partial-url");
      return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null && html.trim() !== presence.innerHTML.trim()) presence.innerHTML = html;
        });
    }
    C.on("case.presence", function (data) {
      if (data && data.case_id === caseId) refreshPresence();
    });
    // Every (re)connection is a new socket: it says again that it views the case, which joins the room.
    C.socket.on("connect", watch);
    C.on("reconnected", function () { refreshCase(); refreshPresence(); });
    if (C.socket.connected) watch();
    window.setInterval(function () { watch(); refreshPresence(); }, WATCH_EVERY_MS);
    window.addEventListener("pagehide", function () { C.socket.emit("case.unwatch", payload); });

    var reply = document.getElementById("body");
    var lastTyping = 0;
    var stopTimer = null;
    if (reply) {
      reply.addEventListener("input", function () {
        var now = Date.now();
        if (now - lastTyping > TYPING_EVERY_MS) {
          lastTyping = now;
          C.emit("case.typing", { case_id: caseId, typing: true });
        }
        window.clearTimeout(stopTimer);
        stopTimer = window.setTimeout(function () {
          lastTyping = 0;
          C.emit("case.typing", { case_id: caseId, typing: false });
        }, TYPING_EVERY_MS * 2);
      });
    }

    // With a script, a macro goes into the reply at the cursor, keeping what was typed; without, the page reloads.
    var picker = document.querySelector("form.macro-picker[data-macro-url]");
    if (picker && reply) {
      picker.addEventListener("submit", function (event) {
        event.preventDefault();
        var id = picker.querySelector("select").value;
        fetch(picker.getAttribute("data-macro-url") + encodeURIComponent(id), { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (text) {
            if (text === null) { C.announce("That macro could not be inserted."); return; }
            var at = reply.selectionStart || 0;
            reply.value = reply.value.slice(0, at) + text + reply.value.slice(reply.selectionEnd || at);
            reply.focus();
            reply.setSelectionRange(at + text.length, at + text.length);
            C.announce("Macro inserted into the reply.");
          });
      });
    }

    var warning = document.getElementById("collision-warning");
    if (warning) warning.focus();

    // SLA countdowns tick without a reload.
    function tick() {
      Array.prototype.forEach.call(document.querySelectorAll("time.sla[data-due]"), function (el) {
        var seconds = Math.round((Date.parse(el.getAttribute("data-due")) - Date.now()) / 1000);
        var minutes = Math.floor(Math.abs(seconds) / 60);
        var words = minutes >= 1440 ? Math.floor(minutes / 1440) + " d " + Math.floor(minutes % 1440 / 60) + " h"
          : minutes >= 60 ? Math.floor(minutes / 60) + " h " + (minutes % 60) + " min" : minutes + " min";
        el.textContent = seconds >= 0 ? "due in " + words : "overdue by " + words;
      });
    }
    window.setInterval(tick, 60000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
