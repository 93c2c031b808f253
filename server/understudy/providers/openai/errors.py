"""What OpenAI's two APIs (Chat Completions and Responses) share: errors and headers."""

from collections.abc import Iterator
from functools import lru_cache
from itertools import cycle, repeat
from typing import Any

from understudy.core import ids
from understudy.core.errors import ApiError
from understudy.core.ratelimits import RateLimits, openai_headers
from understudy.providers.base import ApiModule

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)


def error_object(error: ApiError) -> dict[str, Any]:
    """OpenAI's error envelope (reference §2.8), before a stream or inside one (§2.5f)."""
    return {
        "error": {
            "message": error.message,
            "type": error.openai_type,
            "param": error.param,
            "code": error.code,
        }
    }


class OpenAIApi(ApiModule):
    request_id_header = "x-request-id"

    def new_request_id(self) -> str:
        return ids.openai_request_id()

    def error_body(self, error: ApiError, request_id: str) -> dict[str, Any]:
        return error_object(error)

    def invalid_json(self, detail: str) -> ApiError:
        return ApiError(400, INVALID_JSON_MESSAGE)

    def rate_limit_headers(self, limits: RateLimits) -> dict[str, str]:
        return openai_headers(limits)


# Random padding strings of 1 to 15 characters, made once: real padding varies in length
# per event (reference §2.4, §4.3).
_CLOSINGS = [
    b',"obfuscation":"' + ids.obfuscation(1 + (i * 7) % 15).encode() + b'"}\n\n' for i in range(64)
]


@lru_cache(maxsize=64)
def _padded_closings(tail: bytes) -> tuple[bytes, ...]:
    return tuple(tail + closing for closing in _CLOSINGS)


def closings(tail: bytes, obfuscate: bool) -> Iterator[bytes]:
    """Endless endings for events that share ``tail``: the tail, then the ``obfuscation``
    padding (when on) and ``}\n\n``, joined ahead of time and shared between streams."""
    if not obfuscate:
        return repeat(tail + b"}\n\n")
    return cycle(_padded_closings(tail))
