/* Case lists (inbox, queues): new and changed cases appear live without losing the agent's place.
 *
 * On a socket event that may change the list, the page re-fetches its list partial (the server applies
 * the filters and who may see what). When the agent is not busy with the list (focus elsewhere, on the
 * first page, scrolled to the top) the new rows are shown at once; otherwise the page says "N new cases"
 * with a button, and nothing moves under the agent's cursor. Every change is announced.
 */
(function () {
  "use strict";

  var list = document.getElementById("case-list");
  if (!list || !window.Casework) return;
  var banner = document.getElementById("list-updates");
  var bannerText = document.getElementById("list-updates-text");
  var showButton = document.getElementById("list-updates-show");
  var queueId = list.getAttribute("data-queue-id");
  var pending = null;
  var timer = null;

  function caseIds(root) {
    return Array.prototype.map.call(root.querySelectorAll("tr[data-case-id]"), function (row) {
      return row.getAttribute("data-case-id");
    });
  }

  function countText(root) {
    var count = root.querySelector("#inbox-count");
    return count ? count.textContent.trim() : "";
  }

  function isReading() {
    if (list.getAttribute("data-first-page") !== "true") return true;
    if (list.contains(document.activeElement) && document.activeElement !== list) return true;
    var top = list.getBoundingClientRect().top;
    return top < 0;                       // scrolled into the list: rows would move under the cursor
  }

  function parse(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    return holder;
  }

  function apply(html, newIds) {
    var focusedId = document.activeElement && list.contains(document.activeElement) ? document.activeElement.id : null;
    list.innerHTML = html;
    newIds.forEach(function (id) {
      var row = document.getElementById("case-row-" + id);
      if (row) row.classList.add("is-new");
    });
    if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
  }

  // What to tell the agent: the new cases, else a changed count, else nothing (a reordering is not news).
  function describe(newIds, html) {
    var n = newIds.length;
    if (n > 0) return n + (n === 1 ? " new case." : " new cases.");
    var after = countText(parse(html));
    return after !== countText(list) ? after : "";
  }

  function hideBanner() {
    pending = null;
    if (banner) banner.hidden = true;
  }

  function reload() {
    var url = list.getAttribute("data-partial-url");
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || html.trim() === list.innerHTML.trim()) return;
        var known = caseIds(list);
        var newIds = caseIds(parse(html)).filter(function (id) { return known.indexOf(id) < 0; });
        var message = describe(newIds, html);
        if (isReading() && banner) {
          pending = { html: html, ids: newIds };
          bannerText.textContent = message || "The list changed.";
          banner.hidden = false;
          window.Casework.announce((message || "The list changed.") + " Use the Show them button to see them.");
        } else {
          apply(html, newIds);
          if (message) window.Casework.announce(message);
        }
      })
      .catch(function () { /* offline: the next event or the reconnect tries again */ });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(reload, 300);      // a burst of events is one re-fetch
  }

  (list.getAttribute("data-live-events") || "").split(" ").forEach(function (event) {
    if (!event) return;
    window.Casework.on(event, function (data) {
      if (event === "queue.changed" && queueId && data && String(data.queue_id) !== queueId) return;
      schedule();
    });
  });
  window.Casework.on("reconnected", schedule);

  if (showButton) {
    showButton.addEventListener("click", function () {
      if (!pending) { hideBanner(); return; }
      if (list.getAttribute("data-first-page") !== "true") {
        var first = document.getElementById("page-first");
        if (first) { window.location.assign(first.href); return; }
      }
      apply(pending.html, pending.ids);
      var firstNew = pending.ids.length ? document.getElementById("case-row-" + pending.ids[0]) : null;
      hideBanner();
      var target = (firstNew && firstNew.querySelector("a")) || document.getElementById("inbox-count");
      if (target) {
        if (!target.hasAttribute("tabindex") && target.tagName !== "A") target.setAttribute("tabindex", "-1");
        target.focus();
      }
    });
  }

  // After the filter form is sent, say how many cases the filters found.
  if (list.getAttribute("data-filtered") === "true") window.Casework.announce(countText(list));
})();
