"""Replies kept for a later request to continue: stored Responses (``GET``/``DELETE
/v1/responses/{id}``, ``previous_response_id``).

Kept per namespace, so one test cannot read or continue another's, and cleared with
the namespace. An in-memory LRU bounded across all namespaces both in replies and in
bytes (a reply keeps its whole conversation, which a client can make as long as the
body limit allows), so a long-running mock cannot grow without bound.
"""

from collections import OrderedDict

import orjson

from understudy.providers import Stored

DEFAULT_SIZE = 10_000
DEFAULT_BYTES = 64 * 1024 * 1024
MESSAGE_OVERHEAD = 64
"""Bytes a kept conversation turn costs besides its text, for the byte budget."""


def weight(stored: Stored) -> int:
    """About how many bytes ``stored`` keeps: its response as JSON and its conversation's
    text. Turns shared with an earlier reply of the same conversation are counted again,
    so a long conversation is over- rather than under-counted."""
    size = len(orjson.dumps(stored.response))
    for message in stored.conversation:
        size += MESSAGE_OVERHEAD + len(message.text) + sum(map(len, message.tool_calls))
    return size


class ResponseStore:
    """At most ``max_size`` replies and about ``max_bytes`` of them; the least recently
    used go first."""

    def __init__(self, max_size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_size = max_size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, str], tuple[Stored, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, namespace: str, stored: Stored) -> None:
        """Keep ``stored`` (weighed once, now); a reply larger than the whole budget is
        not kept."""
        if self.max_size <= 0:
            return
        size = weight(stored)
        if size > self.max_bytes:
            return
        key = (namespace, stored.id)
        self._drop(key)
        self._entries[key] = (stored, size)
        self.bytes += size
        entries = self._entries
        while len(entries) > self.max_size or self.bytes > self.max_bytes:
            self.bytes -= entries.popitem(last=False)[1][1]

    def _drop(self, key: tuple[str, str]) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= entry[1]
        return True

    def get(self, namespace: str, reply_id: str) -> Stored | None:
        key = (namespace, reply_id)
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def delete(self, namespace: str, reply_id: str) -> bool:
        return self._drop((namespace, reply_id))

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
