"""Anthropic Messages: ``POST /v1/messages``.

Every stream event is ``event: <type>`` + ``data: <json>`` with the JSON's ``type``
equal to the event name. Blocks go strictly in order (thinking, text, tool uses), each
``content_block_start`` → deltas → ``content_block_stop`` with ``index`` counting from 0.
Delta events are built from a pre-encoded head and tail around the piece of text, so a
token costs one ``orjson.dumps`` of that text. A request with ``thread`` (message
threads, see ``threads``) names the reply it continues in ``NeutralRequest.continues``;
the HTTP layer keeps what ``stored`` (or the stream's ``stored``) gives.
"""

import base64
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.reply import Reading, Reply, ToolCall, Usage
from understudy.core.request import STRICT, Message, NeutralRequest, Strictness
from understudy.providers.anthropic import threads
from understudy.providers.anthropic.follow import messages_follow
from understudy.providers.anthropic.provider import ANTHROPIC, error_object
from understudy.providers.anthropic.request import validate_count_tokens, validate_messages
from understudy.providers.base import ApiModule, EventStream, Stored
from understudy.stream.frames import Frame
from understudy.stream.sse import SseEvent

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "refusal": "refusal",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
}
READ_STOP = {wire: neutral for neutral, wire in STOP_REASONS.items() if neutral != "content_filter"}
"""A stop reason read back into the neutral finish reason."""
SERVICE_TIER = "standard"

PING = b'event: ping\ndata: {"type": "ping"}\n\n'  # the space is the real server's
MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DELTA_TAIL = b"}}\n\n"


def signature() -> str:
    """A plausible thinking-block signature: base64 of a length-prefixed opaque blob.

    Real signatures are protobuf-framed bytes (hence their ``Eq…``/``Er…`` starts); no
    client inspects them, they only pass them back unchanged.
    """
    blob = os.urandom(160 + os.urandom(1)[0] % 96)
    size = len(blob)
    header = bytes([0x12, (size & 0x7F) | 0x80, size >> 7])
    return base64.b64encode(header + blob).decode()


