"""Replies kept for a later request to continue: stored Responses (``GET``/``DELETE
/v1/responses/{id}``, ``previous_response_id``) and the turns of Anthropic message
threads (``previous_message_id``).

Kept per namespace and API, so one test cannot read or continue another's, and a
Messages id never resolves as a Response (or the reverse); cleared with the namespace.
An in-memory LRU with a fixed capacity across all namespaces and APIs, so a long-running
mock cannot grow without bound. A thread's turns also expire once idle, and each can be
continued once: ``claim`` marks a turn as being continued, ``release`` says how it ended.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from understudy.providers import Stored

DEFAULT_SIZE = 10_000

Claim = Literal["claimed", "missing", "in_flight", "continued"]


@dataclass(slots=True)
class _Kept:
    stored: Stored | None
    """None once continued: only the fact that it was is needed then."""
    idle: float | None
    used_at: float
    in_flight: bool = False


class ResponseStore:
    """At most ``max_size`` replies; the least recently used is dropped first."""

    def __init__(
        self, max_size: int = DEFAULT_SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_size = max_size
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str, str], _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, namespace: str, api: str, stored: Stored, idle: float | None = None) -> None:
        """Keep ``stored``; with ``idle``, forget it once that many seconds pass unused."""
        if self.max_size <= 0:
            return
        key = (namespace, api, stored.id)
        self._entries[key] = _Kept(stored, idle, self.clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def _use(self, key: tuple[str, str, str]) -> _Kept | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if entry.idle is not None and now - entry.used_at > entry.idle:
            del self._entries[key]
            return None
        entry.used_at = now
        self._entries.move_to_end(key)
        return entry

    def get(self, namespace: str, api: str, reply_id: str) -> Stored | None:
        entry = self._use((namespace, api, reply_id))
        return None if entry is None else entry.stored

    def claim(self, namespace: str, api: str, reply_id: str) -> tuple[Claim, Stored | None]:
        """Start continuing a reply that can be continued once."""
        entry = self._use((namespace, api, reply_id))
        if entry is None:
            return "missing", None
        if entry.stored is None:
            return "continued", None
        if entry.in_flight:
            return "in_flight", None
        entry.in_flight = True
        return "claimed", entry.stored

    def release(self, namespace: str, api: str, reply_id: str, continued: bool) -> None:
        """A claimed reply's continuation ended: answered (``continued``), or refused or
        abandoned before its reply, so the reply can be continued again."""
        entry = self._entries.get((namespace, api, reply_id))
        if entry is None:
            return
        entry.in_flight = False
        if continued:
            entry.stored = None

    def delete(self, namespace: str, api: str, reply_id: str) -> bool:
        return self._entries.pop((namespace, api, reply_id), None) is not None

    def clear(self, namespace: str | None = None) -> int:
        """Forget every reply, or one namespace's; return how many went."""
        before = len(self._entries)
        if namespace is None:
            self._entries.clear()
        else:
            for key in [key for key in self._entries if key[0] == namespace]:
                del self._entries[key]
        return before - len(self._entries)
