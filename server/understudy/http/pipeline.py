"""The one path every model request takes, whichever API it speaks.

request → neutral request → scenario match → reply plan → API renderer → paced writer.
Everything here is shared; only the ``ApiModule`` passed in knows the wire format.
"""

import asyncio
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from understudy.core.errors import ApiError
from understudy.core.request import NAMESPACE_HEADER, NeutralRequest
from understudy.faults.errors import overloaded
from understudy.http import keys
from understudy.http.body import parse_json
from understudy.http.responses import error_response
from understudy.plan import build_plan
from understudy.providers import ApiModule
from understudy.state import ServerState
from understudy.stream.frames import SSE_HEADERS
from understudy.stream.writer import CutResponse, StreamResponse


def _continue(api: ApiModule, request: NeutralRequest, state: ServerState, namespace: str) -> None:
    """Put the kept conversation a request continues before its own turns."""
    previous = state.responses.get(namespace, request.continues or "")
    if previous is None:
        raise api.continuation_not_found(request.continues or "")
    request.messages = [*previous.conversation, *request.messages]


async def handle(api: ApiModule, request: Request, state: ServerState) -> Any:
    """Answer one model request: an error, a JSON body, or a paced stream."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    provider = api.provider
    request_id = provider.new_request_id()
    settings = state.settings
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    call = state.journal.begin(api.name, request.scope, namespace, request_id, started_at)
    try:
        if settings.api_keys:
            keys.check_key(provider, request.headers, settings.api_keys)
        body = await parse_json(provider, request, settings.max_body_bytes, call)
        neutral = api.parse(body, request.headers)
        if neutral.stream and state.at_stream_limit:
            raise overloaded(api.name, neutral.model)
        if neutral.continues is not None:
            _continue(api, neutral, state, namespace)
        catalog = state.runtime.catalog_for(namespace, state.catalog)
        selection = catalog.select(neutral, state.counters, namespace)
        call.scenario, call.reply_index = selection.scenario.name, selection.reply_index
        plan = build_plan(neutral, selection, settings, request_id, state.chaos)
        faults = plan.faults
        if faults is not None:
            call.fault, call.fault_kinds = faults.label, faults.kinds
            if faults.error is not None:
                raise faults.error
    except ApiError as error:
        call.error = error.message
        call.near_misses = getattr(error, "near_misses", None)
        state.record(call, error.status)
        return error_response(provider, error, request_id)

    id_header = (provider.request_id_header.encode(), request_id.encode())
    if neutral.stream:
        call.stream = True
        state.stream_opened(api.name)
        stream = api.render_stream(plan)
        if stream.stored is not None:
            state.responses.put(namespace, stream.stored)
        return StreamResponse(
            stream.frames(),
            headers=[*SSE_HEADERS, id_header],
            timing=plan.timing,
            started_at=started_at,
            on_close=partial(state.record, call, 200),
            script=None if faults is None else faults.script(stream),
        )

    reply = plan.reply
    tokens = len(reply.reasoning) + len(reply.content) + len(reply.refusal)
    tokens += sum(len(tool.fragments) + 1 for tool in reply.tool_calls)
    wait = started_at + plan.timing.total(tokens) - loop.time()
    if wait > 0:
        await asyncio.sleep(wait)
    rendered = api.render_body(plan)
    stored = api.stored(plan, rendered)
    if stored is not None:
        state.responses.put(namespace, stored)
    body = orjson.dumps(rendered)
    if faults is not None:
        await faults.hold(request)
        keep = faults.cut_at(len(body))
        if keep is not None:
            state.record(call, 200)
            return CutResponse(body, keep, [id_header])
    headers = {provider.request_id_header: request_id}
    response = Response(body, media_type="application/json", headers=headers)
    state.record(call, 200)
    return response
