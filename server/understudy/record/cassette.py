"""One recorded exchange as a scenario: the match, the reply and its measured delivery.

An exchange is what the proxy saw: the neutral request, and the upstream's answer (an
error, a JSON body, or a stream's events with their arrival times). The API module reads
its own wire format back (``read_body``/``read_events``); this module only turns the
neutral reading into the scenario format, so a recording replays through the same
match → plan → renderer → writer path as a scenario typed by hand.
"""

import contextlib
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import orjson

from understudy.core.reply import Reading
from understudy.core.request import NeutralRequest
from understudy.plan import build_plan
from understudy.providers import APIS
from understudy.scenarios import Scenario, Selection
from understudy.settings import Settings
from understudy.stream.sse import SseEvent

TIMINGS = ("exact", "summary")
_METACHARACTERS = frozenset("\\.^$|?*+()[]{}")
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GLOB = {"*": "[*]", "?": "[?]", "[": "[[]"}
_MASKED_KEY = re.compile(r"\b(sk-(?:ant-)?)[A-Za-z0-9*_-]{4,}")
REDACTED = "[redacted]"


@dataclass(slots=True)
class Exchange:
    """A request the proxy forwarded and the upstream's complete answer."""

    request: NeutralRequest
    status: int
    headers: Mapping[str, str]
    """The upstream's response headers, lower-case names."""
    body: bytes = b""
    events: list[SseEvent] | None = None
    """A stream's events, ``at`` in seconds since the request arrived; None: a body."""
    elapsed: float = 0.0
    """Seconds from the request's arrival to the end of the upstream's answer."""


def literal(text: str) -> str:
    """``text`` as a pattern that matches exactly it, in syntax both Python ``re`` and
    RE2 read the same way: metacharacters escaped with a backslash, control characters
    as ``\\n``, ``\\t`` or ``\\xHH``, nothing else escaped, and no lookarounds."""
    out = []
    for char in text:
        if char in _METACHARACTERS:
            out.append("\\" + char)
        elif char in _CONTROL:
            out.append(_CONTROL[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def anchored(text: str) -> str:
    return f"^{literal(text)}$"


def exact_glob(name: str) -> str:
    """A model name as a glob that matches only itself."""
    return "".join(_GLOB.get(char, char) for char in name)


def match_of(request: NeutralRequest) -> dict[str, Any]:
    """Enough of the request to tell the calls of one session apart."""
    match: dict[str, Any] = {"api": request.api, "model": exact_glob(request.model)}
    last = request.last_user_message
    if last:
        match["last_user_message"] = anchored(last)
    match["turn"] = request.turn
    match["tool_result"] = request.ends_with_tool_result
    return match


def _text(pieces: list[str], streamed: bool) -> str | list[str]:
    return list(pieces) if streamed else "".join(pieces)


def reply_of(reading: Reading, streamed: bool) -> dict[str, Any]:
    """The neutral reply as a scenario reply; a stream's pieces exactly as they came."""
    reply = reading.reply
    spec: dict[str, Any] = {}
    if reply.reasoning:
        spec["reasoning"] = _text(reply.reasoning, streamed)
    if reply.content:
        spec["content"] = _text(reply.content, streamed)
    if reply.refusal:
        spec["refusal"] = reply.refusal_text
    if reply.tool_calls:
        calls = []
        for call in reply.tool_calls:
            entry: dict[str, Any] = {"name": call.name, "arguments": call.arguments or "{}"}
            if call.id:
                entry["id"] = call.id
            if streamed and call.fragments:
                entry["fragments"] = list(call.fragments)
            calls.append(entry)
        spec["tool_calls"] = calls
    spec["finish_reason"] = reply.finish_reason
    if reply.stop_sequence is not None:
        spec["stop_sequence"] = reply.stop_sequence
    if reading.usage_reported:
        usage = reply.usage
        spec["usage"] = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cached_tokens": usage.cached_tokens,
        }
    if reply.model:
        spec["model"] = reply.model
    return spec


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)


