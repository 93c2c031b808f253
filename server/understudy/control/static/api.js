// Talking to the admin API from the page: the token, JSON calls, and a server-sent
// event reader over fetch (EventSource cannot send an Authorization header).

const ADMIN = "/_understudy";
const KEY = "understudy-admin-token";

// A token given in the fragment (#token=...) is kept for this tab and taken out of the
// address bar, so it is not left in the history or shown on screen.
export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(KEY, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "#" + rest : ""));
  }
}

export function setToken(token) {
  sessionStorage.setItem(KEY, token);
}

function authorization() {
  const token = sessionStorage.getItem(KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

export class Unauthorized extends Error {}

export class AdminError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details || [];
  }
}

// An admin call; resolves to the JSON body, rejects with AdminError (or Unauthorized).
export async function admin(method, path, { query, body, type, signal } = {}) {
  const url = new URL(ADMIN + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  const headers = { ...authorization() };
  if (type) headers["Content-Type"] = type;
  const response = await fetch(url, { method, headers, body, signal });
  if (response.status === 401) throw new Unauthorized("The admin token is needed.");
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new AdminError(response.status, error.message || response.statusText, error.details);
  }
  return data;
}

// Split a text/event-stream body into events as it arrives: calls onEvent({event, data})
// for each, and onChunk(text) with the raw text (for "Try it").
export async function readEvents(response, { onEvent, onChunk }) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    if (onChunk) onChunk(text);
    if (!onEvent) continue;
    buffer += text.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = value;
        else if (field === "data") event.data.push(value);
      }
      if (event.data.length) onEvent({ event: event.event, data: event.data.join("\n") });
    }
  }
}

// The live journal: entries as their requests complete. Resolves when the stream ends.
export async function watchJournal({ onOpen, onEntry, signal }) {
  const response = await fetch(ADMIN + "/journal/stream", {
    headers: { ...authorization(), Accept: "text/event-stream" },
    signal,
  });
  if (response.status === 401) throw new Unauthorized("The admin token is needed.");
  if (!response.ok) throw new AdminError(response.status, response.statusText);
  onOpen();
  await readEvents(response, {
    onEvent: ({ event, data }) => {
      if (event === "entry") onEntry(JSON.parse(data));
    },
  });
}

// Text for people: never HTML. Every value shown goes through textContent.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
