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
from typing import TYPE_CHECKING, Any

from understudy.stream.frames import Frame
from understudy.stream.pacing import TIMED_DELAY, catch_up
from understudy.stream.ticker import Ticker

if TYPE_CHECKING:
    from understudy.stream.writer import StreamOutcome


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
        outcome: "StreamOutcome",
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
        """Start at ``due`` (the first event's deadline); the future is done when the
        response is complete."""
        self._done.add_done_callback(self._stop)
        self._go_on()
        return self._done

    def _stop(self, done: "asyncio.Future[None]") -> None:
        if done.cancelled() and self._task is not None:
            self._task.cancel()

    def _go_on(self) -> None:
        if self._due > self._loop.time():
            self._at(self._due, self._fire)
        else:
            self._step()

    def _fire(self) -> None:
        if not self._done.done():  # cancelled: the client left
            self._step()

    def _step(self) -> None:
        """Send every frame that is due, in one write, up to the next one to wait for.

        Frames due at the same moment (Chat's role chunk with the first token, the last
        token with the finish chunk and ``[DONE]``) leave together, as from a server that
        flushes its buffer once per step; the last write completes the response.
        """
        try:
            self._advance()
        except Exception as exc:  # a renderer's bug: the writer re-raises it
            # Raising here would stop the other streams due in the same millisecond.
            if not self._done.done():
                self._done.set_exception(exc)

    def _advance(self) -> None:
        loop, outcome = self._loop, self._outcome
        batch = []
        data = self._pending
        if data is not None:
            self._pending = None
            batch.append(data)
            if outcome.first_token_at is None:
                outcome.first_token_at = loop.time()
        try:
            for data, paced in self._frames:
                if paced:
                    due = self._due
                    delay = next(self._delays)
                    self._due += delay
                    now = loop.time()
                    if self._due > now or delay > TIMED_DELAY:
                        self._pending = data
                        if self._put(batch, due, last=False):
                            # Measured from the write just made (``pacing.catch_up``).
                            self._at(catch_up(self._due, delay, now), self._fire)
                        return
                    if outcome.first_token_at is None:
                        outcome.first_token_at = loop.time()
                batch.append(data)
        except Exception:
            self._put(batch, self._due, last=False)  # what was due goes out before the error
            raise
        if self._put(batch, self._due, last=True):
            self._complete()

    def _put(self, batch: list[bytes], due: float, last: bool) -> bool:
        """Write ``batch`` (due at ``due``); False when the write must wait (flow
        control), in which case a task finishes it and goes on."""
        if not batch and not last:
            return True
        body = batch[0] if len(batch) == 1 else b"".join(batch)
        sending = self._send({"type": "http.response.body", "body": body, "more_body": not last})
        try:
            waiting = sending.send(None)
        except StopIteration:
            self._count(batch, due)
            return True
        self._task = self._loop.create_task(self._finish(sending, waiting, batch, due, last))
        return False

    async def _finish(
        self,
        sending: Coroutine[Any, Any, None],
        waiting: Any,
        batch: list[bytes],
        due: float,
        last: bool,
    ) -> None:
        """Finish a write that waits for the connection to drain, then go on."""
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
        self._count(batch, due)
        if last:
            self._complete()
        else:
            self._go_on()

    def _complete(self) -> None:
        self._outcome.completed = True
        if not self._done.done():
            self._done.set_result(None)

    def _count(self, batch: list[bytes], due: float) -> None:
        outcome = self._outcome
        timeline = self._timeline
        sent = len(batch)
        if timeline is not None and outcome.events_sent < timeline.limit:
            now = self._loop.time()
            if sent == 1:  # almost every step: one token
                timeline.sent.append(now)
                timeline.due.append(due)
            else:
                room = min(sent, timeline.limit - outcome.events_sent)
                timeline.sent.extend([now] * room)
                timeline.due.extend([due] * room)
        outcome.events_sent += sent
        outcome.bytes_sent += len(batch[0]) if sent == 1 else sum(map(len, batch))
