"""The scenario format for faults: errors, stream faults, framing chaos, chaos mode.

A reply may carry ``error`` (an HTTP error instead of the reply), ``fault`` (one or a
list of stream faults), ``framing`` (legal but unusual SSE bytes) and ``chaos`` (any of
those with a probability, reproducible from a seed). docs/faults.md has the examples;
server/faults.py turns these specs into a per-reply fault plan.
"""

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from understudy.faults.violations import VIOLATIONS
from understudy.format.models import OneOrList, Shorthand, Strict, is_number, is_whole
from understudy.providers import API_NAMES, PRESET_NAMES

ErrorPreset = Literal[PRESET_NAMES]  # type: ignore[valid-type]
FaultKind = Literal["error_event", "disconnect", "truncate", "stall", "malformed"]
TERMINAL_KINDS = ("error_event", "disconnect", "truncate")
LineEnding = Literal["lf", "crlf", "cr", "mixed"]
ApiName = Literal[API_NAMES]  # type: ignore[valid-type]


class EventRange(Shorthand):
    """A position drawn at random (from the chaos or delivery seed) per request;
    ``after_events: 3`` is the range ``{min: 3, max: 3}``."""

    ACCEPTS = "a whole number or {min, max}"
    SHORT_FORMS = ({"type": "integer", "minimum": 0},)

    min: NonNegativeInt = 0
    max: NonNegativeInt

    @classmethod
    def expand(cls, value: Any) -> dict[str, Any] | None:
        return {"min": value, "max": value} if is_whole(value) else None

    @model_validator(mode="after")
    def _ordered(self) -> "EventRange":
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class RateLimitSpec(Strict):
    """The rate-limit header family sent with the error (each provider's own names)."""

    requests_limit: PositiveInt = 60
    requests_remaining: NonNegativeInt = 0
    tokens_limit: PositiveInt = 150_000
    tokens_remaining: NonNegativeInt = 150_000
    reset_ms: NonNegativeFloat | None = Field(
        None, description="When the budget resets; default: the retry delay, else 1 s."
    )


HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A field name is a token: visible ASCII but no separators."""
SERVER_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te"}
    | {"trailer", "host"}
)
"""Headers that frame the message or belong to one connection: the server sets them."""
MAX_HEADER_VALUE = 8192
"""Bytes of one scripted header value; real servers refuse far shorter header lines."""
_BAD_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_header(name: str, value: str) -> None:
    """Refuse a scripted response header the server could not send, or that would break
    the response's framing: a non-token name, CR/LF or other control characters, text
    outside latin-1, a value over ``MAX_HEADER_VALUE`` bytes, or a framing or hop-by-hop
    header."""
    if not HEADER_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a header name (letters, digits, !#$%&'*+-.^_`|~)")
    lowered = name.lower()
    if lowered in SERVER_HEADERS or lowered.startswith("proxy-"):
        raise ValueError(f"{name!r} is a framing or hop-by-hop header; the server sets it")
    if _BAD_VALUE_CHARS.search(value):
        raise ValueError(f"{name}: the value holds CR, LF or another control character")
    try:
        size = len(value.encode("latin-1"))
    except UnicodeEncodeError:
        raise ValueError(f"{name}: the value must be latin-1 text") from None
    if size > MAX_HEADER_VALUE:
        raise ValueError(f"{name}: the value is {size} bytes, more than {MAX_HEADER_VALUE}")


HeaderValue = Annotated[
    str,
    BeforeValidator(lambda value: str(value) if is_number(value) else value),
    WithJsonSchema({"type": ["string", "number"]}),
]
"""A response header's value; a number (``x-extra: 1``) is sent as its text."""


