"""Admission and timing: slots, the queue, and the pace of replies under load."""

import asyncio
import dataclasses
from collections import deque

from understudy.core.errors import ApiError
from understudy.engine.metrics import EngineMetrics
from understudy.engine.profile import EngineProfile
from understudy.faults.errors import resolve_error
from understudy.faults.specs import ErrorSpec
from understudy.stream.pacing import Timing


class Slot:
    """One admitted request's place among the running streams; released exactly once."""

    __slots__ = ("admitted_at", "arrived_at", "engine", "released")

    def __init__(self, engine: "Engine", arrived_at: float, admitted_at: float) -> None:
        self.engine = engine
        self.arrived_at = arrived_at
        self.admitted_at = admitted_at
        self.released = False

    @property
    def queued(self) -> float:
        return self.admitted_at - self.arrived_at

    def release(
        self, finished_at: float, prompt_tokens: int, tokens: int, ttft: float | None
    ) -> None:
        """The request is done: free the slot and count it."""
        if self.released:
            return
        self.released = True
        self.engine._release()
        metrics = self.engine.metrics
        metrics.finished += 1
        metrics.prompt_tokens += prompt_tokens
        metrics.generation_tokens += tokens
        metrics.queue.observe(self.queued)
        metrics.e2e.observe(finished_at - self.arrived_at)
        if ttft is not None:
            metrics.ttft.observe(ttft)
            if tokens > 1:
                gap = max(finished_at - self.arrived_at - ttft, 0.0) / (tokens - 1)
                metrics.itl.observe(gap, tokens - 1)
                metrics.per_token.observe(gap, tokens - 1)


class Engine:
    """``max_running`` slots, a FIFO queue of ``max_waiting``, and the timing they imply."""

    def __init__(self, profile: EngineProfile, time_scale: float = 1.0) -> None:
        self.profile = profile
        self.time_scale = time_scale
        self.running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self.metrics = EngineMetrics(profile.model_name)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def admit(self, api: str, model: str, arrived_at: float) -> Slot:
        """A slot for one request: at once, after queueing, or the provider's refusal."""
        loop = asyncio.get_running_loop()
        if self.running < self.profile.max_running and not self._waiting:
            self.running += 1
            return Slot(self, arrived_at, loop.time())
        if len(self._waiting) >= self.profile.max_waiting:
            self.metrics.refused += 1
            raise self.refusal(api, model)
        turn = loop.create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # the slot was handed over as the client left
            else:
                self._waiting.remove(turn)
            raise
        return Slot(self, arrived_at, loop.time())

    def _release(self) -> None:
        """Hand the slot to the next waiter still waiting, or free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1

    def refusal(self, api: str, model: str) -> ApiError:
        spec = ErrorSpec(
            preset=self.profile.overload,
            retry_after=self.profile.retry_after,
            should_retry=True,
        )
        return resolve_error(spec, api, model)

    def timing(self, slot: Slot, prompt_tokens: int) -> Timing:
        """The pace of a reply whose scenario sets none: prefill after the queue, then
        decoding at the rate the running streams leave."""
        scale = self.time_scale
        profile = self.profile
        prefill = prompt_tokens / profile.prefill_tokens_per_second * scale
        itl = scale / profile.decode_rate(self.running)
        return Timing(ttft=slot.queued + prefill, itl=itl)

    def paced(self, timing: Timing, slot: Slot) -> Timing:
        """A scenario's own timing, with the queue added to its time to first token."""
        if not slot.queued:
            return timing
        return dataclasses.replace(timing, ttft=timing.ttft + slot.queued)

    def render_metrics(self) -> str:
        return self.metrics.render(self.running, self.waiting, self.profile.max_running)
