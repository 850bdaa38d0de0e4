// The live tail of an application's output: its lines over the live socket ("logs" subscription), each tagged with
// container and node; one container or all, interleaved; Pause holds new lines (counted) until Follow.
(function () {
  "use strict";
  const KEEP = 2000; // lines kept on the page
  document.addEventListener("DOMContentLoaded", function () {
    const card = document.querySelector("[data-live-logs]");
    if (!card) return;
    const id = Number(card.dataset.liveLogs);
    const tail = document.getElementById("tail");
    const state = document.getElementById("tail-state");
    const only = document.getElementById("tail-container");
    const pause = document.getElementById("tail-pause");
    const follow = document.getElementById("tail-follow");
    const held = document.getElementById("tail-held");
    let paused = false;
    let waiting = [];
    let last = 0;

    function render(line) {
      const row = document.createElement("div");
      row.className = "log-row" + (line.stream === "stderr" ? " stderr" : "");
      row.dataset.container = line.container;
      if (only.value && only.value !== line.container) row.hidden = true;
      const when = document.createElement("span");
      when.className = "log-time";
      when.textContent = line.at.slice(11, 23);
      when.title = line.at;
      const who = document.createElement("span");
      who.className = "log-who";
      who.textContent = line.container + "@" + line.node + (line.stream !== "stdout" ? " [" + line.stream + "]" : "");
      const text = document.createElement("span");
      text.className = "log-text";
      text.textContent = line.text;
      row.append(when, who, text);
      return row;
    }
    function show(lines) {
      const atBottom = tail.scrollHeight - tail.scrollTop - tail.clientHeight < 40;
      const fragment = document.createDocumentFragment();
      lines.forEach((line) => fragment.append(render(line)));
      tail.append(fragment);
      while (tail.childElementCount > KEEP) tail.firstElementChild.remove();
      if (atBottom) tail.scrollTop = tail.scrollHeight; // who scrolled up to read stays where they read
    }
    function take(incoming) {
      // A line seen already (in the snapshot and again live, around a subscription) is shown once.
      const lines = incoming.filter((line) => line.id > last);
      lines.forEach((line) => { last = Math.max(last, line.id); });
      if (!lines.length) return;
      if (paused) {
        waiting = waiting.concat(lines).slice(-KEEP);
        held.hidden = false;
        held.textContent = tail.dataset.held.replace("%(n)s", waiting.length);
        return;
      }
      show(lines);
    }
    pause.addEventListener("click", function () {
      paused = true;
      pause.hidden = true;
      follow.hidden = false;
      state.textContent = state.dataset.paused;
    });
    follow.addEventListener("click", function () {
      paused = false;
      pause.hidden = false;
      follow.hidden = true;
      held.hidden = true;
      state.textContent = state.dataset.live;
      show(waiting);
      waiting = [];
      tail.scrollTop = tail.scrollHeight;
    });
    document.getElementById("tail-clear").addEventListener("click", function () { tail.replaceChildren(); });
    only.addEventListener("change", function () {
      tail.querySelectorAll(".log-row").forEach((row) => { row.hidden = !!only.value && row.dataset.container !== only.value; });
      tail.scrollTop = tail.scrollHeight;
    });
    const live = window.berthSubscribe("logs", id, {
      subscribed: function () { state.textContent = paused ? state.dataset.paused : state.dataset.live; },
      log_lines: function (msg) { take(msg.lines); },
      error: function (msg) { if (msg.subscription) { state.textContent = msg.error; live.stop(); } },
    }, {
      since: function () { return last; }, // a reconnect asks only for what came since
      onClose: function () { state.textContent = state.dataset.reconnecting; },
    });
  });
})();