class ErrorSpec(Shorthand):
    """An error: a preset name, a status, or a preset with fields overridden."""

    ACCEPTS = "a preset name (rate_limit, overloaded, ...), a status from 400 to 599, or a mapping"
    SHORT_FORMS = (
        {"enum": list(PRESET_NAMES), "description": "A preset error."},
        {"type": "integer", "minimum": 400, "maximum": 599, "description": "An HTTP status."},
    )

    preset: ErrorPreset | None = Field(
        None, description="rate_limit, overloaded, server_error, context_length_exceeded, ..."
    )
    status: int | None = Field(None, ge=400, le=599, description="HTTP status (before a stream).")
    message: str | None = None
    type: str | None = Field(None, description="OpenAI error type.")
    code: str | None = Field(None, description="OpenAI error code.")
    param: str | None = None
    anthropic_type: str | None = Field(None, description="Anthropic error.type.")
    retry_after: NonNegativeFloat | None = Field(None, description="Seconds: retry-after.")
    retry_after_ms: NonNegativeFloat | None = Field(None, description="Milliseconds.")
    should_retry: bool | None = Field(None, description="x-should-retry; false unless set.")
    headers: dict[str, HeaderValue] | None = Field(None, description="More response headers.")
    rate_limits: RateLimitSpec | bool | None = Field(
        None, description="Rate-limit headers; default on for 429, false to omit."
    )

    @classmethod
    def expand(cls, value: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            return {"preset": value}
        if is_whole(value):
            return {"status": value}
        return None

    @field_validator("headers")
    @classmethod
    def _safe_headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, item in (value or {}).items():
            check_header(name, item)
        return value

    @model_validator(mode="after")
    def _named(self) -> "ErrorSpec":
        if self.preset is None and self.status is None:
            raise ValueError("give a preset name or a status")
        return self


class FaultSpec(Strict):
    """One thing that goes wrong in a stream; positions count the reply's events."""

    kind: FaultKind
    after_events: EventRange | None = Field(
        None,
        description="Events sent before the fault acts (0: before the first); "
        "a number or {min, max} drawn per request.",
    )
    after_bytes: NonNegativeInt | None = Field(
        None, description="disconnect: cut after this many body bytes."
    )
    mid_event: bool = Field(False, description="disconnect: cut halfway through the next event.")
    error: ErrorSpec | None = Field(None, description="error_event: the error (server_error).")
    seconds: NonNegativeFloat | None = Field(
        None, description="stall: how long; omitted means until the client gives up."
    )
    keepalive_every: PositiveFloat | None = Field(
        None, description="stall: send the API's keep-alive this often (seconds)."
    )
    violation: str | dict[ApiName, str] | None = Field(
        None, description="malformed: a name from the catalogue, or one per API."
    )

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> "FaultSpec":
        own = {
            "after_bytes": "disconnect",
            "mid_event": "disconnect",
            "error": "error_event",
            "seconds": "stall",
            "keepalive_every": "stall",
            "violation": "malformed",
        }
        for name in self.model_fields_set:
            if name in own and own[name] != self.kind:
                raise ValueError(f"'{name}' applies to kind {own[name]} only")
        if self.kind == "malformed":
            if self.violation is None:
                raise ValueError("malformed needs a 'violation'")
            for name in self.violation_names():
                if name not in VIOLATIONS:
                    raise ValueError(
                        f"unknown violation '{name}'; known: {', '.join(sorted(VIOLATIONS))}"
                    )
        if self.after_bytes is not None and (self.mid_event or self.after_events is not None):
            raise ValueError("give after_bytes alone, or after_events with optional mid_event")
        return self

    def violation_names(self) -> list[str]:
        if self.violation is None:
            return []
        if isinstance(self.violation, str):
            return [self.violation]
        return list(self.violation.values())

    def violation_for(self, api: str) -> str | None:
        if isinstance(self.violation, dict):
            return self.violation.get(api)  # type: ignore[call-overload]
        return self.violation


def check_faults(faults: list[FaultSpec] | None, has_tool_calls: bool | None = None) -> None:
    """Rules for faults that act together in one reply."""
    if not faults:
        return
    terminal = [fault.kind for fault in faults if fault.kind in TERMINAL_KINDS]
    if len(terminal) > 1:
        raise ValueError(f"one reply can end only one way, got {', '.join(terminal)}")
    kinds = {fault.kind for fault in faults}
    if "malformed" in kinds and "error_event" in kinds:
        raise ValueError("malformed and error_event cannot be combined in one reply")
    if has_tool_calls is False:
        for fault in faults:
            for name in fault.violation_names():
                if VIOLATIONS[name].needs_tool_calls:
                    raise ValueError(f"violation '{name}' needs a reply with tool_calls")


class FramingSpec(Strict):
    """Legal SSE in unusual bytes; see server/framing.py."""

    write_size: PositiveInt | None = Field(None, description="Split events into N-byte writes.")
    split_utf8: bool = Field(False, description="Cut writes inside multi-byte UTF-8 characters.")
    line_ending: LineEnding = Field("lf", description="lf, crlf, cr, or mixed (\\n then \\r\\n).")
    comments: bool | str = Field(False, description="A ': comment' line before every event.")
    multiline_data: bool = Field(False, description="One data: line per top-level JSON member.")
    write_gap_ms: NonNegativeFloat = Field(0, description="Pause between one event's writes.")


class ChaosChoice(Shorthand):
    """One outcome chaos mode can pick; a bare fault mapping is short for ``fault:``, and
    a preset name for ``error:``."""

    ACCEPTS = "a preset error name, a fault (a mapping with kind), or {error, fault, framing}"
    SHORT_FORMS = ({"enum": list(PRESET_NAMES), "description": "A preset error."}, FaultSpec)

    error: ErrorSpec | None = None
    fault: OneOrList[FaultSpec] | None = None
    framing: FramingSpec | None = None
    weight: PositiveFloat = 1.0

    @classmethod
    def expand(cls, value: Any) -> dict[str, Any] | None:
        if isinstance(value, dict) and "kind" in value:
            return {"fault": [value]}
        if isinstance(value, str):
            return {"error": value}
        return None

    @model_validator(mode="after")
    def _something(self) -> "ChaosChoice":
        if self.error is None and not self.fault and self.framing is None:
            raise ValueError("give error, fault or framing")
        check_faults(self.fault)
        return self


class ChaosSpec(Strict):
    """With ``probability``, pick one of ``faults`` (by weight) for a reply."""

    probability: float = Field(1.0, ge=0, le=1)
    seed: int | None = Field(
        None, description="Same seed, same choice for the n-th call of a scenario."
    )
    faults: list[ChaosChoice] = Field(min_length=1)
