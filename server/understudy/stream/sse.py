"""Reading a server-sent event stream back into events, as bytes arrive.

The writer sends events; recording reads someone else's. The parser is neutral: it
knows the SSE framing (``event:``/``data:`` lines, blank-line separators, ``:`` comments,
CRLF or LF), never an API's payloads. Each event carries the time its last byte arrived,
so a recording knows when every token reached the client.
"""

from dataclasses import dataclass


@dataclass(slots=True)
class SseEvent:
    event: str | None
    data: str
    at: float = 0.0
    """When the event's last byte arrived (the caller's clock, seconds)."""


class SseParser:
    """Feed bytes as they arrive; get back the events they complete."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes, at: float = 0.0) -> list[SseEvent]:
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return events
            line = self._buffer[:end].rstrip(b"\r").decode("utf-8", errors="replace")
            self._buffer = self._buffer[end + 1 :]
            if not line:
                if self._data or self._event is not None:
                    events.append(SseEvent(self._event, "\n".join(self._data), at))
                self._event, self._data = None, []
                continue
            if line.startswith(":"):
                continue  # a comment: keep-alive
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)


def parse_sse(data: bytes) -> list[SseEvent]:
    """Every complete event in ``data``."""
    return SseParser().feed(data)
