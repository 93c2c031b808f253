"""OpenAI Chat Completions: ``POST /v1/chat/completions``.

Stream chunks are built from a pre-encoded prefix (id, object, created, model,
fingerprint) and suffix around each delta, so a token costs one ``orjson.dumps`` of its
text rather than a whole chunk object.
"""

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.reply import Reading, Reply, ToolCall, Usage
from understudy.core.request import STRICT, Message, NeutralRequest, Strictness
from understudy.providers.base import ApiModule, EventStream
from understudy.providers.openai import chat_request, fields, obfuscation
from understudy.providers.openai.follow import chat_follow
from understudy.providers.openai.obfuscation import closings
from understudy.providers.openai.provider import OPENAI, error_object
from understudy.stream.frames import Frame
from understudy.stream.sse import SseEvent

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
}
_FINGERPRINTS: dict[str, str] = {}
DONE = b"data: [DONE]\n\n"
READ_FINISH = {"function_call": "tool_calls"}
"""Chat finish reasons whose neutral name differs (the rest are their own)."""
REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where OpenAI-compatible servers put reasoning text (``--reasoning-field``)."""


def fingerprint(model: str) -> str:
    """A stable ``system_fingerprint`` per model, as a real deployment has."""
    if model not in _FINGERPRINTS:
        _FINGERPRINTS[model] = ids.system_fingerprint()
    return _FINGERPRINTS[model]


@lru_cache(maxsize=16)
def _json_key(name: str) -> bytes:
    """A JSON-encoded field name, made once per process (orjson results are not small)."""
    return orjson.dumps(name)


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def read_usage(raw: Any) -> Usage | None:
    """A ``usage`` object read back into neutral counts."""
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=raw.get("prompt_tokens") or 0,
        output_tokens=raw.get("completion_tokens") or 0,
        reasoning_tokens=completion.get("reasoning_tokens") or 0,
        cached_tokens=prompt.get("cached_tokens") or 0,
    )


def _read_finish(finish: str | None, reply: Reply) -> str:
    if finish == "stop" and reply.refusal and not reply.content:
        return "refusal"
    return READ_FINISH.get(finish or "stop", finish or "stop")


def _reasoning_of(fields: dict[str, Any]) -> str:
    for name in REASONING_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


class ChatApi(ApiModule):
    name = "chat"
    provider = OPENAI

    def parse(
        self, body: Any, headers: Mapping[str, str], strictness: Strictness = STRICT
    ) -> NeutralRequest:
        if not isinstance(body, dict):
            raise fields.wrong_type("body", "an object", body)
        raw_messages = chat_request.check_body(body, strictness)
        system: list[str] = []
        messages: list[Message] = []
        for index, raw in enumerate(raw_messages):
            role = chat_request.check_message(raw, index)
            message = chat_request.neutral_message(raw, role)
            if isinstance(message, str):
                system.append(message)
            else:
                messages.append(message)
        chat_request.check_tool_turns(raw_messages)
        stop = body.get("stop")
        tools = body.get("tools") or ()
        max_tokens = body.get("max_completion_tokens")
        options = body.get("stream_options") or {}
        return NeutralRequest(
            api="chat",
            model=body["model"],
            messages=messages,
            system="\n".join(system),
            tools=tuple(tool[tool["type"]]["name"] for tool in tools),
            stream=bool(body.get("stream")),
            include_usage=bool(options.get("include_usage")),
            max_tokens=max_tokens if max_tokens is not None else body.get("max_tokens"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
            headers=headers,
            body=body,
            **chat_follow(body),
        )

    def render_body(self, plan: "ReplyPlan") -> dict[str, Any]:
        reply = plan.reply
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if _content_is_null(reply) else reply.content_text,
            "refusal": reply.refusal_text or None,
            "annotations": [],
        }
        if reply.reasoning:
            message[plan.settings.reasoning_field] = reply.reasoning_text
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or ids.openai_tool_call_id(),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in reply.tool_calls
            ]
        return {
            "id": ids.chat_completion_id(),
            "object": "chat.completion",
            "created": plan.created,
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": FINISH_REASONS[reply.finish_reason],
                }
            ],
            "usage": usage_object(reply.usage),
            "service_tier": "default",
            "system_fingerprint": fingerprint(reply.model),
        }

    def render_stream(self, plan: "ReplyPlan") -> "ChunkStream":
        return ChunkStream(plan)

    def read_body(self, body: Any) -> Reading:
        choice = body["choices"][0]
        message = choice.get("message") or {}
        reply = Reply(model=body.get("model") or "")
        reasoning = _reasoning_of(message)
        reply.reasoning = [reasoning] if reasoning else []
        reply.content = [message["content"]] if message.get("content") else []
        reply.refusal = [message["refusal"]] if message.get("refusal") else []
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            arguments = function.get("arguments") or ""
            reply.tool_calls.append(
                ToolCall(function.get("name") or "", arguments, [arguments], call.get("id"))
            )
        reply.finish_reason = _read_finish(choice.get("finish_reason"), reply)
        usage = read_usage(body.get("usage"))
        if usage is not None:
            reply.usage = usage
        return Reading(reply, usage_reported=usage is not None)

    def read_events(self, events: list[SseEvent]) -> Reading:
        """Each non-empty reasoning, content or refusal delta is a token event, and so are
        a tool call's opening chunk and each of its argument fragments."""
        reading = Reading(Reply(model=""))
        reply, times = reading.reply, reading.token_times
        finish = None
        for event in events:
            if event.data == "[DONE]":
                break
            chunk = orjson.loads(event.data)
            if "error" in chunk:
                raise ValueError("the stream reported an error")
            reply.model = chunk.get("model") or reply.model
            usage = read_usage(chunk.get("usage"))
            if usage is not None:
                reply.usage, reading.usage_reported = usage, True
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                for pieces, text in (
                    (reply.reasoning, _reasoning_of(delta)),
                    (reply.content, delta.get("content")),
                    (reply.refusal, delta.get("refusal")),
                ):
                    if isinstance(text, str) and text:
                        pieces.append(text)
                        times.append(event.at)
                for raw in delta.get("tool_calls") or ():
                    index = raw.get("index", len(reply.tool_calls))
                    function = raw.get("function") or {}
                    fragment = function.get("arguments") or ""
                    if index >= len(reply.tool_calls):
                        call = ToolCall(function.get("name") or "", "", [], raw.get("id"))
                        reply.tool_calls.append(call)
                    else:
                        call = reply.tool_calls[index]
                        if not fragment:
                            continue
                    if fragment:
                        call.fragments.append(fragment)
                        call.arguments += fragment
                    times.append(event.at)
                finish = choice.get("finish_reason") or finish
        if finish is None:
            raise ValueError("the stream ended before its finish reason")
        reply.finish_reason = _read_finish(finish, reply)
        return reading


