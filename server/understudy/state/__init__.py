"""The server's mutable state: the scenario catalog, the reply counters, stored responses,
and the control plane's runtime scenarios, request journal and metrics."""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from understudy.engine import Engine, load_profile
from understudy.faults.chaos import Chaos, load_chaos
from understudy.record.journal import Call, Instance, Journal, Limits
from understudy.record.logs import log_call, requests_logger
from understudy.record.metrics import Gauge, Metrics
from understudy.record.recorder import Recorder
from understudy.scenarios import Catalog, load_paths
from understudy.scenarios.catalog import Counters
from understudy.scenarios.runtime import RuntimeScenarios
from understudy.settings import Settings
from understudy.state.backend import Backend, MemoryBackend
from understudy.state.responses import ResponseStore
from understudy.stream.writer import StreamOutcome


@dataclass
class ServerState:
    settings: Settings
    catalog: Catalog
    counters: Counters = field(default_factory=Counters)
    responses: ResponseStore = field(default_factory=ResponseStore)
    runtime: RuntimeScenarios = field(default_factory=RuntimeScenarios)
    journal: Journal = field(default_factory=Journal)
    metrics: Metrics = field(default_factory=Metrics)
    chaos: Chaos | None = None
    """The server-wide chaos profile (``--chaos``), for replies that script no fault."""
    engine: Engine | None = None
    """The simulated inference engine (``--engine``): slots, queue and load-driven pace."""
    recorder: Recorder | None = None
    """The recording session (``--record``): requests forwarded upstream and kept."""
    open_streams: int = 0
    backend: Backend = None  # type: ignore[assignment]
    """Where the shared state lives: this process (memory) or Redis (``--state``)."""

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = MemoryBackend(self.counters, self.runtime, self.journal, self.responses)

    @classmethod
    def load(cls, settings: Settings) -> "ServerState":
        """Load the catalog named by ``settings``; raises ``ScenarioError`` if any file is bad."""
        recorder = Recorder.open(settings)
        state = cls(
            recorder=recorder,
            settings=settings,
            catalog=Catalog(load_paths(settings.scenarios), settings.match_text_limit),
            responses=ResponseStore(settings.response_store_size, settings.response_store_bytes),
            runtime=RuntimeScenarios(
                settings.runtime_scenarios_per_namespace,
                settings.runtime_scenarios_total,
                settings.runtime_scenarios_bytes,
            ),
            journal=Journal(
                settings.journal_size,
                settings.journal_max_bytes,
                Limits(settings.journal_body_bytes, settings.journal_header_bytes),
            ),
            metrics=Metrics(settings.metrics_scenario_labels),
            chaos=load_chaos(settings.chaos),
            engine=_engine(settings),
        )
        if settings.state:
            from understudy.state.redis_backend import RedisBackend

            state.backend = RedisBackend(settings, state.runtime, state.counters, state.journal)
        return state

    @property
    def instance(self) -> Instance:
        """This server: its id and start time (a new state is a new instance)."""
        return self.journal.instance

    def record(self, call: Call, status: int, outcome: StreamOutcome | None = None) -> None:
        """A model request completed: journal it, count it, and log it if asked to."""
        call.finish(status, asyncio.get_running_loop().time(), outcome)
        if outcome is not None:
            self.open_streams -= 1
        self.backend.record(call)
        self.metrics.observe(call)
        if requests_logger.isEnabledFor(logging.INFO):
            log_call(call)

    def stream_opened(self, api: str) -> None:
        self.open_streams += 1
        self.metrics.stream_opened(api)

    @property
    def at_stream_limit(self) -> bool:
        """``max_streams`` streams are open (never, with no limit set)."""
        limit = self.settings.max_streams
        return 0 < limit <= self.open_streams

    async def forget(self, namespace: str | None) -> tuple[int, int]:
        """Forget one namespace's runtime scenarios, counters, journal and kept replies, or
        everything's; return how many scenarios and journal entries went."""
        scenarios, entries = await self.backend.forget(namespace)
        self.scenarios_removed(scenarios)
        return len(scenarios), entries

    def scenarios_removed(self, names: Iterable[str]) -> None:
        """Drop the metric series of the named scenarios that exist nowhere any more."""
        live = self.runtime.names() | self.catalog.by_name.keys()
        self.metrics.forget_scenarios(name for name in names if name not in live)

    def replace_catalog(self, catalog: Catalog) -> None:
        """Serve ``catalog`` from now on (a reload)."""
        old, self.catalog = self.catalog, catalog
        self.scenarios_removed(old.by_name)

    async def gauges(self) -> list[Gauge]:
        """What the bounded stores hold now, for ``/metrics``: the journal and kept
        replies as the backend shares them, live journal readers of this process."""
        journal, held = self.journal, await self.backend.held()
        return [
            ("understudy_journal_entries", "Entries in the journal.", held.journal_entries),
            ("understudy_journal_bytes", "Bytes the journal's entries keep.", held.journal_bytes),
            (
                "understudy_journal_subscribers",
                "Live journal streams open.",
                journal.subscribers,
            ),
            (
                "understudy_journal_backlog_bytes",
                "Bytes of entries queued for live journal streams.",
                journal.backlog_bytes,
            ),
            ("understudy_runtime_scenarios", "Runtime scenarios, in all.", self.runtime.count),
            ("understudy_responses_stored", "Stored Responses replies.", held.replies),
            ("understudy_responses_stored_bytes", "Their estimated bytes.", held.reply_bytes),
        ]

    def counters_text(self) -> str:
        """The shared state's counter for ``/metrics``: journal entries it could not keep."""
        return (
            "# HELP understudy_state_dropped_total Journal entries the shared state could not "
            "keep (Redis unreachable or too slow).\n"
            "# TYPE understudy_state_dropped_total counter\n"
            f"understudy_state_dropped_total {self.backend.dropped}\n"
        )


def _engine(settings: Settings) -> Engine | None:
    profile = load_profile(settings.engine)
    return None if profile is None else Engine(profile, settings.time_scale)
