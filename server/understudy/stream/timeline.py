"""When a stream's events actually went out: the data behind the dashboard's timeline.

Only paced and faulted streams keep one. The writer appends the loop time of each of the
first ``limit`` events it hands to the connection, and the deadline each was due at: two
C-level appends to ``array("d")`` buffers (16 bytes per event) in a loop whose events
each wait for a timer anyway. An instant stream keeps none, so the loop the benchmarks
measure pays one integer comparison per event. Pauses (stalls and scripted waits), the
keep-alives sent during them and a deliberate cut are rare and recorded as they happen.
Times become millisecond offsets from the request's arrival only when someone reads them.
"""

from array import array
from typing import Any


class Timeline:
    __slots__ = ("cut_at", "due", "keepalives", "limit", "pauses", "sent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = array("d")
        """Loop time each event was handed to the connection, for the first ``limit``."""
        self.due = array("d")
        """Loop time each event was due (paced streams only; empty when instant)."""
        self.pauses: list[tuple[int, float, float]] = []
        """(events sent before it, start, end) of each stall or scripted wait."""
        self.keepalives: list[float] = []
        self.cut_at: float | None = None
        """The server dropped the connection on purpose (a disconnect fault) at this time."""

    def to_dict(self, started_at: float, finished_at: float) -> dict[str, Any]:
        """Offsets in milliseconds from ``started_at`` (the request's arrival)."""

        def ms(moment: float) -> float:
            return round((moment - started_at) * 1000, 3)

        return {
            "limit": self.limit,
            "sent_ms": [ms(moment) for moment in self.sent],
            "due_ms": [ms(moment) for moment in self.due],
            "pauses": [
                {"after_events": after, "start_ms": ms(start), "end_ms": ms(end)}
                for after, start, end in self.pauses
            ],
            "keepalives_ms": [ms(moment) for moment in self.keepalives],
            "cut_ms": None if self.cut_at is None else ms(self.cut_at),
            "end_ms": ms(finished_at),
        }
