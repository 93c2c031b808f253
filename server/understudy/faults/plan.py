"""Fault injection: a fault plan per reply, and the script that plays it over a stream.

Every fault is written once here, in API-neutral terms; an API shows up only through
its ``ApiModule``/``EventStream`` methods (``error_body``, ``rate_limit_headers``,
``error_frames``, ``keepalive``), so the same scenario breaks Chat, Messages and
Responses each in its own provider-exact way.

* ``plan_faults`` (called once per request by ``build_plan``) resolves the reply's
  ``error``/``fault``/``framing``/``chaos`` (or the server-wide chaos profile) into a
  ``FaultPlan``, or None. None is the common case and costs nothing further: the
  pipeline and the writer keep their plain hot path.
* ``FaultPlan.error`` is answered as an HTTP error before any stream.
* ``Script.actions`` turns the rendered frames into what the writer does: ``Send``
  writes (framing applied), ``Pause`` (a stall or a scripted wait, with keep-alives),
  ``CUT`` (drop the connection without the chunked terminator). A truncation or an
  error event simply ends the actions early, and the writer closes the body normally.
"""

import asyncio
import itertools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError
from understudy.core.errors import PRESETS, ApiError, preset_error
from understudy.core.ratelimits import RateLimits, duration
from understudy.faults import violations
from understudy.faults.framing import Framing
from understudy.faults.specs import (
    ChaosChoice,
    ChaosSpec,
    ErrorSpec,
    EventRange,
    FaultSpec,
    FramingSpec,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from understudy.core.request import NeutralRequest
    from understudy.providers.base import EventStream
    from understudy.scenarios import Selection
    from understudy.stream.writer import Frame

DEFAULT_RETRY_AFTER = {"rate_limit": 1.0}
"""Presets that carry a retry delay unless the scenario gives one (seconds)."""

_MIN_KEEPALIVE = 0.01
_STREAM_ONLY = ("error_event", "truncate", "malformed")


# ----------------------------------------------------------------------------- the plan


@dataclass(slots=True)
class Fault:
    """One resolved stream fault: positions drawn, durations scaled, error built."""

    kind: str
    after_events: int | None = None
    after_bytes: int | None = None
    mid_event: bool = False
    error: ApiError | None = None
    seconds: float | None = None
    keepalive_every: float | None = None
    violation: str | None = None

    @property
    def position(self) -> int:
        return self.after_events or 0

    def label(self) -> str:
        where = f"after {self.position} events"
        if self.kind == "error_event":
            error = self.error
            name = error.anthropic_type or error.code or error.type if error else None
            return f"error_event {where} ({name or 'server_error'})"
        if self.kind == "disconnect":
            if self.after_bytes is not None:
                return f"disconnect after {self.after_bytes} bytes"
            return f"disconnect {'mid-event ' if self.mid_event else ''}{where}"
        if self.kind == "stall":
            length = "forever" if self.seconds is None else f"{self.seconds:g}s"
            alive = f" (keep-alive every {self.keepalive_every:g}s)" if self.keepalive_every else ""
            return f"stall {length} {where}{alive}"
        if self.kind == "malformed":
            return f"malformed {self.violation}"
        return f"truncate {where}"


@dataclass(slots=True)
class FaultPlan:
    error: ApiError | None = None
    """Answer with this HTTP error instead of the reply."""
    faults: tuple[Fault, ...] = ()
    framing: Framing | None = None
    waits: tuple[tuple[int, float], ...] = ()
    label: str | None = None
    """What was done to this request, for the journal."""
    kinds: tuple[str, ...] = ()
    """The kinds of fault in ``label`` (``http_error``, ``disconnect``, ``framing``...): a
    small fixed set, fit for a metrics label where ``label``'s positions are not."""

    def script(self, stream: "EventStream") -> "Script | None":
        """The writer's script for this stream, or None when nothing acts on it."""
        if not (self.faults or self.framing or self.waits):
            return None
        return Script(self, stream)

    def fault(self, kind: str) -> Fault | None:
        return next((fault for fault in self.faults if fault.kind == kind), None)

    async def hold(self, request: "Request") -> None:
        """A non-streaming reply's stall: wait, or until the client gives up."""
        stall = self.fault("stall")
        if stall is None:
            return
        if stall.seconds is not None:
            await asyncio.sleep(stall.seconds)
            return
        while not await request.is_disconnected():
            await asyncio.sleep(0.25)

    def cut_at(self, body_size: int) -> int | None:
        """For a non-streaming reply: how many body bytes to send before disconnecting."""
        cut = self.fault("disconnect")
        if cut is None:
            return None
        if cut.after_bytes is not None:
            return min(cut.after_bytes, body_size)
        return body_size // 2


# ----------------------------------------------------------------------------- the script


class Send:
    """Write these bytes (one ASGI send each); ``event`` counts it as a delivered event."""

    __slots__ = ("event", "paced", "writes")

    def __init__(self, writes: tuple[bytes, ...], paced: bool, event: bool = True) -> None:
        self.writes = writes
        self.paced = paced
        self.event = event


class Pause:
    """Send nothing for ``seconds`` (None: until the client leaves), keep-alives aside."""

    __slots__ = ("every", "keepalive", "seconds")

    def __init__(
        self,
        seconds: float | None,
        keepalive: tuple[bytes, ...] | None = None,
        every: float = 0.0,
    ) -> None:
        self.seconds = seconds
        self.keepalive = keepalive
        self.every = every


class Cut:
    """Drop the connection now, without the chunked-encoding terminator."""


CUT = Cut()
Action = Send | Pause | Cut


def _whole(frame: bytes) -> tuple[bytes, ...]:
    return (frame,)


def _take(writes: tuple[bytes, ...], size: int) -> tuple[bytes, ...]:
    """The first ``size`` bytes of ``writes``, keeping their boundaries."""
    taken = []
    for write in writes:
        if size <= 0:
            break
        taken.append(write[:size])
        size -= len(write)
    return tuple(taken)


class Script:
    """Plays a ``FaultPlan`` over one stream's frames."""

    def __init__(self, plan: FaultPlan, stream: "EventStream") -> None:
        self.plan = plan
        self.stream = stream
        framing = plan.framing
        self.writes = framing.writes if framing is not None else _whole
        self.write_gap = framing.write_gap if framing is not None else 0.0

    def actions(self, frames: Iterable["Frame"]) -> Iterator[Action]:
        plan = self.plan
        for fault in plan.faults:
            if fault.kind == "malformed" and fault.violation is not None:
                frames = violations.apply(fault.violation, list(frames), fault.after_events)
        ops: dict[int, list[Pause | Fault]] = {}
        for after, seconds in plan.waits:
            ops.setdefault(after, []).append(Pause(seconds))
        budget = None
        for fault in plan.faults:
            if fault.kind == "stall":
                keepalive = None
                if fault.keepalive_every:
                    keepalive = self.writes(self.stream.keepalive())
                pause = Pause(fault.seconds, keepalive, fault.keepalive_every or 0.0)
                ops.setdefault(fault.position, []).append(pause)
            elif fault.kind == "disconnect" and fault.after_bytes is not None:
                budget = fault.after_bytes
            elif fault.kind != "malformed":
                ops.setdefault(fault.position, []).append(fault)

        frames = iter(frames)
        count = sent = 0
        while True:
            # Act before pulling the next frame: a renderer that numbers its events
            # (Responses) then numbers an injected error right after the last one sent.
            for op in ops.get(count, ()):
                if isinstance(op, Pause):
                    yield op
                else:
                    yield from self._end(op, frames)
                    return
            frame = next(frames, None)
            if frame is None:
                break
            data, paced = frame
            writes = self.writes(data)
            if budget is not None:
                size = sum(len(write) for write in writes)
                if sent + size > budget:
                    if budget > sent:
                        yield Send(_take(writes, budget - sent), paced, event=False)
                    yield CUT
                    return
                sent += size
            yield Send(writes, paced)
            count += 1
        # Positions past the last event act at the end.
        for position in sorted(position for position in ops if position > count):
            for op in ops[position]:
                if isinstance(op, Pause):
                    yield op
                else:
                    yield from self._end(op, None)
                    return
        if budget is not None:
            yield CUT

    def _end(self, fault: Fault, frames: Iterator["Frame"] | None) -> Iterator[Action]:
        if fault.kind == "error_event":
            error = fault.error or ApiError(500, "server error")
            for frame in self.stream.error_frames(error):
                yield Send(self.writes(frame), False)
        elif fault.kind == "disconnect":
            frame = next(frames, None) if fault.mid_event and frames is not None else None
            if frame is not None:
                writes = self.writes(frame[0])
                half = max(sum(len(write) for write in writes) // 2, 1)
                yield Send(_take(writes, half), frame[1], event=False)
            yield CUT


# ----------------------------------------------------------------------------- building the plan


def resolve_error(spec: ErrorSpec, api: str, model: str, before_stream: bool = True) -> ApiError:
    """The ``ApiError`` a spec means for ``api``; headers only for an HTTP error."""
    retry = spec.retry_after_ms / 1000 if spec.retry_after_ms is not None else spec.retry_after
    if retry is None and spec.preset is not None:
        retry = DEFAULT_RETRY_AFTER.get(spec.preset)
    wait = duration(retry) if retry else "20s"
    if spec.preset is not None:
        error = preset_error(spec.preset, api, model, wait)
    else:
        error = _status_error(spec.status or 500, api, model, wait)
    if spec.status is not None:
        error.status = spec.status
    for name in ("message", "type", "code", "param", "anthropic_type"):
        value = getattr(spec, name)
        if value is not None:
            setattr(error, name, value)
    if not before_stream:
        return error
    headers: dict[str, str] = {}
    if retry is not None:
        headers["retry-after"] = str(max(math.ceil(retry), 0))
        headers["retry-after-ms"] = str(round(retry * 1000))
    headers["x-should-retry"] = "true" if spec.should_retry else "false"
    headers.update(spec.headers or {})
    error.headers = headers
    limits = spec.rate_limits
    if limits is None:
        limits = error.status == 429
    if limits is not False:
        given = limits if not isinstance(limits, bool) else None
        reset = given.reset_ms / 1000 if given and given.reset_ms is not None else retry or 1.0
        error.rate_limits = RateLimits(
            requests_limit=given.requests_limit if given else 60,
            requests_remaining=given.requests_remaining if given else 0,
            tokens_limit=given.tokens_limit if given else 150_000,
            tokens_remaining=given.tokens_remaining if given else 150_000,
            reset_seconds=reset,
        )
    return error


def _status_error(status: int, api: str, model: str, wait: str) -> ApiError:
    """A bare status: the message of the preset with that status, else the HTTP phrase."""
    for name in PRESETS:
        error = preset_error(name, api, model, wait)
        if error.status == status:
            return ApiError(status, error.message)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return ApiError(status, phrase)


def _position(value: EventRange | None, rng: random.Random) -> int | None:
    if value is None:
        return None
    return value.min if value.min == value.max else rng.randint(value.min, value.max)


def _scaled(seconds: float | None, scale: float) -> float | None:
    return None if seconds is None else seconds * scale


def resolve_fault(
    spec: FaultSpec, api: str, model: str, rng: random.Random, scale: float
) -> Fault | None:
    every = spec.keepalive_every
    if every is not None:
        every = max(every * scale if scale > 0 else every, _MIN_KEEPALIVE)
    fault = Fault(
        kind=spec.kind,
        after_events=_position(spec.after_events, rng),
        after_bytes=spec.after_bytes,
        mid_event=spec.mid_event,
        seconds=_scaled(spec.seconds, scale),
        keepalive_every=every,
        violation=spec.violation_for(api),
    )
    if spec.kind == "error_event":
        error = spec.error or ErrorSpec(preset="server_error")
        fault.error = resolve_error(error, api, model, before_stream=False)
    if spec.kind == "malformed" and fault.violation is None:
        return None  # a per-API violation that names other APIs only
    if spec.kind == "stall" and fault.seconds == 0:
        return None
    return fault


def framing_of(spec: FramingSpec, scale: float) -> Framing:
    comment = spec.comments
    if isinstance(comment, bool):
        comment = "understudy" if comment else None
    return Framing(
        write_size=spec.write_size,
        split_utf8=spec.split_utf8,
        line_ending=spec.line_ending,
        comment=None if comment is None else comment.encode(),
        multiline_data=spec.multiline_data,
        write_gap=spec.write_gap_ms / 1000 * scale,
    )


def framing_label(spec: FramingSpec) -> str:
    parts = [f"{name}={value}" for name, value in spec.model_dump(exclude_defaults=True).items()]
    return "framing " + " ".join(parts)


def _usable(choice: ChaosChoice, api: str, stream: bool, has_tool_calls: bool) -> bool:
    """Whether a chaos choice can act on this request."""
    if choice.error is not None:
        return True
    faults = choice.fault or []
    if not stream:
        return any(fault.kind in ("stall", "disconnect") for fault in faults)
    for fault in faults:
        name = fault.violation_for(api) if fault.kind == "malformed" else None
        if fault.kind == "malformed" and (
            name is None or violations.applies(name, api, has_tool_calls)
        ):
            return False
    return True


class Chaos:
    """A server-wide chaos profile (``--chaos``): its own call counter drives the seed."""

    def __init__(self, spec: ChaosSpec, source: str) -> None:
        self.spec = spec
        self.source = source
        self._calls = itertools.count()

    def rng(self) -> random.Random:
        return _rng(self.spec.seed, next(self._calls))


def _rng(seed: int | None, *key: object) -> random.Random:
    if seed is None:
        return random.Random()
    return random.Random(":".join(str(part) for part in (seed, *key)))


def pick(
    chaos: ChaosSpec, rng: random.Random, api: str, stream: bool, has_tool_calls: bool
) -> ChaosChoice | None:
    """Roll the dice: None (no fault) or one usable choice, by weight."""
    if rng.random() >= chaos.probability:
        return None
    usable = [c for c in chaos.faults if _usable(c, api, stream, has_tool_calls)]
    if not usable:
        return None
    return rng.choices(usable, weights=[choice.weight for choice in usable])[0]


def plan_faults(
    request: "NeutralRequest",
    selection: "Selection",
    waits: tuple[tuple[int, float], ...],
    seed: int | None,
    time_scale: float,
    server_chaos: Chaos | None = None,
) -> FaultPlan | None:
    """The fault plan for one reply, or None when nothing is scripted (the usual case)."""
    spec, scenario = selection.reply, selection.scenario
    error, faults, framing = spec.error, spec.fault, spec.framing or scenario.framing
    chaos_spec = spec.chaos or scenario.chaos
    if (
        error is None
        and not faults
        and framing is None
        and chaos_spec is None
        and server_chaos is None
        and not waits
    ):
        return None

    api, stream, has_tools = request.api, request.stream, bool(spec.tool_calls)
    position = selection.position
    rng = _rng(seed, scenario.name, position)
    chosen = ""
    if error is None and not faults:
        chaos = None
        if chaos_spec is not None:
            chaos, rng = chaos_spec, _rng(chaos_spec.seed, scenario.name, position)
        elif server_chaos is not None:
            chaos, rng = server_chaos.spec, server_chaos.rng()
        choice = pick(chaos, rng, api, stream, has_tools) if chaos is not None else None
        if choice is not None:
            error, faults = choice.error, choice.fault
            framing = choice.framing or framing
            chosen = "chaos: "

    labels: list[str] = []
    kinds: list[str] = []
    plan = FaultPlan(waits=waits if stream else ())
    if error is not None:
        plan.error = resolve_error(error, api, request.model)
        name = error.preset or ""
        labels.append(f"http {plan.error.status} {name}".rstrip())
        kinds.append("http_error")
    resolved = []
    for fault_spec in faults or ():
        if not stream and fault_spec.kind in _STREAM_ONLY:
            continue
        fault = resolve_fault(fault_spec, api, request.model, rng, time_scale)
        if fault is None:
            continue
        if fault.kind == "malformed":
            problem = violations.applies(fault.violation or "", api, has_tools)
            if problem is not None:
                raise ApiError(
                    400,
                    f"Understudy scenario '{scenario.name}': {problem}. Restrict the scenario "
                    "with match: {api: ...} or give one violation per API.",
                    code="fault_not_applicable",
                    headers={"x-should-retry": "false"},
                )
        resolved.append(fault)
        labels.append(fault.label())
        kinds.append(fault.kind)
    plan.faults = tuple(resolved)
    if framing is not None and stream:
        plan.framing = framing_of(framing, time_scale)
        labels.append(framing_label(framing))
        kinds.append("framing")
    if plan.error is None and not plan.faults and plan.framing is None and not plan.waits:
        return None
    if labels:
        plan.label = chosen + "; ".join(labels)
        plan.kinds = tuple(kinds)
    return plan


# ----------------------------------------------------------------------------- chaos profiles

_RANDOM_SPOT = {"min": 1, "max": 8}
PROFILES: dict[str, dict[str, Any]] = {
    "flaky": {
        "probability": 0.2,
        "faults": [
            {"error": {"preset": "rate_limit", "should_retry": True}},
            {"error": {"preset": "overloaded", "should_retry": True}},
            {"error": {"preset": "server_error", "should_retry": True}},
            {"kind": "error_event", "after_events": _RANDOM_SPOT, "error": "overloaded"},
            {"kind": "disconnect", "after_events": _RANDOM_SPOT},
            {"kind": "disconnect", "after_events": _RANDOM_SPOT, "mid_event": True},
            {"kind": "truncate", "after_events": _RANDOM_SPOT},
            {"kind": "stall", "after_events": _RANDOM_SPOT, "seconds": 2, "keepalive_every": 0.5},
        ],
    },
    "errors": {
        "probability": 0.2,
        "faults": [
            {"error": {"preset": "rate_limit", "should_retry": True}},
            {"error": {"preset": "overloaded", "should_retry": True}},
            {"error": {"preset": "server_error", "should_retry": True}},
        ],
    },
    "framing": {
        "probability": 1.0,
        "faults": [
            {"framing": {"write_size": 1}},
            {"framing": {"write_size": 3, "split_utf8": True}},
            {"framing": {"line_ending": "crlf"}},
            {"framing": {"line_ending": "cr"}},
            {"framing": {"comments": True, "multiline_data": True}},
        ],
    },
}
"""Bundled server-wide chaos profiles, by name (``--chaos flaky``)."""


def load_chaos(value: str | None) -> Chaos | None:
    """A chaos profile: a bundled name or a YAML file holding a ``chaos`` mapping."""
    if not value:
        return None
    if value in PROFILES:
        return Chaos(ChaosSpec.model_validate(PROFILES[value]), value)
    path = Path(value)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(
            f"chaos profile '{value}': not a bundled profile ({', '.join(PROFILES)}) "
            f"and not a readable YAML file: {exc}"
        ) from None
    if isinstance(data, dict) and set(data) == {"chaos"}:
        data = data["chaos"]
    try:
        return Chaos(ChaosSpec.model_validate(data), str(path))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'chaos'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"{path}: invalid chaos profile: {problems}") from None
