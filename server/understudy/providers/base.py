"""What every API module provides to the shared pipeline.

An API module knows its own wire vocabulary and nothing else: how to read its request
body into a ``NeutralRequest``, how to render a ``ReplyPlan`` as a JSON body or as
encoded stream frames, and how its errors look.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

from understudy.core.errors import ApiError
from understudy.core.ratelimits import RateLimits
from understudy.core.request import Api, NeutralRequest
from understudy.plan import ReplyPlan
from understudy.stream.writer import Frame


class EventStream(ABC):
    """One reply rendered as stream events, with the API's own error and keep-alive events.

    ``error_frames`` and ``keepalive`` let the shared fault machinery inject an error or
    a keep-alive mid-stream without knowing the wire format; an event stream that
    numbers its events (Responses ``sequence_number``) keeps counting through them.
    """

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """The reply's events in order, one encoded SSE event per frame."""

    @abstractmethod
    def error_frames(self, error: ApiError) -> list[bytes]:
        """The events that report ``error`` in the middle of this stream."""

    @abstractmethod
    def keepalive(self) -> bytes:
        """An event every client of this API ignores."""


class ApiModule(ABC):
    name: Api
    request_id_header: str

    @abstractmethod
    def new_request_id(self) -> str: ...

    @abstractmethod
    def parse(self, body: Any, headers: Mapping[str, str]) -> NeutralRequest:
        """Validate the body the way the real API does; raise ``ApiError`` if it would."""

    @abstractmethod
    def render_body(self, plan: ReplyPlan) -> dict[str, Any]:
        """The non-streaming response object."""

    @abstractmethod
    def render_stream(self, plan: ReplyPlan) -> EventStream:
        """The stream renderer for this reply."""

    @abstractmethod
    def error_body(self, error: ApiError, request_id: str) -> dict[str, Any]:
        """The JSON body of an error answered before any stream."""

    @abstractmethod
    def invalid_json(self, detail: str) -> ApiError:
        """The error for a body that is not JSON."""

    def too_large(self, limit: int) -> ApiError:
        return ApiError(413, f"Request exceeds the maximum size of {limit} bytes.")

    def rate_limit_headers(self, limits: RateLimits) -> dict[str, str]:
        """This provider's rate-limit header family (reference §1.3), sent with injected 429s.

        Override per provider: OpenAI's ``x-ratelimit-*`` names live in
        ``understudy.providers.openai.errors``; an Anthropic module returns
        ``understudy.core.ratelimits.anthropic_headers(limits)`` (``anthropic-ratelimit-*``).
        The default sends none.
        """
        return {}
