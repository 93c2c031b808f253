"""Replies kept for a later request to continue: stored Responses (``GET``/``DELETE
/v1/responses/{id}``, ``previous_response_id``).

Kept per namespace, so one test cannot read or continue another's, and cleared with
the namespace. An in-memory LRU with a fixed capacity across all namespaces, so a
long-running mock cannot grow without bound.
"""

from collections import OrderedDict

from understudy.providers import Stored

DEFAULT_SIZE = 10_000


class ResponseStore:
    """At most ``max_size`` replies; the least recently used is dropped first."""

    def __init__(self, max_size: int = DEFAULT_SIZE) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[tuple[str, str], Stored] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, namespace: str, stored: Stored) -> None:
        if self.max_size <= 0:
            return
        key = (namespace, stored.id)
        self._entries[key] = stored
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def get(self, namespace: str, reply_id: str) -> Stored | None:
        key = (namespace, reply_id)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def delete(self, namespace: str, reply_id: str) -> bool:
        return self._entries.pop((namespace, reply_id), None) is not None

    def clear(self, namespace: str | None = None) -> int:
        """Forget every reply, or one namespace's; return how many went."""
        before = len(self._entries)
        if namespace is None:
            self._entries.clear()
        else:
            for key in [key for key in self._entries if key[0] == namespace]:
                del self._entries[key]
        return before - len(self._entries)
