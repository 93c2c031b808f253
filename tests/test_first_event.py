"""The first event a client receives arrives at the scenario's TTFT, on every API.

A real server sends nothing until generation starts; then the events that open a reply
(Chat's role chunk, Anthropic's ``message_start``, Responses' ``response.created``) go
out together with the first token. Measured over a real socket with generous slack:
these are bounds, not benchmarks.
"""

import re
import time
from itertools import pairwise

import httpx
import pytest

TTFT, ITL = 0.200, 0.020
WORDS = " ".join(f"w{i}" for i in range(12))
SCENARIO = (
    f"name: timed\ndefault: true\nreply:\n  content: {WORDS}\n"
    f"  delivery: {{ttft_ms: {TTFT * 1000:g}, itl_ms: {ITL * 1000:g}}}\n"
)
REQUESTS = {
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    "messages": (
        "/v1/messages",
        {"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "responses": ("/v1/responses", {"input": "hi"}),
}
# A token event of each API: its delta text is one word of the reply.
TOKEN = re.compile(rb'"(?:content|text|delta)":" ?w\d+"')


def arrivals(base_url: str, api: str) -> tuple[float, list[tuple[float, bytes]]]:
    """Seconds to the response headers, and each SSE event with its arrival time."""
    path, body = REQUESTS[api]
    body = {"model": "m", "stream": True, **body}
    events: list[tuple[float, bytes]] = []
    buffer = b""
    # The client first: making one loads the certificate store, which takes longer than
    # the bound on the headers on a slow machine.
    with httpx.Client(timeout=30) as client:
        started = time.monotonic()
        with client.stream("POST", base_url + path, json=body) as response:
            headers_at = time.monotonic() - started
            assert response.status_code == 200
            for chunk in response.iter_raw():
                now = time.monotonic() - started
                buffer += chunk
                *complete, buffer = buffer.split(b"\n\n")
                events.extend((now, event) for event in complete if event)
    return headers_at, events


@pytest.mark.parametrize("api", list(REQUESTS))
def test_the_first_event_arrives_at_ttft_and_the_headers_at_once(serve, api: str) -> None:
    base_url = serve(SCENARIO)
    headers_at, events = arrivals(base_url, api)
    assert headers_at < TTFT / 2  # status and headers are not held back
    first_at = events[0][0]
    assert first_at >= TTFT - 0.005
    tokens = [at for at, event in events if TOKEN.search(event)]
    assert len(tokens) == 12
    # The opening events and the first token leave together...
    assert tokens[0] - first_at < 0.015
    # ...and the tokens after it keep the inter-token latency: no gap is shortened, and
    # the last one is on schedule (a token never waits a whole TTFT).
    gaps = [later - earlier for earlier, later in pairwise(tokens)]
    assert min(gaps) >= ITL - 0.005
    assert tokens[-1] >= TTFT + 11 * ITL - 0.005
    assert tokens[-1] < TTFT + 11 * ITL + 0.150


def test_time_scale_zero_sends_the_first_event_at_once(serve) -> None:
    slow = SCENARIO.replace(f"ttft_ms: {TTFT * 1000:g}", "ttft_ms: 2000")
    base_url = serve(slow, time_scale=0)
    _, events = arrivals(base_url, "chat")
    assert events[0][0] < 1.0  # not the 2 s the scenario scripts
