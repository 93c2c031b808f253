// Try it: send one request to a model API and show the raw bytes as they arrive.

import { el, readEvents } from "./api.js";

const $ = (selector) => document.querySelector(selector);

const PATHS = {
  chat: "/v1/chat/completions",
  messages: "/v1/messages",
  responses: "/v1/responses",
};

function body(api, model, message, stream) {
  if (api === "messages") {
    return { model, max_tokens: 1024, stream, messages: [{ role: "user", content: message }] };
  }
  if (api === "responses") return { model, stream, input: message };
  return { model, stream, messages: [{ role: "user", content: message }] };
}

let running = null;

async function send(event) {
  event.preventDefault();
  if (running) running.abort();
  const form = new FormData($("#try"));
  const api = form.get("api");
  const headers = { "Content-Type": "application/json" };
  if (form.get("scenario")) headers["X-Understudy-Scenario"] = form.get("scenario");
  if (form.get("namespace").trim()) headers["X-Understudy-Namespace"] = form.get("namespace").trim();
  const key = form.get("key");
  if (api === "messages") {
    headers["anthropic-version"] = "2023-06-01";
    if (key) headers["x-api-key"] = key;
  } else if (key) {
    headers.Authorization = "Bearer " + key;
  }
  const output = $("#try-output");
  const status = $("#try-status");
  output.textContent = "";
  status.textContent = "Sending…";
  running = new AbortController();
  const started = performance.now();
  try {
    const response = await fetch(PATHS[api], {
      method: "POST",
      headers,
      body: JSON.stringify(body(api, form.get("model"), form.get("message"), form.get("stream") === "on")),
      signal: running.signal,
    });
    status.textContent = `HTTP ${response.status} ${response.headers.get("content-type") || ""}`;
    let events = 0;
    await readEvents(response, {
      onChunk: (text) => output.append(text),
      onEvent: () => {
        events += 1;
      },
    });
    const took = Math.round(performance.now() - started);
    status.textContent += ` · ${events ? `${events} events, ` : ""}done in ${took} ms`;
  } catch (error) {
    status.textContent += error.name === "AbortError" ? " · stopped" : ` · ${error.message}`;
  } finally {
    running = null;
  }
}

export function fillScenarios(scenarios) {
  const select = $("#try select[name=scenario]");
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "", text: "matched by the request" }),
    ...scenarios.map((scenario) => el("option", { value: scenario.name, text: scenario.name })),
  );
  select.value = scenarios.some((scenario) => scenario.name === chosen) ? chosen : "";
}

export function setupTry() {
  $("#try").addEventListener("submit", send);
  $("#try-stop").addEventListener("click", () => running && running.abort());
}
