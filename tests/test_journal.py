"""The request journal: what each client sent and how it consumed the reply.

Every test drives a real server over a socket and then reads ``GET /_understudy/journal``.
"""

import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest

ServerFactory = Callable[..., str]

SLOW = """
name: slow
match:
  last_user_message: "(?i)slow"
delivery:
  itl_ms: 40
reply:
  content: "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven twenty-eight twenty-nine thirty"
"""

HELLO = """
name: hello
default: true
reply:
  content: "Hello there, journal."
"""

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def journal(base_url: str, **query: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/_understudy/journal", params=query)
    assert response.status_code == 200
    return response.json()["entries"]


def wait_for_entries(base_url: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The journal once ``count`` entries are in it: an abandoned stream is recorded
    when the server notices the disconnect, a moment after the client has left."""
    deadline = time.monotonic() + timeout
    while True:
        entries = journal(base_url)
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


def sse_events(raw: bytes) -> list[bytes]:
    return [event for event in raw.split(b"\n\n") if event.strip()]


def test_completed_stream_records_events_bytes_and_timings(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": "Bearer sk-secret-key", "X-Trace": "abc"}
    with httpx.stream(
        "POST", f"{base_url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        raw = response.read()
        request_id = response.headers["x-request-id"]

    [entry] = wait_for_entries(base_url, 1)
    assert entry["api"] == "chat"
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/chat/completions"
    assert entry["request_id"] == request_id
    assert entry["body"] == body
    assert entry["namespace"] == ""
    assert (entry["scenario"], entry["reply_index"]) == ("hello", 0)
    assert entry["status"] == 200 and entry["error"] is None
    assert entry["stream"] is True
    # The writer counted exactly what the client received.
    assert entry["events_sent"] == len(sse_events(raw))
    assert entry["bytes_sent"] == len(raw)
    assert entry["completed"] is True
    assert entry["disconnected"] is False
    assert entry["disconnected_after_event"] is None
    assert entry["ttft_ms"] is not None and entry["ttft_ms"] <= entry["duration_ms"]
    # Credentials never reach the journal; other headers do.
    assert entry["headers"]["authorization"] == "Bearer [redacted]"
    assert entry["headers"]["x-trace"] == "abc"
    assert "sk-secret-key" not in str(entry)


def test_client_that_disconnects_halfway_is_recorded(serve: ServerFactory) -> None:
    base_url = serve(SLOW, HELLO)
    body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "go slow"}]}
    read = 0
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                read += 1
            if read == 6:
                break
    # Leaving the ``with`` block closed the connection mid-stream.

    [entry] = wait_for_entries(base_url, 1)
    assert entry["scenario"] == "slow"
    assert entry["stream"] is True
    assert entry["completed"] is False
    assert entry["disconnected"] is True
    # The server may have sent one or two more events before it saw the disconnect,
    # but nowhere near the 33 of the whole reply (role + 30 words + finish + [DONE]).
    assert read <= entry["events_sent"] <= read + 3
    assert entry["disconnected_after_event"] == entry["events_sent"]
    assert entry["bytes_sent"] > 0
    assert entry["duration_ms"] >= 40 * (read - 2)


def test_malformed_json_is_recorded_with_its_raw_text(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        content=b'{"model": "gpt-4o", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400

    [entry] = journal(base_url)
    assert entry["status"] == 400
    assert entry["body"] == '{"model": "gpt-4o", "messages": ['
    assert entry["error"] == response.json()["error"]["message"]
    assert entry["scenario"] is None and entry["reply_index"] is None
    assert entry["stream"] is False and entry["events_sent"] is None


def test_long_non_json_body_is_truncated(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    text = "x" * 20_000
    assert httpx.post(f"{base_url}/v1/chat/completions", content=text).status_code == 400
    [entry] = journal(base_url)
    assert entry["body"].startswith("x" * 8192)
    assert entry["body"].endswith(f"...[{20_000 - 8192} more bytes]")


def test_invalid_request_is_recorded_with_parsed_body(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=[])
    [entry] = journal(base_url)
    assert entry["status"] == 400
    assert entry["body"] == {"model": "gpt-4o", "messages": []}
    assert "empty array" in entry["error"]


def test_every_api_is_journaled_through_the_shared_pipeline(serve: ServerFactory) -> None:
    base_url = serve(HELLO)
    oa = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
    an = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)
    oa.chat.completions.create(**CHAT)
    with an.messages.stream(
        model="claude-opus-4-7", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = stream.get_final_text()
    assert text == "Hello there, journal."
    list(oa.responses.create(model="gpt-4o-mini", input="hi", stream=True))

    entries = wait_for_entries(base_url, 3)
    assert [(e["api"], e["path"], e["stream"]) for e in entries] == [
        ("chat", "/v1/chat/completions", False),
        ("messages", "/v1/messages", True),
        ("responses", "/v1/responses", True),
    ]
    assert all(e["scenario"] == "hello" and e["status"] == 200 for e in entries)
    # anthropic-python 2.x sends its key as a bearer token.
    assert entries[1]["headers"]["authorization"] == "Bearer [redacted]"
    assert entries[1]["completed"] and entries[2]["completed"]
    assert entries[1]["events_sent"] > 5 and entries[2]["events_sent"] > 5
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)


PING = """
name: ping
match:
  last_user_message: "ping"
reply:
  content: pong
"""


def test_filters_and_delete(serve: ServerFactory) -> None:
    base_url = serve(PING, HELLO)
    url = f"{base_url}/v1/chat/completions"
    httpx.post(url, json=CHAT, headers={"X-Understudy-Namespace": "red"})
    middle = time.time()
    time.sleep(0.01)
    ping = {**CHAT, "messages": [{"role": "user", "content": "ping"}]}
    httpx.post(url, json=ping, headers={"X-Understudy-Namespace": "blue"})
    httpx.post(url, json=CHAT)

    assert len(journal(base_url)) == 3
    assert [e["namespace"] for e in journal(base_url, namespace="red")] == ["red"]
    assert [e["namespace"] for e in journal(base_url, namespace="")] == [""]
    header_scoped = httpx.get(
        f"{base_url}/_understudy/journal", headers={"X-Understudy-Namespace": "blue"}
    ).json()["entries"]
    assert [e["namespace"] for e in header_scoped] == ["blue"]
    assert [e["namespace"] for e in journal(base_url, scenario="ping")] == ["blue"]
    assert len(journal(base_url, api="chat")) == 3
    assert journal(base_url, api="messages") == []
    assert [e["namespace"] for e in journal(base_url, since=middle)] == ["blue", ""]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(middle - 60)) + "Z"
    assert len(journal(base_url, since=iso)) == 3
    assert [e["namespace"] for e in journal(base_url, limit=1)] == [""]
    bad = httpx.get(f"{base_url}/_understudy/journal", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["message"]

    removed = httpx.delete(f"{base_url}/_understudy/journal", params={"namespace": "red"})
    assert removed.json() == {"removed": 1}
    assert len(journal(base_url)) == 2
    assert httpx.delete(f"{base_url}/_understudy/journal").json() == {"removed": 2}
    assert journal(base_url) == []


def test_journal_is_bounded_and_keeps_the_newest(serve: ServerFactory) -> None:
    base_url = serve(HELLO, journal_size=3)
    for index in range(5):
        body = {**CHAT, "messages": [{"role": "user", "content": f"message {index}"}]}
        httpx.post(f"{base_url}/v1/chat/completions", json=body)
    entries = journal(base_url)
    assert [e["body"]["messages"][0]["content"] for e in entries] == [
        "message 2",
        "message 3",
        "message 4",
    ]


def test_journal_stream_sends_entries_live(base_url: str) -> None:
    """``GET /_understudy/journal/stream``: one SSE event per completed request."""
    import json
    import threading

    import httpx

    namespace = "live-journal"
    received: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream(
            "GET",
            f"{base_url}/_understudy/journal/stream",
            params={"namespace": namespace},
            timeout=10,
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            ready.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))
                    if len(received) == 2:
                        return

    listener = threading.Thread(target=listen)
    listener.start()
    assert ready.wait(5)
    for other in ("someone-else", namespace, namespace):
        httpx.post(
            f"{base_url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"X-Understudy-Namespace": other},
        )
    listener.join(timeout=10)
    assert not listener.is_alive()
    assert [entry["namespace"] for entry in received] == [namespace, namespace]
    assert all(entry["status"] == 200 and entry["api"] == "chat" for entry in received)
