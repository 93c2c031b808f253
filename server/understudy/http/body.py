"""Reading a request body: bounded, then parsed as JSON in the provider's words."""

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request

from understudy.providers import Provider
from understudy.record.journal import Call


async def read_body(
    request: Request, limit: int, headers: Mapping[str, str] | None = None
) -> bytes:
    """The body, or ``OverflowError`` as soon as it is known to exceed ``limit`` bytes."""
    declared = (request.headers if headers is None else headers).get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise OverflowError
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise OverflowError
    return bytes(chunks)


async def parse_json(
    provider: Provider,
    request: Request,
    limit: int,
    call: Call | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The JSON body; ``call`` (the journal's record) keeps a bounded copy of it as JSON
    text, or the raw start of a body that is not JSON. ``headers``: the request's, if
    the caller has them already (``RawHeaders``)."""
    try:
        raw = await read_body(request, limit, headers)
    except OverflowError:
        raise provider.too_large(limit) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if call is not None:
            call.keep_raw_body(raw)
        raise provider.invalid_json(str(exc)) from None
    if call is not None:
        call.keep_body(raw, body)
    return body
