"""Bounded copies of what a client sent, for the journal.

A journal entry keeps a prefix of each body and header value, never the whole: a 30 MB
body of small JSON strings parses to about 450 MB of Python objects, and the journal
keeps a thousand entries. A JSON body is kept as JSON text (a fraction of its parsed
size); one over the limit is kept as a smaller copy of itself, its long strings and
lists cut, each cut marked with how much went, so a test can still read the fields.
"""

from typing import Any

import orjson

MAX_DEPTH = 64
"""Containers nested deeper than this are replaced by a marker in a cut copy."""


def json_prefix(raw: bytes, parsed: Any, limit: int) -> bytes:
    """``raw`` (a JSON body) as kept by the journal: itself when at most ``limit`` bytes,
    else ``parsed`` cut to about ``limit`` bytes of JSON.

    Kept text is always one line (an SSE ``data:`` field carries it), so a small body
    that spans lines is re-encoded.
    """
    if len(raw) <= limit:
        if b"\n" in raw or b"\r" in raw:
            return orjson.dumps(parsed)
        return raw
    return orjson.dumps(_Cut(limit).value(parsed, 0))


def text_prefix(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


def bytes_prefix(data: bytes, limit: int) -> bytes:
    """``data``, or its first ``limit`` bytes and how many more there were."""
    if len(data) <= limit:
        return data
    return b"%s...[%d more bytes]" % (data[:limit], len(data) - limit)


class _Cut:
    """A copy of a JSON value that serialises to about ``budget`` bytes.

    Values are taken in document order while the budget lasts; string lengths count
    characters, so a body of non-ASCII text may come out a few times larger in bytes.
    The walk stops at the budget, so its cost does not grow with the body.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, dict):
            return self.object(value, depth + 1)
        if isinstance(value, list):
            return self.array(value, depth + 1)
        self.budget -= 8
        return value

    def string(self, text: str) -> str:
        room = max(self.budget - 2, 0)
        self.budget -= min(len(text), room) + 2
        return text_prefix(text, room)

    def object(self, value: dict[str, Any], depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            return {"...": f"[{len(value)} keys nested too deep]"}
        kept: dict[str, Any] = {}
        self.budget -= 2
        for index, (key, item) in enumerate(value.items()):
            if self.budget <= 0:
                kept["..."] = f"[{len(value) - index} more keys]"
                break
            key = text_prefix(key, max(self.budget, 0))
            self.budget -= len(key) + 3
            kept[key] = self.value(item, depth)
        return kept

    def array(self, value: list[Any], depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            return [f"...[{len(value)} items nested too deep]"]
        kept: list[Any] = []
        self.budget -= 2
        for index, item in enumerate(value):
            if self.budget <= 0:
                kept.append(f"...[{len(value) - index} more items]")
                break
            self.budget -= 1
            kept.append(self.value(item, depth))
        return kept
