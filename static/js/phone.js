/* The phone screen pop. On "call.incoming" ({case_id, call_id, constituent_id}: ids only) the console
 * fetches the pop notice (server-rendered, authorised there), shows it and announces it. When the agent
 * takes the call (accepts its offer in the offer dialog of offers.js), the caller's 360° view opens instead
 * of the case, unless the agent is typing into a form: then the notice's link is the way there.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var popUrl = script && script.getAttribute("data-pop-url");
  var recordUrl = script && script.getAttribute("data-record-url");

  function opens(data) {
    // The caller's record when the number is known; else the call notes (where the agent can add it).
    if (data.constituent_id) return recordUrl.replace("{id}", encodeURIComponent(Number(data.constituent_id))) +
      "?call=" + encodeURIComponent(Number(data.call_id));
    return popUrl.replace("{id}", encodeURIComponent(Number(data.call_id))).replace(/\/pop$/, "");
  }

  function typing() {
    var fields = document.querySelectorAll("main textarea, main input[type=text], main input[type=tel]");
    return Array.prototype.some.call(fields, function (f) { return f.value !== f.defaultValue; });
  }

  function start(Casework) {
    var pending = {};          // case id -> the record to open when the agent takes that call

    Casework.on("call.incoming", function (data) {
      var callId = data && Number(data.call_id);
      if (!callId || !popUrl || !recordUrl) return;
      pending[Number(data.case_id)] = opens(data);      // at once: the agent may accept before the notice loads
      fetch(popUrl.replace("{id}", encodeURIComponent(callId)),
            { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) return;
          Casework.notify(html, "Incoming call. " + (data.constituent_id
            ? "The caller's record opens when you take the call." : "The number is withheld."));
        });
    });

    // offers.js asks before it opens the accepted case: for a call, the caller's record opens instead.
    document.addEventListener("casework:offer-accepted", function (event) {
      var caseId = event.detail && Number(event.detail.caseId);
      var url = caseId && pending[caseId];
      if (!url) return;
      delete pending[caseId];
      event.preventDefault();
      if (typing()) {
        Casework.announce("Call taken. The caller's record is linked in the notice.");
        return;
      }
      Casework.announce("Call taken: opening the caller's record.");
      window.location.assign(url);
    });
  }

  if (window.Casework) start(window.Casework);
  else document.addEventListener("DOMContentLoaded", function () { if (window.Casework) start(window.Casework); });
})();
