"""The script that plays a fault plan over one stream's frames.

It turns the rendered frames into writer actions: ``Send`` writes (framing applied),
``Pause`` (a stall or a scripted wait, with keep-alives), ``CUT`` (drop the connection
without the chunked terminator). A truncation or an error event simply ends the actions
early, and the writer closes the body normally.
"""

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from understudy.core.errors import ApiError
from understudy.faults import violations
from understudy.stream.actions import CUT, Action, Pause, Send
from understudy.stream.frames import Frame

if TYPE_CHECKING:
    from understudy.faults.plan import Fault, FaultPlan
    from understudy.providers.base import EventStream


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

    def __init__(self, plan: "FaultPlan", stream: "EventStream") -> None:
        self.plan = plan
        self.stream = stream
        framing = plan.framing
        self.writes = framing.writes if framing is not None else _whole
        self.write_gap = framing.write_gap if framing is not None else 0.0

    def actions(self, frames: Iterable[Frame]) -> Iterator[Action]:
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
                seconds = fault.seconds if fault.cut_after is None else fault.cut_after
                pause = Pause(seconds, keepalive, fault.keepalive_every or 0.0)
                ops.setdefault(fault.position, []).append(pause)
                if fault.cut_after is not None:
                    ops[fault.position].append(fault)  # then _end cuts the connection
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

    def _end(self, fault: "Fault", frames: Iterator[Frame] | None) -> Iterator[Action]:
        if fault.kind == "error_event":
            error = fault.error or ApiError(500, "server error")
            for frame in self.stream.error_frames(error):
                yield Send(self.writes(frame), False)
        elif fault.kind == "stall":
            yield CUT  # a stall the server cut short
        elif fault.kind == "disconnect":
            frame = next(frames, None) if fault.mid_event and frames is not None else None
            if frame is not None:
                writes = self.writes(frame[0])
                half = max(sum(len(write) for write in writes) // 2, 1)
                yield Send(_take(writes, half), frame[1], event=False)
            yield CUT
