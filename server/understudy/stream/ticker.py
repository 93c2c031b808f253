"""A shared millisecond timer for paced streams."""

import asyncio
from collections.abc import Callable
from functools import partial


def _wake(future: "asyncio.Future[None]") -> None:
    if not future.done():  # a cancelled waiter: its client left
        future.set_result(None)


class Ticker:
    """One timer per due millisecond, shared by everything due in it.

    A thousand paced streams at 50 tokens/s each want 50,000 wake-ups a second; with a
    timer per ``asyncio.sleep`` that is 50,000 timer handles created and cancelled. Here
    the callbacks due in the same millisecond share one ``call_at`` and run in the order
    they were registered, as one step.
    """

    __slots__ = ("_loop", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, list[Callable[[], None]]] = {}

    def call_at(self, deadline: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``deadline`` (loop time), to the millisecond.

        The callback must not raise: one stream's error must not stop the others due in
        the same step.
        """
        slot = round(deadline * 1000)
        waiters = self._slots.get(slot)
        if waiters is None:
            self._slots[slot] = [callback]
            self._loop.call_at(slot / 1000, self._fire, slot)
        else:
            waiters.append(callback)

    def at(self, deadline: float) -> "asyncio.Future[None]":
        """A future that completes at ``deadline``; cancelling it cancels only this wait."""
        future = self._loop.create_future()
        self.call_at(deadline, partial(_wake, future))
        return future

    def _fire(self, slot: int) -> None:
        for callback in self._slots.pop(slot):
            callback()


_TICKERS: dict[asyncio.AbstractEventLoop, Ticker] = {}


def ticker() -> Ticker:
    loop = asyncio.get_running_loop()
    found = _TICKERS.get(loop)
    if found is None:
        found = _TICKERS[loop] = Ticker(loop)
    return found
