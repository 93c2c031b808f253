"""Stored Responses API responses, for ``GET``/``DELETE /v1/responses/{id}`` and
``previous_response_id``.

The store is an in-memory LRU with a fixed capacity, so a long-running mock cannot grow
without bound. Each entry keeps the Response object as the client received it and the
neutral conversation it ends (its input turns plus its own output as an assistant turn),
which a follow-up request prepends to its own input.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from understudy.core.request import Message

DEFAULT_SIZE = 10_000


@dataclass(slots=True)
class StoredResponse:
    response: dict[str, Any]
    conversation: list[Message]


class ResponseStore:
    """At most ``max_size`` responses; the least recently used is dropped first."""

    def __init__(self, max_size: int = DEFAULT_SIZE) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, response_id: object) -> bool:
        return response_id in self._entries

    def put(self, response: dict[str, Any], conversation: list[Message]) -> None:
        if self.max_size <= 0:
            return
        response_id = response["id"]
        self._entries[response_id] = StoredResponse(response, conversation)
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is not None:
            self._entries.move_to_end(response_id)
        return entry

    def replace(self, response: dict[str, Any], conversation: list[Message] | None = None) -> None:
        """Update a stored response in place (a stream that failed part-way)."""
        entry = self._entries.get(response["id"])
        if entry is not None:
            entry.response = response
            if conversation is not None:
                entry.conversation = conversation

    def delete(self, response_id: str) -> bool:
        return self._entries.pop(response_id, None) is not None

    def clear(self) -> None:
        self._entries.clear()
