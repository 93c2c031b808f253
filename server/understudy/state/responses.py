"""Replies kept for a later request to continue: stored Responses (``GET``/``DELETE
/v1/responses/{id}``, ``previous_response_id``) and the turns of Anthropic message
threads (``previous_message_id``).

Kept per namespace and API, so one test cannot read or continue another's, and a
Messages id never resolves as a Response (or the reverse); cleared with the namespace.
An in-memory LRU bounded across all namespaces and APIs both in replies and in bytes (a
reply keeps its whole conversation, which a client can make as long as the body limit
allows), so a long-running mock cannot grow without bound. A thread's turns also expire
once idle, and each can be continued once: ``claim`` marks a turn as being continued,
``release`` says how it ended.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

from understudy.providers import Stored

DEFAULT_SIZE = 10_000
DEFAULT_BYTES = 64 * 1024 * 1024
MESSAGE_OVERHEAD = 64
"""Bytes a kept conversation turn costs besides its text, for the byte budget."""

Claim = Literal["claimed", "missing", "in_flight", "continued"]
Key = tuple[str, str, str]


def weight(stored: Stored) -> int:
    """About how many bytes ``stored`` keeps: its response as JSON and its conversation's
    text. Turns shared with an earlier reply of the same conversation are counted again,
    so a long conversation is over- rather than under-counted."""
    size = len(orjson.dumps(stored.response))
    for message in stored.conversation:
        size += MESSAGE_OVERHEAD + len(message.text) + sum(map(len, message.tool_calls))
    return size


@dataclass(slots=True)
class _Kept:
    stored: Stored | None
    """None once continued: only the fact that it was is needed then."""
    idle: float | None
    used_at: float
    size: int
    in_flight: bool = False


class ResponseStore:
    """At most ``max_size`` replies and about ``max_bytes`` of them; the least recently
    used go first."""

    def __init__(
        self,
        max_size: int = DEFAULT_SIZE,
        max_bytes: int = DEFAULT_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[Key, _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, namespace: str, api: str, stored: Stored, idle: float | None = None) -> None:
        """Keep ``stored`` (weighed once, now); with ``idle``, forget it once that many
        seconds pass unused. A reply larger than the whole budget is not kept."""
        if self.max_size <= 0:
            return
        size = weight(stored)
        if size > self.max_bytes:
            return
        key = (namespace, api, stored.id)
        self._drop(key)
        self._entries[key] = _Kept(stored, idle, self.clock(), size)
        self.bytes += size
        entries = self._entries
        while len(entries) > self.max_size or self.bytes > self.max_bytes:
            self.bytes -= entries.popitem(last=False)[1].size

    def _drop(self, key: Key) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= entry.size
        return True

    def _use(self, key: Key) -> _Kept | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if entry.idle is not None and now - entry.used_at > entry.idle:
            self._drop(key)
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
            self.bytes -= entry.size
            entry.size = 0

    def delete(self, namespace: str, api: str, reply_id: str) -> bool:
        return self._drop((namespace, api, reply_id))

    def clear(self, namespace: str | None = None) -> int:
        """Forget every reply, or one namespace's; return how many went."""
        before = len(self._entries)
        if namespace is None:
            self._entries.clear()
            self.bytes = 0
        else:
            for key in [key for key in self._entries if key[0] == namespace]:
                self._drop(key)
        return before - len(self._entries)
