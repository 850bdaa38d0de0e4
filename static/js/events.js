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
    let retry = 500;
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
    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + "/ws/live/");
      socket.onopen = function () {
        retry = 500;
        socket.send(JSON.stringify({ action: "subscribe", type: type, id: id, since: 0 }));
      };
      socket.onmessage = function (e) {
        const msg = JSON.parse(e.data);
        if (msg.type === "subscribed") { badge.textContent = badge.dataset.live; redraw(); }
        else if (msg.type === "engine_events") redraw();
        else if (msg.type === "error" && msg.subscription) { badge.textContent = msg.error; socket.onclose = null; socket.close(); }
      };
      socket.onclose = function () {
        badge.textContent = badge.dataset.reconnecting;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }
    connect();
  });
})();
