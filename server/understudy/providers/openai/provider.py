"""OpenAI's conventions, shared by Chat Completions and Responses: the error envelope and
types, ``x-request-id``, the 401 wording, ``x-ratelimit-*`` headers, preset errors and
model objects."""

from typing import Any

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.ratelimits import RateLimits, duration
from understudy.providers.base import Preset, Provider

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)
MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
    "field (with blank username) if you're accessing the API from your browser and are "
    "prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
WRONG_KEY = (
    "Incorrect API key provided: {key}. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "request_forbidden",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
MODEL_CREATED = 1735689600

_RATE_LIMIT = (
    "Rate limit reached for {model} in organization org-understudy on requests per min "
    "(RPM): Limit {limit}, Used {used}, Requested 1. Please try again in {wait}. Visit "
    "https://platform.openai.com/account/rate-limits to learn more."
)
# OpenAI's own API has no HTTP content-filter error (filtered output is a reply with
# finish_reason content_filter); Azure OpenAI answers a filtered prompt with this 400.
_CONTENT_FILTER = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our content "
    "filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)
PRESETS: dict[str, Preset] = {
    "rate_limit": Preset(429, _RATE_LIMIT, "requests", "rate_limit_exceeded"),
    "overloaded": Preset(
        503, "The engine is currently overloaded, please try again later", "server_error"
    ),
    "server_error": Preset(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    ),
    "context_length_exceeded": Preset(
        400,
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 131072 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    ),
    "invalid_api_key": Preset(
        401,
        "Incorrect API key provided: sk-under*****tudy. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    "content_filter": Preset(
        400, _CONTENT_FILTER, "invalid_request_error", "content_filter", "prompt"
    ),
    "insufficient_quota": Preset(
        429,
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    "model_not_found": Preset(
        404,
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
}


def mask(key: str) -> str:
    """Show a long key the way OpenAI does: its start and last four characters."""
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def error_object(error: ApiError, error_type: str) -> dict[str, Any]:
    """OpenAI's error envelope, before a stream or inside one."""
    return {
        "error": {
            "message": error.message,
            "type": error_type,
            "param": error.param,
            "code": error.code,
        }
    }


def ratelimit_headers(limits: RateLimits) -> dict[str, str]:
    reset = duration(limits.reset_seconds)
    return {
        "x-ratelimit-limit-requests": str(limits.requests_limit),
        "x-ratelimit-limit-tokens": str(limits.tokens_limit),
        "x-ratelimit-remaining-requests": str(limits.requests_remaining),
        "x-ratelimit-remaining-tokens": str(limits.tokens_remaining),
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-reset-tokens": reset,
    }


class OpenAI(Provider):
    name = "openai"
    request_id_header = "x-request-id"
    presets = PRESETS

    def new_request_id(self) -> str:
        return ids.openai_request_id()

    def error_type(self, status: int) -> str:
        return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")

    def error_body(self, error: ApiError, request_id: str) -> dict[str, Any]:
        return error_object(error, error.type or self.error_type(error.status))

    rate_limit_prefix = "x-ratelimit-"

    def read_error(self, status: int, body: Any) -> ApiError:
        inner = body.get("error") if isinstance(body, dict) else None
        if not isinstance(inner, dict):
            return ApiError(status, str(body or "")[:1000] or "error")
        return ApiError(
            status,
            str(inner.get("message") or ""),
            inner.get("type"),
            inner.get("code"),
            inner.get("param"),
        )

    def invalid_json(self, detail: str) -> ApiError:
        return ApiError(400, INVALID_JSON_MESSAGE)

    def rate_limit_headers(self, limits: RateLimits) -> dict[str, str]:
        return ratelimit_headers(limits)

    def unauthorized(self, key: str | None) -> ApiError:
        if key is None:
            return ApiError(401, MISSING_KEY)
        return ApiError(401, WRONG_KEY.format(key=mask(key)), code="invalid_api_key")

    def model_object(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "understudy"}

    def model_list(self, names: list[str]) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_object(name) for name in names]}


OPENAI = OpenAI()
