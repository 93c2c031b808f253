"""The fault plan of one reply: what goes wrong with it, resolved once per request.

``plan_faults`` (called once per request while the reply is planned) resolves the
reply's ``error``/``fault``/``framing``/``chaos`` (or the server-wide chaos profile) into
a ``FaultPlan``, or None. None is the common case and costs nothing further: the
pipeline and the writer keep their plain hot path. ``FaultPlan.error`` is answered as
an HTTP error before any stream; the rest is played over the stream by its ``Script``.
Every fault is written once, in API-neutral terms; an API shows up only through its
provider module (error bodies, rate-limit headers, error and keep-alive events).
"""

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from understudy.core.errors import ApiError
from understudy.faults import violations
from understudy.faults.chaos import Chaos, pick, seeded
from understudy.faults.errors import resolve_error
from understudy.faults.framing import Framing
from understudy.faults.script import Script
from understudy.faults.specs import ErrorSpec, EventRange, FaultSpec, FramingSpec

if TYPE_CHECKING:
    from starlette.requests import Request

    from understudy.core.request import NeutralRequest
    from understudy.providers.base import EventStream
    from understudy.scenarios import Selection

_MIN_KEEPALIVE = 0.01
_STREAM_ONLY = ("error_event", "truncate", "malformed")


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
    cut_after: float | None = None
    """A stall longer than the server allows (``max_stall_seconds``, forever included)
    lasts this long, then the connection is cut."""

    @property
    def position(self) -> int:
        return self.after_events or 0

    def label(self) -> str:
        where = f"after {self.position} events"
        if self.kind == "error_event":
            error = self.error
            name = error.code or error.type if error else None
            return f"error_event {where} ({name or 'server_error'})"
        if self.kind == "disconnect":
            if self.after_bytes is not None:
                return f"disconnect after {self.after_bytes} bytes"
            return f"disconnect {'mid-event ' if self.mid_event else ''}{where}"
        if self.kind == "stall":
            length = "forever" if self.seconds is None else f"{self.seconds:g}s"
            alive = f" (keep-alive every {self.keepalive_every:g}s)" if self.keepalive_every else ""
            cut = "" if self.cut_after is None else f", cut at {self.cut_after:g}s"
            return f"stall {length} {where}{alive}{cut}"
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
        """A non-streaming reply's stall: wait, or until the client gives up or the
        server's longest stall has passed."""
        stall = self.fault("stall")
        if stall is None:
            return
        if stall.cut_after is None and stall.seconds is not None:
            await asyncio.sleep(stall.seconds)
            return
        loop = asyncio.get_running_loop()
        end = None if stall.cut_after is None else loop.time() + stall.cut_after
        while not await request.is_disconnected():
            left = 0.25 if end is None else min(end - loop.time(), 0.25)
            if left <= 0:
                return
            await asyncio.sleep(left)

    def cut_at(self, body_size: int) -> int | None:
        """For a non-streaming reply: how many body bytes to send before disconnecting."""
        stall = self.fault("stall")
        if stall is not None and stall.cut_after is not None:
            return 0
        cut = self.fault("disconnect")
        if cut is None:
            return None
        if cut.after_bytes is not None:
            return min(cut.after_bytes, body_size)
        return body_size // 2


def _position(value: EventRange | None, rng: random.Random) -> int | None:
    if value is None:
        return None
    return value.min if value.min == value.max else rng.randint(value.min, value.max)


def _scaled(seconds: float | None, scale: float) -> float | None:
    return None if seconds is None else seconds * scale


def resolve_fault(
    spec: FaultSpec,
    api: str,
    model: str,
    rng: random.Random,
    scale: float,
    max_stall: float | None = None,
) -> Fault | None:
    """``spec`` for one request; a stall longer than ``max_stall`` seconds (wall clock,
    forever included) is cut there."""
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
    if spec.kind == "stall":
        if fault.seconds == 0:
            return None
        if max_stall is not None and (fault.seconds is None or fault.seconds > max_stall):
            fault.cut_after = max_stall
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


def plan_faults(
    request: "NeutralRequest",
    selection: "Selection",
    waits: tuple[tuple[int, float], ...],
    seed: int | None,
    time_scale: float,
    server_chaos: Chaos | None = None,
    max_stall: float | None = None,
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
    rng = seeded(seed, scenario.name, position)
    chosen = ""
    if error is None and not faults:
        chaos = None
        if chaos_spec is not None:
            chaos, rng = chaos_spec, seeded(chaos_spec.seed, scenario.name, position)
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
        fault = resolve_fault(fault_spec, api, request.model, rng, time_scale, max_stall)
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
