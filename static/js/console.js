/* The console's live link: one Socket.IO connection per page, shared by every page script.
 *
 *   Casework.socket            the connected socket (the server picks its rooms)
 *   Casework.on(event, fn)     subscribe to a server event; fn gets the payload (ids only)
 *   Casework.emit(event, data) send with an acknowledgement; returns a Promise of the ack
 *   Casework.announce(text)    say something to screen-reader users (polite live region)
 *   Casework.refresh(el)       re-fetch a partial: el has data-partial-url; its HTML replaces el's content
 *
 * No inline script anywhere: pages pass settings as data- attributes (Content-Security-Policy friendly).
 */
(function () {
  "use strict";

  var liveRegion = document.getElementById("live-announcer");
  var handlers = {};
  var socket = window.io ? window.io({ transports: ["websocket", "polling"], reconnectionDelayMax: 5000 }) : null;

  function announce(text) {
    if (!liveRegion) return;
    liveRegion.textContent = "";
    // A change after a tick is what screen readers notice, even for the same words twice.
    window.setTimeout(function () { liveRegion.textContent = text; }, 50);
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

  window.Casework = { socket: socket, on: on, emit: emit, announce: announce, refresh: refresh };
})();
