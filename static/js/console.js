/* The console's live link: one Socket.IO connection per page, shared by every page script.
 *
 *   Casework.socket            the connected socket (the server picks its rooms)
 *   Casework.on(event, fn)     subscribe to a server event; fn gets the payload (ids only)
 *   Casework.emit(event, data) send with an acknowledgement; returns a Promise of the ack
 *   Casework.announce(text)    say something to screen-reader users (polite live region)
 *   Casework.refresh(el)       re-fetch a partial: el has data-partial-url; its HTML replaces el's content
 *   Casework.setPresence(p)    "available" | "away" | "offline" over the socket; Promise of the ack
 *   Casework.notify(html, text) show a notice (toast) and announce `text`
 *   Casework.shortcuts         keyboard shortcuts (shortcuts.js); Casework.offers: the offer dialog (offers.js)
 *
 * No inline script anywhere: pages pass settings as data- attributes (Content-Security-Policy friendly).
 */
(function () {
  "use strict";

  var liveRegion = document.getElementById("live-announcer");
  var handlers = {};
  var socket = window.io ? window.io({ transports: ["websocket", "polling"], reconnectionDelayMax: 5000 }) : null;

  function announce(text) {
    // While a modal dialog is open the rest of the page is inert, and so is its live region: speak from
    // inside the dialog instead.
    var dialogs = document.querySelectorAll("dialog[open]");
    var inDialog = dialogs.length ? dialogs[dialogs.length - 1].querySelector("[data-live]") : null;
    var region = inDialog || liveRegion;
    if (!region) return;
    region.textContent = "";
    // A change after a tick is what screen readers notice, even for the same words twice.
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function on(event, fn) {
    (handlers[event] = handlers[event] || []).push(fn);
    if (socket) socket.on(event, fn);
  }

  function emit(event, data) {
    return new Promise(function (resolve) {
      if (!socket) { resolve({ ok: false, error: "offline" }); return; }
      socket.timeout(10000).emit(event, data || {}, function (err, reply) {
        resolve(err ? { ok: false, error: "timeout" } : reply);
      });
    });
  }

  function refresh(el) {
    var url = el && el.getAttribute("data-partial-url");
    if (!url) return Promise.resolve();
    var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : null;
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return;
        el.innerHTML = html;
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
      });
  }

  var status = document.getElementById("connection-status");
  function showConnection(state, text) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  if (socket) {
    var connectedBefore = false;
    socket.on("connect", function () {
      showConnection("online", "Live");
      // After a reconnect, anything may have changed: let the page re-fetch what it shows.
      if (connectedBefore) (handlers["reconnected"] || []).forEach(function (fn) { fn(); });
      connectedBefore = true;
    });
    socket.on("disconnect", function () { showConnection("offline", "Reconnecting…"); });
  } else {
    showConnection("offline", "Not live");
  }

  // ---- presence switch (header) -----------------------------------------------------------------
  // Without JavaScript the switch is a POST form; here it goes over the socket and the page stays put.
  var presenceForm = document.getElementById("presence-switch");
  var presenceLabels = { available: "Available", away: "Away", offline: "Offline" };

  function showPresence(presence) {
    if (!presenceForm || !presenceLabels[presence]) return;
    presenceForm.setAttribute("data-presence", presence);
    presenceForm.querySelector(".presence-dot").setAttribute("data-presence", presence);
    var select = presenceForm.querySelector("select");
    if (document.activeElement !== select) select.value = presence;
  }

  function setPresence(presence) {
    return emit("presence.set", { presence: presence }).then(function (reply) {
      if (reply && reply.ok) {
        showPresence(reply.presence);
        announce("You are now " + presenceLabels[reply.presence] + ".");
      } else {
        announce("Your presence could not be changed. Please try again.");
      }
      return reply;
    });
  }

  if (presenceForm && socket) {
    presenceForm.addEventListener("submit", function (event) {
      if (!socket.connected) return;             // not live: let the form post as it would without JS
      event.preventDefault();
      setPresence(presenceForm.querySelector("select").value);
    });
    var me = Number(presenceForm.getAttribute("data-user-id"));
    socket.on("agent.presence", function (data) {
      // Another tab, the grace-period job or a supervisor changed it: follow, and say so if it is news.
      if (!data || data.user_id !== me || presenceForm.getAttribute("data-presence") === data.presence) return;
      showPresence(data.presence);
      announce("Your presence is now " + presenceLabels[data.presence] + ".");
    });
  }

  // ---- notices (toasts) ----------------------------------------------------------------------------
  var notices = document.getElementById("notices");
  var MAX_NOTICES = 4;

  function notify(html, text) {
    if (text) announce(text);
    if (!notices) return null;
    var item = document.createElement("div");
    item.className = "notice";
    item.innerHTML = html;                       // server-rendered partial (autoescaped)
    var dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "notice-dismiss";
    dismiss.setAttribute("aria-label", "Dismiss notification");
    dismiss.textContent = "×";
    dismiss.addEventListener("click", function () {
      item.remove();
      if (!notices.children.length) notices.hidden = true;
    });
    item.appendChild(dismiss);
    notices.insertBefore(item, notices.firstChild);
    while (notices.children.length > MAX_NOTICES) notices.removeChild(notices.lastChild);
    notices.hidden = false;
    return item;
  }

  function partialUrl(el, id) {
    return el.getAttribute("data-url-template").replace("{id}", encodeURIComponent(id));
  }

  if (notices) {
    on("case.assigned", function (data) {
      if (!data || !data.case_id) return;
      fetch(partialUrl(notices, data.case_id), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var body = holder.querySelector("[data-announce]");
          notify(html, body ? body.getAttribute("data-announce") : "A new case was assigned to you.");
        });
    });
  }

  window.Casework = { socket: socket, on: on, emit: emit, announce: announce, refresh: refresh,
                      setPresence: setPresence, notify: notify, partialUrl: partialUrl };
})();
