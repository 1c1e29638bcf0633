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
  // The overview's findings, when they were still being computed: fetch the page again until
  // they are there, and show them in place (without script, a reload does the same).
  var pending = document.getElementById("found-pending");
  if (pending && window.fetch && window.DOMParser) {
    var section = pending.closest("section");
    var tries = 0;
    var poll = function () {
      tries++;
      fetch(window.location.href, { credentials: "same-origin" }).then(function (res) {
        return res.ok ? res.text() : Promise.reject(res.status);
      }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("section[aria-labelledby='fail-h']");
        if (fresh && !fresh.querySelector("#found-pending")) {
          section.innerHTML = fresh.innerHTML;
        } else if (tries < 60) {
          setTimeout(poll, 1000);
        }
      }).catch(function () {
        if (tries < 60) { setTimeout(poll, 2000); }
      });
    };
    setTimeout(poll, 500);
  }
  // Filters apply as soon as a choice changes (the Apply button does the same without script).
  document.querySelectorAll("form.filters select").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
})();
