"""The ``obfuscation`` padding OpenAI adds to stream deltas, shared by Chat and Responses.

The live APIs pad every delta event with a random string of varying length (so event
sizes do not leak token lengths). A client turns it off per request with
``stream_options.include_obfuscation: false``; the server, with
``UNDERSTUDY_OBFUSCATION=0``.
"""

from collections.abc import Iterator, Mapping
from functools import lru_cache
from itertools import cycle, repeat
from typing import Any

from understudy.core import ids

# Random padding strings of 1 to 15 characters, made once: real padding varies in length
# per event.
_CLOSINGS = [
    b',"obfuscation":"' + ids.obfuscation(1 + (i * 7) % 15).encode() + b'"}\n\n' for i in range(64)
]


def wanted(enabled: bool, body: Mapping[str, Any]) -> bool:
    """Whether to pad this request's deltas: on unless the server or the request says no."""
    options = body.get("stream_options") or {}
    return enabled and options.get("include_obfuscation") is not False


@lru_cache(maxsize=64)
def _padded_closings(tail: bytes) -> tuple[bytes, ...]:
    return tuple(tail + closing for closing in _CLOSINGS)


def closings(tail: bytes, obfuscate: bool) -> Iterator[bytes]:
    """Endless endings for events that share ``tail``: the tail, then the ``obfuscation``
    padding (when on) and ``}\\n\\n``, joined ahead of time and shared between streams."""
    if not obfuscate:
        return repeat(tail + b"}\n\n")
    return cycle(_padded_closings(tail))
