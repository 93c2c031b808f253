"""OpenAI Responses: ``POST /v1/responses``.

Requests are read by ``responses_input``, the Response object and its items come from
``responses_output``, and ``responses_stream`` encodes the events. A request with
``previous_response_id`` names the reply it continues in ``NeutralRequest.continues``;
the HTTP layer looks it up in the server's store, where it keeps what ``stored`` gives.
"""

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.reply import Reading
from understudy.core.request import Message, NeutralRequest
from understudy.providers.base import ApiModule, Preset, Stored
from understudy.providers.openai import fields, responses_read
from understudy.providers.openai.follow import responses_follow
from understudy.providers.openai.provider import OPENAI
from understudy.providers.openai.responses_input import (
    MIN_OUTPUT_TOKENS,
    check_options,
    conversation,
    not_found,
    previous_not_found,
    tools_of,
)
from understudy.providers.openai.responses_output import (
    ResponseShape,
    conversation_after,
    output_items,
    status_of,
    usage_object,
)
from understudy.providers.openai.responses_stream import ResponseEventStream
from understudy.stream.sse import SseEvent

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan

PRESETS = {
    "context_length_exceeded": Preset(
        400,
        "Your input exceeds the context window of this model. Please adjust your input "
        "and try again.",
        "invalid_request_error",
        "context_length_exceeded",
        "input",
    ),
}


class ResponsesApi(ApiModule):
    name = "responses"
    provider = OPENAI
    presets = PRESETS

    def parse(self, body: Any, headers: Mapping[str, str]) -> NeutralRequest:
        if not isinstance(body, dict):
            raise fields.wrong_type("body", "an object", body)
        model = fields.get(body, "model", "a string", required=True)
        instructions = fields.get(body, "instructions", "a string")
        raw_input = fields.get(body, "input", "a string", "an array")
        if isinstance(raw_input, str):
            system, messages = [], [Message("user", raw_input)]
        else:
            system, messages = conversation(raw_input or [])
        _, tool_names = tools_of(body.get("tools"))
        max_tokens = fields.positive_int(body, "max_output_tokens", minimum=MIN_OUTPUT_TOKENS)
        check_options(body)
        return NeutralRequest(
            api="responses",
            model=model,
            messages=messages,
            # Instructions are not carried over from a previous response; the turns are.
            system="\n".join(text for text in (instructions, *system) if text),
            tools=tool_names,
            stream=bool(body.get("stream")),
            max_tokens=max_tokens,
            continues=fields.get(body, "previous_response_id", "a string"),
            headers=headers,
            body=body,
            **responses_follow(body),
        )

    def render_body(self, plan: "ReplyPlan") -> dict[str, Any]:
        reply = plan.reply
        shape = ResponseShape(plan, ids.response_id())
        items = output_items(reply, plan.request.body)
        status, incomplete = status_of(reply)
        output = [item.final for item in items]
        response = shape.build(status, output, usage_object(reply.usage), incomplete=incomplete)
        # The last field; "only present when the status is completed" (openai-python).
        response["completed_at"] = int(time.time()) if status == "completed" else None
        return response

    def render_stream(self, plan: "ReplyPlan") -> ResponseEventStream:
        return ResponseEventStream(plan)

    def read_body(self, body: Any) -> Reading:
        return responses_read.read_response(body)

    def read_events(self, events: list[SseEvent]) -> Reading:
        return responses_read.read_events(events)

    def stored(self, plan: "ReplyPlan", body: dict[str, Any]) -> Stored | None:
        if body.get("store") is not True:
            return None
        return Stored(body["id"], body, conversation_after(plan, bool(body["output"])))

    def continuation_not_found(self, reference: str) -> ApiError:
        return previous_not_found(reference)

    def not_found(self, response_id: str) -> ApiError:
        """``GET``/``DELETE`` of a response the server does not hold."""
        return not_found(response_id)

    def deleted(self, response_id: str) -> dict[str, Any]:
        return {"id": response_id, "object": "response.deleted", "deleted": True}


RESPONSES = ResponsesApi()
