// Numbers people watch, drawn as charts: every element with data-series="<key>" and data-value="<number>" (a
// route's requests per second, say) gets a sparkline of the values it showed while the page was open. The page
// redraws those parts from the server (live.js refresh); the history stays here, by key, across the redraws.
(function () {
  "use strict";
  const KEEP = 60; // points: five minutes at the routing page's 5 s refresh
  const history = new Map();
  const SVG = "http://www.w3.org/2000/svg";

  function draw(node, points) {
    const width = 90;
    const height = 22;
    const top = Math.max(...points, 1e-9);
    const step = points.length > 1 ? width / (KEEP - 1) : 0;
    const start = width - step * (points.length - 1);
    const coords = points.map((v, i) => `${(start + i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${node.dataset.label || "value"}: last ${points.length} readings, highest ${top.toFixed(2)}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", coords.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "currentColor");
    line.setAttribute("stroke-width", "1.5");
    svg.appendChild(line);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `highest ${top.toFixed(2)} over the last ${points.length} readings`;
    svg.appendChild(title);
    node.querySelectorAll("svg.spark").forEach((old) => old.remove());
    node.appendChild(svg);
  }

  function update() {
    document.querySelectorAll("[data-series]").forEach((node) => {
      const key = node.dataset.series;
      const value = parseFloat(node.dataset.value);
      const points = history.get(key) || [];
      if (!node.dataset.charted) {
        if (Number.isFinite(value)) points.push(value);
        while (points.length > KEEP) points.shift();
        history.set(key, points);
        node.dataset.charted = "1";
      }
      if (points.length) draw(node, points);
    });
  }

  document.addEventListener("DOMContentLoaded", update);
  document.addEventListener("berth:refreshed", update);
})();
