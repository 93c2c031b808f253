"""Malformed variants of a valid request body, for checking that validation never crashes.

Every value in the body (at any depth) is replaced, in turn, by values of each JSON type
and by a few likely mistakes, and every object key is removed once. Whatever the server
makes of such a body, it must answer 200 or the provider's 400, never a 500.
"""

import copy
from collections.abc import Iterator
from typing import Any

JUNK: tuple[Any, ...] = (None, "", "x", 0, -1, 1.5, True, [], {}, [5], {"type": "zzz"}, [{}])


def _paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _paths(item, (*path, index))


def _parent(body: Any, path: tuple) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


def mutations(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path in _paths(body):
        for junk in JUNK:
            changed = copy.deepcopy(body)
            _parent(changed, path)[path[-1]] = copy.deepcopy(junk)
            yield changed
        if isinstance(path[-1], str):
            changed = copy.deepcopy(body)
            del _parent(changed, path)[path[-1]]
            yield changed
