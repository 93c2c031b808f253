"""Is the server still answering while a test attacks it? ``/health``, polled from a thread.

Every stream shares the server's event loop, so a request that blocks the loop shows up
as a slow ``/health``. The bound is generous (a loaded CI runner is slow) but far below
the seconds an attack used to cost.
"""

import threading
import time
from types import TracebackType

import httpx

HEALTH_BOUND = 0.1
"""Seconds within which every ``/health`` must answer while an attack runs."""


class HealthProbe:
    """Polls ``GET /health`` in a thread for as long as the ``with`` block runs."""

    def __init__(self, base_url: str, interval: float = 0.005) -> None:
        self.base_url = base_url
        self.interval = interval
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="health-probe", daemon=True)

    def __enter__(self) -> "HealthProbe":
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self.latencies and time.monotonic() < deadline:
            time.sleep(0.005)  # polling has begun before the attack does
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.get("/health").status_code
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                else:
                    self.latencies.append(time.perf_counter() - started)
                    if status != 200:
                        self.failures.append(f"status {status}")
                self._stop.wait(self.interval)

    def assert_responsive(self, minimum_polls: int = 2) -> None:
        """Every poll answered 200 within ``HEALTH_BOUND``, and enough polls ran to tell."""
        assert not self.failures, self.failures
        assert len(self.latencies) >= minimum_polls, self.latencies
        slowest = max(self.latencies)
        assert slowest < HEALTH_BOUND, f"/health took {slowest * 1000:.0f} ms"
