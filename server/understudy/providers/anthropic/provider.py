"""Anthropic's conventions: the error envelope and types, ``request-id``, the 401
wording, ``anthropic-ratelimit-*`` headers, preset errors and model objects."""

from datetime import UTC, datetime, timedelta
from typing import Any

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.ratelimits import RateLimits
from understudy.providers.base import Preset, Provider

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
MISSING_KEY = "x-api-key header is required"
WRONG_KEY = "invalid x-api-key"
MODEL_CREATED_AT = "2025-01-01T00:00:00Z"

_RATE_LIMIT = (
    "This request would exceed the rate limit for your organization of {limit} requests per "
    "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see "
    "the response headers for current usage. Please reduce the prompt length or the maximum "
    "tokens requested, or try again later."
)
PRESETS: dict[str, Preset] = {
    "rate_limit": Preset(429, _RATE_LIMIT, "rate_limit_error"),
    "overloaded": Preset(529, "Overloaded", "overloaded_error"),
    "server_error": Preset(500, "Internal server error", "api_error"),
    "context_length_exceeded": Preset(
        400, "prompt is too long: 210345 tokens > 200000 maximum", "invalid_request_error"
    ),
    "invalid_api_key": Preset(401, WRONG_KEY, "authentication_error"),
    # Anthropic answers a filtered prompt with a 400 naming its content filter.
    "content_filter": Preset(
        400, "Output blocked by content filtering policy", "invalid_request_error"
    ),
    "insufficient_quota": Preset(
        400,
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
        "Billing to upgrade or purchase credits.",
        "invalid_request_error",
    ),
    "model_not_found": Preset(404, "model: {model}", "not_found_error"),
}


def error_object(error: ApiError, request_id: str) -> dict[str, Any]:
    """Anthropic's error envelope, before a stream or inside one."""
    error_type = error.type or ANTHROPIC.error_type(error.status)
    body: dict[str, Any] = {"type": error_type, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return {"type": "error", "error": body, "request_id": request_id}


def ratelimit_headers(limits: RateLimits, now: datetime | None = None) -> dict[str, str]:
    """``anthropic-ratelimit-*``, with RFC 3339 reset times."""
    moment = (now or datetime.now(UTC)) + timedelta(seconds=limits.reset_seconds)
    reset = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "anthropic-ratelimit-requests-limit": str(limits.requests_limit),
        "anthropic-ratelimit-requests-remaining": str(limits.requests_remaining),
        "anthropic-ratelimit-requests-reset": reset,
    }
    for family in ("tokens", "input-tokens", "output-tokens"):
        headers[f"anthropic-ratelimit-{family}-limit"] = str(limits.tokens_limit)
        headers[f"anthropic-ratelimit-{family}-remaining"] = str(limits.tokens_remaining)
        headers[f"anthropic-ratelimit-{family}-reset"] = reset
    return headers


class Anthropic(Provider):
    name = "anthropic"
    request_id_header = "request-id"
    error_type_field = "anthropic_type"
    presets = PRESETS

    def new_request_id(self) -> str:
        return ids.anthropic_request_id()

    def error_type(self, status: int) -> str:
        return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")

    def error_body(self, error: ApiError, request_id: str) -> dict[str, Any]:
        return error_object(error, request_id)

    rate_limit_prefix = "anthropic-ratelimit-"

    def read_error(self, status: int, body: Any) -> ApiError:
        inner = body.get("error") if isinstance(body, dict) else None
        if not isinstance(inner, dict):
            return ApiError(status, str(body or "")[:1000] or "error")
        details = inner.get("details")
        return ApiError(
            status,
            str(inner.get("message") or ""),
            inner.get("type"),
            details=details if isinstance(details, dict) else None,
        )

    def invalid_json(self, detail: str) -> ApiError:
        return ApiError(400, f"The request body is not valid JSON: {detail}")

    def too_large(self, limit: int) -> ApiError:
        return ApiError(413, "Request exceeds the maximum size")

    def rate_limit_headers(self, limits: RateLimits) -> dict[str, str]:
        return ratelimit_headers(limits)

    def unauthorized(self, key: str | None) -> ApiError:
        return ApiError(401, MISSING_KEY if key is None else WRONG_KEY)

    def model_object(self, name: str) -> dict[str, Any]:
        return {"type": "model", "id": name, "display_name": name, "created_at": MODEL_CREATED_AT}

    def model_list(self, names: list[str]) -> dict[str, Any]:
        return {
            "data": [self.model_object(name) for name in names],
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }


ANTHROPIC = Anthropic()
