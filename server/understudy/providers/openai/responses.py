"""OpenAI Responses: ``POST /v1/responses`` and ``GET``/``DELETE /v1/responses/{id}``
(wire-format reference §4).

Requests are read by ``responses_input``, the Response object and its items come from
``responses_output``, and ``responses_stream`` encodes the events. Responses created
with ``store`` (the default) are kept in the server's bounded ``ResponseStore`` so a
``previous_response_id`` continues their conversation.
"""

import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from understudy.core import ids
from understudy.core.request import Message, NeutralRequest
from understudy.http.pipeline import error_response
from understudy.plan import ReplyPlan
from understudy.providers.openai import fields
from understudy.providers.openai.errors import OpenAIApi
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
from understudy.state.responses import ResponseStore


class ResponsesApi(OpenAIApi):
    name = "responses"

    def __init__(self, store: ResponseStore) -> None:
        self.store = store

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
        previous_id = fields.get(body, "previous_response_id", "a string")
        if previous_id is not None:
            previous = self.store.get(previous_id)
            if previous is None:
                raise previous_not_found(previous_id)
            # Instructions are not carried over (reference §4.1); the turns are.
            messages = [*previous.conversation, *messages]
        return NeutralRequest(
            api="responses",
            model=model,
            messages=messages,
            system="\n".join(text for text in (instructions, *system) if text),
            tools=tool_names,
            stream=bool(body.get("stream")),
            max_tokens=max_tokens,
            headers=headers,
            body=body,
        )

    def render_body(self, plan: ReplyPlan) -> dict[str, Any]:
        reply = plan.reply
        shape = ResponseShape(plan, ids.response_id())
        items = output_items(reply, plan.request.body)
        status, incomplete = status_of(reply)
        output = [item.final for item in items]
        response = shape.build(status, output, usage_object(reply.usage), incomplete=incomplete)
        # Last field of §4.2; "only present when the status is completed" (openai-python).
        response["completed_at"] = int(time.time()) if status == "completed" else None
        if shape.stored:
            self.store.put(response, conversation_after(plan, items))
        return response

    def render_stream(self, plan: ReplyPlan) -> ResponseEventStream:
        return ResponseEventStream(plan, self.store)

    async def retrieve(self, request: Request) -> Response:
        """``GET /v1/responses/{response_id}``: the stored Response object."""
        request_id = self.new_request_id()
        response_id = request.path_params["response_id"]
        entry = self.store.get(response_id)
        if entry is None:
            return error_response(self, not_found(response_id), request_id)
        return _json(entry.response, request_id)

    async def delete(self, request: Request) -> Response:
        """``DELETE /v1/responses/{response_id}``: forget a stored response."""
        request_id = self.new_request_id()
        response_id = request.path_params["response_id"]
        if not self.store.delete(response_id):
            return error_response(self, not_found(response_id), request_id)
        return _json({"id": response_id, "object": "response.deleted", "deleted": True}, request_id)


def _json(body: dict[str, Any], request_id: str) -> Response:
    return Response(
        orjson.dumps(body), media_type="application/json", headers={"x-request-id": request_id}
    )
