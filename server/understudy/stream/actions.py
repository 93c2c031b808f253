"""What a scripted stream asks the writer to do, one action at a time.

A fault script (``understudy.faults``) turns rendered frames into these; the writer
(``StreamResponse._play``) carries them out. A fault-free stream never makes any.
"""

from collections.abc import Iterable, Iterator
from typing import Protocol

from understudy.stream.frames import Frame


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


class Script(Protocol):
    """Turns a stream's frames into actions; ``write_gap`` is the pause between the
    writes of one split event."""

    write_gap: float

    def actions(self, frames: Iterable[Frame]) -> Iterator[Action]: ...
