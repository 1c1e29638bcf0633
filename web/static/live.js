// The live strip: follows the runner's ticks over server-sent events. Everything else on the
// dashboard works without this script.
(function () {
  "use strict";
  var strip = document.querySelector("[data-live]");
  var text = document.getElementById("live-text");
  if (strip && text && window.EventSource) {
    var es = new EventSource(strip.getAttribute("data-live"));
    es.addEventListener("live", function (ev) {
      var l = JSON.parse(ev.data);
      strip.classList.toggle("running", l.running);
      if (l.running) {
        text.textContent = "Tick running: " + l.done + " of " + l.due + " personas done · " + l.calls + " calls · " + l.errors + " errors" + (l.last ? " · last: " + l.last : "");
      } else if (l.endedAt) {
        text.textContent = "Idle · last tick ended " + l.endedAt.slice(0, 16).replace("T", " ") + " UTC: " + l.done + " personas, " + l.calls + " calls, " + l.errors + " errors";
      }
    });
  }
  // Filters apply as soon as a choice changes (the Apply button does the same without script).
  document.querySelectorAll("form.filters select").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
})();
