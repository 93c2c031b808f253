"""The server's mutable state: the scenario catalog, the reply counters, stored responses,
and the control plane's runtime scenarios, request journal and metrics."""

import asyncio
import logging
from dataclasses import dataclass, field

from understudy.engine import Engine, load_profile
from understudy.faults.chaos import Chaos, load_chaos
from understudy.record.journal import Call, Instance, Journal
from understudy.record.logs import log_call, requests_logger
from understudy.record.metrics import Metrics
from understudy.scenarios import Catalog, load_paths
from understudy.scenarios.catalog import Counters
from understudy.scenarios.runtime import RuntimeScenarios
from understudy.settings import Settings
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

    @classmethod
    def load(cls, settings: Settings) -> "ServerState":
        """Load the catalog named by ``settings``; raises ``ScenarioError`` if any file is bad."""
        return cls(
            settings=settings,
            catalog=Catalog(load_paths(settings.scenarios)),
            responses=ResponseStore(settings.response_store_size),
            journal=Journal(settings.journal_size),
            chaos=load_chaos(settings.chaos),
            engine=_engine(settings),
        )

    @property
    def instance(self) -> Instance:
        """This server: its id and start time (a new state is a new instance)."""
        return self.journal.instance

    def record(self, call: Call, status: int, outcome: StreamOutcome | None = None) -> None:
        """A model request completed: journal it, count it, and log it if asked to."""
        call.finish(status, asyncio.get_running_loop().time(), outcome)
        self.journal.append(call)
        self.metrics.observe(call)
        if requests_logger.isEnabledFor(logging.INFO):
            log_call(call)

    def forget(self, namespace: str | None) -> tuple[int, int]:
        """Forget one namespace's runtime scenarios, counters, journal and kept replies, or
        everything's; return how many scenarios and journal entries went."""
        scenarios = self.runtime.clear(namespace)
        self.counters.reset(namespace)
        self.responses.clear(namespace)
        return scenarios, self.journal.clear(namespace)


def _engine(settings: Settings) -> Engine | None:
    profile = load_profile(settings.engine)
    return None if profile is None else Engine(profile, settings.time_scale)
