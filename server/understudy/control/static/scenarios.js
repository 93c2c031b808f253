// Scenarios: what a namespace can reach, by priority; add, edit and delete runtime ones.

import { AdminError, admin, el } from "./api.js";

const $ = (selector) => document.querySelector(selector);

export let listed = [];
const listeners = [];

export function onScenarios(listener) {
  listeners.push(listener);
}

function namespace() {
  return new FormData($("#scenario-namespace")).get("namespace").trim();
}

function edit(scenario) {
  $("#editor-type").value = "application/json";
  $("#editor-text").value = JSON.stringify(scenario.definition, null, 2);
  $("#editor-result").replaceChildren();
  $("#editor-text").focus();
}

async function remove(scenario) {
  try {
    await admin("DELETE", `/scenarios/${encodeURIComponent(scenario.name)}`, {
      query: { namespace: namespace() },
    });
    result("ok", `Deleted ${scenario.name}.`);
  } catch (error) {
    result("error", error.message);
  }
  await loadScenarios();
}

// "/a/long/path/to/scenarios/tools.yaml:14" as "…/scenarios/tools.yaml:14" (the whole
// path is the cell's tooltip).
function shortPath(where) {
  if (!where) return "";
  const parts = where.split("/");
  return parts.length > 3 ? "…/" + parts.slice(-2).join("/") : where;
}

function row(scenario, index) {
  const runtime = scenario.source === "runtime";
  const definition = el("tr", { class: "definition", hidden: true },
    el("td", { colspan: 6 }, el("pre", { class: "raw", text: JSON.stringify(scenario.definition, null, 2) })));
  const toggle = el("button", {
    type: "button",
    "aria-expanded": "false",
    "aria-label": `Show the definition of ${scenario.name}`,
    text: "Definition",
    onclick: () => {
      definition.hidden = !definition.hidden;
      toggle.setAttribute("aria-expanded", String(!definition.hidden));
    },
  });
  const actions = [toggle];
  actions.push(el("button", {
    type: "button",
    "aria-label": `${runtime ? "Edit" : "Override"} ${scenario.name}`,
    text: runtime ? "Edit" : "Override",
    onclick: () => edit(scenario),
  }));
  if (runtime) {
    actions.push(el("button", {
      type: "button",
      class: "danger",
      "aria-label": `Delete ${scenario.name}`,
      text: "Delete",
      onclick: () => remove(scenario),
    }));
  }
  const source = runtime
    ? `runtime (${scenario.namespace === "" ? "global" : scenario.namespace})`
    : "file";
  return [
    el("tr", { "data-name": scenario.name },
      el("td", { class: "num", text: index + 1 }),
      el("td", {}, scenario.name, scenario.default ? el("span", { class: "badge", text: "default" }) : null),
      el("td", { text: source }),
      el("td", { class: "where", title: scenario.defined_at, text: shortPath(scenario.defined_at) }),
      el("td", { class: "num", "data-col": "hits", text: scenario.hits }),
      el("td", {}, el("div", { class: "actions" }, actions)),
    ),
    definition,
  ];
}

export async function loadScenarios() {
  try {
    ({ scenarios: listed } = await admin("GET", "/scenarios", { query: { namespace: namespace() } }));
  } catch (error) {
    result("error", error.message);
    return;
  }
  $("#scenarios tbody").replaceChildren(...listed.flatMap(row));
  listeners.forEach((listener) => listener(listed));
}

function result(kind, message, details = []) {
  const shown = [el("p", { class: kind, text: message })];
  if (details.length) {
    shown.push(el("ul", { class: "problems" }, details.map((detail) => el("li", { text: detail }))));
  }
  $("#editor-result").replaceChildren(...shown);
}

async function save(event) {
  event.preventDefault();
  try {
    const { added } = await admin("POST", "/scenarios", {
      query: { namespace: namespace() },
      body: $("#editor-text").value,
      type: $("#editor-type").value,
    });
    result("ok", `Saved ${added.join(", ")}.`);
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    result("error", error.message, error.details);
    return;
  }
  await loadScenarios();
}

export function setupScenarios() {
  $("#scenario-namespace").addEventListener("submit", (event) => {
    event.preventDefault();
    loadScenarios();
  });
  $("#editor").addEventListener("submit", save);
}
