// The template editor: as the Compose text is typed, the validate endpoint checks it (debounced) and the services
// diagram, the parameters and the errors follow it. Words come from the page (data-*), as in live.js.
(function () {
  "use strict";

  const DELAY_MS = 400;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function drawGraph(box, graph, words) {
    const wrap = el("div", "graph");
    wrap.dataset.testid = "graph";
    graph.services.forEach((s) => {
      const svc = el("div", "svc");
      svc.dataset.service = s.name;
      svc.append(el("strong", "", s.name), el("br"), el("code", "small", s.image || ""), el("br"), el("span", "muted small", "× " + s.scale));
      graph.depends.filter((d) => d.from === s.name).forEach((d) => {
        svc.append(el("div", "dep small", "→ " + words.dependsOn + " " + d.to));
      });
      wrap.append(svc);
    });
    box.replaceChildren(wrap);
  }

  function drawParameters(table, parameters, words) {
    const body = el("tbody");
    parameters.forEach((p) => {
      const row = el("tr");
      row.dataset.parameter = p.name;
      const name = el("td");
      name.append(el("code", "", p.name));
      const about = el("td");
      if (p.default !== null && p.default !== undefined) about.append(words.default + " ", el("code", "", p.default));
      if (p.required) about.append(" ", el("span", "badge warn", words.required));
      row.append(name, about);
      body.append(row);
    });
    table.replaceChildren(body);
  }

  function editor(root) {
    const text = document.querySelector(root.dataset.compose);
    if (!text) return;
    const words = { dependsOn: root.dataset.dependsOn, default: root.dataset.default, required: root.dataset.required };
    const errors = root.querySelector("#template-errors");
    const graphCard = root.querySelector("#template-graph-card");
    const paramsCard = root.querySelector("#template-parameters-card");
    let timer = null;
    let asked = 0;

    function show(answer) {
      const valid = answer && answer.valid;
      const problems = valid ? [] : (answer && answer.errors) || [];
      errors.replaceChildren(...problems.map((p) => el("div", "", p)));
      errors.hidden = problems.length === 0;
      const services = valid ? answer.graph.services : [];
      if (valid) drawGraph(root.querySelector("#template-graph"), answer.graph, words);
      graphCard.hidden = services.length === 0;
      const parameters = valid ? answer.parameters : [];
      if (valid) drawParameters(root.querySelector("#template-parameters"), parameters, words);
      paramsCard.hidden = parameters.length === 0;
    }

    function check() {
      const mine = ++asked;
      if (!text.value.trim()) {
        show({ valid: true, graph: { services: [], depends: [] }, parameters: [] });
        return;
      }
      fetch(root.dataset.validateUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ compose: text.value }),
      })
        .then((response) => (response.status === 200 || response.status === 400 ? response.json() : null))
        .then((answer) => {
          if (mine !== asked || answer === null) return; // a later check is on its way, or the check is not ours
          if (answer.valid === undefined) return; // a refused request (not a text problem): leave the page as it is
          show(answer);
        })
        .catch(() => {});
    }

    text.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, DELAY_MS);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("template-check");
    if (root) editor(root);
  });
})();
