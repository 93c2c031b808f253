"""What a provider and each of its APIs give the rest of the server.

A ``Provider`` is one vendor's conventions, shared by all of its APIs: its error
envelope and error types, its request-id header, its 401 wording, its rate-limit header
family, its preset errors and its model objects. An ``ApiModule`` is one API of that
provider: how to read its request body into a ``NeutralRequest`` and how to render a
reply plan as a JSON body or as encoded stream frames. Neither hosts an endpoint or
keeps state: the HTTP layer does both, and asks these for words and bytes.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from understudy.core.errors import ApiError
from understudy.core.ratelimits import RateLimits
from understudy.core.reply import Reading
from understudy.core.request import STRICT, Api, Message, NeutralRequest, Strictness
from understudy.stream.frames import Frame
from understudy.stream.sse import SseEvent

if TYPE_CHECKING:
    from understudy.plan import ReplyPlan


@dataclass(frozen=True, slots=True)
class Preset:
    """One common failure as a provider reports it.

    ``{model}`` in a message is the requested model; ``{wait}`` the retry delay;
    ``{limit}`` and ``{used}`` the request budget the rate-limit headers report.
    """

    status: int
    message: str
    type: str
    code: str | None = None
    param: str | None = None


@dataclass(slots=True)
class Stored:
    """What the server keeps of a reply so a later request can continue it: the reply as
    the client saw it and the neutral conversation it ends."""

    id: str
    response: dict[str, Any]
    conversation: list[Message]
    system: str = ""
    tools: tuple[str, ...] = ()
    """The system prompt and tools a continuation inherits (a thread's)."""
    thread_id: str | None = None
    """The thread this reply belongs to: the id of the thread's first reply."""


class Provider(ABC):
    """One vendor's conventions, shared by its APIs."""

    name: str
    request_id_header: str
    error_type_field: str = "type"
    """The ``ErrorSpec`` field of a scenario that names this provider's error type."""
    presets: Mapping[str, Preset]

    @abstractmethod
    def new_request_id(self) -> str: ...

    @abstractmethod
    def error_type(self, status: int) -> str:
        """The error type this provider reports for ``status`` when none is given."""

    @abstractmethod
    def error_body(self, error: ApiError, request_id: str) -> dict[str, Any]:
        """The JSON body of an error answered before any stream."""

    @abstractmethod
    def invalid_json(self, detail: str) -> ApiError:
        """The error for a body that is not JSON."""

    def too_large(self, limit: int) -> ApiError:
        return ApiError(413, f"Request exceeds the maximum size of {limit} bytes.")

    @abstractmethod
    def rate_limit_headers(self, limits: RateLimits) -> dict[str, str]:
        """This provider's rate-limit header family, sent with a 429."""

    @abstractmethod
    def unauthorized(self, key: str | None) -> ApiError:
        """The 401 for a missing (None) or wrong API key."""

    @abstractmethod
    def model_object(self, name: str) -> dict[str, Any]:
        """One entry of ``GET /v1/models``."""

    @abstractmethod
    def model_list(self, names: list[str]) -> dict[str, Any]:
        """The body of ``GET /v1/models``."""

    def not_found(self, method: str, path: str) -> ApiError:
        """An unknown route or a method the route does not take."""
        return ApiError(404, f"Invalid URL ({method} {path})")

    rate_limit_prefix: str = ""
    """The prefix of this provider's rate-limit headers (kept when an error is recorded)."""

    @abstractmethod
    def read_error(self, status: int, body: Any) -> ApiError:
        """An error this provider answered (its envelope), read back for recording."""


class EventStream(ABC):
    """One reply rendered as stream events, with the API's own error and keep-alive events.

    ``error_frames`` and ``keepalive`` let the shared fault machinery inject an error or
    a keep-alive mid-stream without knowing the wire format; an event stream that
    numbers its events (Responses ``sequence_number``) keeps counting through them.
    """

    stored: Stored | None = None
    """What the server keeps of this reply for a follow-up (Responses with ``store``);
    ``error_frames`` updates it in place when an error ends the stream early."""

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
    """One API of a provider: its request reading and its reply rendering."""

    name: Api
    provider: Provider
    presets: Mapping[str, Preset] = {}
    """Preset errors this API words differently from the rest of its provider."""
    threads: bool = False
    """Kept replies are the turns of threads: each can be continued once, and a thread
    left idle for ``thread_idle_seconds`` is forgotten (Anthropic's message threads)."""

    def new_request_id(self) -> str:
        return self.provider.new_request_id()

    def preset(self, name: str) -> Preset:
        return self.presets.get(name) or self.provider.presets[name]

    @abstractmethod
    def parse(
        self, body: Any, headers: Mapping[str, str], strictness: Strictness = STRICT
    ) -> NeutralRequest:
        """Validate the body the way the real API does; raise ``ApiError`` if it would."""

    @abstractmethod
    def render_body(self, plan: "ReplyPlan") -> dict[str, Any]:
        """The non-streaming response object."""

    @abstractmethod
    def render_stream(self, plan: "ReplyPlan") -> EventStream:
        """The stream renderer for this reply."""

    @abstractmethod
    def read_body(self, body: Any) -> Reading:
        """A non-streaming response of this API read back into the neutral reply."""

    @abstractmethod
    def read_events(self, events: list[SseEvent]) -> Reading:
        """A stream of this API read back into the neutral reply, with the arrival time
        of each token event; raises ``ValueError`` for a stream that did not finish."""

    def stored(self, plan: "ReplyPlan", body: dict[str, Any]) -> Stored | None:
        """What to keep of a non-streaming reply for a follow-up request; None: nothing."""
        return None

    def resume(self, request: NeutralRequest, kept: Stored) -> None:
        """Make ``request`` continue ``kept``: its turns follow the kept conversation."""
        request.messages = [*kept.conversation, *request.messages]

    def continuation_not_found(self, reference: str) -> ApiError:
        """The error for a request that continues a reply the server does not hold."""
        return ApiError(404, f"Unknown reference '{reference}'.")

    def continuation_taken(self, reference: str, in_flight: bool) -> ApiError:
        """The error for continuing a thread's reply a second time (``in_flight``: while
        the first continuation is still being answered)."""
        return ApiError(400, f"'{reference}' has already been continued.")
