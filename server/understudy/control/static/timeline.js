// The timeline of one stream, drawn as SVG: when each event was due and when it was
// sent, stalls and their keep-alives, a fault's cut and the moment the client left.
// Every mark carries data-kind (and data-after-events where it sits between events)
// and a <title>, and the same facts are listed in words under the picture.

import { el } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const LEFT = 40;
const RIGHT = 16;
const DUE_Y = 34;
const SENT_Y = 70;
const AXIS_Y = 100;
const HEIGHT = 124;

function svg(tag, attributes = {}, title) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (title) {
    const text = document.createElementNS(SVG, "title");
    text.textContent = title;
    node.append(text);
  }
  return node;
}

const ms = (value) => `${value.toFixed(value < 10 ? 1 : 0)} ms`;
const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

// Facts about the stream, in time order, for the picture and the list under it.
function marks(entry, timeline) {
  const found = [];
  if (entry.ttft_ms !== null) {
    found.push({ kind: "ttft", at: entry.ttft_ms, text: `First token at ${ms(entry.ttft_ms)}` });
  }
  for (const pause of timeline.pauses) {
    const keepalives = timeline.keepalives_ms.filter(
      (at) => at >= pause.start_ms && at <= pause.end_ms,
    ).length;
    found.push({
      kind: "stall",
      at: pause.start_ms,
      end: pause.end_ms,
      after: pause.after_events,
      text:
        `Stall after ${plural(pause.after_events, "event")}: ` +
        `${ms(pause.end_ms - pause.start_ms)}` +
        (keepalives ? `, ${plural(keepalives, "keep-alive")}` : ", no keep-alives"),
    });
  }
  if (timeline.cut_ms !== null) {
    found.push({
      kind: "cut",
      at: timeline.cut_ms,
      after: entry.events_sent,
      text: `Fault: the server cut the connection after ${plural(entry.events_sent, "event")} at ${ms(timeline.cut_ms)}`,
    });
  }
  if (entry.disconnected) {
    found.push({
      kind: "disconnect",
      at: timeline.end_ms,
      after: entry.disconnected_after_event,
      text: `The client left after ${plural(entry.disconnected_after_event, "event")} (noticed at ${ms(timeline.end_ms)})`,
    });
  } else if (entry.completed) {
    found.push({ kind: "end", at: timeline.end_ms, text: `Stream ended at ${ms(timeline.end_ms)}` });
  }
  return found.sort((a, b) => a.at - b.at);
}

export function drawTimeline(entry) {
  const timeline = entry.timeline;
  const figure = el("figure", { class: "timeline", id: "timeline" });
  if (!timeline) {
    figure.append(
      el("figcaption", {
        text: entry.stream
          ? "No timeline: an instant stream sends every event at once (see TTFT and duration)."
          : "No timeline: this reply was not a stream.",
      }),
    );
    return figure;
  }
  const { sent_ms: sent, due_ms: due } = timeline;
  const found = marks(entry, timeline);
  const last = Math.max(timeline.end_ms, ...sent, ...due, ...found.map((m) => m.end || m.at), 1);
  const x = (at) => LEFT + (Math.max(at, 0) / last) * (WIDTH - LEFT - RIGHT);
  const picture = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": `Timeline of ${plural(sent.length, "event")} over ${ms(last)}`,
  });
  picture.append(
    svg("text", { x: 4, y: DUE_Y + 4, class: "lane" }),
    svg("text", { x: 4, y: SENT_Y + 4, class: "lane" }),
  );
  picture.children[0].textContent = due.length ? "due" : "";
  picture.children[1].textContent = "sent";

  for (const mark of found.filter((m) => m.kind === "stall")) {
    picture.append(
      svg(
        "rect",
        {
          class: "stall",
          "data-kind": "stall",
          "data-after-events": mark.after,
          x: x(mark.at),
          y: 14,
          width: Math.max(x(mark.end) - x(mark.at), 2),
          height: AXIS_Y - 14,
        },
        mark.text,
      ),
    );
  }
  for (const at of timeline.keepalives_ms) {
    picture.append(
      svg("circle", { class: "keepalive", "data-kind": "keepalive", cx: x(at), cy: SENT_Y, r: 3 }, `Keep-alive at ${ms(at)}`),
    );
  }
  sent.forEach((at, index) => {
    const number = index + 1;
    const dueAt = due[index];
    const late = dueAt === undefined ? null : at - dueAt;
    const title =
      `Event ${number}: sent at ${ms(at)}` +
      (late === null ? "" : `, due at ${ms(dueAt)} (${late >= 0 ? "+" : ""}${late.toFixed(1)} ms)`);
    if (dueAt !== undefined) {
      picture.append(
        svg("line", { class: "due", "data-event": number, x1: x(dueAt), x2: x(dueAt), y1: DUE_Y - 8, y2: DUE_Y + 8 }, title),
      );
      if (Math.abs(x(at) - x(dueAt)) >= 2) {
        picture.append(svg("line", { class: "drift", x1: x(dueAt), x2: x(at), y1: DUE_Y + 8, y2: SENT_Y - 8 }));
      }
    }
    picture.append(
      svg("line", { class: "sent", "data-event": number, x1: x(at), x2: x(at), y1: SENT_Y - 8, y2: SENT_Y + 8 }, title),
    );
  });
  for (const mark of found.filter((m) => m.kind !== "stall")) {
    const line = svg(
      "line",
      { class: mark.kind, "data-kind": mark.kind, x1: x(mark.at), x2: x(mark.at), y1: 10, y2: AXIS_Y },
      mark.text,
    );
    if (mark.after !== undefined) line.setAttribute("data-after-events", mark.after);
    picture.append(line);
  }
  picture.append(svg("line", { class: "axis", x1: LEFT, x2: WIDTH - RIGHT, y1: AXIS_Y, y2: AXIS_Y }));
  for (let step = 0; step <= 4; step += 1) {
    const at = (last * step) / 4;
    const label = svg("text", { class: "tick", x: x(at), y: AXIS_Y + 16, "text-anchor": step ? "end" : "start" });
    label.textContent = ms(at);
    if (step && step < 4) label.setAttribute("text-anchor", "middle");
    picture.append(label);
  }

  figure.append(picture);
  const caption = el("figcaption");
  if (entry.events_sent > sent.length) {
    caption.append(el("p", { text: `The first ${sent.length} of ${entry.events_sent} events are timed.` }));
  }
  caption.append(
    el("ul", { class: "marks" }, found.map((mark) => el("li", { "data-kind": mark.kind, text: mark.text }))),
  );
  figure.append(caption);
  return figure;
}
