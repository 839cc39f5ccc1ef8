/* The supervisor wallboard, live. Pushes to the "supervisors" room carry ids only; on any of them the page
 * re-fetches its figures partial, at most once a second however many arrive (a trailing throttle: the last
 * push in a burst is always followed by a fetch), after a reconnect (pushes sent meanwhile are gone), and
 * every 15 seconds so waits keep ageing. Alerts newly crossed since the page opened are spoken through the
 * role="alert" region; those already showing at load are only listed.
 */
(function () {
  "use strict";

  var board = document.getElementById("wallboard-figures");
  if (!board || !window.Casework) return;
  var alertRegion = document.getElementById("wallboard-alert");
  var MIN_INTERVAL = 1000;
  var TICK = 15000;
  var EVENTS = ["queue.changed", "wallboard.changed", "case.assigned", "offer.new", "offer.closed",
                "agent.presence", "sla.warning", "sla.breached", "reconnected"];
  var lastFetch = 0;
  var timer = null;
  var known = alertKeys();

  function alertKeys() {
    var keys = {};
    Array.prototype.forEach.call(board.querySelectorAll("[data-alert-key]"), function (item) {
      keys[item.getAttribute("data-alert-key")] = item.textContent.trim();
    });
    return keys;
  }

  function speakNewAlerts() {
    var now = alertKeys();
    var fresh = Object.keys(now).filter(function (key) { return !(key in known); });
    known = now;
    if (fresh.length && alertRegion) {
      alertRegion.textContent = fresh.map(function (key) { return now[key]; }).join(" ");
    } else if (!Object.keys(now).length && alertRegion) {
      alertRegion.textContent = "";
    }
  }

  function fetchNow() {
    timer = null;
    lastFetch = Date.now();
    window.Casework.refresh(board).then(speakNewAlerts);
  }

  function schedule() {
    if (timer !== null) return;                 // a fetch is already due: it will show this change too
    timer = setTimeout(fetchNow, Math.max(0, lastFetch + MIN_INTERVAL - Date.now()));
  }

  EVENTS.forEach(function (event) { window.Casework.on(event, schedule); });
  setInterval(schedule, TICK);
})();
