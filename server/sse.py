"""The paced SSE writer: a lean ASGI response for model streams.

Frames arrive already encoded (``bytes``) from an API renderer. The writer sends one
ASGI message per frame, waits for each token frame's absolute deadline, notices client
disconnects, and reports what it delivered as a ``StreamOutcome``. It deliberately
avoids a task group or timeout scope per event: that per-event machinery is what makes
generic SSE responses several times slower (see README, design notes).
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from server.faults import Pause, Script, Send
from server.pacing import Timing

Frame = tuple[bytes, bool]
"""An encoded event and whether it is a token event (paced) or structural (sent at once)."""

Headers = list[tuple[bytes, bytes]]

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

# Waits longer than this also listen for a disconnect, so a stalled stream ends promptly.
_LONG_WAIT = 0.25
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


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, one ``data:`` line, blank line."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


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

    @property
    def ttft(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at


class StreamResponse:
    """Send ``frames`` as a streaming HTTP response paced by ``timing``."""

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        headers: Headers,
        timing: Timing,
        started_at: float,
        on_close: Callable[[StreamOutcome], None] | None = None,
        script: Script | None = None,
    ) -> None:
        self.frames = frames
        self.headers = headers
        self.timing = timing
        self.started_at = started_at
        self.on_close = on_close
        self.script = script
        """Faults, framing chaos or scripted waits (server/faults.py); None keeps the
        plain loop below, so a fault-free stream pays nothing for them."""
        self._gone: asyncio.Event | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        loop = asyncio.get_running_loop()
        gone = self._gone = asyncio.Event()
        watcher = loop.create_task(self._watch_disconnect(receive, gone))
        outcome = StreamOutcome(started_at=self.started_at)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            if self.script is None:
                await self._send_frames(send, loop, gone, outcome)
            else:
                outcome.cut = await self._play(send, loop, gone, outcome)
            if outcome.cut:
                cut_connection()
            elif not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                outcome.completed = True
        finally:
            watcher.cancel()
            outcome.disconnected = gone.is_set() and not outcome.completed
            outcome.finished_at = loop.time()
            if self.on_close is not None:
                self.on_close(outcome)

    async def _send_frames(
        self,
        send: Callable,
        loop: asyncio.AbstractEventLoop,
        gone: asyncio.Event,
        outcome: StreamOutcome,
    ) -> None:
        instant = self.timing.is_instant
        delays: Iterator[float] = self.timing.delays()
        due = self.started_at
        for data, paced in self.frames:
            if paced:
                if not instant:
                    due += next(delays)
                    wait = due - loop.time()
                    if wait > 0:
                        await self._sleep(wait, gone)
                if outcome.first_token_at is None:
                    outcome.first_token_at = loop.time()
            if gone.is_set():
                break
            await send({"type": "http.response.body", "body": data, "more_body": True})
            outcome.events_sent += 1
            outcome.bytes_sent += len(data)

    async def _play(
        self,
        send: Callable,
        loop: asyncio.AbstractEventLoop,
        gone: asyncio.Event,
        outcome: StreamOutcome,
    ) -> bool:
        """Send what the fault script says; True when it cut the connection."""
        assert self.script is not None
        instant = self.timing.is_instant
        delays: Iterator[float] = self.timing.delays()
        due = self.started_at
        gap = self.script.write_gap
        for action in self.script.actions(self.frames):
            if gone.is_set():
                return False
            if isinstance(action, Send):
                if action.paced:
                    if not instant:
                        due += next(delays)
                        wait = due - loop.time()
                        if wait > 0:
                            await self._sleep(wait, gone)
                    if outcome.first_token_at is None:
                        outcome.first_token_at = loop.time()
                for index, part in enumerate(action.writes):
                    if gone.is_set():
                        return False
                    if index and gap:
                        await asyncio.sleep(gap)
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                    outcome.bytes_sent += len(part)
                if action.event:
                    outcome.events_sent += 1
            elif isinstance(action, Pause):
                began = loop.time()
                await self._pause(action, send, gone, outcome)
                due += loop.time() - began  # later gaps keep their length
            else:
                return True
        return False

    @staticmethod
    async def _pause(
        pause: Pause, send: Callable, gone: asyncio.Event, outcome: StreamOutcome
    ) -> None:
        """Send nothing but keep-alives until the pause ends or the client leaves."""
        loop = asyncio.get_running_loop()
        end = None if pause.seconds is None else loop.time() + pause.seconds
        while not gone.is_set():
            left = _FOREVER if end is None else end - loop.time()
            if left <= 0:
                return
            step = min(left, pause.every) if pause.keepalive else left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), step)
            if gone.is_set() or not pause.keepalive:
                continue
            if end is None or loop.time() < end:
                for part in pause.keepalive:
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                    outcome.bytes_sent += len(part)

    @staticmethod
    async def _sleep(seconds: float, gone: asyncio.Event) -> None:
        if seconds < _LONG_WAIT:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone.wait(), seconds)

    @staticmethod
    async def _watch_disconnect(receive: Callable, gone: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return


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
