"""The one path every model request takes, whichever API it speaks.

request → neutral request → scenario match → reply plan → API renderer → paced writer.
Everything here is shared; only the ``ApiModule`` passed in knows the wire format.
"""

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from server.apis.base import ApiModule
from server.errors import ApiError
from server.plan import build_plan
from server.sse import SSE_HEADERS, StreamResponse
from server.state import ServerState

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
    headers = {api.request_id_header: request_id, **error.headers}
    return Response(
        orjson.dumps(api.error_body(error, request_id)),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


async def parse_json(api: ApiModule, request: Request, limit: int) -> Any:
    try:
        raw = await read_body(request, limit)
    except OverflowError:
        raise api.too_large(limit) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise api.invalid_json(str(exc)) from None


async def handle(api: ApiModule, request: Request, state: ServerState) -> Any:
    """Answer one model request: an error, a JSON body, or a paced stream."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    request_id = api.new_request_id()
    settings = state.settings
    try:
        body = await parse_json(api, request, settings.max_body_bytes)
        neutral = api.parse(body, request.headers)
        namespace = request.headers.get(NAMESPACE_HEADER, "")
        selection = state.catalog.select(neutral, state.counters, namespace)
        plan = build_plan(neutral, selection, settings, request_id)
    except ApiError as error:
        return error_response(api, error, request_id)

    if neutral.stream:
        headers = [*SSE_HEADERS, (api.request_id_header.encode(), request_id.encode())]
        return StreamResponse(
            api.render_stream(plan).frames(),
            headers=headers,
            timing=plan.timing,
            started_at=started_at,
        )

    reply = plan.reply
    tokens = len(reply.reasoning) + len(reply.content) + len(reply.refusal)
    tokens += sum(len(call.fragments) + 1 for call in reply.tool_calls)
    wait = started_at + plan.timing.total(tokens) - loop.time()
    if wait > 0:
        await asyncio.sleep(wait)
    return Response(
        orjson.dumps(api.render_body(plan)),
        media_type="application/json",
        headers={api.request_id_header: request_id},
    )
