"""Where the state shared by every worker and replica lives: reply counters, runtime
scenarios, the journal, kept replies, namespace reset.

``MemoryBackend`` (the default) keeps them in this process's objects, exactly as one
server always has. ``understudy.state.redis_backend`` keeps them in Redis so several
processes answer as one server. Matching stays local either way: every process compiles
the runtime scenarios it serves; only the calls below may leave the process, and at most
a few of them per request (never per token).

Calls made where nothing can wait (a stream's close callback, the journal) are the
``*_soon`` ones and ``record``: they return at once.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from understudy.providers import Stored
from understudy.record.journal import Call, Journal
from understudy.scenarios import Scenario
from understudy.scenarios.catalog import Counters
from understudy.scenarios.runtime import RuntimeScenarios
from understudy.state.responses import Claim, ResponseStore


class StateUnavailable(Exception):
    """The shared state cannot be reached (an admin request is answered 503)."""


class Held(NamedTuple):
    """What the bounded stores hold now, in every process sharing them: for ``/metrics``."""

    journal_entries: int
    journal_bytes: int
    replies: int
    reply_bytes: int


class Backend(Protocol):
    kind: str

    async def start(self) -> None:
        """Connect and load what is shared; ``StateUnavailable`` if it cannot be reached."""

    async def stop(self) -> None: ...

    # reply counters
    async def take(self, namespace: str, name: str) -> int:
        """This scenario's position in ``namespace``, counting this request."""

    async def hits(self, namespace: str) -> Mapping[str, int]:
        """How many requests each scenario answered in ``namespace``."""

    # runtime scenarios (compiled into ``RuntimeScenarios`` of every process)
    async def add_scenarios(self, namespace: str, scenarios: list[Scenario], size: int) -> None:
        """Add them first in ``namespace``; ``RuntimeLimitError`` past a cap."""

    async def remove_scenario(self, namespace: str, name: str) -> bool: ...

    async def clear_scenarios(self, namespace: str) -> list[str]: ...

    # journal
    def record(self, call: Call) -> None:
        """Journal a completed call (sealed here)."""

    async def entries(
        self,
        *,
        scenario: str | None = None,
        api: str | None = None,
        namespace: str | None = None,
        since: float | None = None,
    ) -> list[Any]:
        """Journal entries (as the journal API shows them) that pass every filter."""

    async def entry(self, call_id: int) -> dict[str, Any] | None:
        """One entry with its timeline, if the journal still holds it."""

    async def clear_journal(self, namespace: str | None) -> int: ...

    # kept replies
    async def get(self, namespace: str, api: str, reply_id: str) -> Stored | None: ...

    async def claim(self, namespace: str, api: str, reply_id: str) -> tuple[Claim, Stored | None]:
        """Start continuing a reply that can be continued once (a thread's)."""

    async def put(self, namespace: str, api: str, stored: Stored, idle: float | None) -> None: ...

    async def release(self, namespace: str, api: str, reply_id: str, continued: bool) -> None: ...

    def release_soon(self, namespace: str, api: str, reply_id: str, continued: bool) -> None: ...

    async def delete(self, namespace: str, api: str, reply_id: str) -> bool: ...

    def delete_soon(self, namespace: str, api: str, reply_id: str) -> None: ...

    # namespaces
    async def forget(self, namespace: str | None) -> tuple[list[str], int]:
        """Forget one namespace's runtime scenarios, counters, journal and kept replies,
        or everything's; return the removed scenario names and journal entry count."""

    async def held(self) -> Held: ...

    def report(self) -> dict[str, Any] | None:
        """The ``state`` block of ``/health`` (None for memory)."""

    @property
    def degraded(self) -> bool: ...

    @property
    def dropped(self) -> int:
        """Journal entries that could not be kept in the shared journal."""


class MemoryBackend:
    """Today's objects, in this process: nothing leaves it, nothing waits."""

    kind = "memory"
    degraded = False
    dropped = 0

    def __init__(
        self,
        counters: Counters,
        runtime: RuntimeScenarios,
        journal: Journal,
        responses: ResponseStore,
    ) -> None:
        self.counters = counters
        self.runtime = runtime
        self.journal = journal
        self.responses = responses

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def take(self, namespace: str, name: str) -> int:
        return self.counters.take(namespace, name)

    async def hits(self, namespace: str) -> Mapping[str, int]:
        return self.counters.in_namespace(namespace)

    async def add_scenarios(self, namespace: str, scenarios: list[Scenario], size: int) -> None:
        self.runtime.add(namespace, scenarios, size)
        for scenario in scenarios:
            self.counters.forget(namespace, scenario.name)

    async def remove_scenario(self, namespace: str, name: str) -> bool:
        if not self.runtime.remove(namespace, name):
            return False
        self.counters.forget(namespace, name)
        return True

    async def clear_scenarios(self, namespace: str) -> list[str]:
        removed = self.runtime.clear(namespace)
        for name in removed:
            self.counters.forget(namespace, name)
        return removed

    def record(self, call: Call) -> None:
        self.journal.append(call)

    async def entries(
        self,
        *,
        scenario: str | None = None,
        api: str | None = None,
        namespace: str | None = None,
        since: float | None = None,
    ) -> list[Any]:
        calls = self.journal.calls(scenario=scenario, api=api, namespace=namespace, since=since)
        return [call.to_dict() for call in calls]

    async def entry(self, call_id: int) -> dict[str, Any] | None:
        call = self.journal.get(call_id)
        return None if call is None else call.detail()

    async def clear_journal(self, namespace: str | None) -> int:
        return self.journal.clear(namespace)

    async def get(self, namespace: str, api: str, reply_id: str) -> Stored | None:
        return self.responses.get(namespace, api, reply_id)

    async def claim(self, namespace: str, api: str, reply_id: str) -> tuple[Claim, Stored | None]:
        return self.responses.claim(namespace, api, reply_id)

    async def put(self, namespace: str, api: str, stored: Stored, idle: float | None) -> None:
        self.responses.put(namespace, api, stored, idle)

    async def release(self, namespace: str, api: str, reply_id: str, continued: bool) -> None:
        self.responses.release(namespace, api, reply_id, continued)

    def release_soon(self, namespace: str, api: str, reply_id: str, continued: bool) -> None:
        self.responses.release(namespace, api, reply_id, continued)

    async def delete(self, namespace: str, api: str, reply_id: str) -> bool:
        return self.responses.delete(namespace, api, reply_id)

    def delete_soon(self, namespace: str, api: str, reply_id: str) -> None:
        self.responses.delete(namespace, api, reply_id)

    async def forget(self, namespace: str | None) -> tuple[list[str], int]:
        scenarios = self.runtime.clear(namespace)
        self.counters.reset(namespace)
        self.responses.clear(namespace)
        return scenarios, self.journal.clear(namespace)

    async def held(self) -> Held:
        journal, responses = self.journal, self.responses
        return Held(len(journal), journal.bytes, len(responses), responses.bytes)

    def report(self) -> dict[str, Any] | None:
        return None