def summary_delivery(times: list[float], elapsed: float) -> dict[str, Any]:
    """TTFT, the mean gap and its spread (normal jitter, seeded so replays repeat)."""
    if not times:
        return {"ttft_ms": _ms(elapsed)}
    gaps = [later - earlier for earlier, later in pairwise(times)]
    delivery: dict[str, Any] = {"ttft_ms": _ms(times[0])}
    if gaps:
        delivery["itl_ms"] = _ms(statistics.fmean(gaps))
        spread = statistics.pstdev(gaps) if len(gaps) > 1 else 0.0
        if _ms(spread) > 0:
            delivery["jitter"] = {"distribution": "normal", "ms": _ms(spread)}
            delivery["seed"] = 1
    return delivery


def exact_delivery(times: list[float], positions: list[int]) -> dict[str, Any]:
    """The first token at its TTFT, then each later token event after its own measured
    gap: a pause scripted before the replay's event at the same place."""
    waits = [
        {"after_events": position, "ms": _ms(later - earlier)}
        for position, (earlier, later) in zip(positions[1:], pairwise(times), strict=False)
    ]
    delivery: dict[str, Any] = {"ttft_ms": _ms(times[0]), "itl_ms": 0}
    waits = [wait for wait in waits if wait["ms"] > 0]
    if waits:
        delivery["waits"] = waits
    return delivery


def paced_positions(request: NeutralRequest, spec: dict[str, Any], settings: Settings) -> list[int]:
    """Where the replay of ``spec`` sends its token events, among all its events."""
    scenario = Scenario.model_validate({"name": "recording", "reply": spec})
    selection = Selection(scenario, 0, scenario.reply_list[0])
    plan = build_plan(request, selection, settings, "recording")
    frames = APIS[request.api].render_stream(plan).frames()
    return [index for index, (_, paced) in enumerate(frames) if paced]


def error_of(exchange: Exchange) -> dict[str, Any]:
    """An upstream error as an ``error:`` reply: status, the provider's fields, and its
    retry and rate-limit headers (nothing else of the headers is kept)."""
    provider = APIS[exchange.request.api].provider
    try:
        body = orjson.loads(exchange.body)
    except orjson.JSONDecodeError:
        body = exchange.body.decode("utf-8", errors="replace")
    error = provider.read_error(exchange.status, body)
    spec: dict[str, Any] = {"status": exchange.status, "message": error.message}
    if error.type:
        spec[provider.error_type_field] = error.type
    if error.code is not None and provider.error_type_field == "type":
        spec["code"] = error.code
    if error.param is not None and provider.error_type_field == "type":
        spec["param"] = error.param
    headers = exchange.headers
    for name, field in (("retry-after", "retry_after"), ("retry-after-ms", "retry_after_ms")):
        with contextlib.suppress(KeyError, ValueError):
            spec[field] = float(headers[name])
    if "x-should-retry" in headers:
        spec["should_retry"] = headers["x-should-retry"].strip().lower() == "true"
    limits = {
        name: value
        for name, value in headers.items()
        if provider.rate_limit_prefix and name.startswith(provider.rate_limit_prefix)
    }
    if limits:
        spec["headers"] = limits
    spec["rate_limits"] = False
    return spec


def reply_for(exchange: Exchange, settings: Settings) -> dict[str, Any]:
    """The scenario reply for one exchange (``ValueError``: nothing to record)."""
    api = APIS[exchange.request.api]
    if exchange.status >= 400:
        return {"error": error_of(exchange)}
    if exchange.events is None:
        reading = api.read_body(orjson.loads(exchange.body))
        spec = reply_of(reading, streamed=False)
        spec["delivery"] = {"ttft_ms": _ms(exchange.elapsed)}
        return spec
    reading = api.read_events(exchange.events)
    spec = reply_of(reading, streamed=True)
    times = reading.token_times
    delivery = summary_delivery(times, exchange.elapsed)
    if times and settings.record_timing == "exact":
        positions = paced_positions(exchange.request, spec, settings)
        if len(positions) == len(times):
            delivery = exact_delivery(times, positions)
    spec["delivery"] = delivery
    return spec


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every secret, and anything shaped like a (masked) API key, replaced."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return _MASKED_KEY.sub(lambda found: found.group(1) + REDACTED, value)
    if isinstance(value, dict):
        return {key: scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    return value
