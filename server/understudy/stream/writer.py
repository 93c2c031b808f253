"""The paced SSE writer: a lean ASGI response for model streams.

Frames arrive already encoded (``bytes``) from an API renderer. The writer sends one
ASGI message per frame, waits for each token frame's absolute deadline (a late stream
catches up by shortening gaps, see ``pacing``), notices client disconnects, and reports
what it delivered as a ``StreamOutcome``. It deliberately
avoids a task group or timeout scope per event: that per-event machinery is what makes
generic SSE responses several times slower (see README, design notes).
"""

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any

from understudy.stream.actions import Pause, Script, Send
from understudy.stream.frames import Frame, Headers
from understudy.stream.paced import PacedFrames
from understudy.stream.pacing import TIMED_DELAY, Timing, catch_up
from understudy.stream.ticker import ticker
from understudy.stream.timeline import Timeline

_FOREVER = 3600.0

# A response that returns without its final body message makes uvicorn close the
# connection: exactly the abrupt disconnect a fault wants, but uvicorn also logs it as an
# application error. The writer marks a deliberate cut in the request's context, and
# this filter drops that one log record (it is logged synchronously in the same task).
_CUT_ON_PURPOSE: ContextVar[bool] = ContextVar("understudy_cut", default=False)
_UNFINISHED = "ASGI callable returned without completing response"


class _DeliberateCutFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_CUT_ON_PURPOSE.get() and str(record.msg).startswith(_UNFINISHED))


_CUT_FILTER = _DeliberateCutFilter()


def cut_connection() -> None:
    """Mark the current response as cut on purpose; its ASGI callable must now return."""
    _CUT_ON_PURPOSE.set(True)
    logger = logging.getLogger("uvicorn.error")
    if _CUT_FILTER not in logger.filters:
        logger.addFilter(_CUT_FILTER)


@dataclass(slots=True)
class StreamOutcome:
    events_sent: int = 0
    bytes_sent: int = 0
    completed: bool = False
    disconnected: bool = False
    first_token_at: float | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    cut: bool = False
    """The server dropped the connection on purpose (a disconnect fault)."""
    timeline: Timeline | None = None
    """When each of the first events went out; None when recording is off."""

    @property
    def ttft(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at


RAW_SEND = "understudy.raw_send"
"""Scope key of the server's own ``send``; see ``UnderstudyApp`` in server/app.py."""


class StreamResponse:
    """Send ``frames`` as a streaming HTTP response paced by ``timing``.

    The frames go out through the server's raw ``send``, skipping the middlewares'
    ``send`` wrappers: a paced stream's from the shared timer's callbacks
    (``PacedFrames``), an instant or scripted one's from a task of its own. Either way the
    "writer" is a future. The request's own coroutine meanwhile waits in ``receive()``,
    which uvicorn answers with ``http.disconnect`` when the client leaves (the writer is
    then cancelled, waking it from any wait at once) or when the response is complete.
    """

    __slots__ = (
        "frames",
        "headers",
        "on_close",
        "script",
        "started_at",
        "timeline_events",
        "timing",
    )

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        headers: Headers,
        timing: Timing,
        started_at: float,
        on_close: Callable[[StreamOutcome], None] | None = None,
        script: Script | None = None,
        timeline_events: int = 0,
    ) -> None:
        self.frames = frames
        self.headers = headers
        self.timing = timing
        self.started_at = started_at
        self.on_close = on_close
        self.script = script
        """Faults, framing chaos or scripted waits (server/faults.py); None keeps the
        plain loop below, so a fault-free stream pays nothing for them."""
        self.timeline_events = timeline_events
        """Record the send time of this many first events (0: none)."""

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        loop = asyncio.get_running_loop()
        outcome = StreamOutcome(started_at=self.started_at)
        if self.timeline_events > 0 and (self.script is not None or not self.timing.is_instant):
            outcome.timeline = Timeline(self.timeline_events)
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        raw_send = scope.get(RAW_SEND, send)
        writer: asyncio.Future[None]
        if self.script is None and not self.timing.is_instant:
            # Paced: sent from the shared timer's callbacks, no task of its own.
            delays, due = self._first_due()
            writer = PacedFrames(self.frames, delays, due, raw_send, outcome, ticker(), loop).run()
        else:
            writer = loop.create_task(self._write(raw_send, loop, outcome))
        writer.add_done_callback(partial(_wake_on_failure, asyncio.current_task()))
        try:
            if self.script is None:
                while not writer.done() and (await receive())["type"] != "http.disconnect":
                    pass
            else:
                # A scripted cut ends the writer without completing the response, which
                # would leave receive() waiting: listen for the client in a task instead.
                listener = loop.create_task(_disconnected(receive))
                await asyncio.wait((writer, listener), return_when=asyncio.FIRST_COMPLETED)
                listener.cancel()
            # A completed response's writer may have yet to wake and return: nothing is
            # left for it to do, so it is not waited for. Otherwise the client left.
            if not writer.done() and not outcome.completed:
                outcome.disconnected = True
                writer.cancel()
                await asyncio.wait((writer,))
            if _failed(writer):
                raise writer.exception()  # a bug in a renderer: let uvicorn log it
        except asyncio.CancelledError:
            if _failed(writer):
                raise writer.exception() from None  # woken by _wake_on_failure
            # Server shutdown: stop writing and drop the connection without a traceback.
            writer.cancel()
            outcome.cut = True
        finally:
            if outcome.cut:
                cut_connection()
            outcome.finished_at = loop.time()
            if self.on_close is not None:
                self.on_close(outcome)

    async def _write(
        self, send: Callable, loop: asyncio.AbstractEventLoop, outcome: StreamOutcome
    ) -> None:
        try:
            if self.script is None:
                await self._send_frames(send, loop, outcome)
            else:
                delays, due = self._first_due()
                if due > loop.time():
                    await ticker().at(due)
                outcome.cut = await self._play(send, loop, outcome, delays, due)
            if not outcome.cut and not outcome.completed:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                outcome.completed = True
        except asyncio.CancelledError:
            pass  # the client left; __call__ records it

    def _first_due(self) -> tuple[Iterator[float], float]:
        """When the first event is due, and the token delays after it.

        A real server sends nothing until generation starts, then the events that open the
        reply (Chat's role chunk, ``message_start``, ``response.created``) together with
        the first token. So the time to first token delays the first event, not the first
        token after the opening events; the response's status and headers go out at once.
        """
        delays = self.timing.delays()
        if self.timing.is_instant:
            return delays, self.started_at
        # The first token is due with the first event: no further delay before it.
        return chain((0.0,), delays), self.started_at + next(delays)

    async def _send_frames(
        self, send: Callable, loop: asyncio.AbstractEventLoop, outcome: StreamOutcome
    ) -> None:
        """The hot path of an instant stream: one ``send`` per frame, no waits.

        Paced streams go out from the shared timer instead (``PacedFrames``).
        """
        events = sent = 0
        try:
            for data, paced in self.frames:
                if paced and outcome.first_token_at is None:
                    outcome.first_token_at = loop.time()
                await send({"type": "http.response.body", "body": data, "more_body": True})
                events += 1
                sent += len(data)
        finally:
            outcome.events_sent += events
            outcome.bytes_sent += sent

    async def _play(
        self,
        send: Callable,
        loop: asyncio.AbstractEventLoop,
        outcome: StreamOutcome,
        delays: Iterator[float],
        due: float,
    ) -> bool:
        """Send what the fault script says; True when it cut the connection.

        Paces token events exactly as ``_send_frames`` does; the few lines are repeated
        rather than shared because a helper call per token would tax the hot path.
        """
        assert self.script is not None
        instant = self.timing.is_instant
        gap = self.script.write_gap
        at = ticker().at
        timeline = outcome.timeline
        for action in self.script.actions(self.frames):
            if isinstance(action, Send):
                if action.paced:
                    if not instant:
                        delay = next(delays)
                        due += delay
                        now = loop.time()
                        if due > now or delay > TIMED_DELAY:
                            await at(catch_up(due, delay, now))
                    if outcome.first_token_at is None:
                        outcome.first_token_at = loop.time()
                for index, part in enumerate(action.writes):
                    if index and gap:
                        await asyncio.sleep(gap)
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                    outcome.bytes_sent += len(part)
                if action.event:
                    if timeline is not None and outcome.events_sent < timeline.limit:
                        timeline.sent.append(loop.time())
                        if not instant:
                            timeline.due.append(due)
                    outcome.events_sent += 1
            elif isinstance(action, Pause):
                began = loop.time()
                try:
                    await _pause(action, send, outcome)
                finally:
                    if timeline is not None:
                        timeline.pauses.append((outcome.events_sent, began, loop.time()))
                due += loop.time() - began  # later gaps keep their length
            else:
                if timeline is not None:
                    timeline.cut_at = loop.time()
                return True
        return False


