// The web terminal: xterm.js in the page, the shell's bytes over /ws/terminal/… (binary frames both ways), the
// terminal's size sent whenever it changes ({"resize": [cols, rows]}).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const box = document.getElementById("terminal");
    if (!box || !window.Terminal) return;
    const state = document.getElementById("terminal-state");
    const again = document.getElementById("terminal-again");
    const term = new window.Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000, fontSize: 14 });
    const fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    window.berthTerminal = term; // for the browser tests: what the terminal shows
    const encoder = new TextEncoder();
    let socket = null;

    function open() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + box.dataset.url + "?cols=" + term.cols + "&rows=" + term.rows);
      socket.binaryType = "arraybuffer";
      socket.onopen = function () {
        state.textContent = state.dataset.open;
        state.className = "badge status-running";
        again.hidden = true;
        term.focus();
      };
      socket.onmessage = function (e) {
        if (typeof e.data === "string") term.write(e.data);
        else term.write(new Uint8Array(e.data));
      };
      socket.onclose = function () {
        state.textContent = state.dataset.closed;
        state.className = "badge status-stopped";
        again.hidden = false;
      };
    }
    term.onData(function (data) {
      if (socket && socket.readyState === 1) socket.send(encoder.encode(data));
    });
    term.onResize(function (size) {
      if (socket && socket.readyState === 1) socket.send(JSON.stringify({ resize: [size.cols, size.rows] }));
    });
    window.addEventListener("resize", function () { fit.fit(); });
    again.addEventListener("click", function () { term.reset(); open(); });
    open();
  });
})();
