"""Provider-neutral API errors.

An ``ApiError`` says what went wrong once; each API renders it in its own envelope
(OpenAI ``{"error": {...}}``, Anthropic ``{"type": "error", ...}``). The default error
types per HTTP status follow wire-format reference §2.8 and §3.8.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from understudy.core.ratelimits import RateLimits

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "request_forbidden",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}

_ANTHROPIC_TYPES = {
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


def openai_type_for(status: int) -> str:
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def anthropic_type_for(status: int) -> str:
    return _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


@dataclass
class ApiError(Exception):
    """An error answered with a provider-shaped JSON body instead of a reply."""

    status: int
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    anthropic_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rate_limits: "RateLimits | None" = None
    """Rate-limit state to report in the API's own header family (reference §1.3)."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def openai_type(self) -> str:
        return self.type or openai_type_for(self.status)

    @property
    def anthropic_error_type(self) -> str:
        return self.anthropic_type or anthropic_type_for(self.status)


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass(frozen=True, slots=True)
class Preset:
    """One common failure as one provider reports it (reference §2.8, §3.8).

    ``{model}`` in a message is the requested model; ``{wait}`` the retry delay.
    """

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None


_RATE_LIMIT_OPENAI = (
    "Rate limit reached for {model} in organization org-understudy on requests per min "
    "(RPM): Limit 3, Used 3, Requested 1. Please try again in {wait}. Visit "
    "https://platform.openai.com/account/rate-limits to learn more."
)
_RATE_LIMIT_ANTHROPIC = (
    "This request would exceed the rate limit for your organization of 50 requests per "
    "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see "
    "the response headers for current usage. Please reduce the prompt length or the maximum "
    "tokens requested, or try again later."
)
_CONTENT_FILTER_OPENAI = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our content "
    "filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)

PRESETS: dict[str, dict[str, Preset]] = {
    "rate_limit": {
        "openai": Preset(429, _RATE_LIMIT_OPENAI, "requests", "rate_limit_exceeded"),
        "anthropic": Preset(429, _RATE_LIMIT_ANTHROPIC, "rate_limit_error"),
    },
    "overloaded": {
        "openai": Preset(
            503, "The engine is currently overloaded, please try again later", "server_error"
        ),
        "anthropic": Preset(529, "Overloaded", "overloaded_error"),
    },
    "server_error": {
        "openai": Preset(
            500,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        ),
        "anthropic": Preset(500, "Internal server error", "api_error"),
    },
    "context_length_exceeded": {
        "openai": Preset(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 131072 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        "responses": Preset(
            400,
            "Your input exceeds the context window of this model. Please adjust your input "
            "and try again.",
            "invalid_request_error",
            "context_length_exceeded",
            "input",
        ),
        "anthropic": Preset(
            400, "prompt is too long: 210345 tokens > 200000 maximum", "invalid_request_error"
        ),
    },
    "invalid_api_key": {
        "openai": Preset(
            401,
            "Incorrect API key provided: sk-under*****tudy. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        "anthropic": Preset(401, "invalid x-api-key", "authentication_error"),
    },
    # OpenAI's own API has no HTTP content-filter error (filtered output is a reply with
    # finish_reason content_filter); Azure OpenAI answers a filtered prompt with this 400,
    # and Anthropic with a 400 invalid_request_error naming its content filter.
    "content_filter": {
        "openai": Preset(
            400, _CONTENT_FILTER_OPENAI, "invalid_request_error", "content_filter", "prompt"
        ),
        "anthropic": Preset(
            400, "Output blocked by content filtering policy", "invalid_request_error"
        ),
    },
    "insufficient_quota": {
        "openai": Preset(
            429,
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        "anthropic": Preset(
            400,
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
            "invalid_request_error",
        ),
    },
    "model_not_found": {
        "openai": Preset(
            404,
            "The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        "anthropic": Preset(404, "model: {model}", "not_found_error"),
    },
}
"""Shorthand errors for scenarios; ``responses`` falls back to ``openai``."""

_PROVIDER = {"chat": "openai", "responses": "openai", "messages": "anthropic"}


def preset_error(name: str, api: str, model: str = "", wait: str = "20s") -> ApiError:
    """The error ``name`` as the provider behind ``api`` reports it."""
    forms = PRESETS[name]
    form = forms.get(api) or forms[_PROVIDER.get(api, "openai")]
    message = form.message.format(model=model or "the model", wait=wait)
    if _PROVIDER.get(api) == "anthropic":
        return ApiError(form.status, message, anthropic_type=form.type)
    return ApiError(form.status, message, type=form.type, code=form.code, param=form.param)
