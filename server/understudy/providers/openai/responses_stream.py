"""The Responses event stream.

``response.created`` → ``response.in_progress`` → each output item in turn
(``output_item.added`` → its part and delta events → ``output_item.done``) → one
terminal ``response.completed`` or ``response.incomplete`` carrying the complete final
Response. Every event has ``event:`` equal to its JSON ``type`` and a ``sequence_number``
counted from 0. Delta events are built from prefixes encoded once per part, so a token
costs one ``orjson.dumps`` of its text plus its sequence number.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.providers.base import EventStream, Stored
from understudy.providers.openai import obfuscation
from understudy.providers.openai.obfuscation import closings
from understudy.providers.openai.provider import OPENAI
from understudy.providers.openai.responses_output import (
    OutputItem,
    ResponseShape,
    conversation_after,
    output_items,
    status_of,
    text_part,
    usage_object,
)
from understudy.stream.frames import Frame

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan

_LOGPROBS = b',"logprobs":[]'


@cache
def _head(kind: str) -> bytes:
    """An event's bytes up to its sequence number."""
    return f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":'.encode()


_TEXT_DELTA = _head("response.output_text.delta")
_REFUSAL_DELTA = _head("response.refusal.delta")
_ARGUMENTS_DELTA = _head("response.function_call_arguments.delta")
_SUMMARY_DELTA = _head("response.reasoning_summary_text.delta")


def _delta_prefix(scope: dict[str, Any]) -> bytes:
    """A delta event's fields after its sequence number, up to the delta's value."""
    return b"," + orjson.dumps(scope)[1:-1] + b',"delta":'


@dataclass(slots=True)
class _Tokens:
    """A run of delta events: what precedes and follows each piece of text."""

    head: bytes
    prefix: bytes
    ends: Iterator[bytes]
    pieces: list[str]