def _failed(writer: "asyncio.Future[None]") -> bool:
    return writer.done() and not writer.cancelled() and writer.exception() is not None


def _wake_on_failure(request: "asyncio.Task[Any] | None", writer: "asyncio.Future[None]") -> None:
    """A writer that raised (a renderer's bug) leaves the request's coroutine waiting in
    ``receive()`` for a client that may never leave: wake it, so that it re-raises the
    error and uvicorn logs it and drops the connection."""
    if request is not None and _failed(writer):
        request.cancel()


async def _pause(pause: Pause, send: Callable, outcome: StreamOutcome) -> None:
    """Send nothing but keep-alives until the pause ends (or the writer is cancelled)."""
    loop = asyncio.get_running_loop()
    end = None if pause.seconds is None else loop.time() + pause.seconds
    while True:
        left = _FOREVER if end is None else end - loop.time()
        if left <= 0:
            return
        if not pause.keepalive:
            await asyncio.sleep(left)
            continue
        await asyncio.sleep(min(left, pause.every))
        # No keep-alive in the last half interval: the stream resumes then anyway. (Timers
        # may wake a fraction of a millisecond early on a clock that has not moved;
        # "before the end" alone made the end of a stall a burst of keep-alives.)
        if end is None or end - loop.time() > pause.every / 2:
            for part in pause.keepalive:
                await send({"type": "http.response.body", "body": part, "more_body": True})
                outcome.bytes_sent += len(part)
            timeline = outcome.timeline
            if timeline is not None and len(timeline.keepalives) < timeline.limit:
                timeline.keepalives.append(loop.time())


async def _disconnected(receive: Callable) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class CutResponse:
    """A JSON response whose connection drops after ``keep`` bytes of the body (a fault)."""

    def __init__(self, body: bytes, keep: int, headers: Headers) -> None:
        self.body = body
        self.keep = keep
        self.headers = headers

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        headers = [
            *self.headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.keep:
            body = self.body[: self.keep]
            await send({"type": "http.response.body", "body": body, "more_body": True})
        cut_connection()
