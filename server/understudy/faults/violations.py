"""Deliberate wire-format violations, by name.

Each violation rewrites an already rendered stream: the frames are parsed back into
events (``event:`` name, ``data:`` payload, JSON), the named mutation is applied, and
only the events it touched are re-encoded, so every other byte stays exactly as the API
module rendered it. The catalogue says which APIs a violation applies to and whether it
needs tool calls in the reply; it is the one place that knows these shapes, because a
violation is by definition a per-wire-format mistake.

Positions: ``at`` is the number of events before the one that is corrupted or before
the point where an event is inserted (the fault's ``after_events``); when omitted a
violation picks its natural target (the first token event, or the first event of the
kind it breaks).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from understudy.providers import API_NAMES
from understudy.stream.frames import Frame

ALL = API_NAMES
"""Violations that any API's stream can show."""


class Event:
    """One SSE event parsed from a frame; re-encoded only when changed."""

    __slots__ = ("_obj", "data", "dirty", "name", "paced", "raw")

    def __init__(self, raw: bytes, paced: bool = False) -> None:
        self.raw = raw
        self.paced = paced
        self.dirty = False
        self.name: bytes | None = None
        self.data: bytes | None = None
        self._obj: Any = None
        lines = []
        for line in raw.split(b"\n"):
            if line.startswith(b"event:"):
                self.name = line[6:].removeprefix(b" ")
            elif line.startswith(b"data:"):
                lines.append(line[5:].removeprefix(b" "))
        if lines:
            self.data = b"\n".join(lines)

    @classmethod
    def make(cls, name: bytes | None, obj: Any) -> "Event":
        event = cls(b"")
        event.name = name
        event.set(obj)
        return event

    @property
    def obj(self) -> Any:
        """The JSON payload, or None when the data is absent or not JSON (``[DONE]``)."""
        if self._obj is None and self.data and self.data[:1] == b"{":
            try:
                self._obj = orjson.loads(self.data)
            except orjson.JSONDecodeError:
                return None
        return self._obj

    @property
    def type(self) -> str | None:
        obj = self.obj
        return obj.get("type") if isinstance(obj, dict) else None

    def set(self, obj: Any) -> None:
        self._obj = obj
        self.data = orjson.dumps(obj)
        self.dirty = True

    def set_data(self, data: bytes | None) -> None:
        self._obj = None
        self.data = data
        self.dirty = True

    def encode(self) -> bytes:
        if not self.dirty:
            return self.raw
        out = b"" if self.name is None else b"event: " + self.name + b"\n"
        if self.data is not None:
            out += b"data: " + self.data + b"\n"
        return out + b"\n"


Mutation = Callable[[list[Event], int | None], list[Event]]


@dataclass(frozen=True, slots=True)
class Violation:
    name: str
    apis: tuple[str, ...]
    breaks: str
    """What it does, and what it does to the clients that read it."""
    mutate: Mutation
    needs_tool_calls: bool = False


VIOLATIONS: dict[str, Violation] = {}


def _violation(
    apis: tuple[str, ...], breaks: str, needs_tool_calls: bool = False
) -> Callable[[Mutation], Mutation]:
    def register(mutate: Mutation) -> Mutation:
        name = mutate.__name__.strip("_")
        VIOLATIONS[name] = Violation(name, apis, breaks, mutate, needs_tool_calls)
        return mutate

    return register


def applies(name: str, api: str, has_tool_calls: bool) -> str | None:
    """Why violation ``name`` cannot apply to this reply, or None when it can."""
    violation = VIOLATIONS[name]
    if api not in violation.apis:
        return f"violation '{name}' applies to {', '.join(violation.apis)} only, not {api}"
    if violation.needs_tool_calls and not has_tool_calls:
        return f"violation '{name}' needs a reply with tool_calls"
    return None


def apply(name: str, frames: list[Frame], at: int | None) -> list[Frame]:
    """The frames with violation ``name`` applied."""
    events = [Event(data, paced) for data, paced in frames]
    events = VIOLATIONS[name].mutate(events, at)
    return [(event.encode(), event.paced) for event in events]


# ----------------------------------------------------------------------------- helpers


def _target(events: list[Event], at: int | None) -> int:
    """The event at ``at``, or the first token event, or the first JSON event."""
    if at is not None:
        return min(at, len(events) - 1)
    for index, event in enumerate(events):
        if event.paced and event.obj is not None:
            return index
    return next((i for i, e in enumerate(events) if e.obj is not None), 0)


def _insert_at(events: list[Event], at: int | None, event: Event, default: int = 1) -> None:
    position = default if at is None else at
    events.insert(min(position, len(events)), event)


def _renumber(events: list[Event]) -> list[Event]:
    """Keep Responses ``sequence_number`` counting 0, 1, 2… in the order sent."""
    sequence = 0
    for event in events:
        obj = event.obj
        if isinstance(obj, dict) and "sequence_number" in obj:
            if obj["sequence_number"] != sequence:
                obj["sequence_number"] = sequence
                event.set(obj)
            sequence += 1
    return events


