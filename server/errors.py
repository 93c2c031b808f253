"""Provider-neutral API errors.

An ``ApiError`` says what went wrong once; each API renders it in its own envelope
(OpenAI ``{"error": {...}}``, Anthropic ``{"type": "error", ...}``). The default error
types per HTTP status follow wire-format reference §2.8 and §3.8.
"""

from dataclasses import dataclass, field

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
