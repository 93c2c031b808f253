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
from understudy.http import keys
from understudy.plan import build_plan
from understudy.providers.base import ApiModule
from understudy.record.journal import Call
from understudy.state import ServerState
from understudy.stream.writer import SSE_HEADERS, CutResponse, StreamResponse

NAMESPACE_HEADER = "x-understudy-namespace"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise OverflowError
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise OverflowError
    return bytes(chunks)


def error_response(api: ApiModule, error: ApiError, request_id: str) -> Response:
    headers = {api.request_id_header: request_id}
    if error.rate_limits is not None:
        headers.update(api.rate_limit_headers(error.rate_limits))
    headers.update(error.headers)
    return Response(
        orjson.dumps(api.error_body(error, request_id)),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


async def parse_json(api: ApiModule, request: Request, limit: int, call: Call | None = None) -> Any:
    """The JSON body; ``call`` (the journal's record) keeps the body, or its raw start."""
    try:
        raw = await read_body(request, limit)
    except OverflowError:
        raise api.too_large(limit) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if call is not None:
            call.keep_raw_body(raw)
        raise api.invalid_json(str(exc)) from None
    if call is not None:
        call.body = body
    return body


async def handle(api: ApiModule, request: Request, state: ServerState) -> Any:
    """Answer one model request: an error, a JSON body, or a paced stream."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    request_id = api.new_request_id()
    settings = state.settings
    namespace = request.headers.get(NAMESPACE_HEADER, "")
    call = state.journal.begin(api.name, request.scope, namespace, request_id, started_at)
    try:
        if settings.api_keys:
            keys.check_key(api.name, request.headers, settings.api_keys)
        body = await parse_json(api, request, settings.max_body_bytes, call)
        neutral = api.parse(body, request.headers)
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
        return error_response(api, error, request_id)

    if neutral.stream:
        headers = [*SSE_HEADERS, (api.request_id_header.encode(), request_id.encode())]
        call.stream = True
        state.metrics.stream_opened(api.name)
        stream = api.render_stream(plan)
        return StreamResponse(
            stream.frames(),
            headers=headers,
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
    body = orjson.dumps(api.render_body(plan))
    if faults is not None:
        await faults.hold(request)
        keep = faults.cut_at(len(body))
        if keep is not None:
            state.record(call, 200)
            return CutResponse(body, keep, [(api.request_id_header.encode(), request_id.encode())])
    response = Response(
        body,
        media_type="application/json",
        headers={api.request_id_header: request_id},
    )
    state.record(call, 200)
    return response
