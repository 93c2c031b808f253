// Live requests: the journal, newest first, fed by its event stream; and one request.

import { Unauthorized, admin, el, watchJournal } from "./api.js";
import { drawTimeline } from "./timeline.js";

const SHOWN = 500;
const entries = new Map();
let selected = null;

const $ = (selector) => document.querySelector(selector);

const model = (entry) =>
  entry.body && typeof entry.body === "object" && typeof entry.body.model === "string"
    ? entry.body.model
    : "";
const millis = (value) => (value === null || value === undefined ? "—" : `${Math.round(value)} ms`);

function readToEnd(entry) {
  if (!entry.stream || entry.status !== 200) return "—";
  if (entry.completed) return "yes";
  if (entry.disconnected) return `no: left after ${entry.disconnected_after_event}`;
  return "no: cut by the server";
}

function filters() {
  const form = new FormData($("#filters"));
  return Object.fromEntries([...form.entries()].map(([name, value]) => [name, value.trim()]));
}

function wanted(entry, filter) {
  if (filter.namespace && entry.namespace !== filter.namespace) return false;
  if (filter.api && entry.api !== filter.api) return false;
  if (filter.scenario && !(entry.scenario || "").includes(filter.scenario)) return false;
  if (filter.status && String(entry.status)[0] !== filter.status) return false;
  if (filter.fault === "yes" && !entry.fault) return false;
  if (filter.fault === "no" && entry.fault) return false;
  return true;
}

function row(entry) {
  const time = new Date(entry.timestamp * 1000).toLocaleTimeString([], { hour12: false });
  const open = () => showEntry(entry.id);
  return el(
    "tr",
    {
      "data-id": entry.id,
      class: entry.id === selected ? "selected" : null,
      "aria-selected": entry.id === selected ? "true" : null,
      onclick: open,
    },
    el("td", {}, el("button", { class: "link", type: "button", "aria-label": `Open request ${entry.id}`, text: time })),
    el("td", { "data-col": "api", text: entry.api }),
    el("td", { "data-col": "model", title: model(entry), text: model(entry) }),
    el("td", { "data-col": "namespace", title: entry.namespace, text: entry.namespace || "—" }),
    el("td", { "data-col": "scenario", title: entry.scenario, text: entry.scenario || "—" }),
    el("td", { "data-col": "status", class: `status s${String(entry.status)[0]}`, text: entry.status }),
    el("td", { "data-col": "ttft", class: "num", text: millis(entry.ttft_ms) }),
    el("td", { "data-col": "duration", class: "num", text: millis(entry.duration_ms) }),
    el("td", { "data-col": "events", class: "num", text: entry.events_sent ?? "—" }),
    el("td", { "data-col": "read", text: readToEnd(entry) }),
  );
}

export function renderRequests() {
  const filter = filters();
  const shown = [...entries.values()]
    .sort((a, b) => b.id - a.id)
    .filter((entry) => wanted(entry, filter))
    .slice(0, SHOWN);
  $("#requests tbody").replaceChildren(...shown.map(row));
  $("#requests-empty").hidden = shown.length > 0;
}

function add(entry) {
  entries.set(entry.id, entry);
}

// Connect the live stream first, then read what came before: nothing falls in between.
export async function follow(status, onUnauthorized) {
  for (;;) {
    try {
      await watchJournal({
        onOpen: async () => {
          status("live");
          const { entries: earlier } = await admin("GET", "/journal", { query: { limit: SHOWN } });
          earlier.forEach(add);
          renderRequests();
        },
        onEntry: (entry) => {
          add(entry);
          renderRequests();
        },
      });
      status("reconnecting…");
    } catch (error) {
      if (error instanceof Unauthorized) {
        status("needs the admin token");
        await onUnauthorized();
        continue;
      }
      status("reconnecting…");
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function facts(pairs) {
  return el(
    "dl",
    { class: "facts" },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "").flatMap(([name, value]) => [
      el("dt", { text: name }),
      el("dd", { "data-fact": name }, value),
    ]),
  );
}

const pretty = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 2));

async function definedAt(entry) {
  if (!entry.scenario) return null;
  try {
    const { scenarios } = await admin("GET", "/scenarios", { query: { namespace: entry.namespace } });
    const found = scenarios.find((scenario) => scenario.name === entry.scenario);
    if (!found) return "no longer in the catalog";
    const where = found.source === "runtime" ? `runtime, ${found.defined_at}` : found.defined_at;
    return where;
  } catch {
    return null;
  }
}

export async function showEntry(id) {
  selected = id;
  renderRequests();
  const panel = $("#detail");
  panel.hidden = false;
  panel.replaceChildren(el("p", { text: "Loading…" }));
  let entry;
  try {
    entry = await admin("GET", `/journal/${id}`);
  } catch (error) {
    panel.replaceChildren(el("p", { class: "error", text: error.message }));
    return;
  }
  const where = await definedAt(entry);
  const children = [
    el("div", { class: "row" },
      el("h2", { text: `${entry.method} ${entry.path} · ${entry.status}` }),
      el("button", { type: "button", class: "close", "aria-label": "Close request detail", text: "×",
        onclick: () => { selected = null; panel.hidden = true; renderRequests(); } }),
    ),
    facts([
      ["Time", entry.time],
      ["Request id", entry.request_id],
      ["API", entry.api],
      ["Model", model(entry)],
      ["Namespace", entry.namespace || "(global)"],
      ["Scenario", entry.scenario ? `${entry.scenario} (reply ${entry.reply_index})` : "none"],
      ["Defined at", where],
      ["Error", entry.error],
      ["Fault", entry.fault],
      ["TTFT", entry.ttft_ms === null ? null : millis(entry.ttft_ms)],
      ["Duration", millis(entry.duration_ms)],
      ["Events sent", entry.stream ? `${entry.events_sent} (${entry.bytes_sent} bytes)` : null],
      ["Read to end", readToEnd(entry)],
    ]),
  ];
  if (entry.near_misses && entry.near_misses.length) {
    children.push(
      el("h3", { text: "Why no scenario matched: the closest" }),
      el("ul", { class: "near-misses" }, entry.near_misses.map((miss) =>
        el("li", {}, el("strong", { text: miss.scenario }), ": ", miss.failed.join("; ")))),
    );
  }
  if (entry.stream) {
    children.push(el("h3", { text: "Timeline" }), drawTimeline(entry));
  }
  children.push(
    el("p", { class: "hint", text: "The reply's text is not recorded: its events, bytes and timing are." }),
    el("h3", { text: "Request headers" }),
    el("table", { class: "headers" },
      el("tbody", {}, Object.entries(entry.headers).map(([name, value]) =>
        el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: value }))))),
    el("h3", { text: "Request body" }),
    el("pre", { class: "raw", id: "entry-body", tabindex: 0, text: pretty(entry.body) }),
  );
  panel.replaceChildren(...children);
  panel.focus({ preventScroll: true });
}

export function setupRequests() {
  $("#filters").addEventListener("input", renderRequests);
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#clear-journal").addEventListener("click", async () => {
    const namespace = filters().namespace || undefined;
    await admin("DELETE", "/journal", { query: { namespace } });
    for (const [id, entry] of entries) {
      if (namespace === undefined || entry.namespace === namespace) entries.delete(id);
    }
    renderRequests();
  });
}