def _numbered(events: list[Event]) -> bool:
    return any(isinstance(e.obj, dict) and "sequence_number" in e.obj for e in events[:2])


def _chunks(events: list[Event]) -> list[Event]:
    """Chat chunks that carry a choice delta."""
    return [e for e in events if isinstance(e.obj, dict) and e.obj.get("choices") and e.data != b""]


def _tool_fragments(events: list[Event]) -> list[tuple[Event, dict[str, Any]]]:
    found = []
    for event in _chunks(events):
        for fragment in event.obj["choices"][0].get("delta", {}).get("tool_calls") or ():
            found.append((event, fragment))
    return found


def _continuation(events: list[Event]) -> tuple[Event, dict[str, Any]]:
    """The first tool-call fragment after an opening one, else the first opening."""
    fragments = _tool_fragments(events)
    for event, fragment in fragments:
        if "id" not in fragment:
            return event, fragment
    return fragments[0]


# ----------------------------------------------------------------------------- any API


@_violation(ALL, "the data of one event is cut in half: the client's JSON parse fails")
def invalid_json(events: list[Event], at: int | None) -> list[Event]:
    event = events[_target(events, at)]
    data = event.data or b"{}"
    event.set_data(data[: max(len(data) // 2, 1)])
    return events


@_violation(
    ALL,
    "an `event:` line with no `data:`: openai-python JSONDecodeError, openai-node "
    "'Unexpected end of JSON input'",
)
def event_without_data(events: list[Event], at: int | None) -> list[Event]:
    _insert_at(events, at, Event(b"event: keepalive\n\n"))
    return events


@_violation(ALL, "a `: comment` before the first event: harmless in every client")
def leading_comment(events: list[Event], at: int | None) -> list[Event]:
    events.insert(0, Event(b": understudy\n\n"))
    return events


@_violation(
    ALL,
    "the terminal event is missing (Chat `[DONE]`, Anthropic `message_stop`, Responses "
    "`response.completed`/`incomplete`): anthropic-ts rejects finalMessage(), "
    "openai-python get_final_response() raises RuntimeError",
)
def missing_terminal(events: list[Event], at: int | None) -> list[Event]:
    terminal = {"message_stop", "response.completed", "response.incomplete"}
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.data == b"[DONE]" or event.type in terminal:
            del events[index]
            break
    return events


# ----------------------------------------------------------------------------- Chat


@_violation(
    ("chat",),
    "`role` (and tool `id`/`type`/`name`) repeated in every delta: openai-python "
    "concatenates them (`assistantassistant`, `call_Xcall_X`)",
)
def repeated_role(events: list[Event], at: int | None) -> list[Event]:
    openings: dict[int, dict[str, Any]] = {}
    for event in _chunks(events):
        delta = event.obj["choices"][0].get("delta")
        if delta is None:
            continue
        changed = "role" not in delta
        delta.setdefault("role", "assistant")
        for fragment in delta.get("tool_calls") or ():
            index = fragment.get("index", 0)
            if "id" in fragment:
                openings[index] = fragment
            elif index in openings:
                opening = openings[index]
                fragment["id"], fragment["type"] = opening["id"], opening["type"]
                fragment["function"]["name"] = opening["function"]["name"]
                changed = True
        if changed:
            event.set(event.obj)
    return events


@_violation(("chat",), "no `role` in any delta: openai-node 'missing role for choice 0'")
def no_role(events: list[Event], at: int | None) -> list[Event]:
    for event in _chunks(events):
        delta = event.obj["choices"][0].get("delta", {})
        if "role" in delta:
            del delta["role"]
            event.set(event.obj)
    return events


@_violation(
    ("chat",), "no `finish_reason` on any chunk: openai-node 'missing finish_reason for choice 0'"
)
def no_finish_reason(events: list[Event], at: int | None) -> list[Event]:
    for event in _chunks(events):
        choice = event.obj["choices"][0]
        if choice.get("finish_reason") is not None:
            choice["finish_reason"] = None
            event.set(event.obj)
    return events


@_violation(
    ("chat",),
    "one chunk's `object` is `chat.completion`: openai-python's .stream() silently drops it",
)
def wrong_object(events: list[Event], at: int | None) -> list[Event]:
    event = events[_target(events, at)]
    if isinstance(event.obj, dict):
        event.obj["object"] = "chat.completion"
        event.set(event.obj)
    return events


@_violation(
    ("chat",),
    "a tool-call fragment without `index`: openai-python TypeError, openai-node drops the call",
    needs_tool_calls=True,
)
def tool_call_without_index(events: list[Event], at: int | None) -> list[Event]:
    event, fragment = _continuation(events)
    del fragment["index"]
    event.set(event.obj)
    return events


@_violation(
    ("chat",),
    "a tool-call fragment without `function`: openai-python AssertionError",
    needs_tool_calls=True,
)
def tool_call_without_function(events: list[Event], at: int | None) -> list[Event]:
    event, fragment = _continuation(events)
    del fragment["function"]
    event.set(event.obj)
    return events


@_violation(
    ("chat",),
    "tool-call indices skip one (0 then 2; a single call gets index 1): openai-python IndexError",
    needs_tool_calls=True,
)
def tool_index_gap(events: list[Event], at: int | None) -> list[Event]:
    fragments = _tool_fragments(events)
    several = len({fragment.get("index") for _, fragment in fragments}) > 1
    for event, fragment in fragments:
        if not several or fragment["index"] >= 1:
            fragment["index"] += 1
            event.set(event.obj)
    return events


# ----------------------------------------------------------------------------- Messages


@_violation(
    ("messages",),
    "no `event:` lines: anthropic-python AssertionError in get_final_message(), "
    "anthropic-ts 'request ended without sending any chunks'",
)
def no_event_lines(events: list[Event], at: int | None) -> list[Event]:
    for event in events:
        if event.name is not None:
            event.name = None
            event.dirty = True
    return events


@_violation(
    ("messages",),
    "the first block's deltas name an index never started: anthropic-python IndexError, "
    "anthropic-ts TypeError",
)
def delta_for_unstarted_index(events: list[Event], at: int | None) -> list[Event]:
    started = sum(1 for e in events if e.type == "content_block_start")
    for event in events:
        if event.type == "content_block_delta" and event.obj["index"] == 0:
            event.obj["index"] = started
            event.set(event.obj)
    return events


@_violation(
    ("messages",),
    "an `input_json_delta` whose `partial_json` is not a JSON prefix: anthropic-python ValueError",
    needs_tool_calls=True,
)
def invalid_partial_json(events: list[Event], at: int | None) -> list[Event]:
    for event in events:
        if event.type == "content_block_delta":
            delta = event.obj["delta"]
            if delta.get("type") == "input_json_delta":
                delta["partial_json"] = "}" + delta["partial_json"]
                event.set(event.obj)
                break
    return events


# ---------------------------------------------------------------------- Messages and Responses


@_violation(
    ("messages", "responses"),
    "an event of an unknown type: openai-node 'Unhandled response stream event', Vercel "
    "Anthropic validation error; Python SDKs pass it through",
)
def unknown_event(events: list[Event], at: int | None) -> list[Event]:
    obj: dict[str, Any] = {"type": "understudy.unknown"}
    if _numbered(events):
        obj["sequence_number"] = 0
    _insert_at(events, at, Event.make(b"understudy.unknown", obj))
    return _renumber(events)


@_violation(
    ("messages", "responses"),
    "a trailing `data: [DONE]` the real service never sends: every client tolerates it",
)
def trailing_done(events: list[Event], at: int | None) -> list[Event]:
    events.append(Event(b"data: [DONE]\n\n"))
    return events


# ----------------------------------------------------------------------------- Responses


@_violation(
    ("responses",),
    "the first event is not `response.created`: openai-python RuntimeError, openai-node "
    "'expected response.created'",
)
def first_event_not_created(events: list[Event], at: int | None) -> list[Event]:
    events = [e for e in events if e.type != "response.created"]
    return _renumber(events)


@_violation(
    ("responses",),
    "the first item's first delta arrives before its `output_item.added`: openai-python "
    "RuntimeError, openai-node 'missing output at index 0'",
)
def delta_before_item(events: list[Event], at: int | None) -> list[Event]:
    added = next(i for i, e in enumerate(events) if e.type == "response.output_item.added")
    index = events[added].obj["output_index"]
    delta = next(
        (
            i
            for i, e in enumerate(events)
            if i > added
            and (e.type or "").endswith(".delta")
            and e.obj.get("output_index") == index
        ),
        added + 1,
    )
    events.insert(delta, events.pop(added))
    return _renumber(events)


@_violation(("responses",), "no `sequence_number` on any event: tolerated by every client")
def no_sequence_number(events: list[Event], at: int | None) -> list[Event]:
    for event in events:
        obj = event.obj
        if isinstance(obj, dict) and "sequence_number" in obj:
            del obj["sequence_number"]
            event.set(obj)
    return events


@_violation(
    ("responses",),
    "`response.completed` with `output: []`: output_text is empty in both SDKs",
)
def empty_final_output(events: list[Event], at: int | None) -> list[Event]:
    for event in events:
        if event.type in ("response.completed", "response.incomplete"):
            event.obj["response"]["output"] = []
            event.set(event.obj)
    return events


@_violation(
    ("responses",),
    'a `{"type":"keepalive"}` event with a sequence number: every client ignores it',
)
def keepalive_event(events: list[Event], at: int | None) -> list[Event]:
    obj = {"type": "keepalive", "sequence_number": 0}
    _insert_at(events, at, Event.make(b"keepalive", obj))
    return _renumber(events)