def usage_counts(usage: Usage) -> dict[str, int]:
    """Input token fields: Anthropic's ``input_tokens`` excludes cache reads."""
    cached = min(usage.cached_tokens, usage.input_tokens)
    return {
        "input_tokens": usage.input_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def read_usage(raw: Any, usage: Usage | None = None) -> Usage | None:
    """A ``usage`` object read back into neutral counts: cache reads are input tokens
    too. ``usage`` (from ``message_start``) is updated by a later ``message_delta``."""
    if not isinstance(raw, dict):
        return usage
    usage = usage or Usage(0, 0)
    if "input_tokens" in raw:
        cached = raw.get("cache_read_input_tokens") or 0
        usage.input_tokens = (raw.get("input_tokens") or 0) + cached
        usage.cached_tokens = cached
    if "output_tokens" in raw:
        usage.output_tokens = raw.get("output_tokens") or 0
    return usage


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    """The text in a content value: a string, or its text blocks (tool results' too)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        kind = block["type"]
        if kind == "text":
            parts.append(block["text"])
        elif kind == "tool_result":
            parts.append(_text_of(block.get("content")))
    return "".join(parts)


def _message(raw: dict[str, Any]) -> Message:
    """One neutral turn: a user message carrying ``tool_result`` blocks is a tool result."""
    content = raw["content"]
    text = _text_of(content)
    if raw["role"] == "assistant":
        names = ()
        if isinstance(content, list):
            names = tuple(block["name"] for block in content if block["type"] == "tool_use")
        return Message("assistant", text, tool_calls=names)
    if isinstance(content, list) and any(block["type"] == "tool_result" for block in content):
        return Message("tool", text, tool_result=True)
    return Message("user", text)


def neutral_request(
    checked: Mapping[str, Any], body: dict[str, Any], headers: Mapping[str, str]
) -> NeutralRequest:
    system = checked.get("system") or ""
    texts = [system if isinstance(system, str) else "\n".join(b["text"] for b in system)]
    messages = []
    for raw in checked["messages"]:
        if raw["role"] == "system":  # a system message among the turns
            texts.append(_text_of(raw["content"]))
        else:
            messages.append(_message(raw))
    return NeutralRequest(
        api="messages",
        model=checked["model"],
        messages=messages,
        system="\n".join(text for text in texts if text),
        tools=tuple(tool["name"] for tool in checked.get("tools") or () if "name" in tool),
        stream=bool(checked.get("stream")),
        max_tokens=checked.get("max_tokens"),
        stop=tuple(checked.get("stop_sequences") or ()),
        continues=_previous_message_id(checked.get("thread")),
        headers=headers,
        body=body,
        **messages_follow(body),
    )


def _previous_message_id(thread: Mapping[str, Any] | None) -> str | None:
    return thread["previous_message_id"] if thread and thread["type"] == "continue" else None


def _tool_input(arguments: str) -> dict[str, Any]:
    return orjson.loads(arguments) if arguments.strip() else {}


class MessagesApi(ApiModule):
    name = "messages"
    provider = ANTHROPIC
    threads = True

    def parse(
        self, body: Any, headers: Mapping[str, str], strictness: Strictness = STRICT
    ) -> NeutralRequest:
        request = neutral_request(validate_messages(body, strictness), body, headers)
        threads.check_supported(body)
        return request

    def render_body(self, plan: "ReplyPlan") -> dict[str, Any]:
        reply = plan.reply
        content: list[dict[str, Any]] = []
        if reply.reasoning:
            content.append(
                {"type": "thinking", "thinking": reply.reasoning_text, "signature": signature()}
            )
        if reply.content or reply.refusal:
            content.append({"type": "text", "text": reply.content_text + reply.refusal_text})
        for call in reply.tool_calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": call.id or ids.anthropic_tool_use_id(),
                    "name": call.name,
                    "input": _tool_input(call.arguments),
                }
            )
        return {
            "id": ids.anthropic_message_id(),
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": content,
            "stop_reason": STOP_REASONS[reply.finish_reason],
            "stop_sequence": reply.stop_sequence,
            "usage": {
                **usage_counts(reply.usage),
                "output_tokens": reply.usage.output_tokens,
                "service_tier": SERVICE_TIER,
            },
        }

    def render_stream(self, plan: "ReplyPlan") -> "MessageStream":
        return MessageStream(plan)

    def read_body(self, body: Any) -> Reading:
        reply = Reply(model=body.get("model") or "")
        for block in body.get("content") or ():
            kind = block.get("type")
            if kind == "thinking" and block.get("thinking"):
                reply.reasoning.append(block["thinking"])
            elif kind == "text" and block.get("text"):
                reply.content.append(block["text"])
            elif kind == "tool_use":
                arguments = orjson.dumps(block.get("input") or {}).decode()
                reply.tool_calls.append(
                    ToolCall(block.get("name") or "", arguments, [arguments], block.get("id"))
                )
        reply.finish_reason = READ_STOP.get(body.get("stop_reason") or "end_turn", "stop")
        reply.stop_sequence = body.get("stop_sequence")
        usage = read_usage(body.get("usage"))
        if usage is not None:
            reply.usage = usage
        return Reading(reply, usage_reported=usage is not None)

    def read_events(self, events: list[SseEvent]) -> Reading:
        """Thinking and text deltas are token events, and so are a tool input's opening
        (empty) delta and each of its fragments; a signature delta is not."""
        reading = Reading(Reply(model=""))
        reply, times = reading.reply, reading.token_times
        usage: Usage | None = None
        calls: dict[int, ToolCall] = {}
        stopped = False
        for event in events:
            payload = orjson.loads(event.data)
            kind = payload.get("type")
            if kind == "error":
                raise ValueError("the stream reported an error")
            if kind == "message_start":
                message = payload.get("message") or {}
                reply.model = message.get("model") or reply.model
                usage = read_usage(message.get("usage"), usage)
            elif kind == "content_block_start":
                block = payload.get("content_block") or {}
                if block.get("type") == "tool_use":
                    call = ToolCall(block.get("name") or "", "", [], block.get("id"))
                    calls[payload.get("index", 0)] = call
                    reply.tool_calls.append(call)
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                kind = delta.get("type")
                if kind == "thinking_delta" and delta.get("thinking"):
                    reply.reasoning.append(delta["thinking"])
                elif kind == "text_delta" and delta.get("text"):
                    reply.content.append(delta["text"])
                elif kind == "input_json_delta" and payload.get("index", 0) in calls:
                    call = calls[payload.get("index", 0)]
                    fragment = delta.get("partial_json") or ""
                    if fragment:
                        call.fragments.append(fragment)
                        call.arguments += fragment
                else:
                    continue
                times.append(event.at)
            elif kind == "message_delta":
                delta = payload.get("delta") or {}
                reply.finish_reason = READ_STOP.get(delta.get("stop_reason") or "end_turn", "stop")
                reply.stop_sequence = delta.get("stop_sequence")
                usage = read_usage(payload.get("usage"), usage)
            elif kind == "message_stop":
                stopped = True
        if not stopped:
            raise ValueError("the stream ended before message_stop")
        for call in reply.tool_calls:
            if not call.arguments:
                call.arguments = "{}"
        if usage is not None:
            reply.usage, reading.usage_reported = usage, True
        return reading

    def stored(self, plan: "ReplyPlan", body: dict[str, Any]) -> Stored | None:
        return threads.kept_turn(plan, body["id"])

    def resume(self, request: NeutralRequest, kept: Stored) -> None:
        threads.resume(request, kept)

    def continuation_not_found(self, reference: str) -> ApiError:
        return threads.not_found(reference)

    def continuation_taken(self, reference: str, in_flight: bool) -> ApiError:
        return threads.taken(reference, in_flight)


def _event(name: bytes, payload: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + payload + b"\n\n"


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return _event(b"content_block_start", orjson.dumps(payload))


def _block_stop(index: int) -> bytes:
    return _event(b"content_block_stop", b'{"type":"content_block_stop","index":%d}' % index)


def _delta_head(index: int, kind: bytes, field: bytes) -> bytes:
    """Everything of a ``content_block_delta`` event before its piece of text."""
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
        b'"delta":{"type":"%s","%s":' % (index, kind, field)
    )


class MessageStream(EventStream):
    """Encodes one reply as Messages stream events."""

    def __init__(self, plan: "ReplyPlan") -> None:
        self.plan = plan
        self.message_id = ids.anthropic_message_id()
        self.stored = threads.kept_turn(plan, self.message_id)

    def _message_start(self, reply: Reply) -> bytes:
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                **usage_counts(reply.usage),
                "output_tokens": 1,
                "service_tier": SERVICE_TIER,
            },
        }
        return _event(b"message_start", orjson.dumps({"type": "message_start", "message": message}))

    def _message_delta(self, reply: Reply) -> bytes:
        payload = {
            "type": "message_delta",
            "delta": {
                "stop_reason": STOP_REASONS[reply.finish_reason],
                "stop_sequence": reply.stop_sequence,
            },
            "usage": {**usage_counts(reply.usage), "output_tokens": reply.usage.output_tokens},
        }
        return _event(b"message_delta", orjson.dumps(payload))

    def frames(self) -> Iterator[Frame]:
        """Every event in order: one flat generator, since each nesting level would cost
        every token another generator resumption. A ping follows the first block start."""
        reply = self.plan.reply
        dumps = orjson.dumps
        yield self._message_start(reply), False
        index = 0
        if reply.reasoning:
            yield _block_start(index, {"type": "thinking", "thinking": "", "signature": ""}), False
            yield PING, False
            head = _delta_head(index, b"thinking_delta", b"thinking")
            for piece in reply.reasoning:
                yield head + dumps(piece) + _DELTA_TAIL, True
            head = _delta_head(index, b"signature_delta", b"signature")
            yield head + dumps(signature()) + _DELTA_TAIL, False
            yield _block_stop(index), False
            index += 1
        if reply.content or reply.refusal:
            yield _block_start(index, {"type": "text", "text": ""}), False
            if index == 0:
                yield PING, False
            head = _delta_head(index, b"text_delta", b"text")
            for piece in reply.content:
                yield head + dumps(piece) + _DELTA_TAIL, True
            for piece in reply.refusal:
                yield head + dumps(piece) + _DELTA_TAIL, True
            yield _block_stop(index), False
            index += 1
        for call in reply.tool_calls:
            block = {
                "type": "tool_use",
                "id": call.id or ids.anthropic_tool_use_id(),
                "name": call.name,
                "input": {},
            }
            yield _block_start(index, block), False
            if index == 0:
                yield PING, False
            head = _delta_head(index, b"input_json_delta", b"partial_json")
            # The real API opens every tool input with an empty fragment; paced
            # like Chat's tool-call opening chunk, so both APIs take the same time.
            yield head + b'""' + _DELTA_TAIL, True
            if _tool_input(call.arguments):
                for fragment in call.fragments:
                    yield head + dumps(fragment) + _DELTA_TAIL, True
            yield _block_stop(index), False
            index += 1
        if index == 0:
            yield PING, False
        yield self._message_delta(reply), False
        yield MESSAGE_STOP, False

    def error_frames(self, error: ApiError) -> list[bytes]:
        """``event: error`` with the error envelope; it ends the stream."""
        return [_event(b"error", orjson.dumps(error_object(error, self.plan.request_id)))]

    def keepalive(self) -> bytes:
        """The real server keeps a stream alive with ``ping`` events."""
        return PING


MESSAGES = MessagesApi()


def count_tokens_request(
    body: Any, headers: Mapping[str, str], strictness: Strictness = STRICT
) -> NeutralRequest:
    """The request of ``POST /v1/messages/count_tokens``, checked as the real API does."""
    return neutral_request(validate_count_tokens(body, strictness), body, headers)
