"""Anthropic Messages: ``POST /v1/messages``.

Every stream event is ``event: <type>`` + ``data: <json>`` with the JSON's ``type``
equal to the event name. Blocks go strictly in order (thinking, text, tool uses), each
``content_block_start`` → deltas → ``content_block_stop`` with ``index`` counting from 0.
Delta events are built from a pre-encoded head and tail around the piece of text, so a
token costs one ``orjson.dumps`` of that text.
"""

import base64
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.reply import Reply, Usage
from understudy.core.request import STRICT, Message, NeutralRequest, Strictness
from understudy.providers.anthropic.provider import ANTHROPIC, error_object
from understudy.providers.anthropic.request import validate_count_tokens, validate_messages
from understudy.providers.base import ApiModule, EventStream
from understudy.stream.frames import Frame

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
        headers=headers,
        body=body,
    )


def _tool_input(arguments: str) -> dict[str, Any]:
    return orjson.loads(arguments) if arguments.strip() else {}


class MessagesApi(ApiModule):
    name = "messages"
    provider = ANTHROPIC

    def parse(
        self, body: Any, headers: Mapping[str, str], strictness: Strictness = STRICT
    ) -> NeutralRequest:
        return neutral_request(validate_messages(body, strictness), body, headers)

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
