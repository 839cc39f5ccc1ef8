/* Offers of chats and calls: an accept/decline dialog with the time left, one offer at a time, the rest
 * queued in arrival order.
 *
 * The socket says only which offer ("offer.new" {offer_id}); the dialog body comes from the server
 * (GET /console/offers/<id>, only for the agent offered), so authorisation stays in the view. The open
 * offers are also fetched at page load and after a reconnect, so navigating never loses one.
 * Escape declines (documented in the dialog and on the shortcuts help): the case then goes to the
 * next colleague at once instead of waiting out the timer. The countdown is read aloud sparingly:
 * when an offer appears and when 10 seconds are left.
 *
 *   Casework.offers.pending()   ids of the offers shown or waiting
 *   document event "casework:offer-accepted" {offerId, caseId, url}: cancelable; cancel it to stop
 *                               the accepted offer from opening the case page (e.g. to open something else)
 */
(function () {
  "use strict";

  var Casework = window.Casework;
  var dialog = document.getElementById("offer-dialog");
  if (!Casework || !dialog) return;

  var WARN_AT = 10;
  var body = document.getElementById("offer-body");
  var title = document.getElementById("offer-title");
  var countdown = document.getElementById("offer-countdown");
  var progress = document.getElementById("offer-progress");
  var more = document.getElementById("offer-more");
  var acceptButton = document.getElementById("offer-accept");
  var declineButton = document.getElementById("offer-decline");
  var listUrl = dialog.getAttribute("data-list-url");

  var queue = [];            // [{id, html, deadline, total, url, summary, title}], queue[0] is on screen
  var known = {};            // offer ids seen on this page, so a repeated push is not shown twice
  var timer = null;
  var warned = false;
  var busy = false;
  var returnFocus = null;

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .catch(function () { return null; });
  }

  function secondsLeft(offer) { return Math.max(0, Math.ceil((offer.deadline - Date.now()) / 1000)); }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function load(offerId) {
    if (known[offerId]) return;
    known[offerId] = true;
    fetchText(Casework.partialUrl(dialog, offerId)).then(function (html) {
      if (html === null) { delete known[offerId]; return; }     // gone already, or not ours
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var card = holder.querySelector("[data-offer-id]");
      if (!card) return;
      var total = Number(card.getAttribute("data-seconds-left")) || 0;
      if (total < 1) return;                  // due to expire any moment: the expiry job re-offers it
      queue.push({
        id: offerId, caseId: Number(card.getAttribute("data-case-id")), html: html, total: total,
        deadline: Date.now() + total * 1000,
        url: card.getAttribute("data-case-url"), summary: card.getAttribute("data-summary"),
        title: card.getAttribute("data-channel") + " offer"
      });
      if (queue.length === 1) show(); else updateMore();
    });
  }

  function updateMore() {
    var waiting = queue.length - 1;
    more.hidden = waiting < 1;
    more.textContent = waiting < 1 ? "" : plural(waiting, "more offer") + " waiting after this one.";
  }

  function tick() {
    var offer = queue[0];
    if (!offer) return;
    var left = secondsLeft(offer);
    countdown.textContent = left > 0 ? plural(left, "second") + " left to answer" : "Time is up";
    progress.max = Math.max(offer.total, 1);
    progress.value = left;
    if (left <= WARN_AT && left > 0 && !warned) {
      warned = true;
      Casework.announce(plural(left, "second") + " left to answer this offer.");
    }
    if (left === 0) finish(offer.id, "The offer timed out and goes to a colleague.");
  }

  function show() {
    var offer = queue[0];
    if (!offer) return;
    body.innerHTML = offer.html;
    title.textContent = offer.title;
    warned = secondsLeft(offer) <= WARN_AT;
    busy = false;
    acceptButton.disabled = declineButton.disabled = false;
    updateMore();
    if (!dialog.open) {
      if (!returnFocus) returnFocus = document.activeElement;
      dialog.showModal();
    }
    acceptButton.focus();
    tick();
    if (!timer) timer = window.setInterval(tick, 1000);
    Casework.announce(offer.summary + ". " + plural(secondsLeft(offer), "second") + " to answer: Accept or Decline.");
  }

  // Take `offerId` off the queue (answered, withdrawn or timed out) and show the next one, or close.
  function finish(offerId, message) {
    var wasShown = queue.length && queue[0].id === offerId;
    queue = queue.filter(function (o) { return o.id !== offerId; });
    if (!wasShown) { updateMore(); return; }
    if (message) Casework.announce(message);
    if (queue.length) { show(); return; }
    window.clearInterval(timer);
    timer = null;
    dialog.close();
    body.textContent = "";
    if (returnFocus && document.contains(returnFocus) && returnFocus.focus) returnFocus.focus();
    returnFocus = null;
  }

  function accept() {
    var offer = queue[0];
    if (!offer || busy) return;
    busy = true;
    acceptButton.disabled = declineButton.disabled = true;
    Casework.emit("offer.accept", { offer_id: offer.id }).then(function (reply) {
      if (reply && reply.ok) {
        // Another script may open something better (the phone pop opens the caller's record): it cancels this.
        var opening = new CustomEvent("casework:offer-accepted", {
          cancelable: true, detail: { offerId: offer.id, caseId: offer.caseId, url: offer.url } });
        var navigate = document.dispatchEvent(opening);
        finish(offer.id, navigate ? "Accepted. Opening the case." : "Accepted.");
        if (navigate) window.location.assign(offer.url);
      } else {
        finish(offer.id, "This offer is no longer open.");
      }
    });
  }

  function decline() {
    var offer = queue[0];
    if (!offer || busy) return;
    busy = true;
    acceptButton.disabled = declineButton.disabled = true;
    Casework.emit("offer.decline", { offer_id: offer.id }).then(function () {
      finish(offer.id, "Declined. The case goes to a colleague.");
    });
  }

  function loadOpenOffers() {
    if (!listUrl) return;
    fetch(listUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch", Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { offers: [] }; })
      .then(function (data) { (data.offers || []).forEach(load); })
      .catch(function () {});
  }

  acceptButton.addEventListener("click", accept);
  declineButton.addEventListener("click", decline);
  dialog.addEventListener("cancel", function (event) {   // Escape
    event.preventDefault();
    decline();
  });
  // Browsers may close a dialog on Escape without a cancelable "cancel" (no user activation since it
  // opened): an offer still on screen is then declined all the same.
  dialog.addEventListener("close", function () {
    // (This script closes it only with nothing left to show; an offer shown since reopened it.)
    if (queue.length && !dialog.open && !busy) decline();
  });

  Casework.on("offer.new", function (data) { if (data && data.offer_id) load(data.offer_id); });
  Casework.on("offer.closed", function (data) {
    if (!data || !data.offer_id) return;
    if (!busy || !queue.length || queue[0].id !== data.offer_id) {
      finish(data.offer_id, "The offer was withdrawn or timed out.");
    }
  });
  Casework.on("reconnected", loadOpenOffers);
  loadOpenOffers();

  Casework.offers = { pending: function () { return queue.map(function (o) { return o.id; }); } };
})();
