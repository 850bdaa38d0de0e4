// Live status: one websocket per page, subscriptions checked by the server, replay from the last seen event.
(function () {
  "use strict";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const labelsNode = document.getElementById("status-labels");
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : {};
  function label(status) {
    return labels[status] || status;
  }

  function badge(status) {
    const b = el("span", "badge status-" + status, label(status));
    b.dataset.status = status;
    return b;
  }

  // One rule for every time a page shows, the same as the server's ``when`` filter (accounts/templatetags/berth.py):
  // the time of day alone for a moment of today, the date and time otherwise, 24-hour, in the console's time zone
  // (named at the foot of the page), so a value the page first showed and one a live message brought read alike.
  const timeZone = document.body.dataset.timeZone || "UTC";
  let clockFormat = null;
  function parts(date) {
    if (!clockFormat) {
      const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
      try {
        clockFormat = new Intl.DateTimeFormat("en-GB", { ...options, timeZone: timeZone });
      } catch (e) {
        clockFormat = new Intl.DateTimeFormat("en-GB", { ...options, timeZone: "UTC" });
      }
    }
    const found = {};
    clockFormat.formatToParts(date).forEach((p) => {
      found[p.type] = p.value;
    });
    return found;
  }
  function when(iso) {
    const p = parts(new Date(iso));
    const today = parts(new Date());
    const time = p.hour + ":" + p.minute + ":" + p.second;
    const day = p.year + "-" + p.month + "-" + p.day;
    return day === today.year + "-" + today.month + "-" + today.day ? time : day + " " + time;
  }
  // The <time> element the server's filter writes: the instant in ISO 8601 (UTC) and the text by the rule above.
  function timeNode(iso) {
    const node = el("time", "", when(iso));
    node.setAttribute("datetime", new Date(iso).toISOString());
    const p = parts(new Date(iso));
    node.title = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " " + timeZone;
    return node;
  }

  // Parts of a page that only the server draws (a node that was not there, a version's image digests): fetched
  // again and swapped in, by id, when a change they depend on is over.
  // A change heard while a fetch is on its way may postdate what that fetch gets: one more fetch follows it.
  let refreshing = null;
  let queued = null;
  // A page whose object is gone (a removed node, a deleted application) keeps what it shows: a fetch that was on
  // its way when it went must not bring the controls and rows back.
  let frozen = false;
  function editing(part) {
    const focused = document.activeElement;
    if (part.contains(focused) && focused.matches("input, select, textarea, button")) return true;
    return Array.from(part.querySelectorAll("input, select, textarea")).some((field) => {
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      if (field.tagName === "SELECT") return Array.from(field.options).some((o) => o.selected !== o.defaultSelected);
      return field.type !== "hidden" && field.value !== field.defaultValue;
    });
  }
  function refresh() {
    if (refreshing) {
      if (!queued) {
        queued = refreshing.then(() => {
          queued = null;
          return refresh();
        });
      }
      return queued;
    }
    refreshing = fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
      .then((response) => (response.ok ? response.text() : ""))
      .then((html) => {
        if (!html || frozen) return;
        const fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh][id]").forEach((old) => {
          // A part the user is working in waits for a later refresh: never wipe what was typed or ticked, nor move
          // the focus away from a field or its button.
          if (editing(old)) return;
          const found = fresh.getElementById(old.id);
          if (found) old.replaceWith(document.importNode(found, true));
        });
        const added = fresh.querySelectorAll("[data-refresh][id]");
        added.forEach((part) => {
          if (document.getElementById(part.id)) return;
          const before = part.previousElementSibling && part.previousElementSibling.id && document.getElementById(part.previousElementSibling.id);
          if (before) before.after(document.importNode(part, true));
        });
        document.dispatchEvent(new CustomEvent("berth:refreshed"));
      })
      .catch(() => {})
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  function applicationPage(root) {
    const id = Number(root.dataset.liveId);
    const tbody = root.querySelector("#containers tbody");
    const events = root.querySelector("#events");
    const liveState = root.querySelector("#live-state");
    let lastEvent = 0;
    let socket = null;
    let retry = 500;
    let stopped = false;

    const pattern = root.querySelector("#container-row");
    let gone = false;

    // A container that was not on the page: the same row the server draws (its link and its actions), from the
    // page's pattern; without one (a deleted application) a row of text only.
    function newRow(name) {
      if (pattern && !gone) {
        const row = pattern.content.firstElementChild.cloneNode(true);
        row.dataset.container = name;
        row.querySelectorAll("[href], [action]").forEach((node) => {
          ["href", "action"].forEach((attr) => {
            const value = node.getAttribute(attr);
            if (value) node.setAttribute(attr, value.replace("__name__", encodeURIComponent(name)));
          });
        });
        row.querySelector(".name a").textContent = name;
        return row;
      }
      const row = el("tr");
      row.dataset.container = name;
      row.append(el("td", "name", name), el("td", "state"), el("td", "node"), el("td", "address"), el("td", "actions"));
      return row;
    }

    function onContainer(msg) {
      if (gone) return;
      let row = tbody.querySelector('tr[data-container="' + CSS.escape(msg.name) + '"]');
      if (msg.state === "removed") {
        if (row) row.remove();
      } else {
        if (!row) {
          row = newRow(msg.name);
          const rows = Array.from(tbody.querySelectorAll("tr[data-container]"));
          const after = rows.find((r) => r.dataset.container.localeCompare(msg.name, undefined, { numeric: true }) > 0);
          tbody.insertBefore(row, after || tbody.querySelector(".empty-row"));
        }
        row.querySelector(".state").replaceChildren(badge(msg.state));
        // Actions that mean something in this state only (Stop for a running container).
        row.querySelectorAll("[data-when]").forEach((form) => {
          form.hidden = !form.dataset.when.split(" ").includes(msg.state);
        });
        if (msg.node) row.querySelector(".node").textContent = msg.node;
        const share = row.querySelector("[data-share]");
        if (share && msg.share !== undefined) {
          share.textContent = msg.share;
          share.hidden = !msg.share;
        }
        // The watcher may report "running" before the task has recorded the port: keep a known address then.
        // A container that does not run answers nowhere: no address.
        if (msg.address || msg.state !== "running") row.querySelector(".address").textContent = msg.address || "";
      }
      const empty = tbody.querySelector(".empty-row");
      if (empty) empty.hidden = tbody.querySelectorAll("tr[data-container]").length > 0;
    }

    const TERMINAL = ["successful", "failed", "canceled"];

    function onRelease(msg) {
      const box = root.querySelector("#release");
      const current = Number(box.dataset.releaseId || 0);
      if (msg.id < current) return;
      // A release that just ended changed what only the server draws (services, versions and their images).
      const ended = TERMINAL.includes(msg.status) && (msg.id !== current || !TERMINAL.includes(box.dataset.releaseStatus));
      box.dataset.releaseId = msg.id;
      box.dataset.releaseStatus = msg.status;
      root.querySelector("#release-kind").textContent = label("kind:" + msg.kind);
      const status = root.querySelector("#release-status");
      status.className = "badge status-" + msg.status;
      status.textContent = label(msg.status);
      root.querySelector("#release-count").textContent = msg.done + "/" + msg.total;
      const bar = root.querySelector("#release-progress");
      bar.setAttribute("aria-valuenow", msg.percent);
      bar.setAttribute("aria-valuetext", msg.done + "/" + msg.total);
      bar.querySelector(".bar").style.width = msg.percent + "%";
      root.querySelector("#release-error").textContent = msg.error || "";
      showControls(msg);
      // A delete that ended is followed by the application's "deleted" (sent after it): nothing to redraw.
      if (ended && !gone && msg.kind !== "delete") refresh();
    }

    // Pause, Resume and Abort act on the release shown: each form names it, and shows while it means something.
    function showControls(msg) {
      const controls = root.querySelector(".release-controls");
      if (!controls) return;
      const active = !TERMINAL.includes(msg.status);
      const rolled = (controls.dataset.rolled || "").split(" ").includes(msg.kind);
      const rolling = !msg.strategy || msg.strategy === "rolling"; // a blue-green or canary one is not paused
      const shown = { pause: active && rolled && rolling && !msg.paused, resume: active && !!msg.paused, cancel: active };
      controls.querySelectorAll("form[data-release-control]").forEach((form) => {
        form.action = form.action.replace(/\/releases\/\d+\//, "/releases/" + msg.id + "/");
        form.hidden = !shown[form.dataset.releaseControl];
      });
      const paused = controls.querySelector("#release-paused");
      if (paused) paused.hidden = !(active && msg.paused);
      const help = controls.querySelector("[data-release-help]");
      if (help) help.hidden = !active;
      showSideBySide(msg, active);
    }

    // A blue-green or canary release: the new version's share, where it answers alone, the blue-green controls
    // (while it waits for a decision) and a canary's steps with their verdicts.
    function showSideBySide(msg, active) {
      const box = root.querySelector("#side-by-side");
      if (!box) return;
      box.hidden = !msg.strategy || msg.strategy === "rolling";
      if (box.hidden) return;
      box.querySelector("#sbs-strategy").textContent = msg.strategy;
      box.querySelector("#sbs-weight").textContent = msg.weight || 0;
      const previews = box.querySelector("#sbs-previews");
      previews.replaceChildren();
      (msg.previews || []).forEach((address) => {
        const link = el("a");
        link.href = address;
        link.textContent = address;
        previews.append(document.createTextNode(" · "), link);
      });
      const controls = box.querySelector("[data-blue-green]");
      controls.hidden = !(msg.strategy === "blue-green" && active && msg.ready && !msg.decision);
      controls.querySelectorAll("form[data-release-control]").forEach((form) => {
        form.action = form.action.replace(/\/releases\/\d+\//, "/releases/" + msg.id + "/");
      });
      const steps = box.querySelector("#sbs-steps");
      const rows = (msg.verdicts || []).map((v) => {
        const row = el("tr");
        row.dataset.step = v.step;
        const verdict = el("span", "badge status-" + (v.outcome === "passed" ? "successful" : "failed"));
        verdict.textContent = v.outcome;
        [String(v.step), v.weight + "%", verdict, v.reason].forEach((value) => {
          const cell = el("td");
          cell.append(value);
          row.append(cell);
        });
        return row;
      });
      steps.querySelector("tbody").replaceChildren(...rows);
      steps.hidden = rows.length === 0;
    }

    function onEvent(msg) {
      if (msg.id <= lastEvent) return;
      lastEvent = msg.id;
      const item = el("li", "event " + msg.level);
      item.append(timeNode(msg.at), document.createTextNode(" " + msg.message));
      events.prepend(item);
    }

    // A deleted application's page keeps what it shows and offers nothing more to do: every control goes, and so
    // do its containers (a late message about one of them changes nothing); the counts of its services and of the
    // summary say none, the foot of the page says it is gone, and the page stops listening.
    function retire() {
      if (gone) return;
      gone = true;
      stopped = true;
      frozen = true;
      liveState.textContent = liveState.dataset.gone;
      root.querySelectorAll("[data-wanted]").forEach((node) => {
        node.textContent = "0";
      });
      root.querySelectorAll("form").forEach((form) => form.remove());
      tbody.querySelectorAll("tr[data-container]").forEach((row) => row.remove());
      const empty = tbody.querySelector(".empty-row");
      if (empty) empty.hidden = false;
      root.querySelectorAll("[data-app-actions]").forEach((node) => node.remove());
      if (pattern) pattern.remove();
      const note = root.querySelector("#app-gone");
      if (note) note.hidden = false;
      if (socket && socket.readyState <= 1) socket.close();
    }

    function onApplication(msg) {
      root.querySelector("#app-status").replaceChildren(badge(msg.status));
      if (msg.status === "deleted") retire();
    }

    function onContainers(msg) {
      const keep = new Set(msg.names);
      tbody.querySelectorAll("tr[data-container]").forEach((row) => {
        if (!keep.has(row.dataset.container)) row.remove();
      });
      const empty = tbody.querySelector(".empty-row");
      if (empty) empty.hidden = keep.size > 0;
    }

    function bytes(n) {
      const units = ["B", "kB", "MB", "GB"];
      let size = n;
      let i = 0;
      while (size >= 1000 && i < units.length - 1) {
        size /= 1000;
        i += 1;
      }
      return (i === 0 ? size : size.toFixed(1)) + " " + units[i];
    }

    // Image pulls: a bar per node and image, the layers under it (live only; the events keep the outcome).
    function onPull(msg) {
      const card = root.querySelector("#pulls-card");
      const list = root.querySelector("#pulls");
      const key = msg.node + "|" + msg.image;
      let box = list.querySelector('[data-pull="' + CSS.escape(key) + '"]');
      if (!box) {
        box = el("div", "pull");
        box.dataset.pull = key;
        const head = el("div", "pull-head");
        head.append(el("code", "", msg.image), el("span", "muted", msg.node), el("span", "badge pull-status"), el("span", "muted small pull-detail"));
        const bar = el("div", "progress");
        bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-valuemin", "0");
        bar.setAttribute("aria-valuemax", "100");
        bar.setAttribute("aria-label", msg.image + " · " + msg.node);
        bar.append(el("div", "bar"));
        box.append(head, bar, el("ul", "layers"));
        list.append(box);
      }
      card.hidden = false;
      const status = box.querySelector(".pull-status");
      status.textContent = label("pull:" + msg.status);
      status.className = "badge pull-status status-" + (msg.status === "done" ? "running" : msg.status === "failed" ? "failed" : "pending");
      box.dataset.status = msg.status;
      const progress = box.querySelector(".progress");
      progress.setAttribute("aria-valuenow", msg.percent);
      const bar = progress.querySelector(".bar");
      bar.style.width = msg.percent + "%";
      bar.className = "bar " + msg.status;
      let detail = msg.layers_done + "/" + msg.layers_total + " " + list.dataset.layers;
      if (msg.total) detail += " · " + bytes(msg.current) + " " + list.dataset.of + " " + bytes(msg.total);
      box.querySelector(".pull-detail").textContent = detail;
      const layers = box.querySelector(".layers");
      msg.layers.forEach((layer) => {
        let item = layers.querySelector('[data-layer="' + CSS.escape(layer.id) + '"]');
        if (!item) {
          item = el("li");
          item.dataset.layer = layer.id;
          layers.append(item);
        }
        const size = layer.total ? " " + bytes(layer.current) + "/" + bytes(layer.total) : "";
        item.textContent = layer.id + " " + layer.status + size;
      });
    }

    const handlers = { containers: onContainers, container: onContainer, release: onRelease, event: onEvent, application: onApplication, pull: onPull };

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/live/");
      socket.onopen = function () {
        retry = 500;
        socket.send(JSON.stringify({ action: "subscribe", type: "application", id: id, since: lastEvent }));
      };
      socket.onmessage = function (e) {
        const msg = JSON.parse(e.data);
        if (msg.type === "subscribed") {
          if (!gone) liveState.textContent = liveState.dataset.live;
        }
        else if (msg.type === "error" && msg.subscription) {
          // The application is gone or no longer visible: say so and stop asking.
          retire();
        } else if (msg.type === "error") liveState.textContent = msg.error;
        else if (handlers[msg.type]) handlers[msg.type](msg);
      };
      socket.onclose = function () {
        if (stopped) return;
        liveState.textContent = liveState.dataset.reconnecting;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }
    connect();
  }

  // A container's page: its state as it changes, and a notice (its actions gone) when the container is removed or
  // its application deleted, or no longer visible, while the page is open.
  function containerPage(root) {
    const name = root.dataset.liveContainer;
    const state = root.querySelector("#container-state");
    const liveState = root.querySelector("#live-state");
    let socket = null;
    let retry = 500;
    let over = false;
    // The container went (removed, or with its application): its notice, no actions, and no "Live" any more. The
    // page keeps listening until it knows whether the application went too, which then says so instead.
    function end(noticeId) {
      const notice = root.querySelector(noticeId);
      if (noticeId === "#app-gone") {
        over = true;
        root.querySelector("#container-gone").hidden = true;
        if (socket && socket.readyState <= 1) socket.close();
      }
      if (notice) notice.hidden = false;
      root.querySelectorAll("form, [data-container-actions]").forEach((node) => node.remove());
      liveState.textContent = liveState.dataset.gone;
      liveState.dataset.ended = "1";
    }
    const handlers = {
      container(msg) {
        if (msg.name !== name || over) return;
        if (msg.state === "removed") end("#container-gone");
        else state.replaceChildren(badge(msg.state));
      },
      containers(msg) {
        if (!msg.names.includes(name) && !over) end("#container-gone");
      },
      application(msg) {
        if (msg.status === "deleted") end("#app-gone");
      },
    };
    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/live/");
      socket.onopen = function () {
        retry = 500;
        socket.send(JSON.stringify({ action: "subscribe", type: "application", id: Number(root.dataset.liveId), since: 0 }));
      };
      socket.onmessage = function (e) {
        const msg = JSON.parse(e.data);
        if (msg.type === "subscribed") {
          if (!liveState.dataset.ended) liveState.textContent = liveState.dataset.live;
        } else if (msg.type === "error" && msg.subscription) end("#app-gone");
        else if (handlers[msg.type]) handlers[msg.type](msg);
      };
      socket.onclose = function () {
        if (over) return;
        liveState.textContent = liveState.dataset.reconnecting;
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }
    connect();
  }

  // One subscription of the live socket, connected again (with a growing pause) whenever it drops: each message
  // goes to handlers[msg.type]; options.since() is asked at each (re)connect (what the page already has),
  // options.onClose is told when the socket drops. The answer's stop() ends it for good.
  function subscribe(type, id, handlers, options) {
    const opts = options || {};
    let retry = 500;
    let over = false;
    let socket = null;
    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/live/");
      socket.onopen = function () {
        retry = 500;
        const since = opts.since ? opts.since() : 0;
        socket.send(JSON.stringify({ action: "subscribe", type: type, id: id, since: since }));
      };
      socket.onmessage = function (e) {
        const msg = JSON.parse(e.data);
        if (handlers[msg.type]) handlers[msg.type](msg);
      };
      socket.onclose = function () {
        if (over) return;
        if (opts.onClose) opts.onClose();
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }
    connect();
    return { stop: function () { over = true; if (socket) socket.close(); } };
  }
  window.berthSubscribe = subscribe; // for the pages' own scripts (events.js, logs.js)

  const TASK_TERMINAL = ["successful", "failed", "canceled"];

  function clusterView(root) {
    const id = Number(root.dataset.liveCluster);
    // A node's page follows its node only: that node's tasks, and its end when it leaves the cluster.
    const nodePage = root.dataset.liveNodePage ? Number(root.dataset.liveNodePage) : null;
    const redrawn = new Set();
    let gone = false;

    // A removed node's page keeps what it shows and offers nothing more to do, like a deleted application's page:
    // every control goes, so do the page's notices of what was just asked (a drain that is over) and its
    // containers (they moved or went with it); a notice says it is gone. It still shows how its last task ends
    // (a drain ends after the node has left).
    function retireNode() {
      if (gone) return;
      gone = true;
      frozen = true;
      root.querySelectorAll("form, [data-node-actions]").forEach((node) => node.remove());
      document.querySelectorAll(".flash[role=status]").forEach((node) => node.remove());
      const containers = root.querySelector("#node-containers tbody");
      if (containers) {
        containers.querySelectorAll("tr[data-node-container]").forEach((row) => row.remove());
        const empty = containers.querySelector(".empty-row");
        if (empty) empty.hidden = false;
      }
      const note = root.querySelector("#node-gone");
      if (note) note.hidden = false;
    }
    function recount() {
      const badges = root.querySelectorAll("[data-live-node]");
      const ready = Array.from(badges).filter((b) => b.dataset.state === "ready").length;
      root.querySelectorAll("[data-ready-count]").forEach((el) => {
        el.textContent = ready + "/" + badges.length;
      });
    }
    function onNode(msg) {
      if (gone) return;
      // A node this page does not list yet (just provisioned or registered) or no longer lists (removed): the
      // server draws the table again.
      const table = document.getElementById("nodes");
      const listed = table && table.querySelector('[data-node-row="' + msg.id + '"]');
      const seen = msg.id + ":" + msg.state;
      if (table && (msg.state === "removed" ? listed : !listed) && !redrawn.has(seen)) {
        redrawn.add(seen); // once per node and state: a node the server does not list either asks no more
        refresh().then(recount);
      }
      document.querySelectorAll('[data-live-node="' + msg.id + '"]').forEach((el) => {
        el.dataset.state = msg.state;
        if (el.classList.contains("badge")) {
          el.className = "badge status-" + msg.state;
          el.textContent = label(msg.state);
        }
      });
      document.querySelectorAll('[data-node-seen="' + msg.id + '"]').forEach((el) => {
        if (msg.last_seen) el.replaceChildren(timeNode(msg.last_seen));
      });
      document.querySelectorAll('[data-node-network="' + msg.id + '"]').forEach((el) => {
        if (msg.network !== undefined) el.textContent = msg.network || "—";
      });
      document.querySelectorAll('[data-node-error="' + msg.id + '"]').forEach((el) => {
        el.textContent = msg.error || "";
      });
      recount();
      if (nodePage !== null && msg.id === nodePage && msg.state === "removed") retireNode();
    }
    function onTask(msg) {
      const table = root.querySelector("#node-tasks tbody");
      if (!table) return;
      if (nodePage !== null && msg.node !== nodePage) return; // another node's task
      let row = table.querySelector('tr[data-live-task="' + msg.id + '"]');
      const before = row ? row.dataset.status : "";
      if (!row) {
        row = el("tr");
        row.dataset.liveTask = msg.id;
        const progress = el("td");
        progress.innerHTML = '<div class="progress small-bar"><div class="bar"></div></div><span class="task-count"></span>';
        row.append(el("td", "", label("kind:" + msg.kind) + " #" + msg.id), el("td", "task-node", msg.target || "—"),
          el("td", "task-status"), progress, el("td", "error-cell task-error"));
        table.prepend(row);
        const empty = table.querySelector(".empty-row");
        if (empty) empty.remove();
      }
      if (msg.target) row.querySelector(".task-node").textContent = msg.target;
      row.dataset.status = msg.status;
      // A node's task that just ended changed what only the server draws of the node (its containers).
      const ended = TASK_TERMINAL.includes(msg.status) && !TASK_TERMINAL.includes(before);
      if (nodePage !== null && ended && !gone) refresh();
      row.querySelector(".task-status").replaceChildren(badge(msg.status));
      row.querySelector(".bar").style.width = msg.percent + "%";
      row.querySelector(".task-count").textContent = msg.done + "/" + msg.total;
      row.querySelector(".task-error").textContent = msg.error || "";
    }
    function onChanged() {
      if (!gone && nodePage === null) refresh();
    }
    // Once subscribed (at load, and again after a reconnect), what changed since the server drew the page, while no
    // socket listened, is fetched again: a node registered in that moment is not missed.
    function onSubscribed() {
      if (!gone) refresh().then(recount);
    }
    subscribe("cluster", id, { node: onNode, node_task: onTask, cluster_changed: onChanged, subscribed: onSubscribed });
    // Numbers that change without an event (the routers' request rates): the page's parts are fetched again every
    // few seconds while it is in view.
    const poll = Number(root.dataset.pollSeconds || 0);
    if (poll > 0) setInterval(() => { if (!document.hidden) refresh(); }, poll * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.querySelector('[data-live-type="application"]');
    if (root) applicationPage(root);
    const container = document.querySelector('[data-live-type="container"]');
    if (container) containerPage(container);
    document.querySelectorAll("[data-live-cluster]").forEach(clusterView);
  });
})();
