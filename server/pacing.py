"""When each token event is due.

A ``Timing`` turns a delivery's ``ttft_ms``/``itl_ms``/``jitter_ms`` into the delay
before each token event, reproducible from the seed. The writer adds each delay to an
absolute deadline (never to "now"), so timer lateness does not accumulate as drift.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass

from server.scenarios.schema import Delivery


@dataclass(frozen=True, slots=True)
class Timing:
    ttft: float = 0.0
    itl: float = 0.0
    jitter: float = 0.0
    seed: int | None = None

    @classmethod
    def from_delivery(cls, delivery: Delivery, time_scale: float = 1.0) -> "Timing":
        def seconds(ms: float | None) -> float:
            return (ms or 0.0) / 1000.0 * time_scale

        return cls(
            ttft=seconds(delivery.ttft_ms),
            itl=seconds(delivery.itl_ms),
            jitter=seconds(delivery.jitter_ms),
            seed=delivery.seed,
        )

    @property
    def is_instant(self) -> bool:
        return self.ttft == 0 and self.itl == 0 and self.jitter == 0

    def delays(self) -> Iterator[float]:
        """Seconds to wait before each token event: TTFT first, then inter-token gaps."""
        rng = random.Random(self.seed)
        first = True
        while True:
            base = self.ttft if first else self.itl
            first = False
            if self.jitter:
                base += rng.uniform(-self.jitter, self.jitter)
            yield max(base, 0.0)

    def total(self, tokens: int) -> float:
        """Expected time to generate ``tokens`` tokens, for non-streaming replies."""
        return self.ttft + self.itl * max(tokens - 1, 0) if tokens else self.ttft
