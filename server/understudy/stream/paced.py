"""Paced streams sent from the shared timer, the way an inference server's decode step
emits one token for every sequence in its batch.

A paced token costs little work of its own: one frame handed to the connection. What
costs is waking a task for it: a future completed, a callback scheduled, the task's step,
three coroutine frames resumed, and a new future for the next wait. ``PacedFrames`` skips
all of that: the ``Ticker`` calls each due stream's ``_fire`` directly from its one timer
per millisecond, and the stream sends its frames until the next one that must wait.

The server's ``send`` is a coroutine; it is driven here by hand and finishes at once,
unless the connection's write buffer is full (flow control). Then the rest of that
``send`` and of the stream go on in a task, which awaits what ``send`` was waiting for,
so a slow reader slows only its own stream, as before.
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any

from understudy.stream.frames import Frame
from understudy.stream.ticker import Ticker


class PacedFrames:
    """Send ``frames`` with each token frame at ``due + delay`` (absolute deadlines).

    ``run()`` returns a future that completes when the last frame is out, or with the
    exception a renderer raised. Cancelling that future (the client left) stops the
    stream at its next step.
    """

    __slots__ = (
        "_at",
        "_delays",
        "_done",
        "_due",
        "_frames",
        "_loop",
        "_outcome",
        "_pending",
        "_send",
        "_task",
        "_timeline",
    )

    def __init__(
        self,
        frames: Iterable[Frame],
        delays: Iterator[float],
        due: float,
        send: Callable[[dict], Coroutine[Any, Any, None]],
        outcome: Any,
        ticker: Ticker,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._frames = iter(frames)
        self._delays = delays
        self._due = due
        self._send = send
        self._outcome = outcome
        self._timeline = outcome.timeline
        self._at = ticker.call_at
        self._loop = loop
        self._done: asyncio.Future[None] = loop.create_future()
        self._pending: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        """Finishing a ``send`` that had to wait for the connection, if one is."""

    def run(self) -> "asyncio.Future[None]":
        self._done.add_done_callback(self._stop)
        self._step()
        return self._done

    def _stop(self, done: "asyncio.Future[None]") -> None:
        if done.cancelled() and self._task is not None:
            self._task.cancel()

    def _fire(self) -> None:
        if not self._done.done():  # cancelled: the client left
            self._step()

    def _step(self) -> None:
        """Send the frame that is due, then every frame up to the next one to wait for."""
        loop, outcome = self._loop, self._outcome
        try:
            data = self._pending
            if data is not None:
                self._pending = None
                if outcome.first_token_at is None:
                    outcome.first_token_at = loop.time()
                if not self._put(data):
                    return
            for data, paced in self._frames:
                if paced:
                    self._due += next(self._delays)
                    if self._due > loop.time():
                        self._pending = data
                        self._at(self._due, self._fire)
                        return
                    if outcome.first_token_at is None:
                        outcome.first_token_at = loop.time()
                if not self._put(data):
                    return
        except BaseException as exc:  # a renderer's bug: the writer re-raises it
            if not self._done.done():
                self._done.set_exception(exc)
            return
        if not self._done.done():
            self._done.set_result(None)

    def _put(self, data: bytes) -> bool:
        """Hand ``data`` to the connection; False when it must wait (flow control)."""
        sending = self._send({"type": "http.response.body", "body": data, "more_body": True})
        try:
            waiting = sending.send(None)
        except StopIteration:
            self._count(data)
            return True
        self._task = self._loop.create_task(self._finish(sending, waiting, data))
        return False

    async def _finish(self, sending: Coroutine[Any, Any, None], waiting: Any, data: bytes) -> None:
        """Finish a ``send`` that waits for the connection to drain, then go on."""
        try:
            while True:
                if waiting is None:  # a bare yield: let the loop run once
                    await asyncio.sleep(0)
                else:
                    await asyncio.wait((waiting,))
                if self._done.done():
                    sending.close()
                    return
                try:
                    waiting = sending.send(None)
                except StopIteration:
                    break
        except asyncio.CancelledError:
            sending.close()
            raise
        self._task = None
        self._count(data)
        self._step()

    def _count(self, data: bytes) -> None:
        outcome = self._outcome
        timeline = self._timeline
        if timeline is not None and outcome.events_sent < timeline.limit:
            timeline.sent.append(self._loop.time())
            timeline.due.append(self._due)
        outcome.events_sent += 1
        outcome.bytes_sent += len(data)
