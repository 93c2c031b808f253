"""A shared millisecond timer for paced streams."""

import asyncio


class Ticker:
    """One timer per due millisecond, shared by every stream waiting for it.

    A thousand paced streams at 50 tokens/s each want 50,000 wake-ups a second; with a
    timer per ``asyncio.sleep`` that is 50,000 timer handles created and cancelled. Here
    the waiters due in the same millisecond share one ``call_at``; each still gets its
    own future, because a cancelled waiter (a client that left) must not cancel others.
    """

    __slots__ = ("_loop", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    def at(self, deadline: float) -> "asyncio.Future[None]":
        """A future that completes at ``deadline`` (loop time), to the millisecond."""
        slot = round(deadline * 1000)
        future = self._loop.create_future()
        waiters = self._slots.get(slot)
        if waiters is None:
            self._slots[slot] = [future]
            self._loop.call_at(slot / 1000, self._fire, slot)
        else:
            waiters.append(future)
        return future

    def _fire(self, slot: int) -> None:
        for future in self._slots.pop(slot):
            if not future.done():
                future.set_result(None)


_TICKERS: dict[asyncio.AbstractEventLoop, Ticker] = {}


def ticker() -> Ticker:
    loop = asyncio.get_running_loop()
    found = _TICKERS.get(loop)
    if found is None:
        found = _TICKERS[loop] = Ticker(loop)
    return found
