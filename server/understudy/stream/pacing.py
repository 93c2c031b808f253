"""When each token event is due.

A ``Timing`` turns a delivery's ``ttft_ms``, ``itl_ms`` (or ``tokens_per_second``) and
jitter into the delay before each token event, reproducible from the seed: the same
seed gives the same schedule. The writer adds each delay to an absolute deadline (never
to "now"), so timer lateness does not accumulate as drift. A token is never sent before
its deadline; one sent late (the event loop stalled, the machine was busy) is caught up by
shortening the gaps after it to no less than ``SHORTEST_GAP`` of their length, never by
sending tokens together, which a client would see as a gap of zero. Scripted ``waits`` (a
pause before event N) are carried here and played by the fault script
(``understudy.faults``), which shifts the deadlines by the pause so later gaps keep their
length.

``time_scale`` multiplies every delay; 0 makes every reply instant.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from time import monotonic
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from understudy.scenarios.schema import Delivery

SHORTEST_GAP = 0.9
"""A late stream catches up with its schedule by at most a tenth of each gap."""
TIMER_RESOLUTION = 0.001
"""The shared timer's step (``understudy.stream.ticker``), and of uvloop's clock."""
TIMED_DELAY = TIMER_RESOLUTION / SHORTEST_GAP
"""Overdue tokens whose shortened gap would be below the shared timer's millisecond go
out together, as they always did: there is no shorter gap to wait."""


def catch_up(due: float, delay: float, loop_time: float) -> float:
    """When to send the token after a write made now: its deadline ``due``, or, for a
    stream behind schedule, ``SHORTEST_GAP`` of its ``delay`` after this write.

    The write's time is the clock's, not the loop's: the loop's time is when its current
    iteration began (to the millisecond, on uvloop), and after a long iteration (a garbage
    collection, the machine stalling the process) a gap measured from it would come out
    short. A millisecond is taken off for the timer, which fires up to one late.
    """
    sent = monotonic() - TIMER_RESOLUTION
    if sent < loop_time:
        sent = loop_time
    at = sent + delay * SHORTEST_GAP
    return at if at > due else due


@dataclass(frozen=True, slots=True)
class Timing:
    ttft: float = 0.0
    itl: float = 0.0
    jitter: float = 0.0
    """Seconds: half-width (uniform), standard deviation (normal) or offset (fixed)."""
    seed: int | None = None
    distribution: str = "uniform"
    jitter_min: float | None = None
    jitter_max: float | None = None
    waits: tuple[tuple[int, float], ...] = ()
    """(events sent before the pause, seconds), in event order."""

    @classmethod
    def from_delivery(cls, delivery: "Delivery", time_scale: float = 1.0) -> "Timing":
        def seconds(ms: float | None) -> float:
            return (ms or 0.0) / 1000.0 * time_scale

        itl = delivery.itl_ms
        if itl is None and delivery.tokens_per_second:
            itl = 1000.0 / delivery.tokens_per_second
        spec = delivery.jitter
        jitter_min = jitter_max = None
        if spec is not None:
            distribution, jitter = spec.distribution, seconds(spec.ms)
            if spec.min_ms is not None:
                jitter_min = spec.min_ms / 1000.0 * time_scale
            if spec.max_ms is not None:
                jitter_max = spec.max_ms / 1000.0 * time_scale
        else:
            distribution, jitter = "uniform", seconds(delivery.jitter_ms)
        waits = tuple(
            sorted((wait.after_events, seconds(wait.ms)) for wait in delivery.waits or ())
        )
        return cls(
            ttft=seconds(delivery.ttft_ms),
            itl=seconds(itl),
            jitter=jitter,
            seed=delivery.seed,
            distribution=distribution,
            jitter_min=jitter_min,
            jitter_max=jitter_max,
            waits=tuple(wait for wait in waits if wait[1] > 0),
        )

    @property
    def is_instant(self) -> bool:
        return not self.ttft and not self.itl and not self._jittered

    def delays(self) -> Iterator[float]:
        """Seconds to wait before each token event: TTFT first, then inter-token gaps."""
        if not self._jittered:
            return chain((self.ttft,), repeat(self.itl))
        return self._jittered_delays()

    @property
    def _jittered(self) -> bool:
        return bool(self.jitter or self.jitter_min or self.jitter_max)

    def _jittered_delays(self) -> Iterator[float]:
        rng = random.Random(self.seed)
        sample = self._sampler(rng)
        low, high = self.jitter_min, self.jitter_max
        base = self.ttft
        while True:
            offset = sample()
            if low is not None and offset < low:
                offset = low
            if high is not None and offset > high:
                offset = high
            yield max(base + offset, 0.0)
            base = self.itl

    def _sampler(self, rng: random.Random) -> Callable[[], float]:
        width = self.jitter
        if self.distribution == "normal":
            return lambda: rng.gauss(0.0, width)
        if self.distribution == "fixed":
            return lambda: width
        return lambda: rng.uniform(-width, width)

    def schedule(self, tokens: int) -> list[float]:
        """The first ``tokens`` delays: what a stream of that many token events will wait."""
        delays = self.delays()
        return [next(delays) for _ in range(tokens)]

    def total(self, tokens: int) -> float:
        """Expected time to generate ``tokens`` tokens, for non-streaming replies."""
        waits = sum(seconds for _, seconds in self.waits)
        return (self.ttft + self.itl * max(tokens - 1, 0) if tokens else self.ttft) + waits
