"""Bounded copies of what a client sent, for the journal.

A journal entry keeps a prefix of each body and header value, never the whole: a 30 MB
body of small JSON strings parses to about 450 MB of Python objects, and the journal
keeps a thousand entries. A JSON body is kept as the JSON text the client sent (a
fraction of its parsed size, and no work on the hot path); one over the limit is kept
as a smaller copy of itself, its long strings and lists cut, each cut marked with how
much went, so a test can still read the fields.
"""

from typing import Any

import orjson

MAX_DEPTH = 64
"""Containers nested deeper than this are replaced by a marker in a cut copy."""


def json_prefix(raw: bytes, parsed: Any, limit: int) -> bytes:
    """``raw`` (a JSON body) as kept by the journal: itself when at most ``limit`` bytes,
    else ``parsed`` cut to about ``limit`` bytes of JSON."""
    if len(raw) <= limit:
        return raw
    return orjson.dumps(_cut(parsed, limit, 0)[0])


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


_SCALARS = (int, float, bool, type(None))


def _cut(value: Any, budget: int, depth: int) -> tuple[Any, int]:
    """A copy of a parsed JSON value that serialises to about ``budget`` bytes, and the
    budget left.

    Values are taken in document order while the budget lasts, so the walk's cost does
    not grow with the body. String lengths count characters: a body of non-ASCII text may
    come out a few times larger in bytes. Short strings and scalars in a container are
    taken inline: a body of millions of them is the case this has to be quick for.
    """
    kind = type(value)
    if kind is str:
        room = max(budget - 2, 0)
        return text_prefix(value, room), budget - min(len(value), room) - 2
    if kind is list:
        if depth >= MAX_DEPTH:
            return [f"...[{len(value)} items nested too deep]"], budget - 40
        kept: list[Any] = []
        append = kept.append
        budget -= 2
        for index, item in enumerate(value):
            if budget <= 0:
                append(f"...[{len(value) - index} more items]")
                break
            item_kind = type(item)
            if item_kind is str and len(item) + 3 <= budget:
                append(item)
                budget -= len(item) + 3
            elif item_kind in _SCALARS:
                append(item)
                budget -= 9
            else:
                item, budget = _cut(item, budget - 1, depth + 1)
                append(item)
        return kept, budget
    if kind is dict:
        if depth >= MAX_DEPTH:
            return {"...": f"[{len(value)} keys nested too deep]"}, budget - 40
        fields: dict[str, Any] = {}
        budget -= 2
        for index, (key, item) in enumerate(value.items()):
            if budget <= 0:
                fields["..."] = f"[{len(value) - index} more keys]"
                break
            key = text_prefix(key, max(budget, 0))
            fields[key], budget = _cut(item, budget - len(key) - 3, depth + 1)
        return fields, budget
    return value, budget - 8