class ResponseEventStream(EventStream):
    """One reply as Responses events.

    ``sequence`` and ``done`` advance as frames are produced, so ``error_frames`` can
    continue the numbering and report the items already finished.
    """

    def __init__(self, plan: "ReplyPlan") -> None:
        reply = plan.reply
        self.plan = plan
        self.shape = ResponseShape(plan, ids.response_id())
        self.items = output_items(reply, plan.request.body)
        status, incomplete = status_of(reply)
        self.terminal = "response.completed" if status == "completed" else "response.incomplete"
        self.final = self.shape.build(
            status,
            [item.final for item in self.items],
            usage_object(reply.usage),
            incomplete=incomplete,
        )
        self.sequence = 0
        self.done: list[dict[str, Any]] = []
        self.obfuscate = obfuscation.wanted(plan.settings.obfuscation, plan.request.body)
        if self.shape.stored:
            # The reply is fully determined up front, so what is kept is the final
            # response; ``error_frames`` turns it into the failed one if an error cuts the
            # stream.
            conversation = conversation_after(plan, bool(self.items))
            self.stored = Stored(self.shape.id, self.final, conversation)

    def encode(self, kind: str, values: dict[str, Any]) -> bytes:
        """One event with the next sequence number; ``values`` follow it in order."""
        sequence = self.sequence
        self.sequence = sequence + 1
        return _head(kind) + str(sequence).encode() + b"," + orjson.dumps(values)[1:] + b"\n\n"

    def frames(self) -> Iterator[Frame]:
        """Every event in order. Token runs are looped here, in one flat generator, so a
        token costs no nested generator resumptions; ``_segments`` says what comes."""
        dumps = orjson.dumps
        for segment in self._segments():
            if isinstance(segment, _Tokens):
                head, prefix, join = segment.head, segment.prefix, b"".join
                for piece, end in zip(segment.pieces, segment.ends, strict=False):
                    sequence = self.sequence
                    self.sequence = sequence + 1
                    yield join((head, b"%d" % sequence, prefix, dumps(piece), end)), True
            else:
                yield self.encode(*segment), False

    def _tokens(
        self, head: bytes, scope: dict[str, Any], suffix: bytes, pieces: list[str], padded: bool
    ) -> "_Tokens":
        """A run of delta events; ``suffix`` and the obfuscation padding are joined ahead."""
        ends = closings(suffix, padded and self.obfuscate)
        return _Tokens(head, _delta_prefix(scope), ends, pieces)

    def _segments(self) -> Iterator["_Tokens | tuple[str, dict[str, Any]]"]:
        opening = self.shape.build("in_progress", [], None, final=False)
        yield "response.created", {"response": opening}
        yield "response.in_progress", {"response": opening}
        for index, item in enumerate(self.items):
            yield "response.output_item.added", {"output_index": index, "item": item.added}
            if item.kind == "reasoning":
                yield from self._reasoning(index, item)
            elif item.kind == "message":
                yield from self._message(index, item)
            else:
                yield from self._function_call(index, item)
            self.done.append(item.final)
            yield "response.output_item.done", {"output_index": index, "item": item.final}
        yield self.terminal, {"response": self.final}

    def _reasoning(self, index: int, item: OutputItem) -> Iterator[Any]:
        scope = {"item_id": item.id, "output_index": index, "summary_index": 0}
        part = item.final["summary"][0]
        empty = {"type": "summary_text", "text": ""}
        yield "response.reasoning_summary_part.added", {**scope, "part": empty}
        yield self._tokens(_SUMMARY_DELTA, scope, b"", item.pieces[0], padded=True)
        yield "response.reasoning_summary_text.done", {**scope, "text": part["text"]}
        yield "response.reasoning_summary_part.done", {**scope, "part": part}

    def _message(self, index: int, item: OutputItem) -> Iterator[Any]:
        parts = zip(item.final["content"], item.pieces, strict=True)
        for content_index, (part, pieces) in enumerate(parts):
            scope = {"item_id": item.id, "output_index": index, "content_index": content_index}
            if part["type"] == "output_text":
                yield "response.content_part.added", {**scope, "part": text_part("")}
                yield self._tokens(_TEXT_DELTA, scope, _LOGPROBS, pieces, padded=True)
                yield "response.output_text.done", {**scope, "text": part["text"], "logprobs": []}
            else:
                empty = {"type": "refusal", "refusal": ""}
                yield "response.content_part.added", {**scope, "part": empty}
                yield self._tokens(_REFUSAL_DELTA, scope, b"", pieces, padded=False)
                yield "response.refusal.done", {**scope, "refusal": part["refusal"]}
            yield "response.content_part.done", {**scope, "part": part}

    def _function_call(self, index: int, item: OutputItem) -> Iterator[Any]:
        scope = {"item_id": item.id, "output_index": index}
        yield self._tokens(_ARGUMENTS_DELTA, scope, b"", item.pieces[0], padded=True)
        call = item.final
        yield (
            "response.function_call_arguments.done",
            {
                **scope,
                "name": call["name"],
                "arguments": call["arguments"],
            },
        )

    def error_frames(self, error: ApiError) -> list[bytes]:
        """``error`` in the live API's nested shape with the spec's flat fields alongside,
        then ``response.failed`` with the items finished so far."""
        error_type = error.type or OPENAI.error_type(error.status)
        code = error.code or error_type
        details = {"code": code, "message": error.message, "param": error.param}
        failed = self.shape.build(
            "failed", list(self.done), None, error={"code": code, "message": error.message}
        )
        if self.stored is not None:
            self.stored.response = failed
            self.stored.conversation = list(self.plan.request.messages)
        return [
            self.encode("error", {**details, "error": {"type": error_type, **details}}),
            self.encode("response.failed", {"response": failed}),
        ]

    def keepalive(self) -> bytes:
        """An SSE comment: every client ignores it, and it takes no sequence number."""
        return b": keep-alive\n\n"
