"""Prometheus ``/metrics``: parsed with prometheus-client's own text parser, and checked
against the journal of the same requests."""

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from understudy.record.journal import Journal
from understudy.record.metrics import Metrics

ServerFactory = Callable[..., str]

HELLO = """
name: hello
default: true
reply:
  content: "Hello from the metrics test."
"""

SLOW = """
name: slow
match:
  last_user_message: slow
delivery:
  itl_ms: 30
reply:
  content: "a b c d e f g h i j k l m n o p q r s t u v w x y z"
"""

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_the_requests(serve: ServerFactory) -> None:
    base_url = serve(HELLO, SLOW)
    chat = f"{base_url}/v1/chat/completions"
    httpx.post(chat, json=CHAT)
    httpx.post(chat, json={**CHAT, "stream": True})
    httpx.post(chat, content=b"not json")
    anthropic_body = {**CHAT, "model": "claude-opus-4-7", "max_tokens": 50, "stream": True}
    httpx.post(f"{base_url}/v1/messages", json=anthropic_body)
    httpx.post(f"{base_url}/v1/responses", json={"model": "gpt-4o", "input": "hi"})

    slow = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "slow"}]}
    with httpx.stream("POST", chat, json=slow) as response:
        lines = response.iter_lines()
        next(lines)
        during = scrape(base_url)
    assert value(during, "understudy_streams_in_flight", api="chat") == 1

    deadline = time.monotonic() + 5
    while len(httpx.get(f"{base_url}/_understudy/journal").json()["entries"]) < 6:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    samples = scrape(base_url)
    entries = httpx.get(f"{base_url}/_understudy/journal").json()["entries"]

    requests = "understudy_requests_total"
    assert value(samples, requests, api="chat", scenario="hello", status="200") == 2
    assert value(samples, requests, api="chat", scenario="", status="400") == 1
    assert value(samples, requests, api="chat", scenario="slow", status="200") == 1
    assert value(samples, requests, api="messages", scenario="hello", status="200") == 1
    assert value(samples, requests, api="responses", scenario="hello", status="200") == 1
    assert value(samples, "understudy_streams_in_flight", api="chat") == 0
    assert value(samples, "understudy_client_disconnects_total", api="chat") == 1
    for api in ("chat", "messages"):
        sent = [e for e in entries if e["api"] == api and e["stream"]]
        assert value(samples, "understudy_stream_events_total", api=api) == sum(
            e["events_sent"] for e in sent
        )
        assert value(samples, "understudy_stream_bytes_total", api=api) == sum(
            e["bytes_sent"] for e in sent
        )
    assert value(samples, "understudy_info", version="0.1.0") == 1


def test_faults_counter_and_label_escaping() -> None:
    """A call's fault kinds (set by the fault injector) are counted when it completes."""
    metrics = Metrics()
    journal = Journal()
    scope = {"method": "POST", "path": "/v1/chat/completions", "headers": []}
    for kinds in (("error_event",), ("error_event", "framing"), ()):
        call = journal.begin("chat", scope, "", "req_1", 0.0)
        call.fault_kinds = kinds
        call.finish(200, 0.1, None)
        metrics.observe(call)
    metrics.fault_injected("messages", 'odd "name"\\n')
    samples = {}
    for family in text_string_to_metric_families(metrics.render()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    faults = "understudy_faults_injected_total"
    assert value(samples, faults, api="chat", fault="error_event") == 2
    assert value(samples, faults, api="chat", fault="framing") == 1
    assert value(samples, faults, api="messages", fault='odd "name"\\n') == 1
    assert value(samples, "understudy_requests_total", api="chat", scenario="", status="200") == 3


def test_scripted_faults_are_counted_by_kind(serve: ServerFactory) -> None:
    """Positions and details stay in the journal; the metric label is the fault's kind."""
    base_url = serve(
        """
name: faulty
default: true
replies:
  - error: rate_limit
  - content: "one two three four"
    fault: {kind: truncate, after_events: 2}
    framing: {write_size: 7}
"""
    )
    for _ in range(2):
        httpx.post(f"{base_url}/v1/chat/completions", json={**CHAT, "stream": True})
    faults = "understudy_faults_injected_total"
    samples = scrape(base_url)
    assert value(samples, faults, api="chat", fault="http_error") == 1
    assert value(samples, faults, api="chat", fault="truncate") == 1
    assert value(samples, faults, api="chat", fault="framing") == 1
    journal = httpx.get(f"{base_url}/_understudy/journal").json()["entries"]
    assert journal[1]["fault"].startswith("truncate after 2 events")
