// Metrics charts: every [data-metrics-url] section fetches its charts (CPU, memory, network, block I/O) from the API,
// which asks Prometheus, and draws each as an SVG line chart, one line per container or node; the range buttons
// (1h, 6h, 24h, 7d) change it, and it is fetched again every 15 s while the page is in view.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fdb", "#e8590c", "#2b8a3e", "#9c36b5", "#c92a2a", "#0b7285", "#5c940d", "#a61e4d"];
  const TITLES = { cpu: "CPU (% of one CPU)", memory: "Memory", network: "Network (in + out)", block: "Block I/O (read + write)", disk: "Docker data on disk" };

  function human(kind, value) {
    if (kind === "cpu") return value.toFixed(value < 10 ? 1 : 0) + " %";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = value;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return v.toFixed(v < 10 && i ? 1 : 0) + " " + units[i] + (kind === "memory" || kind === "disk" ? "" : "/s");
  }
  function node(name, attrs) {
    const el = document.createElementNS(SVG, name);
    Object.entries(attrs || {}).forEach(([k, v]) => el.setAttribute(k, v));
    return el;
  }
  function time(seconds, span) {
    const iso = new Date(seconds * 1000).toISOString();
    return span > 6 * 3600 ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16); // a day or more: the date too
  }
  function chart(kind, series, start, end) {
    const width = 460, height = 150, left = 64, bottom = 18;
    const box = document.createElement("figure");
    box.className = "metric-chart";
    box.dataset.chart = kind;
    const caption = document.createElement("figcaption");
    caption.textContent = TITLES[kind] || kind;
    box.append(caption);
    const top = Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p[1])));
    const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${caption.textContent}: highest ${human(kind, top)}` });
    svg.append(node("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, stroke: "#ccd" }));
    const label = (y, text) => { const t = node("text", { x: left - 4, y: y, "text-anchor": "end", "font-size": "10", fill: "#667" }); t.textContent = text; svg.append(t); };
    label(10, human(kind, top));
    label(height - bottom, human(kind, 0));
    const axis = (x, text, anchor) => { const t = node("text", { x: x, y: height - 4, "text-anchor": anchor, "font-size": "10", fill: "#667" }); t.textContent = text; svg.append(t); };
    axis(left, time(start, end - start), "start");
    axis(width, time(end, end - start), "end");
    const x = (t) => left + ((t - start) / Math.max(1, end - start)) * (width - left);
    const y = (v) => height - bottom - (v / top) * (height - bottom - 8);
    series.forEach((s, i) => {
      if (!s.points.length) return;
      const points = s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      const line = node("polyline", { points: points, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": "1.5" });
      const title = node("title");
      title.textContent = `${s.name}: now ${human(kind, s.points[s.points.length - 1][1])}`;
      line.append(title);
      svg.append(line);
    });
    box.append(svg);
    const legend = document.createElement("div");
    legend.className = "metric-legend small";
    series.forEach((s, i) => {
      const item = document.createElement("span");
      item.style.color = COLORS[i % COLORS.length];
      const last = s.points.length ? s.points[s.points.length - 1][1] : 0;
      item.textContent = `● ${s.name} ${human(kind, last)}`;
      item.dataset.series = s.name;
      legend.append(item);
    });
    if (!series.length) legend.textContent = "no data in this range yet";
    box.append(legend);
    return box;
  }
  function section(root) {
    const target = root.querySelector("[data-metrics-charts]");
    const state = root.querySelector("[data-metrics-state]");
    let range = "1h";
    function load() {
      const query = new URLSearchParams(root.dataset.metricsQuery || "");
      query.set("range", range);
      fetch(root.dataset.metricsUrl + "?" + query.toString(), { credentials: "same-origin" })
        .then((answer) => answer.json().then((body) => ({ ok: answer.ok, body: body })))
        .then(({ ok, body }) => {
          if (!ok) { state.textContent = body.detail || "Metrics are not available."; state.className = "small error-text"; state.setAttribute("role", "alert"); return; }
          const now = Date.now() / 1000;
          const seconds = { "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 }[body.range];
          target.replaceChildren(...Object.entries(body.charts).map(([kind, series]) => chart(kind, series, now - seconds, now)));
          state.textContent = "live · every 15 s";
          state.className = "small muted";
          root.dataset.loaded = "1";
        })
        .catch(() => { state.textContent = "Metrics could not be fetched."; state.className = "small error-text"; });
    }
    root.querySelectorAll("[data-range]").forEach((button) => {
      button.addEventListener("click", () => {
        range = button.dataset.range;
        root.querySelectorAll("[data-range]").forEach((b) => b.classList.toggle("primary", b === button));
        load();
      });
    });
    load();
    setInterval(() => { if (!document.hidden) load(); }, 15000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-metrics-url]").forEach(section);
  });
})();
