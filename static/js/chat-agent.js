/* The agent's chat panel (templates/chat/_agent_panel.html), on the case page or on its own page.
 * Uses the console's socket (window.Casework from console.js): joins the chat's room, sends messages
 * with client ids (a resend is one message), shows the constituent typing, and re-fetches the
 * transcript partial when a push says something changed (authorisation stays in the view).
 */
(function () {
  "use strict";

  var panel = document.getElementById("chat-panel");
  var Casework = window.Casework;
  if (!panel || !Casework || !Casework.socket) return;
  var caseId = Number(panel.getAttribute("data-case-id"));
  var transcript = document.getElementById("chat-transcript");
  var region = document.getElementById("chat-transcript-region");
  var typingEl = document.getElementById("chat-panel-typing");
  var form = document.getElementById("chat-reply");
  var input = document.getElementById("chat-reply-text");
  var typingSent = 0;
  var typingTimer = null;
  var clearTyping = null;

  function join() {
    Casework.emit("chat.join", { case_id: caseId });
  }

  function lastConstituentId() {
    var lines = transcript.querySelectorAll("li.from-constituent[data-id]");
    return lines.length ? Number(lines[lines.length - 1].getAttribute("data-id")) : 0;
  }

  function refresh() {
    return Casework.refresh(transcript).then(function () {
      region.scrollTop = region.scrollHeight;
      var upto = lastConstituentId();
      if (upto && document.visibilityState === "visible") Casework.emit("chat.read", { case_id: caseId, upto: upto });
    });
  }

  function mine(data) { return data && Number(data.case_id) === caseId; }

  Casework.on("chat.message", function (data) {
    if (!mine(data)) return;
    if (data.side === "constituent") { typingEl.textContent = ""; Casework.announce("New chat message"); }
    refresh();
  });
  Casework.on("chat.read", function (data) { if (mine(data) && data.side === "constituent") refresh(); });
  Casework.on("chat.state", function (data) {
    if (!mine(data)) return;
    Casework.announce("The chat changed: the page is updated.");
    window.location.reload();
  });
  Casework.on("chat.typing", function (data) {
    if (!mine(data)) return;
    typingEl.textContent = data.typing ? "The constituent is typing…" : "";
    window.clearTimeout(clearTyping);
    clearTyping = window.setTimeout(function () { typingEl.textContent = ""; }, 8000);
  });
  Casework.on("reconnected", function () { join(); refresh(); });
  if (Casework.socket.connected) join(); else Casework.socket.once("connect", join);
  region.scrollTop = region.scrollHeight;
  refresh();

  if (!form) return;

  function sendTyping(typing) {
    window.clearTimeout(typingTimer);
    if (typing) {
      if (Date.now() - typingSent > 2000) { typingSent = Date.now(); Casework.socket.emit("chat.typing", { case_id: caseId, typing: true }); }
      typingTimer = window.setTimeout(function () { sendTyping(false); }, 3000);
    } else if (typingSent) {
      typingSent = 0;
      Casework.socket.emit("chat.typing", { case_id: caseId, typing: false });
    }
  }

  input.addEventListener("input", function () { sendTyping(input.value.length > 0); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var clientId = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID() : String(Date.now());
    var send = function (attempt) {
      return Casework.emit("chat.message", { case_id: caseId, client_id: clientId, text: text }).then(function (reply) {
        if (reply && reply.ok) { input.value = ""; sendTyping(false); return refresh(); }
        if (reply && reply.error === "timeout" && attempt < 3) return send(attempt + 1);   // same client id: one message
        Casework.announce("The message was not sent.");
      });
    };
    send(1);
  });
})();
