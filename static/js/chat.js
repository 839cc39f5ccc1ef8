/* The constituent's live chat (templates/chat/live.html). No dependency on the console's scripts.
 *
 * The socket joins the "/chat" namespace with the signed chat token. Each message carries a client id
 * and stays "sending" (kept in sessionStorage) until the server's ack says it is stored ("delivered");
 * a reconnect resends what was not acknowledged (the server keeps one copy per client id) and asks for
 * every message after the last id this page has seen. Pushes only say that something changed.
 */
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root || !window.io) return;
  var token = root.getAttribute("data-token");
  var log = document.getElementById("chat-log");
  var region = document.getElementById("chat-log-region");
  var statusEl = document.getElementById("chat-status");
  var typingEl = document.getElementById("chat-typing");
  var connectionEl = document.getElementById("chat-connection");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-text");
  var endButton = document.getElementById("chat-end");
  var leaveOpen = document.getElementById("chat-leave-open");
  var leaveForm = document.getElementById("chat-leave");
  var storeKey = "casework-chat:" + token.slice(-24);

  var lastId = 0;
  var agentName = null;
  var state = null;
  var readUpto = 0;
  var typingTimer = null;
  var typingSent = 0;
  var saved = load();

  function t(key, vars) {
    var text = root.getAttribute("data-t-" + key) || "";
    Object.keys(vars || {}).forEach(function (name) { text = text.replace("{" + name + "}", vars[name]); });
    return text;
  }

  function load() {
    try { return JSON.parse(window.sessionStorage.getItem(storeKey)) || { outbox: [] }; }
    catch (e) { return { outbox: [] }; }
  }

  function save() {
    try { window.sessionStorage.setItem(storeKey, JSON.stringify(saved)); } catch (e) { /* private mode */ }
  }

  function newClientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  var socket = window.io("/chat", { auth: { token: token }, transports: ["websocket", "polling"],
                                     reconnectionDelayMax: 5000 });

  function call(event, data) {
    return new Promise(function (resolve) {
      socket.timeout(10000).emit(event, data || {}, function (err, reply) {
        resolve(err ? { ok: false, error: "timeout" } : reply);
      });
    });
  }

  // ---- rendering ---------------------------------------------------------------------------------------

  function line(mine, text, clientId) {
    var li = document.createElement("li");
    li.className = "chat-line " + (mine ? "from-me" : "from-agent");
    if (clientId) li.setAttribute("data-client-id", clientId);
    var who = document.createElement("span");
    who.className = "chat-who";
    who.textContent = mine ? t("you") : (agentName || t("agent"));
    var body = document.createElement("p");
    body.className = "chat-text";
    body.textContent = text;
    li.appendChild(who);
    li.appendChild(body);
    if (mine) {
      var receipt = document.createElement("span");
      receipt.className = "chat-receipt";
      li.appendChild(receipt);
    }
    log.appendChild(li);
    region.scrollTop = region.scrollHeight;
    return li;
  }

  function setReceipt(li, which) {
    var receipt = li.querySelector(".chat-receipt");
    if (!receipt) return;
    li.setAttribute("data-state", which);
    receipt.textContent = t(which);
  }

  function byClientId(clientId) {
    return clientId ? log.querySelector('li[data-client-id="' + CSS.escape(clientId) + '"]') : null;
  }

  function showMessage(m) {
    if (log.querySelector('li[data-id="' + m.id + '"]')) return;
    var li = (m.mine && byClientId(m.client_id)) || line(m.mine, m.text, m.client_id);
    li.setAttribute("data-id", m.id);
    if (m.mine) setReceipt(li, m.id <= readUpto ? "read" : "delivered");
    lastId = Math.max(lastId, m.id);
  }

  function markRead(upto) {
    readUpto = Math.max(readUpto, upto || 0);
    log.querySelectorAll("li.from-me[data-id]").forEach(function (li) {
      if (Number(li.getAttribute("data-id")) <= readUpto) setReceipt(li, "read");
    });
  }

  function say(text) {
    if (statusEl.textContent !== text) statusEl.textContent = text;
  }

  function showState(reply) {
    var before = state;
    state = reply.state;
    var closed = state === "ended" || state === "message_left";
    form.hidden = closed;
    endButton.disabled = closed;
    leaveOpen.hidden = state !== "waiting";
    if (closed) leaveForm.hidden = true;
    if (state === "waiting") {
      say(reply.available === false ? t("nobody") : t("waiting", { n: reply.position || 1 }));
      if (reply.available === false && before !== "waiting") leaveOpen.hidden = false;
    } else if (state === "active") {
      if (reply.agent !== agentName || before !== "active") say(t("joined", { name: reply.agent }));
    } else if (state === "ended") {
      say(t("ended"));
    } else if (state === "message_left") {
      say(t("left"));
    }
    agentName = reply.agent || agentName;
  }

  function sync() {
    return call("chat.sync", { after: lastId }).then(function (reply) {
      if (!reply || !reply.ok) return;
      showState(reply);
      reply.messages.forEach(showMessage);
      markRead(reply.agent_read_upto);
      tellRead();
    });
  }

  function tellRead() {
    var agentLines = log.querySelectorAll("li.from-agent[data-id]");
    if (!agentLines.length || document.visibilityState !== "visible") return;
    var upto = Number(agentLines[agentLines.length - 1].getAttribute("data-id"));
    if (upto > (saved.toldRead || 0)) {
      saved.toldRead = upto;
      save();
      call("chat.read", { upto: upto });
    }
  }

  // ---- sending ---------------------------------------------------------------------------------------

  function deliver(item) {
    var li = byClientId(item.client_id) || line(true, item.text, item.client_id);
    setReceipt(li, "sending");
    return call("chat.message", item).then(function (reply) {
      if (reply && reply.ok) {
        saved.outbox = saved.outbox.filter(function (o) { return o.client_id !== item.client_id; });
        save();
        if (!log.querySelector('li[data-id="' + reply.id + '"]')) li.setAttribute("data-id", reply.id);
        setReceipt(li, reply.id <= readUpto ? "read" : "delivered");
      } else if (reply && reply.error === "closed") {
        saved.outbox = [];
        save();
        li.remove();
      } else {
        setReceipt(li, "failed");
      }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var item = { client_id: newClientId(), text: text };
    saved.outbox.push(item);
    save();
    input.value = "";
    sendTyping(false);
    deliver(item);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function sendTyping(typing) {
    window.clearTimeout(typingTimer);
    if (typing) {
      if (Date.now() - typingSent > 2000) { typingSent = Date.now(); socket.emit("chat.typing", { typing: true }); }
      typingTimer = window.setTimeout(function () { sendTyping(false); }, 3000);
    } else if (typingSent) {
      typingSent = 0;
      socket.emit("chat.typing", { typing: false });
    }
  }

  input.addEventListener("input", function () { sendTyping(input.value.length > 0); });

  endButton.addEventListener("click", function () {
    call("chat.end").then(sync);
  });

  leaveOpen.addEventListener("click", function () {
    leaveForm.hidden = false;
    document.getElementById("chat-leave-email").focus();
  });

  leaveForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var email = document.getElementById("chat-leave-email");
    var text = document.getElementById("chat-leave-text");
    var error = document.getElementById("chat-leave-error");
    var payload = { email: email.value.trim(), text: text.value, client_id: newClientId() };
    call("chat.leave", payload).then(function (reply) {
      if (reply && reply.ok) { sync(); return; }
      error.hidden = false;
      error.textContent = t("email-invalid");
      email.setAttribute("aria-invalid", "true");
      email.setAttribute("aria-describedby", "chat-leave-error");
      email.focus();
    });
  });

  // ---- the link ----------------------------------------------------------------------------------------

  function connection(online) {
    connectionEl.setAttribute("data-state", online ? "online" : "offline");
    connectionEl.textContent = online ? t("online") : t("offline");
  }

  socket.on("connect", function () {
    connection(true);
    sync().then(function () { saved.outbox.slice().forEach(deliver); });
  });
  socket.on("disconnect", function () { connection(false); });
  socket.on("connect_error", function () { connection(false); });
  socket.on("chat.message", sync);
  socket.on("chat.state", sync);
  socket.on("chat.queue", sync);
  socket.on("chat.read", function (data) { if (data && data.side === "agent") markRead(data.upto); });
  socket.on("chat.typing", function (data) {
    typingEl.textContent = data && data.typing ? t("typing", { name: agentName || t("agent") }) : "";
  });
  document.addEventListener("visibilitychange", tellRead);
  // Pushes may be missed across a network change; a slow poll keeps the place in the queue right.
  window.setInterval(function () { if (socket.connected && state === "waiting") sync(); }, 15000);
})();
