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
from understudy.core.request import STRICT, Message, NeutralRequest, Strictness
from understudy.providers.base import ApiModule, Preset, Stored
from understudy.providers.openai import fields, responses_read
from understudy.providers.openai.follow import responses_follow
from understudy.providers.openai.provider import OPENAI
from understudy.providers.openai.responses_input import (
    check_body,
    conversation,
    function_names,
    not_found,
    previous_not_found,
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

    def parse(
        self, body: Any, headers: Mapping[str, str], strictness: Strictness = STRICT
    ) -> NeutralRequest:
        if not isinstance(body, dict):
            raise fields.wrong_type("body", "an object", body)
        check_body(body, strictness)
        instructions = body.get("instructions")
        raw_input = body.get("input")
        if isinstance(raw_input, str):
            system, messages = [], [Message("user", raw_input)]
        else:
            items = raw_input or []
            # The calls an output answers may be held elsewhere than in ``input``.
            continued = body.get("previous_response_id") is not None or any(
                isinstance(item, dict) and item.get("type") == "item_reference" for item in items
            )
            system, messages = conversation(items, continued or "conversation" in body)
        return NeutralRequest(
            api="responses",
            model=body["model"],
            messages=messages,
            # Instructions are not carried over from a previous response; the turns are.
            system="\n".join(text for text in (fields.text_of(instructions), *system) if text),
            tools=function_names(body.get("tools")),
            stream=bool(body.get("stream")),
            max_tokens=body.get("max_output_tokens"),
            continues=body.get("previous_response_id"),
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
