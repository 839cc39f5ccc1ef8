/* The embeddable chat loader. A website adds
 *   <script src="https://casework.example/chat/widget.js" data-lang="es" defer></script>
 * and gets a "Chat with us" button that opens the chat page in a frame (same page, other origin).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;
  var origin = new URL(script.src, window.location.href).origin;
  var lang = script.getAttribute("data-lang") || (document.documentElement.lang || "en").slice(0, 2);
  var labels = { en: "Chat with us", es: "Chatee con nosotros", it: "Chatta con noi" };

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = labels[lang] || labels.en;
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:1rem;bottom:1rem;z-index:2147483000;padding:.75rem 1.25rem;" +
    "border-radius:2rem;border:0;background:#0b4f8a;color:#fff;font:inherit;font-weight:600;cursor:pointer;";

  var frame = null;
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = origin + "/chat?embed=1&lang=" + encodeURIComponent(lang);
      frame.title = labels[lang] || labels.en;
      frame.style.cssText = "position:fixed;right:1rem;bottom:4.5rem;z-index:2147483000;width:min(24rem,calc(100vw - 2rem));" +
        "height:min(36rem,calc(100vh - 6rem));border:1px solid #4a4a4a;border-radius:.5rem;background:#fff;";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    var open = !frame.hidden;
    button.setAttribute("aria-expanded", String(open));
    if (open) frame.focus();
  });
  document.body.appendChild(button);
})();
