"""Encoded stream events, as renderers produce them and the writer sends them."""

Frame = tuple[bytes, bool]
"""An encoded event and whether it is a token event (paced) or structural (sent at once)."""

Headers = list[tuple[bytes, bytes]]

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