def _content_is_null(reply: Reply) -> bool:
    """A reply that is only tool calls or a refusal has ``content: null``."""
    return not reply.content and bool(reply.tool_calls or reply.refusal)


class ChunkStream(EventStream):
    """Encodes one reply as ``chat.completion.chunk`` events.

    Everything but the delta text is encoded once per stream (or once per process:
    ``closings``), so a token costs one ``orjson.dumps`` and two concatenations.
    """

    def __init__(self, plan: "ReplyPlan") -> None:
        self.plan = plan
        reply = plan.reply
        request = plan.request
        envelope = orjson.dumps(
            {
                "id": ids.chat_completion_id(),
                "object": "chat.completion.chunk",
                "created": plan.created,
                "model": reply.model,
                "service_tier": "default",
                "system_fingerprint": fingerprint(reply.model),
            }
        )
        self.head = b"data: " + envelope[:-1] + b',"choices":'
        self.delta_head = self.head + b'[{"index":0,"delta":'
        self.usage_tail = b',"usage":null' if request.include_usage else b""
        self.obfuscate = obfuscation.wanted(plan.settings.obfuscation, request.body)
        self.reasoning_field = plan.settings.reasoning_field
        self.reasoning_key = _json_key(self.reasoning_field)

    def _ends(self, delta_end: bytes, finish: bytes = b"null") -> Iterator[bytes]:
        """Endings of chunks: the rest of the delta, the choice, usage and padding."""
        tail = delta_end + b',"logprobs":null,"finish_reason":' + finish + b"}]" + self.usage_tail
        return closings(tail, self.obfuscate)

    def chunk(self, delta: bytes, finish: bytes = b"null") -> bytes:
        return self.delta_head + delta + next(self._ends(b"", finish))

    def frames(self) -> Iterator[Frame]:
        reply = self.plan.reply
        with_reasoning = bool(reply.reasoning)
        first: dict[str, Any] = {"role": "assistant"}
        if with_reasoning:
            first["content"] = None
            first[self.reasoning_field] = ""
        else:
            first["content"] = None if _content_is_null(reply) else ""
            first["refusal"] = None
        yield self.chunk(orjson.dumps(first)), False

        head, dumps = self.delta_head, orjson.dumps
        if with_reasoning:
            start = head + b'{"content":null,' + self.reasoning_key + b":"
            ends = self._ends(b"}")
            for piece in reply.reasoning:
                yield start + dumps(piece) + next(ends), True
            content_end = b"," + self.reasoning_key + b":null}"
        else:
            content_end = b"}"
        start, ends = head + b'{"content":', self._ends(content_end)
        for piece in reply.content:
            yield start + dumps(piece) + next(ends), True
        start, ends = head + b'{"refusal":', self._ends(b"}")
        for piece in reply.refusal:
            yield start + dumps(piece) + next(ends), True
        ends = self._ends(b"}}]}")
        for index, call in enumerate(reply.tool_calls):
            opening = {
                "index": index,
                "id": call.id or ids.openai_tool_call_id(),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield self.chunk(b'{"tool_calls":[' + orjson.dumps(opening) + b"]}"), True
            start = head + b'{"tool_calls":[{"index":%d,"function":{"arguments":' % index
            for fragment in call.fragments:
                yield start + dumps(fragment) + next(ends), True

        finish = orjson.dumps(FINISH_REASONS[reply.finish_reason])
        final_delta = (
            b'{"content":"",' + self.reasoning_key + b":null}" if with_reasoning else b"{}"
        )
        yield self.chunk(final_delta, finish), False
        if self.include_usage_chunk:
            usage = orjson.dumps(usage_object(reply.usage))
            yield self.head + b'[],"usage":' + usage + next(closings(b"", self.obfuscate)), False
        yield DONE, False

    @property
    def include_usage_chunk(self) -> bool:
        return bool(self.usage_tail)

    def error_frames(self, error: ApiError) -> list[bytes]:
        """A ``data:`` event whose JSON has a top-level ``error``, as the live API sends."""
        body = error_object(error, error.type or OPENAI.error_type(error.status))
        return [b"data: " + orjson.dumps(body) + b"\n\n"]

    def keepalive(self) -> bytes:
        return b": keep-alive\n\n"


CHAT = ChatApi()
