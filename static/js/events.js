// An events page: it follows its cluster or application over the live socket; each "engine_events" message (it
// carries nothing) has the server draw the list again, so each viewer sees what it may see and its filters apply.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const root = document.querySelector("[data-live-events]");
    if (!root) return;
    const badge = document.getElementById("events-live");
    const type = root.dataset.liveEvents;
    const id = Number(root.dataset.liveEventsId);
    let pending = null;
    let busy = false;

    function redraw() {
      if (busy) { pending = true; return; }
      busy = true;
      fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
        .then((answer) => answer.text())
        .then((text) => {
          const fresh = new DOMParser().parseFromString(text, "text/html").getElementById("events-card");
          const old = document.getElementById("events-card");
          if (fresh && old) old.replaceWith(fresh);
        })
        .catch(() => {})
        .finally(() => {
          busy = false;
          if (pending) { pending = null; setTimeout(redraw, 250); }
        });
    }
    const live = window.berthSubscribe(type, id, {
      subscribed: function () { badge.textContent = badge.dataset.live; redraw(); },
      engine_events: redraw,
      error: function (msg) { if (msg.subscription) { badge.textContent = msg.error; live.stop(); } },
    }, { onClose: function () { badge.textContent = badge.dataset.reconnecting; } });
  });
})();
