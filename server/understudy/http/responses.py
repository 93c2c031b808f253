"""JSON responses in a provider's manner: every one carries the provider's request-id
header, and errors its envelope, retry and rate-limit headers."""

from typing import Any

import orjson
from starlette.responses import Response

from understudy.core.errors import ApiError
from understudy.providers import Provider


def json_response(
    provider: Provider, body: Any, request_id: str | None = None, status: int = 200
) -> Response:
    """``body`` as JSON, with the provider's request-id header (a new id if none given)."""
    request_id = request_id or provider.new_request_id()
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={provider.request_id_header: request_id},
    )


def error_response(provider: Provider, error: ApiError, request_id: str | None = None) -> Response:
    request_id = request_id or provider.new_request_id()
    response = json_response(provider, provider.error_body(error, request_id), request_id)
    response.status_code = error.status
    if error.rate_limits is not None:
        response.headers.update(provider.rate_limit_headers(error.rate_limits))
    response.headers.update(error.headers)
    return response
