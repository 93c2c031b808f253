"""A model request's headers, looked up without copies or exceptions.

Starlette's ``Headers.get`` goes through ``Mapping.get``: a lookup that misses raises
and catches a ``KeyError``, and most of a model request's half-dozen lookups miss
(namespace, strictness, scenario, API key headers are rarely sent). ``RawHeaders``
compares the raw names instead and keeps nothing but a reference to the scope's list, so
a stream held open for minutes holds no decoded copy of its headers.
"""

from collections.abc import Iterator, Mapping


class RawHeaders(Mapping[str, str]):
    """Read-only view of ASGI ``headers``; names are looked up lower-case (ASGI servers
    send them so). When a name repeats, the first value counts, as with Starlette."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        name = key.lower().encode("latin-1")
        for found, value in self._raw:
            if found == name:
                return value.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for name, _ in self._raw:
            if name not in seen:
                seen.add(name)
                yield name.decode("latin-1")

    def __len__(self) -> int:
        return len({name for name, _ in self._raw})
