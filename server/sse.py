"""The paced SSE writer: a lean ASGI response for model streams.

Frames arrive already encoded (``bytes``) from an API renderer. The writer sends one
ASGI message per frame, waits for each token frame's absolute deadline, notices client
disconnects, and reports what it delivered as a ``StreamOutcome``. It deliberately
avoids a task group or timeout scope per event: that per-event machinery is what makes
generic SSE responses several times slower (see README, design notes).
"""

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

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
    ) -> None:
        self.frames = frames
        self.headers = headers
        self.timing = timing
        self.started_at = started_at
        self.on_close = on_close
        self._gone: asyncio.Event | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        loop = asyncio.get_running_loop()
        gone = self._gone = asyncio.Event()
        watcher = loop.create_task(self._watch_disconnect(receive, gone))
        outcome = StreamOutcome(started_at=self.started_at)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            await self._send_frames(send, loop, gone, outcome)
            if not gone.is_set():
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
